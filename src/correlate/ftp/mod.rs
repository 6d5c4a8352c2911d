//! FTP sessions: control channels and the data connections they spawn.
//!
//! Facts arrive as the control parser finds them and are folded into one
//! record per control connection: login, expectations (announced data
//! connections), transfer commands with their replies. Linking happens at
//! the end, when every connection is known, so a data connection that the
//! capture shows before the reply announcing it (reordering between
//! interfaces) still links.
//!
//! A connection matches an expectation of control session C when it starts
//! within the expectation's window (from its announcement, less a slack for
//! reordering, to the session's next announcement or the expiry) and:
//! - passive (PASV, EPSV, LPSV): it goes from C's client address to the
//!   advertised port, at the advertised address or, when that differs from
//!   C's server (NAT), at C's server address;
//! - active (PORT, EPRT, LPRT): it comes from C's server address, from any
//!   port (not only 20), to the advertised port at the advertised address or
//!   C's client address.
//!
//! Each expectation takes the earliest matching connection not yet taken.

use crate::decode::Endpoint;
use crate::flow::At;
use crate::proto::ftp::address::Advertised;
use crate::proto::ftp::{ExpectKind, FtpEvent, TRANSFER_VERBS};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// How long before its announcement a data connection may appear (capture
/// reordering between interfaces or files).
pub const SLACK_NS: u64 = 2_000_000_000;
/// How far outside its transfer's exchange (setup command to final reply)
/// an inferred data connection may start: timestamp jitter, not the
/// reordering `SLACK_NS` allows an announced one. Narrow, because nothing
/// but time ties it to its control session.
const INFER_SLACK_NS: u64 = 100_000_000;
/// How long an announced data connection is awaited.
const EXPIRY_NS: u64 = 300_000_000_000;
/// Announcements kept per control session (Zeek's cwd-navigation trace has
/// 688; a flood of PORT commands is bounded here).
pub const MAX_EXPECTATIONS: usize = 10_000;
/// Transfer commands kept per control session.
pub const MAX_TRANSFERS: usize = 10_000;
/// Bytes of a command argument kept (file names, user names).
const MAX_ARGUMENT: usize = 512;
/// Connections considered per announcement (the nearest in time).
const MAX_CANDIDATES: usize = 16;

#[derive(Debug, Clone)]
pub struct Expectation {
    pub ts_ns: u64,
    pub kind: ExpectKind,
    pub endpoint: Advertised,
    /// Active mode: whether the server accepted the PORT/EPRT/LPRT.
    pub accepted: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct TransferCommand {
    pub ts_ns: u64,
    pub verb: String,
    pub argument: Vec<u8>,
    /// Replies to it, in order (1xx then the final one).
    pub replies: Vec<u16>,
    /// When the first 1xx came (the server opened or expects the data
    /// connection).
    pub started_ns: Option<u64>,
    /// When the final reply came.
    pub ended_ns: Option<u64>,
}

/// A PASV, EPSV or LPSV command, and whether a reply announced (or
/// refused) the data connection it asks for.
#[derive(Debug, Clone)]
pub struct PassiveCommand {
    pub ts_ns: u64,
    pub kind: ExpectKind,
    pub answered: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Control {
    pub client: Option<Endpoint>,
    pub server: Option<Endpoint>,
    pub user: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    /// 230 after PASS (or USER): true; 530: false.
    pub login: Option<bool>,
    pub expectations: Vec<Expectation>,
    /// Passive-mode commands (bounded by `MAX_EXPECTATIONS`).
    pub passive_commands: Vec<PassiveCommand>,
    pub malformed_expectations: u64,
    pub transfers: Vec<TransferCommand>,
    /// The security mechanism that made the channel opaque, if any.
    pub opaque: Option<String>,
    /// Whether USER/PASS went in cleartext.
    pub cleartext_credentials: bool,
    /// Announcements past `MAX_EXPECTATIONS` or `MAX_TRANSFERS`.
    pub dropped: u64,
    pub commands: u64,
    /// The transfer command waiting for its final reply.
    open_transfer: Option<usize>,
}

impl Control {
    /// The latest passive command gets its answer (of `kind`, when the
    /// reply announced one). Replies come in order: an older unanswered one
    /// lost its reply.
    fn answer_passive(&mut self, kind: Option<ExpectKind>) {
        if let Some(p) = self
            .passive_commands
            .last_mut()
            .filter(|p| kind.is_none_or(|k| k == p.kind))
        {
            p.answered = true;
        }
    }
}

/// A data connection linked to its control session.
#[derive(Debug, Clone)]
pub struct Link {
    pub control: u64,
    pub data: u64,
    pub kind: ExpectKind,
    pub command: Option<TransferCommand>,
    /// The link was inferred (its announcement was lost): why.
    pub inferred: Option<String>,
}

/// A connection the correlator knows, for matching.
#[derive(Debug, Clone, Copy)]
pub struct ConnFacts {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub start_ns: u64,
    /// No handshake was seen: client and server were guessed from ports.
    pub roles_guessed: bool,
}

#[derive(Debug, Default)]
pub struct FtpSessions {
    pub controls: BTreeMap<u64, Control>,
}

impl FtpSessions {
    pub fn event(&mut self, at: At, ends: Option<(Endpoint, Endpoint)>, event: FtpEvent) {
        let c = self.controls.entry(at.conn).or_default();
        if c.client.is_none() {
            if let Some((client, server)) = ends {
                c.client = Some(client);
                c.server = Some(server);
            }
        }
        match event {
            FtpEvent::Command { verb, arg } => {
                c.commands += 1;
                let mut arg = arg;
                arg.truncate(MAX_ARGUMENT);
                match verb.as_str() {
                    "USER" => c.user = Some(arg),
                    "PASS" => {
                        c.password = Some(arg);
                        if c.opaque.is_none() {
                            c.cleartext_credentials = true;
                        }
                    }
                    v if TRANSFER_VERBS.contains(&v) => {
                        if c.transfers.len() < MAX_TRANSFERS {
                            c.open_transfer = Some(c.transfers.len());
                            c.transfers.push(TransferCommand {
                                ts_ns: at.ts_ns,
                                verb,
                                argument: arg,
                                replies: Vec::new(),
                                started_ns: None,
                                ended_ns: None,
                            });
                        } else {
                            c.open_transfer = None;
                            c.dropped += 1;
                        }
                    }
                    "PASV" | "EPSV" | "LPSV" if c.passive_commands.len() < MAX_EXPECTATIONS => {
                        c.passive_commands.push(PassiveCommand {
                            ts_ns: at.ts_ns,
                            kind: match verb.as_str() {
                                "PASV" => ExpectKind::Pasv,
                                "EPSV" => ExpectKind::Epsv,
                                _ => ExpectKind::Lpsv,
                            },
                            answered: false,
                        });
                    }
                    _ => {}
                }
            }
            FtpEvent::Reply { code, to, .. } => {
                // A refusal answers the passive command too.
                if matches!(to.as_deref(), Some("PASV" | "EPSV" | "LPSV")) && code >= 400 {
                    c.answer_passive(None);
                }
                match (code, to.as_deref()) {
                    (230, _) => c.login = Some(true),
                    (530, Some("PASS" | "USER")) => c.login = Some(false),
                    (_, Some("PORT" | "EPRT" | "LPRT")) if code >= 200 => {
                        if let Some(e) = c.expectations.iter_mut().rev().find(|e| !e.kind.passive())
                        {
                            e.accepted.get_or_insert(code < 400);
                        }
                    }
                    _ => {}
                }
                if to.as_deref().is_some_and(|v| TRANSFER_VERBS.contains(&v)) {
                    if let Some(t) = c.open_transfer.and_then(|i| c.transfers.get_mut(i)) {
                        t.replies.push(code);
                        if code < 200 && t.started_ns.is_none() {
                            t.started_ns = Some(at.ts_ns);
                        }
                        if code >= 200 {
                            t.ended_ns = Some(at.ts_ns);
                        }
                    }
                    if code >= 200 {
                        c.open_transfer = None;
                    }
                }
            }
            FtpEvent::Expect { kind, endpoint } => {
                if kind.passive() {
                    c.answer_passive(Some(kind));
                }
                if c.expectations.len() < MAX_EXPECTATIONS {
                    c.expectations.push(Expectation {
                        ts_ns: at.ts_ns,
                        kind,
                        endpoint,
                        accepted: None,
                    });
                } else {
                    c.dropped += 1;
                }
            }
            FtpEvent::MalformedExpect { kind, .. } => {
                if kind.passive() {
                    c.answer_passive(None);
                }
                c.malformed_expectations += 1;
            }
            // The passive command stays unanswered: evidence for inference.
            FtpEvent::Unanswered { .. } => {}
            FtpEvent::Opaque { mechanism } => c.opaque = Some(mechanism),
            // CCC: readable again (a PASS after it is in cleartext).
            FtpEvent::Clear => c.opaque = None,
        }
    }

    /// Forgets a connection that turned out not to be an FTP control
    /// channel (its facts were gathered while that was undecided).
    pub fn forget(&mut self, conn: u64) {
        self.controls.remove(&conn);
    }

    /// The transfer command each announcement led to: commands and
    /// announcements alternate, so they pair in order. A command belongs to
    /// the last announcement before it, or to the passive command whose
    /// reply it overtook (a pipelined client may send it before the reply
    /// is seen).
    fn commands_of(c: &Control) -> Vec<Option<TransferCommand>> {
        let mut out = Vec::with_capacity(c.expectations.len());
        let mut j = 0;
        for (i, e) in c.expectations.iter().enumerate() {
            // Never a command from before the announcement's own setup
            // command (PORT is its own; PASV precedes its 227): that one
            // belongs to an announcement the capture lost.
            let from = if e.kind.passive() {
                last_by(&c.passive_commands, e.ts_ns, |p| p.ts_ns)
                    .filter(|p| p.kind == e.kind)
                    .map_or(e.ts_ns.saturating_sub(SLACK_NS), |p| p.ts_ns)
            } else {
                e.ts_ns
            };
            let next = c.expectations.get(i + 1).map_or(u64::MAX, |n| n.ts_ns);
            while c.transfers.get(j).is_some_and(|t| t.ts_ns < from) {
                j += 1;
            }
            match c.transfers.get(j) {
                Some(t) if t.ts_ns < next => {
                    out.push(Some(t.clone()));
                    j += 1;
                }
                _ => out.push(None),
            }
        }
        out
    }

    /// Links data connections to the expectations of the control channels
    /// in `controls` (the connections confirmed as FTP). Every (announcement,
    /// connection) pair in a window is a candidate; the closest in time win,
    /// each announcement and each connection used once, so a reused passive
    /// port or two sessions announcing the same port cannot swap links.
    pub fn link(
        &self,
        controls: &BTreeSet<u64>,
        conns: &[ConnFacts],
    ) -> (Vec<Link>, BTreeMap<u64, Vec<usize>>) {
        // Connections by (opener address, acceptor address, acceptor port),
        // in start order. Connections whose roles were guessed from ports
        // are also filed the other way round.
        let mut index: HashMap<(IpAddr, IpAddr, u16), Vec<(u64, u64)>> = HashMap::new();
        for d in conns.iter().filter(|d| !controls.contains(&d.id)) {
            index
                .entry((d.client.ip, d.server.ip, d.server.port))
                .or_default()
                .push((d.start_ns, d.id));
            if d.roles_guessed {
                index
                    .entry((d.server.ip, d.client.ip, d.client.port))
                    .or_default()
                    .push((d.start_ns, d.id));
            }
        }
        for v in index.values_mut() {
            v.sort_unstable();
        }
        // Candidates: (before its announcement, distance, control, index, conn).
        let mut pairs: Vec<(bool, u64, u64, usize, u64)> = Vec::new();
        let mut commands: BTreeMap<u64, Vec<Option<TransferCommand>>> = BTreeMap::new();
        for (&id, c) in self.controls.iter().filter(|(id, _)| controls.contains(id)) {
            let (Some(cc), Some(cs)) = (c.client, c.server) else {
                continue;
            };
            commands.insert(id, Self::commands_of(c));
            for (i, e) in c.expectations.iter().enumerate() {
                let until = c
                    .expectations
                    .get(i + 1)
                    .map_or(u64::MAX, |n| n.ts_ns.saturating_add(SLACK_NS))
                    .min(e.ts_ns.saturating_add(EXPIRY_NS));
                let from = e.ts_ns.saturating_sub(SLACK_NS);
                let (opener, home) = if e.kind.passive() {
                    (cc.ip, cs.ip)
                } else {
                    (cs.ip, cc.ip)
                };
                let mut acceptors = vec![home];
                if let Some(a) = e.endpoint.addr.filter(|a| *a != home) {
                    acceptors.push(a);
                }
                for acceptor in acceptors {
                    let Some(list) = index.get(&(opener, acceptor, e.endpoint.port)) else {
                        continue;
                    };
                    let first = list.partition_point(|(t, _)| *t < from);
                    for (t, conn) in list[first..]
                        .iter()
                        .take_while(|(t, _)| *t <= until)
                        .take(MAX_CANDIDATES)
                    {
                        pairs.push((*t < e.ts_ns, t.abs_diff(e.ts_ns), id, i, *conn));
                    }
                }
            }
        }
        pairs.sort_unstable();
        let mut taken: BTreeSet<u64> = BTreeSet::new();
        let mut fulfilled: BTreeSet<(u64, usize)> = BTreeSet::new();
        let mut links = Vec::new();
        for (_, _, control, i, conn) in pairs {
            if taken.contains(&conn) || fulfilled.contains(&(control, i)) {
                continue;
            }
            taken.insert(conn);
            fulfilled.insert((control, i));
            let kind = self.controls[&control].expectations[i].kind;
            let command = commands
                .get(&control)
                .and_then(|v| v.get(i).cloned().flatten());
            links.push(Link {
                control,
                data: conn,
                kind,
                command,
                inferred: None,
            });
        }
        links.sort_by_key(|l| (l.control, l.data));
        let mut unmatched: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (&id, c) in self.controls.iter().filter(|(id, _)| controls.contains(id)) {
            for i in 0..c.expectations.len() {
                if !fulfilled.contains(&(id, i)) {
                    unmatched.entry(id).or_default().push(i);
                }
            }
        }
        (links, unmatched)
    }
}

/// A data connection that evidence ties to more than one control session:
/// not inferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    pub data: u64,
    pub controls: Vec<u64>,
}

/// What a transfer command of a lossy control session says about its data
/// connection, whose announcement the capture lost.
struct Evidence {
    control: u64,
    transfer: usize,
    /// When the data connection may have started.
    from: u64,
    until: u64,
    /// The moment the distance to a candidate is measured from.
    anchor: u64,
    /// The mode, when a setup command tells it.
    kind: Option<ExpectKind>,
    /// The passive command whose reply was lost.
    lost_passive: Option<ExpectKind>,
    /// From a control connection with gaps: only such evidence links; the
    /// rest only competes.
    lossy: bool,
}

/// The last item at or before `ts` of a slice in time order (binary
/// search: per-session lists hold up to 10,000 items).
fn last_by<T>(items: &[T], ts: u64, ts_of: impl Fn(&T) -> u64) -> Option<&T> {
    let n = items.partition_point(|x| ts_of(x) <= ts);
    n.checked_sub(1).and_then(|i| items.get(i))
}

impl FtpSessions {
    /// Links data connections whose announcement the capture lost, by
    /// evidence, on control sessions whose streams had gaps (`lossy`).
    ///
    /// A transfer command that no announced link took is evidence when the
    /// passive command before it went unanswered (its 227/229/228 was
    /// lost) or when the server answered it 1xx (it opened or awaited a
    /// data connection). Its data connection is a `candidates` connection
    /// between the same two hosts, in the right direction for the mode
    /// (passive: from the control client; active: from the control
    /// server), that started between the setup command (or the transfer
    /// command) and the final reply, give or take `INFER_SLACK_NS`; the
    /// nearest `MAX_CANDIDATES` are considered. Only evidence of lossy
    /// sessions links, but evidence of any session competes: a connection
    /// that evidence of two control sessions fits is never inferred and is
    /// returned as ambiguous. Otherwise the nearest in time wins, each
    /// transfer command and each connection used once.
    pub fn infer(
        &self,
        lossy: &BTreeSet<u64>,
        candidates: &[ConnFacts],
        links: &[Link],
    ) -> (Vec<Link>, Vec<Ambiguous>) {
        let pair = |a: IpAddr, b: IpAddr| if a <= b { (a, b) } else { (b, a) };
        let mut between: HashMap<(IpAddr, IpAddr), Vec<&ConnFacts>> = HashMap::new();
        for d in candidates {
            between
                .entry(pair(d.client.ip, d.server.ip))
                .or_default()
                .push(d);
        }
        for v in between.values_mut() {
            v.sort_unstable_by_key(|d| (d.start_ns, d.id));
        }
        let mut evidence: Vec<Evidence> = Vec::new();
        // (distance, evidence index, connection, mode)
        let mut pairs: Vec<(u64, usize, u64, ExpectKind)> = Vec::new();
        for (&id, c) in &self.controls {
            let (Some(cc), Some(cs)) = (c.client, c.server) else {
                continue;
            };
            let used: BTreeSet<u64> = links
                .iter()
                .filter(|l| l.control == id)
                .filter_map(|l| l.command.as_ref().map(|t| t.ts_ns))
                .collect();
            let mut prev_ts = 0;
            for (ti, t) in c.transfers.iter().enumerate() {
                let since = prev_ts;
                prev_ts = t.ts_ns;
                if used.contains(&t.ts_ns) {
                    continue;
                }
                // The setup command of this transfer: the last one after the
                // previous transfer command.
                let last_passive = last_by(&c.passive_commands, t.ts_ns, |p| p.ts_ns);
                let last_expect = last_by(&c.expectations, t.ts_ns, |e| e.ts_ns);
                let passive = last_passive.filter(|p| p.ts_ns >= since);
                let announced = last_expect.filter(|e| e.ts_ns >= since);
                let lost_passive = passive.filter(|p| !p.answered).map(|p| p.kind);
                if announced.is_some() || (lost_passive.is_none() && t.started_ns.is_none()) {
                    // Announced (its connection is elsewhere), or no sign
                    // that a data connection was opened.
                    continue;
                }
                // The mode: the setup command's, else the session's last.
                let session_mode = match (last_expect, last_passive) {
                    (Some(e), Some(p)) if p.ts_ns > e.ts_ns => Some(p.kind),
                    (Some(e), _) => Some(e.kind),
                    (None, Some(p)) => Some(p.kind),
                    (None, None) => None,
                };
                let kind = lost_passive.or(session_mode);
                let start = passive.map_or(t.ts_ns, |p| p.ts_ns);
                let end = t.ended_ns.or(t.started_ns).unwrap_or(t.ts_ns);
                let e = Evidence {
                    control: id,
                    transfer: ti,
                    from: start.saturating_sub(INFER_SLACK_NS),
                    until: end.saturating_add(INFER_SLACK_NS),
                    anchor: t.started_ns.unwrap_or(t.ts_ns),
                    kind,
                    lost_passive,
                    lossy: lossy.contains(&id),
                };
                let Some(list) = between.get(&pair(cc.ip, cs.ip)) else {
                    continue;
                };
                let first = list.partition_point(|d| d.start_ns < e.from);
                for d in list[first..]
                    .iter()
                    .take_while(|d| d.start_ns <= e.until)
                    .take(MAX_CANDIDATES)
                {
                    let opened_by = |a: &Endpoint, b: &Endpoint| {
                        (d.client.ip == a.ip && d.server.ip == b.ip)
                            || (d.roles_guessed && d.server.ip == a.ip && d.client.ip == b.ip)
                    };
                    // A connection to the control port is another control
                    // connection, not data.
                    if d.server == cs || d.client == cs {
                        continue;
                    }
                    let mode = match e.kind {
                        Some(k) if k.passive() && opened_by(&cc, &cs) => k,
                        Some(k) if !k.passive() && opened_by(&cs, &cc) => k,
                        Some(_) => continue,
                        None if opened_by(&cc, &cs) => ExpectKind::Pasv,
                        None if opened_by(&cs, &cc) => ExpectKind::Port,
                        None => continue,
                    };
                    pairs.push((d.start_ns.abs_diff(e.anchor), evidence.len(), d.id, mode));
                }
                evidence.push(e);
            }
        }
        // Nearest first. A connection is decided when its nearest unused
        // evidence comes up: if unused evidence of another control session
        // fits it too, it is ambiguous and stays unlinked.
        pairs.sort_unstable();
        let mut fits: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (_, ei, conn, _) in &pairs {
            fits.entry(*conn).or_default().push(*ei);
        }
        let mut taken: BTreeSet<u64> = BTreeSet::new();
        let mut used: BTreeSet<usize> = BTreeSet::new();
        let mut links = Vec::new();
        let mut ambiguous = Vec::new();
        for (_, ei, conn, kind) in pairs {
            if !evidence[ei].lossy || taken.contains(&conn) || used.contains(&ei) {
                continue;
            }
            taken.insert(conn);
            let control = evidence[ei].control;
            let rivals: BTreeSet<u64> = fits[&conn]
                .iter()
                .filter(|other| !used.contains(other))
                .map(|other| evidence[*other].control)
                .collect();
            if rivals.len() > 1 {
                ambiguous.push(Ambiguous {
                    data: conn,
                    controls: rivals.into_iter().collect(),
                });
                continue;
            }
            used.insert(ei);
            debug_assert!(rivals.contains(&control));
            let e = &evidence[ei];
            let t = &self.controls[&e.control].transfers[e.transfer];
            let said = match (e.lost_passive, t.replies.first()) {
                (Some(k), _) => format!("the reply to {k} was lost"),
                (None, Some(code)) => format!("{} answered {code}", t.verb),
                (None, None) => format!("{} sent", t.verb),
            };
            links.push(Link {
                control: e.control,
                data: conn,
                kind,
                command: Some(t.clone()),
                inferred: Some(format!(
                    "announcement not in the capture; {said} as this connection opened, \
                     and no other control session between these hosts had an unlinked transfer then"
                )),
            });
        }
        links.sort_by_key(|l| (l.control, l.data));
        (links, ambiguous)
    }
}

/// Whether a transfer command moves data from the client to the server.
pub fn is_upload(verb: &str) -> bool {
    matches!(verb, "STOR" | "STOU" | "APPE")
}

mod report;
#[cfg(test)]
mod tests;

pub(crate) use report::build;
