//! TLS session lineages: connections linked by resumption.
//!
//! A TLS ≤ 1.2 server issues a session id in its ServerHello, or a ticket in
//! a NewSessionTicket, during a full handshake; a later connection that
//! offers that id (echoed by the server) or that ticket (and gets no
//! certificate) resumes the same TLS session. The lineage is the full
//! handshake and every connection that resumed it, directly or through a
//! ticket a resumption was given. Resumptions whose full handshake is not
//! in the capture are grouped by what they offered. TLS 1.3 tickets travel
//! encrypted, so a TLS 1.3 PSK resumption is marked on its connection but
//! linked to nothing.

use crate::proto::tls::{Handshake, TlsFacts};
use std::collections::HashMap;
use std::net::IpAddr;

/// One TLS connection, kept for the end of the capture.
#[derive(Debug)]
pub struct TlsConn {
    pub id: u64,
    pub client: IpAddr,
    pub server: String,
    pub server_ip: IpAddr,
    pub start_ns: u64,
    pub end_ns: u64,
    pub facts: TlsFacts,
}

/// What identifies a lineage: the session id or ticket digest, as hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    SessionId(String),
    Ticket(String),
}

impl Key {
    fn session_id(bytes: &[u8]) -> Key {
        Key::SessionId(hex(bytes))
    }
    fn ticket(digest: &[u8; 32]) -> Key {
        Key::Ticket(format!("sha256:{}", hex(digest)))
    }
    /// `session-id` or `ticket`, and the value.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Key::SessionId(v) => ("session-id", v),
            Key::Ticket(v) => ("ticket", v),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A lineage of at least one resumption.
#[derive(Debug)]
pub struct Lineage {
    /// The full handshake, when the capture holds it.
    pub original: Option<u64>,
    pub key: Key,
    /// Other ids and tickets of the lineage (issued to resumptions).
    pub aliases: Vec<Key>,
    /// Connection ids, ascending.
    pub connections: Vec<u64>,
    pub clients: Vec<IpAddr>,
    pub server: Option<Vec<u8>>,
    pub server_address: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// The result: lineages, and for each resumed connection the connection
/// whose handshake issued what it resumed.
#[derive(Debug, Default)]
pub struct Linked {
    pub lineages: Vec<Lineage>,
    pub resumes: HashMap<u64, u64>,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    // The earlier connection stays the root.
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    parent[hi] = lo;
}

/// Where a session id or ticket is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scope {
    Name(Vec<u8>),
    Address(IpAddr),
}

/// The scopes a connection's keys live in: its server name, if it sent
/// one, then its server address.
fn scopes(c: &TlsConn) -> Vec<Scope> {
    let mut out = Vec::with_capacity(2);
    if let Some(name) = &c.facts.sni {
        out.push(Scope::Name(name.to_ascii_lowercase()));
    }
    out.push(Scope::Address(c.server_ip));
    out
}

/// Links resumptions to what they resumed, in order of connection id.
pub fn link(mut conns: Vec<TlsConn>) -> Linked {
    conns.sort_by_key(|c| c.id);
    let n = conns.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // What each connection offered, when it resumed.
    let mut offered: Vec<Option<Key>> = vec![None; n];
    // What each handshake hands out for later resumptions: a full
    // handshake its session id (a resumption only echoes one), any TLS 1.2
    // handshake a new ticket. Collected first: connection ids follow the
    // SYNs, and a connection opened early (a browser's preconnect) may
    // resume a session a later-opened connection established.
    // Keys are scoped: a resumption links to an issuer with the same
    // server name (SNI; a load balancer's addresses share it), else at the
    // same server address, so equal ids at unrelated servers never link.
    let mut issued_by: HashMap<(Scope, Key), usize> = HashMap::new();
    for (i, c) in conns.iter().enumerate() {
        let f = &c.facts;
        let mut issued = Vec::new();
        if f.handshake() == Handshake::Full && !f.is_tls13() && !f.server_session_id.is_empty() {
            issued.push(Key::session_id(&f.server_session_id));
        }
        for t in &f.new_tickets {
            issued.push(Key::ticket(t));
        }
        for key in issued {
            for s in scopes(c) {
                issued_by.entry((s, key.clone())).or_insert(i);
            }
        }
    }
    let mut orphans: HashMap<(Scope, Key), usize> = HashMap::new();
    let mut resumes = HashMap::new();
    for (i, c) in conns.iter().enumerate() {
        let f = &c.facts;
        let key = match f.handshake() {
            Handshake::SessionId => Some(Key::session_id(&f.offered_session_id)),
            Handshake::Ticket => f.offered_ticket.as_ref().map(Key::ticket),
            // TLS 1.3: the PSK identity is a ticket of an earlier
            // connection, seen only once that one was decrypted.
            Handshake::Psk => f.offered_psk.as_ref().map(Key::ticket),
            _ => None,
        };
        let Some(key) = key else { continue };
        let issuer = scopes(c)
            .into_iter()
            .find_map(|s| issued_by.get(&(s, key.clone())).copied());
        // A PSK whose issuer is not here (or not decrypted) links nothing:
        // TLS 1.3 tickets are single-use, so equal identities are rare.
        if f.handshake() == Handshake::Psk && issuer.is_none_or(|j| j == i) {
            continue;
        }
        // Resumptions of an unseen original group under their first scope.
        let scoped = (scopes(c).swap_remove(0), key.clone());
        match issuer {
            Some(j) if j != i => {
                union(&mut parent, i, j);
                resumes.insert(c.id, conns[j].id);
            }
            _ => match orphans.get(&scoped) {
                Some(&j) => union(&mut parent, i, j),
                None => {
                    orphans.insert(scoped, i);
                }
            },
        }
        offered[i] = Some(key);
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    let mut lineages = Vec::new();
    let mut roots: Vec<usize> = groups.keys().copied().collect();
    roots.sort_unstable();
    for root in roots {
        let members = &groups[&root];
        if !members.iter().any(|&i| offered[i].is_some()) {
            continue;
        }
        // The full handshake, when it is here (it issued what the others
        // resumed; a lineage holds at most one, its root in the links).
        let full = members.iter().copied().find(|&i| offered[i].is_none());
        let first = &conns[full.unwrap_or(members[0])];
        let original = full.map(|i| conns[i].id);
        let key = match full {
            Some(_) => issued_key(first, members, &offered),
            None => offered[members[0]].clone(),
        };
        let Some(key) = key else { continue };
        // In order of first use; the set keeps a long ticket chain linear.
        let mut aliases: Vec<Key> = Vec::new();
        let mut seen: std::collections::HashSet<Key> =
            std::collections::HashSet::from([key.clone()]);
        for &i in members {
            let f = &conns[i].facts;
            let mut candidates = Vec::new();
            if let Some(k) = &offered[i] {
                candidates.push(k.clone());
            }
            if f.handshake() == Handshake::Full && !f.server_session_id.is_empty() && !f.is_tls13()
            {
                candidates.push(Key::session_id(&f.server_session_id));
            }
            for t in &f.new_tickets {
                candidates.push(Key::ticket(t));
            }
            for k in candidates {
                if seen.insert(k.clone()) {
                    aliases.push(k);
                }
            }
        }
        let mut clients: Vec<IpAddr> = members.iter().map(|&i| conns[i].client).collect();
        clients.sort_unstable();
        clients.dedup();
        lineages.push(Lineage {
            original,
            key,
            aliases,
            connections: members.iter().map(|&i| conns[i].id).collect(),
            clients,
            server: members.iter().find_map(|&i| conns[i].facts.sni.clone()),
            server_address: first.server.clone(),
            start_ns: members
                .iter()
                .map(|&i| conns[i].start_ns)
                .min()
                .unwrap_or(0),
            end_ns: members.iter().map(|&i| conns[i].end_ns).max().unwrap_or(0),
        });
    }
    Linked { lineages, resumes }
}

/// The key the full handshake issued that a member resumed (its session id
/// or its ticket).
fn issued_key(first: &TlsConn, members: &[usize], offered: &[Option<Key>]) -> Option<Key> {
    let f = &first.facts;
    let sid = (!f.server_session_id.is_empty()).then(|| Key::session_id(&f.server_session_id));
    let used = |k: &Option<Key>| {
        k.as_ref()
            .is_some_and(|k| members.iter().any(|&i| offered[i].as_ref() == Some(k)))
    };
    if used(&sid) {
        return sid;
    }
    if let Some(ticket) = f
        .new_tickets
        .iter()
        .map(|t| Some(Key::ticket(t)))
        .find(|t| used(t))
    {
        return ticket;
    }
    // Resumed only through a later member's ticket: name the lineage by
    // the first resumption's offer.
    members.iter().find_map(|&i| offered[i].clone())
}

mod report;
#[cfg(test)]
mod tests;

pub(crate) use report::{build, tls_report};
