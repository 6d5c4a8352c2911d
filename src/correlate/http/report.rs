//! HTTP facts into sessions: each session-key lineage as a report row with
//! its requests per connection, and the HTTP findings (a session used from
//! several clients, session ids in URLs, insecure session cookies, Basic
//! credentials in cleartext).

use super::{HttpSessions, Session};
use crate::correlate::{multiple_clients, Built, Draft};
use crate::report::{Finding, Redactor, SessionReport, Text};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The HTTP sessions and findings; with the number of facts not kept
/// (memory bound).
pub(crate) fn build(http: HttpSessions, redact: &Redactor) -> (Built, u64) {
    let mut out = Built::default();
    let dropped = http.dropped;
    for (conn, user) in &http.basic_auth {
        out.findings.push(Finding {
            rule: "cleartext-credentials",
            severity: "error",
            session: None,
            connection: Some(*conn),
            message: format!(
                "HTTP Basic credentials of user {user} sent in cleartext on connection {conn}"
            ),
        });
    }
    for s in http.finish() {
        let findings = http_findings(&s);
        let (report, per_conn) = http_session(s, redact);
        out.sessions.push(Draft {
            report,
            per_conn,
            findings,
        });
    }
    (out, dropped)
}

fn http_findings(s: &Session) -> Vec<Finding> {
    let name = s
        .values
        .first()
        .map_or("", |(label, _)| label.as_str())
        .to_owned();
    let mut out = Vec::new();
    out.extend(multiple_clients(
        &format!("{name} session"),
        &s.site,
        s.clients.iter(),
    ));
    if let Some((label, _)) = s.values.iter().find(|(label, _)| label.starts_with("url:")) {
        out.push(Finding {
            rule: "session-id-in-url",
            severity: "warning",
            session: None,
            connection: None,
            message: format!(
                "session id in URLs ({}) on {}: logs, referrers and proxies keep it",
                label.trim_start_matches("url:"),
                s.site
            ),
        });
    }
    if s.set_without_secure || s.set_without_http_only {
        let mut missing = Vec::new();
        if s.set_without_secure {
            missing.push("Secure (over cleartext HTTP)");
        }
        if s.set_without_http_only {
            missing.push("HttpOnly");
        }
        out.push(Finding {
            rule: "session-cookie-insecure",
            severity: "warning",
            session: None,
            connection: None,
            message: format!("{name} on {} set without {}", s.site, missing.join(" and ")),
        });
    }
    out
}

/// An HTTP session as a report row (id assigned later) and its requests per
/// connection.
fn http_session(s: Session, redact: &Redactor) -> (SessionReport, BTreeMap<u64, u64>) {
    let mut values = s
        .values
        .iter()
        .map(|(label, value)| format!("{label}={}", redact.value(value)));
    let key = values.next().unwrap_or_default();
    let mut user: Vec<String> = s.users.iter().cloned().collect();
    user.extend(
        s.bearer_tokens
            .iter()
            .map(|t| format!("bearer:{}", redact.fingerprint(t))),
    );
    (
        SessionReport {
            id: 0,
            kind: "http",
            server: Text::from_lossless(&s.site),
            key: Text::from_lossless(&key),
            aliases: values.map(|v| Text::from_lossless(&v)).collect(),
            clients: s.clients.iter().map(IpAddr::to_string).collect(),
            user: (!user.is_empty()).then(|| Text::from(user.join(", "))),
            start: s.start_ns,
            end: s.end_ns,
            connections: s.connections.keys().copied().collect(),
            requests: s.requests,
            multiple_clients: s.clients.len() > 1,
            ended: s.ended,
            ..Default::default()
        },
        s.connections,
    )
}
