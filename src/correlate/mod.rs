//! Correlate: connections and protocol facts in, the report's map out.
//!
//! It is the flow table's [`ConsumerFactory`]: it hands each new connection
//! its protocol consumer ([`ConnParser`]), receives the transactions that
//! consumer finds as they are found (it is their [`HttpSink`]), and takes the
//! consumer back when the connection is over, keeping only the facts. At the
//! end it builds the sessions, the connection↔session map and the per-host
//! summary.

mod ftp;
mod http;
mod intern;
mod tls;

pub use http::{looks_random, SessionConfig};

use crate::decode::Endpoint;
use crate::flow::{At, ConnRecord, ConsumerFactory, Direction, RoleSource, StreamCounters};
use crate::proto::ftp::{FtpCounters, FtpEvent, FtpSink};
use crate::proto::http::{HttpCounters, HttpLimits, HttpSink, Transaction};
use crate::proto::{ConnParser, Protocol};
use crate::report::{
    Announcement, ConnSession, ConnectionReport, Finding, HostReport, NoSession, PerSide, Redactor,
    SessionReport, Text, TlsReport, Transfer,
};
use ftp::{ConnFacts, FtpSessions};
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
    /// Client and server of each open connection.
    open: HashMap<u64, (Endpoint, Endpoint)>,
    http: HttpSessions,
    ftp: FtpSessions,
    tls: Vec<tls::TlsConn>,
    pub ftp_counters: FtpCounters,
    pub http_counters: HttpCounters,
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
}

/// What `finish` builds.
pub struct Map {
    pub connections: Vec<ConnectionReport>,
    pub sessions: Vec<SessionReport>,
    pub hosts: Vec<HostReport>,
    pub findings: Vec<Finding>,
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
        self.open.insert(id, (*client, *server));
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
            tls_report(&t.facts)
        });
        let protocol = parser.protocol();
        let requests = http.map_or(0, |h| h.counters.requests);
        let no_session = match protocol {
            None if parser.gap_first() => NoSession::GapBeforeRequest,
            None => NoSession::NoPayload,
            Some(Protocol::Tls) => NoSession::Encrypted,
            Some(Protocol::Unknown) if http.is_some_and(|h| h.gap_before_first_request) => {
                NoSession::GapBeforeRequest
            }
            Some(Protocol::Unknown) => NoSession::NotHttp,
            Some(Protocol::Http) => NoSession::NoSessionCookie,
            // An FTP control channel is a session of its own (or, encrypted
            // or unreadable, not).
            Some(Protocol::Ftp | Protocol::FtpData) => NoSession::NotHttp,
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
        let unknown = IpAddr::from([0, 0, 0, 0]);
        let (client, server) = self
            .open
            .get(&at.conn)
            .map_or((unknown, unknown), |(c, s)| (c.ip, s.ip));
        self.http.add(at.conn, client, server, &tx);
    }
}

impl FtpSink for Correlator {
    fn ftp(&mut self, at: At, event: FtpEvent) {
        let ends = self.open.get(&at.conn).copied();
        self.ftp.event(at, ends, event);
    }
}

impl Correlator {
    /// The sessions, the connection↔session map, the host summary and the
    /// findings.
    pub fn finish(&mut self, redact: &Redactor) -> Map {
        let mut connections = std::mem::take(&mut self.connections);
        connections.sort_unstable_by_key(|c| c.id);
        let http = std::mem::take(&mut self.http);
        self.http_facts_dropped = http.dropped;
        // Each session with the requests it had on each connection; ids come
        // after all kinds are sorted by start.
        let mut drafts: Vec<(SessionReport, BTreeMap<u64, u64>)> = Vec::new();
        let mut findings: Vec<(usize, Finding)> = Vec::new();
        let basic_auth = http.basic_auth.clone();
        for s in http.finish() {
            let draft = drafts.len();
            findings.extend(http_findings(&s).into_iter().map(|f| (draft, f)));
            drafts.push(http_session(s, redact));
        }
        for (conn, user) in &basic_auth {
            findings.push((
                usize::MAX,
                Finding {
                    rule: "cleartext-credentials",
                    severity: "error",
                    session: None,
                    connection: Some(*conn),
                    message: format!(
                        "HTTP Basic credentials of user {user} sent in cleartext on connection {conn}"
                    ),
                },
            ));
        }
        self.ftp_sessions(&mut connections, redact, &mut drafts, &mut findings);
        self.tls_sessions(&mut connections, redact, &mut drafts, &mut findings);
        let mut order: Vec<usize> = (0..drafts.len()).collect();
        order.sort_by(|a, b| {
            let (x, y) = (&drafts[*a].0, &drafts[*b].0);
            (x.start, x.kind, &x.server, &x.key).cmp(&(y.start, y.kind, &y.server, &y.key))
        });
        let mut id_of = vec![0u64; drafts.len()];
        for (rank, i) in order.iter().enumerate() {
            id_of[*i] = rank as u64 + 1;
        }
        let index: HashMap<u64, usize> = connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        let mut sessions: Vec<SessionReport> = Vec::with_capacity(drafts.len());
        let mut drafts: Vec<Option<(SessionReport, BTreeMap<u64, u64>)>> =
            drafts.into_iter().map(Some).collect();
        for i in order {
            let Some((mut s, per_conn)) = drafts[i].take() else {
                continue;
            };
            s.id = id_of[i];
            for (conn, requests) in &per_conn {
                if let Some(c) = index.get(conn).and_then(|i| connections.get_mut(*i)) {
                    s.gaps += c.gaps;
                    c.sessions.push(ConnSession {
                        id: s.id,
                        requests: *requests,
                    });
                    c.no_session = None;
                }
            }
            sessions.push(s);
        }
        for c in &mut connections {
            c.sessions.sort_by_key(|s| s.id);
        }
        let mut findings: Vec<Finding> = findings
            .into_iter()
            .map(|(draft, mut f)| {
                // Findings of no session carry usize::MAX.
                f.session = id_of.get(draft).copied();
                f
            })
            .collect();
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

    /// TLS lineages of resumption as sessions; each resumed connection
    /// learns what it resumed.
    fn tls_sessions(
        &mut self,
        connections: &mut [ConnectionReport],
        redact: &Redactor,
        drafts: &mut Vec<(SessionReport, BTreeMap<u64, u64>)>,
        findings: &mut Vec<(usize, Finding)>,
    ) {
        let linked = tls::link(std::mem::take(&mut self.tls));
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
            findings.push((
                usize::MAX,
                Finding {
                    rule: "tls-legacy-version",
                    severity: "warning",
                    session: None,
                    connection: Some(first),
                    message: format!(
                        "{server} negotiated {version} on {} (first: connection {first})",
                        crate::report::count(n, "connection", "connections")
                    ),
                },
            ));
        }
        for c in connections.iter_mut() {
            if let Some(t) = &mut c.tls {
                t.resumes = linked.resumes.get(&c.id).copied();
            }
        }
        let key_text = |k: &tls::Key| {
            let (name, value) = k.parts();
            Text::from(format!("{name}={}", redact.value(value)))
        };
        for l in linked.lineages {
            let server = l.server.map_or_else(|| Text::from(l.server_address), Text);
            if let Some(f) = multiple_clients("TLS session", &server.display(), l.clients.iter()) {
                findings.push((drafts.len(), f));
            }
            let per_conn: BTreeMap<u64, u64> = l.connections.iter().map(|c| (*c, 1)).collect();
            drafts.push((
                SessionReport {
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
            ));
        }
    }

    /// FTP sessions, their data connections, and the FTP findings.
    fn ftp_sessions(
        &mut self,
        connections: &mut [ConnectionReport],
        redact: &Redactor,
        drafts: &mut Vec<(SessionReport, BTreeMap<u64, u64>)>,
        findings: &mut Vec<(usize, Finding)>,
    ) {
        let ftp = std::mem::take(&mut self.ftp);
        // Only control channels the parser confirmed as FTP (commands one
        // way, replies the other) make sessions.
        let control_ids: BTreeSet<u64> = connections
            .iter()
            .filter(|c| c.protocol == Some(Protocol::Ftp) && ftp.controls.contains_key(&c.id))
            .map(|c| c.id)
            .collect();
        let mut facts: Vec<ConnFacts> = connections
            .iter()
            .filter(|c| !control_ids.contains(&c.id))
            .map(|c| ConnFacts {
                id: c.id,
                client: c.client,
                server: c.server,
                start_ns: c.start,
                roles_guessed: c.roles == RoleSource::Port,
            })
            .collect();
        facts.sort_by_key(|f| (f.start_ns, f.id));
        let (mut links, unmatched) = ftp.link(&control_ids, &facts);
        let by_id: HashMap<u64, usize> = connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        // Announcements the capture lost: on control connections with gaps,
        // link the rest by evidence.
        let lossy: BTreeSet<u64> = control_ids
            .iter()
            .copied()
            .filter(|id| by_id.get(id).is_some_and(|i| connections[*i].gaps > 0))
            .collect();
        let announced: BTreeSet<u64> = links.iter().map(|l| l.data).collect();
        let candidates: Vec<ConnFacts> = facts
            .iter()
            .filter(|f| {
                !announced.contains(&f.id)
                    && by_id.get(&f.id).is_some_and(|i| {
                        matches!(connections[*i].protocol, None | Some(Protocol::Unknown))
                    })
            })
            .copied()
            .collect();
        let (inferred, ambiguous) = ftp.infer(&lossy, &candidates, &links);
        links.extend(inferred);
        links.sort_by_key(|l| (l.control, l.data));
        let mut links_of: BTreeMap<u64, Vec<&ftp::Link>> = BTreeMap::new();
        for l in &links {
            links_of.entry(l.control).or_default().push(l);
        }
        let linked: BTreeSet<u64> = links.iter().map(|l| l.data).collect();
        // Connections between two hosts, for the unlinked-data search.
        let mut between: HashMap<(IpAddr, IpAddr), Vec<&ConnFacts>> = HashMap::new();
        for f in &facts {
            let key = if f.client.ip <= f.server.ip {
                (f.client.ip, f.server.ip)
            } else {
                (f.server.ip, f.client.ip)
            };
            between.entry(key).or_default().push(f);
        }
        let mut flagged: BTreeSet<u64> = BTreeSet::new();
        for a in &ambiguous {
            flagged.insert(a.data);
            if let Some(di) = by_id.get(&a.data).copied() {
                connections[di].no_session = Some(NoSession::FtpUnlinked);
            }
            let names: Vec<String> = a
                .controls
                .iter()
                .map(|c| format!("connection {c}"))
                .collect();
            findings.push((
                usize::MAX,
                Finding {
                    rule: "ftp-unlinked-data",
                    severity: "warning",
                    session: None,
                    connection: Some(a.data),
                    message: format!(
                        "connection {} may be a data connection whose announcement the capture lost, \
                         but the control sessions on {} could each have opened it: not linked",
                        a.data,
                        names.join(" and ")
                    ),
                },
            ));
        }
        self.ftp_dropped = ftp.controls.values().map(|c| c.dropped).sum();
        for (&control, c) in ftp
            .controls
            .iter()
            .filter(|(id, _)| control_ids.contains(id))
        {
            let Some(ci) = by_id.get(&control).copied() else {
                continue;
            };
            let draft = drafts.len();
            let (ctl_client, ctl_server, ctl_start) = (
                connections[ci].client,
                connections[ci].server,
                connections[ci].start,
            );
            let mut per_conn: BTreeMap<u64, u64> = BTreeMap::from([(control, c.commands)]);
            let mut end = connections[ci].end;
            let mut transfers = Vec::new();
            for l in links_of.get(&control).into_iter().flatten() {
                let Some(di) = by_id.get(&l.data).copied() else {
                    continue;
                };
                let d = &mut connections[di];
                d.protocol = Some(Protocol::FtpData);
                end = end.max(d.end);
                per_conn.insert(l.data, 1);
                transfers.push(transfer(l, d));
            }
            let announced = |i: &usize| {
                c.expectations.get(*i).map(|e| Announcement {
                    setup: e.kind.to_string(),
                    endpoint: match e.endpoint.addr {
                        Some(ip) => Endpoint {
                            ip,
                            port: e.endpoint.port,
                        }
                        .to_string(),
                        None => format!(":{}", e.endpoint.port),
                    },
                    at: e.ts_ns,
                })
            };
            let unmatched: Vec<Announcement> = unmatched
                .get(&control)
                .map_or(Vec::new(), |v| v.iter().filter_map(announced).collect());
            let mut push = |f: Finding| findings.push((draft, f));
            // Cleartext credentials (a guest login's "password" is an email
            // address by convention: not a secret).
            let guest = c.user.as_deref().is_some_and(|u| {
                u.eq_ignore_ascii_case(b"anonymous") || u.eq_ignore_ascii_case(b"ftp")
            });
            if c.cleartext_credentials && !guest {
                let pass = c.password.as_deref().map_or("-".to_owned(), |p| {
                    redact.value(&String::from_utf8_lossy(p))
                });
                push(Finding {
                    rule: "cleartext-credentials",
                    severity: "error",
                    session: None,
                    connection: Some(control),
                    message: format!(
                        "FTP USER {} and PASS {pass} sent in cleartext on connection {control}",
                        c.user
                            .as_deref()
                            .map_or("-".into(), |u| Text(u.to_vec()).display())
                    ),
                });
            }
            if let Some(f) = bounce(c, ctl_client.ip, control) {
                push(f);
            }
            // A transfer the server started (1xx) whose data connection
            // matched no announcement: look for the connection itself.
            let linked_cmds: BTreeSet<u64> = links_of
                .get(&control)
                .into_iter()
                .flatten()
                .filter_map(|l| l.command.as_ref().map(|t| t.ts_ns))
                .collect();
            let key = if ctl_client.ip <= ctl_server.ip {
                (ctl_client.ip, ctl_server.ip)
            } else {
                (ctl_server.ip, ctl_client.ip)
            };
            for t in &c.transfers {
                let Some(started) = t.started_ns else {
                    continue;
                };
                if linked_cmds.contains(&t.ts_ns) {
                    continue;
                }
                let candidate = between.get(&key).into_iter().flatten().find(|f| {
                    f.start_ns + ftp::SLACK_NS >= started
                        && f.start_ns <= started + UNLINKED_WINDOW_NS
                        && f.id != control
                        && !linked.contains(&f.id)
                        && !control_ids.contains(&f.id)
                        && !flagged.contains(&f.id)
                        && by_id.get(&f.id).is_some_and(|i| {
                            matches!(connections[*i].protocol, None | Some(Protocol::Unknown))
                        })
                });
                if let Some(f) = candidate {
                    flagged.insert(f.id);
                    if let Some(di) = by_id.get(&f.id).copied() {
                        connections[di].no_session = Some(NoSession::FtpUnlinked);
                    }
                    push(Finding {
                        rule: "ftp-unlinked-data",
                        severity: "warning",
                        session: None,
                        connection: Some(f.id),
                        message: format!(
                            "connection {} followed the {} reply to {} {} but matches no announced data connection",
                            f.id,
                            t.replies.first().copied().unwrap_or(150),
                            t.verb,
                            Text(t.argument.clone()).display()
                        ),
                    });
                }
            }
            drafts.push((
                SessionReport {
                    id: 0,
                    kind: "ftp",
                    server: ctl_server.to_string().into(),
                    key: format!("ftp-control:{control}").into(),
                    aliases: Vec::new(),
                    clients: vec![ctl_client.ip.to_string()],
                    user: c.user.clone().map(Text),
                    start: ctl_start,
                    end,
                    connections: per_conn.keys().copied().collect(),
                    // Commands on the control connection plus one per data
                    // connection, as the connections' own counts add up.
                    requests: per_conn.values().sum(),
                    multiple_clients: false,
                    ended: false,
                    control: Some(control),
                    login: c.login.map(|ok| if ok { "success" } else { "failure" }),
                    transfers: Some(transfers),
                    unmatched: Some(unmatched),
                    opaque: c.opaque.clone(),
                    ..Default::default()
                },
                per_conn,
            ));
        }
    }
}

/// One linked data connection as the report shows it.
fn transfer(l: &ftp::Link, d: &ConnectionReport) -> Transfer {
    let passive = l.kind.passive();
    // In passive mode the FTP client opened the data connection.
    let (from_client, from_server) = if passive {
        (d.bytes.client, d.bytes.server)
    } else {
        (d.bytes.server, d.bytes.client)
    };
    let verb = l.command.as_ref().map(|t| t.verb.clone());
    let upload = verb.as_deref().map(ftp::is_upload);
    Transfer {
        connection: l.data,
        command: verb,
        argument: l.command.as_ref().map(|t| Text(t.argument.clone())),
        direction: upload.map(|u| if u { "upload" } else { "download" }),
        mode: if passive { "passive" } else { "active" },
        setup: if l.inferred.is_some() {
            "inferred".into()
        } else {
            l.kind.to_string()
        },
        inferred: l.inferred.clone(),
        extended: l.kind.extended(),
        bytes: match upload {
            Some(true) => from_client,
            Some(false) => from_server,
            None => from_client + from_server,
        },
        reply: l
            .command
            .as_ref()
            .and_then(|t| t.replies.iter().copied().find(|r| *r >= 200)),
    }
}

/// FTP bounce: active-mode announcements that point elsewhere than the
/// control client and that the server did not refuse. One finding per
/// session. A private target from a public client is most likely a client
/// behind NAT without an FTP helper: a warning, not an error.
fn bounce(c: &ftp::Control, client: IpAddr, control: u64) -> Option<Finding> {
    let targets: Vec<Endpoint> = c
        .expectations
        .iter()
        .filter(|e| !e.kind.passive() && e.accepted != Some(false))
        .filter_map(|e| {
            e.endpoint.addr.map(|ip| Endpoint {
                ip,
                port: e.endpoint.port,
            })
        })
        .filter(|ep| ep.ip != client)
        .collect();
    let first = *targets.first()?;
    let hosts: BTreeSet<IpAddr> = targets.iter().map(|e| e.ip).collect();
    let nat = hosts.iter().all(|ip| is_private(*ip)) && !is_private(client);
    Some(Finding {
        rule: "ftp-bounce",
        severity: if nat { "warning" } else { "error" },
        session: None,
        connection: Some(control),
        message: format!(
            "{} active-mode announcement{} (PORT/EPRT/LPRT) ask the server to connect to {} address{} other than the control client {client} (first: {first}): {}",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            hosts.len(),
            if hosts.len() == 1 { "" } else { "es" },
            if nat { "probably a client behind NAT" } else { "FTP bounce" },
        ),
    })
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// How long after a 150 reply an unannounced data connection is looked for.
const UNLINKED_WINDOW_NS: u64 = 30_000_000_000;

/// The findings one HTTP session raises by itself.
/// `session-multiple-clients` when a session was used from more than one
/// address (`what`: "PHPSESSID session", "TLS session").
fn multiple_clients<'a>(
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

fn http_findings(s: &http::Session) -> Vec<Finding> {
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
fn http_session(s: http::Session, redact: &Redactor) -> (SessionReport, BTreeMap<u64, u64>) {
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
    total.unpaired += c.unpaired;
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

/// A connection's TLS handshake as a report row (`resumes` comes later).
fn tls_report(f: &crate::proto::tls::TlsFacts) -> TlsReport {
    use crate::proto::tls::Handshake;
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
    }
}
