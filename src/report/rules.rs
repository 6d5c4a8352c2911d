//! The finding rules: each with an id, a severity and a one-line reason.
//! Correlate raises findings by these ids; renderers (JUnit) list them all.

/// A finding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    /// `error`, `warning` or `info`.
    pub severity: &'static str,
    pub reason: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "cleartext-credentials",
        severity: "error",
        reason: "credentials (FTP USER/PASS, HTTP Basic) crossed the network in cleartext",
    },
    Rule {
        id: "session-cookie-insecure",
        severity: "warning",
        reason: "a session cookie was set without Secure over cleartext HTTP, or without HttpOnly",
    },
    Rule {
        id: "session-id-in-url",
        severity: "warning",
        reason: "a session id travels in URLs, where logs, referrers and proxies keep it",
    },
    Rule {
        id: "session-multiple-clients",
        severity: "warning",
        reason:
            "one session was used from more than one client address (shared, proxied or hijacked)",
    },
    Rule {
        id: "ftp-bounce",
        severity: "error",
        reason: "an FTP client asked the server to connect to a third party",
    },
    Rule {
        id: "ftp-unlinked-data",
        severity: "warning",
        reason: "a data connection followed an FTP transfer but matches no announcement",
    },
    Rule {
        id: "tls-legacy-version",
        severity: "warning",
        reason: "a server negotiated SSL 3.0, TLS 1.0 or TLS 1.1 (deprecated by RFC 8996)",
    },
    Rule {
        id: "capture-loss",
        severity: "warning",
        reason: "the capture missed bytes of some connections: their sessions may lack requests or links",
    },
    Rule {
        id: "capture-incomplete",
        severity: "warning",
        reason:
            "the capture lost data (kernel or interface drops, truncation or a limit): the map may be incomplete",
    },
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Severity order: info < warning < error.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "error" => 2,
        "warning" => 1,
        _ => 0,
    }
}
