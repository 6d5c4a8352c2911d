//! TLS facts into sessions: lineages of resumption, each connection's
//! handshake row, and the TLS findings (deprecated versions, a session used
//! from several clients).

use super::{link, Key, TlsConn};
use crate::correlate::{multiple_clients, Built, Draft};
use crate::flow::Direction;
use crate::proto::tls::suites::suite;
use crate::proto::tls::{Handshake, TlsParser};
use crate::report::{
    ConnectionReport, Finding, InnerProtocol, PerSide, Redactor, SessionReport, StopReport, Text,
    TlsReport,
};
use std::collections::BTreeMap;

/// TLS lineages of resumption as sessions; each resumed connection
/// learns what it resumed.
pub(crate) fn build(
    tls: Vec<TlsConn>,
    connections: &mut [ConnectionReport],
    redact: &Redactor,
) -> Built {
    let mut out = Built::default();
    let linked = link(tls);
    // Deprecated versions, one finding per server and version.
    let mut legacy: BTreeMap<(String, &str), (u64, u64)> = BTreeMap::new();
    for c in connections.iter() {
        let Some(version) = c.tls.as_ref().and_then(|t| t.version.as_deref()) else {
            continue;
        };
        let version = match version {
            "SSL 3.0" => "SSL 3.0",
            "TLS 1.0" => "TLS 1.0",
            "TLS 1.1" => "TLS 1.1",
            _ => continue,
        };
        let e = legacy
            .entry((c.server.to_string(), version))
            .or_insert((c.id, 0));
        e.1 += 1;
    }
    for ((server, version), (first, n)) in legacy {
        out.findings.push(Finding {
            rule: "tls-legacy-version",
            severity: "warning",
            session: None,
            connection: Some(first),
            message: format!(
                "{server} negotiated {version} on {} (first: connection {first})",
                crate::report::count(n, "connection", "connections")
            ),
        });
    }
    for c in connections.iter_mut() {
        if let Some(t) = &mut c.tls {
            t.resumes = linked.resumes.get(&c.id).copied();
        }
    }
    let key_text = |k: &Key| {
        let (name, value) = k.parts();
        Text::from(format!("{name}={}", redact.value(value)))
    };
    for l in linked.lineages {
        let server = l.server.map_or_else(|| Text::from(l.server_address), Text);
        let findings = multiple_clients("TLS session", &server.display(), l.clients.iter())
            .into_iter()
            .collect();
        let per_conn: BTreeMap<u64, u64> = l.connections.iter().map(|c| (*c, 1)).collect();
        out.sessions.push(Draft {
            report: SessionReport {
                id: 0,
                kind: "tls",
                server,
                key: key_text(&l.key),
                aliases: l.aliases.iter().map(key_text).collect(),
                multiple_clients: l.clients.len() > 1,
                clients: l.clients.iter().map(ToString::to_string).collect(),
                user: None,
                start: l.start_ns,
                end: l.end_ns,
                connections: l.connections,
                // One handshake per connection.
                requests: per_conn.len() as u64,
                original: Some(l.original),
                ..Default::default()
            },
            per_conn,
            findings,
        });
    }
    out
}

/// A connection's TLS handshake, and with key material its decryption, as
/// a report row (`resumes` comes later).
pub(crate) fn tls_report(t: &TlsParser) -> TlsReport {
    let f = &t.facts;
    let decryption = t.decryption();
    let with_keys = decryption.is_some();
    TlsReport {
        version: f.version_name(),
        sni: f.sni.clone().map(Text),
        handshake: match f.handshake() {
            Handshake::Full => "full",
            Handshake::SessionId => "session-id",
            Handshake::Ticket => "ticket",
            Handshake::Psk => "psk",
            Handshake::Incomplete => "incomplete",
            Handshake::Unseen => "unseen",
        },
        resumes: None,
        cipher_suite: f
            .cipher_suite
            .filter(|_| with_keys)
            .map(|id| suite(id).map_or_else(|| format!("0x{id:04x}"), |s| s.name.to_owned())),
        alpn: f.alpn.clone().filter(|_| with_keys).map(Text),
        decryption,
        stopped: t
            .stops()
            .map(|s| StopReport {
                side: match s.dir {
                    Direction::ToServer => "client",
                    Direction::ToClient => "server",
                },
                records: s.records,
                offset: s.offset,
                reason: s.why,
            })
            .collect(),
        decrypted_bytes: with_keys.then(|| {
            let [client, server] = t.decrypted_bytes();
            PerSide { client, server }
        }),
        client_random: f.client_random,
        inner: t.inner_version().map(|version| InnerProtocol {
            protocol: "http",
            version,
        }),
    }
}
