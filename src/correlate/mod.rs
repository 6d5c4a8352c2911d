//! Correlate: connections and protocol facts in, the report's map out.
//!
//! It is the flow table's [`ConsumerFactory`]: it hands each new connection
//! its protocol consumer ([`ConnParser`]), receives the transactions that
//! consumer finds as they are found (it is their [`HttpSink`]), and takes the
//! consumer back when the connection is over, keeping only the facts. At the
//! end it builds the sessions, the connection↔session map and the per-host
//! summary.

mod http;
mod intern;

pub use http::{looks_random, SessionConfig};

use crate::decode::Endpoint;
use crate::flow::{At, ConnRecord, ConsumerFactory, Direction, StreamCounters};
use crate::proto::http::{HttpCounters, HttpLimits, HttpSink, Transaction};
use crate::proto::{ConnParser, Protocol};
use crate::report::{
    ConnSession, ConnectionReport, HostReport, NoSession, PerSide, Redactor, SessionReport,
};
use http::HttpSessions;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct CorrelateConfig {
    pub http: HttpLimits,
    pub sessions: SessionConfig,
}

#[derive(Debug, Default)]
pub struct Correlator {
    config: CorrelateConfig,
    connections: Vec<ConnectionReport>,
    /// Client and server address of each open connection.
    open: HashMap<u64, (IpAddr, IpAddr)>,
    http: HttpSessions,
    pub http_counters: HttpCounters,
    /// Consumers that saw data out of order (a reassembly defect; must stay 0).
    pub stream_contract_violations: u64,
    /// Times a connection's out-of-order buffer hit its bound.
    pub reassembly_overflows: u64,
    /// Segments dropped as far outside their stream.
    pub out_of_window: u64,
    /// HTTP transactions not kept for sessions (memory bound).
    pub http_facts_dropped: u64,
}

/// What `finish` builds.
pub struct Map {
    pub connections: Vec<ConnectionReport>,
    pub sessions: Vec<SessionReport>,
    pub hosts: Vec<HostReport>,
}

impl Correlator {
    pub fn new(config: CorrelateConfig) -> Self {
        Correlator {
            http: HttpSessions::new(config.sessions.clone()),
            config,
            ..Default::default()
        }
    }
}

impl ConsumerFactory for Correlator {
    type Consumer = ConnParser;

    fn open(
        &mut self,
        id: u64,
        client: &Endpoint,
        server: &Endpoint,
        handshake: bool,
    ) -> ConnParser {
        self.open.insert(id, (client.ip, server.ip));
        ConnParser::new(self.config.http, !handshake)
    }

    fn close(&mut self, record: ConnRecord, parser: ConnParser) {
        self.open.remove(&record.id);
        let c = &record.counters;
        let s = Direction::ToServer as usize;
        let r = Direction::ToClient as usize;
        let side = |f: fn(&StreamCounters) -> u64| PerSide {
            client: f(&c[s]),
            server: f(&c[r]),
        };
        let counter = &parser.counter;
        if counter.out_of_order > 0
            || counter.bytes != [c[s].bytes, c[r].bytes]
            || counter.gap_bytes != [c[s].missed, c[r].missed]
        {
            self.stream_contract_violations += 1;
        }
        self.reassembly_overflows += c[s].pending_overflows + c[r].pending_overflows;
        self.out_of_window += c[s].out_of_window + c[r].out_of_window;
        let http = parser.http();
        if let Some(h) = http {
            add_counters(&mut self.http_counters, &h.counters);
        }
        let protocol = parser.protocol();
        let requests = http.map_or(0, |h| h.counters.requests);
        let no_session = match protocol {
            None => NoSession::NoPayload,
            Some(Protocol::Tls) => NoSession::Encrypted,
            Some(Protocol::Unknown) if http.is_some_and(|h| h.gap_before_first_request) => {
                NoSession::GapBeforeRequest
            }
            Some(Protocol::Unknown) => NoSession::NotHttp,
            Some(Protocol::Http) => NoSession::NoSessionCookie,
        };
        self.connections.push(ConnectionReport {
            id: record.id,
            client: record.client,
            server: record.server,
            vlan: vlan_ids(record.vlan),
            roles: record.roles,
            protocol,
            start: record.start_ns,
            end: record.end_ns,
            duration: record.end_ns.saturating_sub(record.start_ns) as f64 / 1e9,
            state: record.state,
            history: record.history.clone(),
            packets: PerSide {
                client: record.packets[s],
                server: record.packets[r],
            },
            bytes: side(|x| x.bytes),
            missed_bytes: side(|x| x.missed),
            retransmitted_bytes: side(|x| x.retransmitted),
            overlap_conflicts: side(|x| x.overlap_conflicts),
            gaps: c[s].gaps + c[r].gaps,
            requests,
            sessions: Vec::new(),
            no_session: Some(no_session),
        });
    }
}

impl HttpSink for Correlator {
    fn transaction(&mut self, at: At, tx: Transaction) {
        let (client, server) = self
            .open
            .get(&at.conn)
            .copied()
            .unwrap_or((IpAddr::from([0, 0, 0, 0]), IpAddr::from([0, 0, 0, 0])));
        self.http.add(at.conn, client, server, &tx);
    }
}

impl Correlator {
    /// The sessions, the connection↔session map and the host summary.
    pub fn finish(&mut self, redact: &Redactor) -> Map {
        let mut connections = std::mem::take(&mut self.connections);
        connections.sort_unstable_by_key(|c| c.id);
        let http = std::mem::take(&mut self.http);
        self.http_facts_dropped = http.dropped;
        let mut found = http.finish();
        found.sort_by(|a, b| {
            (a.start_ns, &a.site, &a.values).cmp(&(b.start_ns, &b.site, &b.values))
        });
        let index: HashMap<u64, usize> = connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        let mut sessions = Vec::with_capacity(found.len());
        for (i, s) in found.into_iter().enumerate() {
            let id = i as u64 + 1;
            for (conn, requests) in &s.connections {
                if let Some(c) = index.get(conn).and_then(|i| connections.get_mut(*i)) {
                    c.sessions.push(ConnSession {
                        id,
                        requests: *requests,
                    });
                    c.no_session = None;
                }
            }
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
            sessions.push(SessionReport {
                id,
                kind: "http",
                server: s.site.clone(),
                key,
                aliases: values.collect(),
                clients: s.clients.iter().map(IpAddr::to_string).collect(),
                user: (!user.is_empty()).then(|| user.join(", ")),
                start: s.start_ns,
                end: s.end_ns,
                connections: s.connections.keys().copied().collect(),
                requests: s.requests,
                multiple_clients: s.clients.len() > 1,
                ended: s.ended,
            });
        }
        let hosts = host_summary(&connections);
        Map {
            connections,
            sessions,
            hosts,
        }
    }
}

/// Per address: the connections it opened, the sessions used from it, and
/// the connections it accepted.
fn host_summary(connections: &[ConnectionReport]) -> Vec<HostReport> {
    let mut hosts: BTreeMap<IpAddr, (u64, BTreeSet<u64>, u64)> = BTreeMap::new();
    for c in connections {
        let client = hosts.entry(c.client.ip).or_default();
        client.0 += 1;
        client.1.extend(c.sessions.iter().map(|s| s.id));
        hosts.entry(c.server.ip).or_default().2 += 1;
    }
    hosts
        .into_iter()
        .map(|(ip, (opened, sessions, served))| HostReport {
            address: ip.to_string(),
            connections: opened,
            sessions: sessions.len() as u64,
            served,
        })
        .collect()
}

fn add_counters(total: &mut HttpCounters, c: &HttpCounters) {
    total.requests += c.requests;
    total.responses += c.responses;
    total.malformed += c.malformed;
    total.header_too_large += c.header_too_large;
    total.too_many_headers += c.too_many_headers;
    total.line_too_long += c.line_too_long;
    total.pending_overflow += c.pending_overflow;
    total.resyncs += c.resyncs;
    total.lost_bytes += c.lost_bytes;
    total.tunnels += c.tunnels;
}

fn vlan_ids(packed: u64) -> Vec<u16> {
    let mut ids = Vec::new();
    let mut v = packed;
    while v != 0 {
        ids.push((v & 0xfff) as u16);
        v >>= 13;
    }
    ids.reverse();
    ids
}
