//! Correlate: connections and protocol facts in, the report's map out.
//!
//! It is the flow table's [`ConsumerFactory`]: it hands each new connection
//! its protocol consumer ([`ConnParser`]), receives the transactions that
//! consumer finds as they are found (it is their [`HttpSink`]), and takes the
//! consumer back when the connection is over, keeping only the facts. At the
//! end it builds the sessions, the connection↔session map and the per-host
//! summary.
//!
//! Memory (issue 13, what is left): every finished connection is kept here
//! as a whole [`ConnectionReport`] until the report is written, and
//! [`Correlator::finish`] merges the chunks into one sorted vector (for a
//! moment, twice the rows). The plan: keep rows as compact encoded records
//! (varint counters, the history inline, the state and protocol as bytes)
//! in an arena that spills to a temporary file past a size; keep what
//! correlation sets later (protocol, no_session, sessions, tls) as a patch
//! per row; make `Report.connections` a type that decodes rows one at a
//! time for every renderer (JSON as a sequence, unchanged bytes). Then
//! the per-session HTTP facts as small integers (interned keys), and a
//! `--memcap` byte budget over all of it with a `memcap-reached` finding.

mod ftp;
mod http;
mod intern;
mod tls;

pub use http::{looks_random, SessionConfig, TxFacts};

use crate::decode::Endpoint;
use crate::flow::{At, ConnRecord, ConsumerFactory, Direction, StreamCounters};
use crate::proto::ftp::{FtpCounters, FtpEvent, FtpSink};
use crate::proto::http::{HttpCounters, HttpLimits, HttpSink, Transaction};
use crate::proto::http2::Http2Counters;
use crate::proto::tls::{Decryption, TlsParser};
use crate::proto::{ConnParser, Protocol};
use crate::report::{
    ConnSession, ConnectionReport, Finding, HostReport, Http2Stats, NoSession, PerSide, Redactor,
    SessionReport, TlsStats,
};
use ftp::FtpSessions;
use http::HttpSessions;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Connection rows per allocation.
const ROWS_PER_CHUNK: usize = 2048;

#[derive(Debug, Clone, Default)]
pub struct CorrelateConfig {
    pub http: HttpLimits,
    pub sessions: SessionConfig,
    /// TLS key material (`--keylog`, embedded secrets).
    pub keys: Option<std::sync::Arc<crate::proto::tls::keylog::KeyStore>>,
}

#[derive(Debug, Default)]
pub struct Correlator {
    config: CorrelateConfig,
    /// The rows of connections over, in chunks of `ROWS_PER_CHUNK` (one
    /// growing vector would need twice its size while it grows).
    connections: Vec<Vec<ConnectionReport>>,
    /// Client and server of each open connection.
    open: HashMap<u64, (Endpoint, Endpoint)>,
    http: HttpSessions,
    ftp: FtpSessions,
    tls: Vec<tls::TlsConn>,
    pub ftp_counters: FtpCounters,
    pub http_counters: HttpCounters,
    /// HTTP/2 over all connections that spoke it.
    pub http2: Http2Stats,
    /// Consumers that saw data out of order (a reassembly defect; must stay 0).
    pub stream_contract_violations: u64,
    /// Times a connection's out-of-order buffer hit its bound.
    pub reassembly_overflows: u64,
    /// Segments dropped as far outside their stream.
    pub out_of_window: u64,
    /// HTTP transactions not kept for sessions (memory bound).
    pub http_facts_dropped: u64,
    /// FTP announcements and transfer commands not kept (memory bound).
    pub ftp_dropped: u64,
    /// TLS decryption over all connections (with key material).
    pub tls_stats: TlsStats,
}

/// What `finish` builds.
pub struct Map {
    pub connections: Vec<ConnectionReport>,
    pub sessions: Vec<SessionReport>,
    pub hosts: Vec<HostReport>,
    pub findings: Vec<Finding>,
}

impl CorrelateConfig {
    /// The protocol consumer of a new connection (`handshake`: seen from
    /// its SYN).
    pub fn parser(&self, handshake: bool) -> ConnParser {
        ConnParser::new(self.http, !handshake, self.keys.clone())
    }
}

impl Correlator {
    /// A connection opened, its parser built elsewhere (by a flow table's
    /// worker thread).
    pub fn opened(&mut self, id: u64, client: &Endpoint, server: &Endpoint) {
        self.open.insert(id, (*client, *server));
    }

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
        self.opened(id, client, server);
        self.config.parser(handshake)
    }

    fn close(&mut self, record: ConnRecord, parser: ConnParser) {
        self.closed(&record, &parser);
    }
}

impl Correlator {
    /// A connection is over: its facts are kept, its parser may go.
    pub fn closed(&mut self, record: &ConnRecord, parser: &ConnParser) {
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
        let http_counters = parser.http_counters();
        if let Some(c) = &http_counters {
            self.http_counters.add(c);
        }
        if let Some(c) = http.and_then(|h| h.h2()) {
            self.http2.add(c);
        }
        if let Some(f) = parser.ftp() {
            if !f.is_ftp() {
                self.ftp.forget(record.id);
            }
            let (t, c) = (&mut self.ftp_counters, &f.counters);
            t.commands += c.commands;
            t.replies += c.replies;
            t.expectations += c.expectations;
            t.malformed_expectations += c.malformed_expectations;
            t.long_lines += c.long_lines;
            t.lost_bytes += c.lost_bytes;
            t.unanswered += c.unanswered;
        }
        let tls = parser.tls().map(|t| {
            self.tls.push(tls::TlsConn {
                id: record.id,
                client: record.client.ip,
                server: record.server.to_string(),
                server_ip: record.server.ip,
                start_ns: record.start_ns,
                end_ns: record.end_ns,
                facts: t.facts.clone(),
            });
            if let Some(d) = t.decryption() {
                self.tls_stats.add(t, d);
            }
            Box::new(tls::tls_report(t))
        });
        let protocol = parser.protocol();
        let requests = http_counters.map_or(0, |c| c.requests);
        let http_version = parser.http_version();
        let decrypted = parser.tls().and_then(|t| {
            matches!(
                t.decryption(),
                Some(Decryption::Decrypted | Decryption::Partial)
            )
            .then(|| t.decrypted_bytes() != [0, 0])
        });
        let no_session = match protocol {
            None if parser.gap_first() => NoSession::GapBeforeRequest,
            None => NoSession::NoPayload,
            Some(Protocol::Tls)
                if decrypted == Some(true) && http.is_some_and(|h| h.saw_http()) =>
            {
                NoSession::NoSessionCookie
            }
            Some(Protocol::Tls) if decrypted == Some(true) => NoSession::NotHttp,
            Some(Protocol::Tls) if decrypted == Some(false) => NoSession::NoApplicationData,
            Some(Protocol::Tls) => NoSession::Encrypted,
            Some(Protocol::Unknown) if http.is_some_and(|h| h.gap_before_first_request()) => {
                NoSession::GapBeforeRequest
            }
            Some(Protocol::Unknown) => NoSession::NotHttp,
            Some(Protocol::Http) => NoSession::NoSessionCookie,
            // An FTP control channel is a session of its own (or, encrypted
            // or unreadable, not).
            Some(Protocol::Ftp | Protocol::FtpData) => NoSession::NotHttp,
        };
        if self
            .connections
            .last()
            .is_none_or(|c| c.len() == ROWS_PER_CHUNK)
        {
            self.connections.push(Vec::with_capacity(ROWS_PER_CHUNK));
        }
        let rows = self.connections.last_mut().expect("a chunk was just made");
        rows.push(ConnectionReport {
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
            http_version,
            sessions: Vec::new(),
            no_session: Some(no_session),
            tls,
        });
    }
}

/// What the live view shows while capturing.
#[derive(Debug, Clone, Default)]
pub struct LiveTally {
    /// Distinct HTTP session keys seen so far.
    pub http: usize,
    /// FTP control channels seen so far.
    pub ftp: usize,
    /// The newest HTTP session keys, as "NAME on HOST".
    pub newest: Vec<String>,
}

impl Correlator {
    pub fn live_tally(&self) -> LiveTally {
        LiveTally {
            http: self.http.live_count(),
            ftp: self.ftp.controls.len(),
            newest: self.http.newest.iter().cloned().collect(),
        }
    }
}

impl HttpSink for Correlator {
    fn transaction(&mut self, at: At, tx: Transaction) {
        let facts = self.config.sessions.screen(tx);
        self.transaction_at(at, &facts);
    }
}

impl Correlator {
    /// One HTTP transaction's session facts.
    pub fn transaction_at(&mut self, at: At, tx: &TxFacts) {
        let unknown = IpAddr::from([0, 0, 0, 0]);
        let (client, server) = self
            .open
            .get(&at.conn)
            .map_or((unknown, unknown), |(c, s)| (c.ip, s.ip));
        self.http.add_facts(at.conn, client, server, tx);
    }
}

impl FtpSink for Correlator {
    fn ftp(&mut self, at: At, event: FtpEvent) {
        let ends = self.open.get(&at.conn).copied();
        self.ftp.event(at, ends, event);
    }
}

/// A session before numbering: its report row (id 0), its requests per
/// connection, and the findings about it.
pub(crate) struct Draft {
    pub report: SessionReport,
    pub per_conn: BTreeMap<u64, u64>,
    pub findings: Vec<Finding>,
}

/// What one kind of session (HTTP, FTP, TLS) makes of its facts.
#[derive(Default)]
pub(crate) struct Built {
    pub sessions: Vec<Draft>,
    /// Findings about no one session (a connection, a server).
    pub findings: Vec<Finding>,
}

impl Correlator {
    /// The sessions, the connection↔session map, the host summary and the
    /// findings. Each kind builds its own sessions and findings; this only
    /// merges them, numbers the sessions by start, and maps connections.
    pub fn finish(&mut self, redact: &Redactor) -> Map {
        let chunks = std::mem::take(&mut self.connections);
        let mut connections = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
        for chunk in chunks {
            connections.extend(chunk);
        }
        connections.sort_unstable_by_key(|c| c.id);
        let (http, http_dropped) = http::build(std::mem::take(&mut self.http), redact);
        self.http_facts_dropped = http_dropped;
        let (ftp, ftp_dropped) =
            ftp::build(std::mem::take(&mut self.ftp), &mut connections, redact);
        self.ftp_dropped = ftp_dropped;
        let tls = tls::build(std::mem::take(&mut self.tls), &mut connections, redact);
        let mut drafts = Vec::new();
        let mut findings = Vec::new();
        for built in [http, ftp, tls] {
            drafts.extend(built.sessions);
            findings.extend(built.findings);
        }
        drafts.sort_by(|x, y| {
            let (x, y) = (&x.report, &y.report);
            (x.start, x.kind, &x.server, &x.key).cmp(&(y.start, y.kind, &y.server, &y.key))
        });
        let index: HashMap<u64, usize> = connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        let mut sessions: Vec<SessionReport> = Vec::with_capacity(drafts.len());
        for (rank, draft) in drafts.into_iter().enumerate() {
            let mut s = draft.report;
            s.id = rank as u64 + 1;
            let mut over_tls = 0;
            for (conn, requests) in &draft.per_conn {
                if let Some(c) = index.get(conn).and_then(|i| connections.get_mut(*i)) {
                    over_tls += usize::from(c.tls.as_ref().is_some_and(|t| t.inner.is_some()));
                    s.gaps += c.gaps;
                    c.sessions.push(ConnSession {
                        id: s.id,
                        requests: *requests,
                    });
                    c.no_session = None;
                }
            }
            if s.kind == "http" && over_tls > 0 {
                s.transport = Some(if over_tls == draft.per_conn.len() {
                    "tls"
                } else {
                    "mixed"
                });
            }
            findings.extend(draft.findings.into_iter().map(|mut f| {
                f.session = Some(s.id);
                f
            }));
            sessions.push(s);
        }
        for c in &mut connections {
            c.sessions.sort_by_key(|s| s.id);
        }
        findings.sort_by(|a, b| {
            (a.session, a.connection, a.rule).cmp(&(b.session, b.connection, b.rule))
        });
        let hosts = host_summary(&connections, &sessions);
        Map {
            connections,
            sessions,
            hosts,
            findings,
        }
    }
}

/// `session-multiple-clients` when a session was used from more than one
/// address (`what`: "PHPSESSID session", "TLS session").
pub(crate) fn multiple_clients<'a>(
    what: &str,
    server: &str,
    clients: impl ExactSizeIterator<Item = &'a IpAddr>,
) -> Option<Finding> {
    if clients.len() < 2 {
        return None;
    }
    let clients: Vec<String> = clients.map(IpAddr::to_string).collect();
    Some(Finding {
        rule: "session-multiple-clients",
        severity: "warning",
        session: None,
        connection: None,
        message: format!(
            "{what} on {server} used from {} addresses: {}",
            clients.len(),
            clients.join(", ")
        ),
    })
}

/// Per address: the connections it opened, the sessions used from it, and
/// the connections it accepted.
fn host_summary(connections: &[ConnectionReport], sessions: &[SessionReport]) -> Vec<HostReport> {
    let mut hosts: BTreeMap<IpAddr, (u64, u64, u64)> = BTreeMap::new();
    for c in connections {
        hosts.entry(c.client.ip).or_default().0 += 1;
        hosts.entry(c.server.ip).or_default().2 += 1;
    }
    for s in sessions {
        for client in &s.clients {
            if let Ok(ip) = client.parse::<IpAddr>() {
                hosts.entry(ip).or_default().1 += 1;
            }
        }
    }
    hosts
        .into_iter()
        .map(|(ip, (opened, sessions, served))| HostReport {
            address: ip.to_string(),
            connections: opened,
            sessions,
            served,
        })
        .collect()
}

impl TlsStats {
    fn add(&mut self, t: &TlsParser, d: Decryption) {
        self.connections += 1;
        match d {
            Decryption::Decrypted => self.decrypted += 1,
            Decryption::Partial => self.partial += 1,
            Decryption::NoKeys => self.no_keys += 1,
            Decryption::Failed => self.failed += 1,
            Decryption::UnsupportedCipher => {
                let name = t
                    .facts
                    .cipher_suite
                    .map_or_else(|| "unknown".to_owned(), |id| format!("0x{id:04x}"));
                *self.unsupported_cipher.entry(name).or_default() += 1;
            }
        }
        let (a, b) = (&mut self.counters, &t.counters);
        a.records_decrypted += b.records_decrypted;
        a.bytes_decrypted += b.bytes_decrypted;
        a.auth_failures += b.auth_failures;
        a.resyncs += b.resyncs;
        a.resync_failures += b.resync_failures;
        a.pending_overflow += b.pending_overflow;
        a.record_too_long += b.record_too_long;
        a.early_data_skipped += b.early_data_skipped;
        a.key_updates += b.key_updates;
    }
}

impl Http2Stats {
    fn add(&mut self, c: &Http2Counters) {
        self.connections += 1;
        let t = &mut self.counters;
        t.frames += c.frames;
        t.streams += c.streams;
        t.pushes += c.pushes;
        t.trailers += c.trailers;
        t.continuations += c.continuations;
        t.padded_frames += c.padded_frames;
        t.resets += c.resets;
        t.goaways += c.goaways;
        t.frame_too_large += c.frame_too_large;
        t.malformed += c.malformed;
        t.hpack_errors += c.hpack_errors;
        t.hpack_table_capped += c.hpack_table_capped;
        t.hpack_evictions += c.hpack_evictions;
        t.header_block_too_large += c.header_block_too_large;
        t.header_list_too_large += c.header_list_too_large;
        t.stream_overflow += c.stream_overflow;
        t.stopped_by_gap += c.stopped_by_gap;
        t.stopped_by_error += c.stopped_by_error;
        t.gaps_skipped += c.gaps_skipped;
        t.hpack_size_over_settings += c.hpack_size_over_settings;
    }
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
