//! HTTP sessions from transactions.
//!
//! Transactions arrive as the parsers find them and are kept in a compact
//! form (interned names and values, only the cookies that could be session
//! keys). Whether a cookie defines sessions can only be decided once the
//! whole capture is read (the heuristic needs its Set-Cookie attributes and
//! how many clients share a value), so sessions are built in `finish`:
//!
//! 1. Each (site, cookie name) is a session cookie or not: a well-known or
//!    `--cookie` name; or a cookie the server set without Expires/Max-Age
//!    whose values look random and are not shared by many clients.
//! 2. Each use of a cookie value gets the site a browser would scope it to:
//!    the Set-Cookie Domain, else the host that set it, else the registrable
//!    domain of the Host.
//! 3. Keys (site, name, value) are joined into sessions: a rotation (the
//!    request carried V1, the response set V2) and keys sent together in one
//!    request are one session (union-find).
//! 4. Each transaction belongs to the session of the keys its request
//!    carried, else to the session its response started (bootstrap).

use super::intern::Interner;
use crate::proto::http::{Auth, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Cookie names that hold session ids in the frameworks people run.
const WELL_KNOWN: &[&str] = &[
    "phpsessid",
    "jsessionid",
    "asp.net_sessionid",
    "connect.sid",
    "sessionid",
    "session",
    "session_id",
    "sessid",
    "sid",
    "laravel_session",
    "_session_id",
    "ci_session",
    "cfid",
    "cftoken",
    "play_session",
    "rack.session",
    "koa:sess",
    "express:sess",
    "_gitlab_session",
    "next-auth.session-token",
    "__secure-next-auth.session-token",
    "__host-session",
    "jsessionidsso",
];
/// URL parameters that carry session ids.
const URL_PARAMS: &[&str] = &["jsessionid", "phpsessid", "sid", "sessionid", "session_id"];
/// A value shared by this many client addresses is not a session id (for
/// cookies found by the heuristic).
const SHARED_BY: usize = 3;

/// Transactions with session keys kept for the end of the capture (about
/// 100 bytes each). Past it, transactions are counted, not kept.
pub const MAX_FACTS: usize = 2_000_000;

#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// Extra session cookie names (`--cookie`), compared case-insensitively.
    pub cookies: Vec<String>,
    /// Extra URL parameter names (`--url-param`).
    pub url_params: Vec<String>,
}

impl SessionConfig {
    fn is_known_cookie(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        let generated = |prefix: &str, min_suffix: usize, hex: bool| {
            lower.strip_prefix(prefix).is_some_and(|rest| {
                rest.len() >= min_suffix && (!hex || rest.bytes().all(|b| b.is_ascii_hexdigit()))
            })
        };
        WELL_KNOWN.contains(&lower.as_str())
            // IIS classic ASP: ASPSESSIONIDQQGGQGPG.
            || generated("aspsessionid", 1, false)
            // Drupal: SESS / SSESS + 32 hex digits.
            || generated("sess", 16, true)
            || generated("ssess", 16, true)
            || self.cookies.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    fn is_url_param(&self, name: &str) -> bool {
        URL_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name))
            || self.url_params.iter().any(|p| p.eq_ignore_ascii_case(name))
    }
}

/// Whether a cookie value looks like a random token: long enough, varied
/// enough (Shannon entropy over its characters), not a plain number or word.
pub fn looks_random(value: &str) -> bool {
    let v = value.as_bytes();
    if v.len() < 16 || v.len() > 4096 {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in v {
        counts[*b as usize] += 1;
    }
    let n = v.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum();
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    entropy >= 3.0 && digits < v.len()
}

/// How a cookie name/value pair was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Cookie,
    Url,
}

/// A Set-Cookie seen for a key.
#[derive(Debug, Clone, Copy)]
struct SetInfo {
    /// The host that set it.
    host: u32,
    /// Its Domain attribute.
    domain: Option<u32>,
    persistent: bool,
}

/// One transaction, compact.
#[derive(Debug)]
struct Tx {
    conn: u64,
    ts_ns: u64,
    client: IpAddr,
    host: u32,
    /// Candidate keys the request carried: (name, value) ids.
    carried: Vec<(KeyKind, u32, u32)>,
    /// Cookies the response set (not deletions): (name, value) ids.
    set: Vec<(u32, u32)>,
    /// URL session ids the response handed out (in a redirect).
    url_given: Vec<(u32, u32)>,
    /// Cookie names the response deleted.
    deleted: Vec<u32>,
    user: Option<u32>,
}

/// Per connection: the client address (for transactions without one).
#[derive(Debug, Default)]
pub struct HttpSessions {
    config: SessionConfig,
    strings: Interner,
    txs: Vec<Tx>,
    sets: HashMap<(u32, u32), Vec<SetInfo>>,
    /// Transactions not kept because `MAX_FACTS` was reached.
    pub dropped: u64,
}

/// A session, before ids and redaction.
#[derive(Debug, Clone)]
pub struct Session {
    pub site: String,
    /// (label, value) in order of first use: the first is the session's key,
    /// the rest its aliases. The label is the cookie name, or `url:` and the
    /// URL parameter's name.
    pub values: Vec<(String, String)>,
    pub clients: BTreeSet<IpAddr>,
    pub users: BTreeSet<String>,
    pub bearer_tokens: BTreeSet<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Requests per connection.
    pub connections: BTreeMap<u64, u64>,
    pub requests: u64,
    /// The server deleted the cookie.
    pub ended: bool,
}

impl HttpSessions {
    pub fn new(config: SessionConfig) -> Self {
        HttpSessions {
            config,
            ..Default::default()
        }
    }

    /// Records one transaction of connection `conn` from `client` to
    /// `server`.
    pub fn add(&mut self, conn: u64, client: IpAddr, server: IpAddr, tx: &Transaction) {
        if self.txs.len() >= MAX_FACTS {
            self.dropped += 1;
            return;
        }
        let req = tx.request.as_ref();
        let host = req
            .and_then(|r| r.host.as_deref())
            .filter(|h| !h.is_empty())
            .map_or_else(|| server.to_string(), str::to_owned);
        let host = self.strings.id(&host);
        let ts_ns = req
            .map(|r| r.ts_ns)
            .or(tx.response.as_ref().map(|r| r.ts_ns))
            .unwrap_or(0);
        let mut rec = Tx {
            conn,
            ts_ns,
            client,
            host,
            carried: Vec::new(),
            set: Vec::new(),
            url_given: Vec::new(),
            deleted: Vec::new(),
            user: None,
        };
        if let Some(r) = req {
            for (name, value) in &r.cookies {
                if !value.is_empty() && (self.config.is_known_cookie(name) || looks_random(value)) {
                    let n = self.strings.id(name);
                    let v = self.strings.id(value);
                    rec.carried.push((KeyKind::Cookie, n, v));
                }
            }
            for (name, value) in &r.url_params {
                if self.config.is_url_param(name) {
                    let n = self.strings.id(&name.to_ascii_lowercase());
                    let v = self.strings.id(value);
                    rec.carried.push((KeyKind::Url, n, v));
                }
            }
            rec.user = match &r.auth {
                Some(Auth::Basic { user }) => Some(self.strings.id(user)),
                Some(Auth::Other { user: Some(u), .. }) => Some(self.strings.id(u)),
                Some(Auth::Bearer { token }) => {
                    Some(self.strings.id(&format!("\u{0}bearer:{token}")))
                }
                _ => None,
            };
        }
        if let Some(resp) = &tx.response {
            let now = (resp.ts_ns / 1_000_000_000) as i64;
            for c in &resp.set_cookies {
                let n = self.strings.id(&c.name);
                if c.deletes(now) || c.value.is_empty() {
                    rec.deleted.push(n);
                    continue;
                }
                if !(self.config.is_known_cookie(&c.name) || looks_random(&c.value)) {
                    // Still remember that the name is long-lived, which
                    // rules it out as a session cookie.
                    if !c.is_persistent() {
                        continue;
                    }
                }
                let v = self.strings.id(&c.value);
                let info = SetInfo {
                    host,
                    domain: c.domain.as_deref().map(|d| self.strings.id(d)),
                    persistent: c.is_persistent(),
                };
                let infos = self.sets.entry((n, v)).or_default();
                if infos.len() < 4 {
                    infos.push(info);
                }
                rec.set.push((n, v));
            }
            for (name, value) in &resp.location_params {
                if self.config.is_url_param(name) {
                    let n = self.strings.id(&name.to_ascii_lowercase());
                    let v = self.strings.id(value);
                    rec.url_given.push((n, v));
                }
            }
        }
        // A transaction with no session key at all can belong to no session.
        if !(rec.carried.is_empty()
            && rec.set.is_empty()
            && rec.url_given.is_empty()
            && rec.deleted.is_empty())
        {
            self.txs.push(rec);
        }
    }

    /// Builds the sessions; also returns, per connection, how many of its
    /// requests belong to each session (by index in the returned list).
    pub fn finish(self) -> Vec<Session> {
        let HttpSessions {
            config,
            mut strings,
            txs,
            sets,
            ..
        } = self;
        // Every host's registrable domain gets an id up front.
        for tx in &txs {
            let site = registrable(strings.get(tx.host)).to_owned();
            strings.id(&site);
        }
        let name_of = |id: u32| strings.get(id);

        // The site of a key as used by a request to `host`.
        let site_of = |kind: KeyKind, name: u32, value: u32, host: u32| -> u32 {
            let h = name_of(host);
            if kind == KeyKind::Cookie {
                if let Some(infos) = sets.get(&(name, value)) {
                    if let Some(d) = infos
                        .iter()
                        .find_map(|i| i.domain.filter(|d| domain_match(h, name_of(*d))))
                    {
                        return d;
                    }
                    if infos.iter().any(|i| i.domain.is_none() && i.host == host) {
                        return host;
                    }
                }
            }
            strings.find(registrable(h)).unwrap_or(host)
        };
        let set_site = |name: u32, value: u32, host: u32| -> u32 {
            sets.get(&(name, value))
                .and_then(|infos| infos.iter().find(|i| i.host == host))
                .and_then(|i| i.domain)
                .unwrap_or(host)
        };

        // 1. Which (site, name) are session cookies.
        let mut clients_of: HashMap<(u32, u32, u32), BTreeSet<IpAddr>> = HashMap::new();
        for tx in &txs {
            for &(kind, n, v) in &tx.carried {
                if kind == KeyKind::Cookie {
                    let site = site_of(kind, n, v, tx.host);
                    clients_of
                        .entry((site, n, v))
                        .or_default()
                        .insert(tx.client);
                }
            }
        }
        let mut verdict: HashMap<(u32, u32), bool> = HashMap::new();
        let mut is_session = |kind: KeyKind, site: u32, name: u32| -> bool {
            if kind == KeyKind::Url || config.is_known_cookie(name_of(name)) {
                return true;
            }
            *verdict.entry((site, name)).or_insert_with(|| {
                let mut set_any = false;
                for ((n, v), infos) in &sets {
                    if *n != name {
                        continue;
                    }
                    for i in infos {
                        if i.domain.unwrap_or(i.host) != site && i.host != site {
                            continue;
                        }
                        if i.persistent || !looks_random(name_of(*v)) {
                            return false;
                        }
                        set_any = true;
                    }
                }
                let shared = clients_of
                    .iter()
                    .any(|((s, n, _), c)| *s == site && *n == name && c.len() >= SHARED_BY);
                set_any && !shared
            })
        };

        // 2-3. Keys and their unions.
        let mut keys: HashMap<(u32, u32, u32, bool), usize> = HashMap::new();
        let mut uf = UnionFind::default();
        let mut key_of = |site: u32, n: u32, v: u32, url: bool, uf: &mut UnionFind| -> usize {
            *keys.entry((site, n, v, url)).or_insert_with(|| uf.add())
        };
        // Per transaction: its session key (before union), if any.
        let mut tx_key: Vec<Option<usize>> = Vec::with_capacity(txs.len());
        let mut key_info: Vec<(u32, u32, u32, bool, u64)> = Vec::new();
        let mut deleted_keys: Vec<(usize, u64)> = Vec::new();
        for tx in &txs {
            let mut carried: Vec<usize> = Vec::new();
            for &(kind, n, v) in &tx.carried {
                let site = site_of(kind, n, v, tx.host);
                if is_session(kind, site, n) {
                    let k = key_of(site, n, v, kind == KeyKind::Url, &mut uf);
                    if k == key_info.len() {
                        key_info.push((site, n, v, kind == KeyKind::Url, tx.ts_ns));
                    }
                    carried.push(k);
                }
            }
            let mut started: Vec<usize> = Vec::new();
            for &(n, v) in &tx.set {
                let site = set_site(n, v, tx.host);
                if is_session(KeyKind::Cookie, site, n) {
                    let k = key_of(site, n, v, false, &mut uf);
                    if k == key_info.len() {
                        key_info.push((site, n, v, false, tx.ts_ns));
                    }
                    // Rotation: the request carried another value of it.
                    for &c in &carried {
                        let (_, cn, _, curl, _) = key_info[c];
                        if cn == n && !curl {
                            uf.union(c, k);
                        }
                    }
                    started.push(k);
                }
            }
            for &(n, v) in &tx.url_given {
                let site = site_of(KeyKind::Url, n, v, tx.host);
                let k = key_of(site, n, v, true, &mut uf);
                if k == key_info.len() {
                    key_info.push((site, n, v, true, tx.ts_ns));
                }
                started.push(k);
            }
            for pair in carried.windows(2) {
                uf.union(pair[0], pair[1]);
            }
            for &n in &tx.deleted {
                for &c in &carried {
                    if key_info[c].1 == n {
                        deleted_keys.push((c, tx.ts_ns));
                    }
                }
            }
            tx_key.push(carried.first().or(started.first()).copied());
        }

        // 4. Sessions by union root, in order of first use.
        let mut by_root: BTreeMap<usize, Session> = BTreeMap::new();
        let mut root_order: Vec<usize> = Vec::new();
        for (tx, key) in txs.iter().zip(&tx_key) {
            let Some(k) = key else { continue };
            let root = uf.find(*k);
            let s = by_root.entry(root).or_insert_with(|| {
                root_order.push(root);
                Session {
                    site: name_of(key_info[*k].0).to_owned(),
                    values: Vec::new(),
                    clients: BTreeSet::new(),
                    users: BTreeSet::new(),
                    bearer_tokens: BTreeSet::new(),
                    start_ns: tx.ts_ns,
                    end_ns: tx.ts_ns,
                    connections: BTreeMap::new(),
                    requests: 0,
                    ended: false,
                }
            });
            s.clients.insert(tx.client);
            if let Some(u) = tx.user {
                let u = name_of(u);
                match u.strip_prefix("\u{0}bearer:") {
                    Some(token) => s.bearer_tokens.insert(token.to_owned()),
                    None => s.users.insert(u.to_owned()),
                };
            }
            s.start_ns = s.start_ns.min(tx.ts_ns);
            s.end_ns = s.end_ns.max(tx.ts_ns);
            *s.connections.entry(tx.conn).or_default() += 1;
            s.requests += 1;
        }
        // Values of each session, in order of first use.
        let mut members: Vec<(u64, usize)> =
            (0..key_info.len()).map(|k| (key_info[k].4, k)).collect();
        members.sort_unstable();
        for (_, k) in members {
            let root = uf.find(k);
            if let Some(s) = by_root.get_mut(&root) {
                let (_, n, v, url, _) = key_info[k];
                let label = if url {
                    format!("url:{}", name_of(n))
                } else {
                    name_of(n).to_owned()
                };
                let pair = (label, name_of(v).to_owned());
                if !s.values.contains(&pair) {
                    s.values.push(pair);
                }
            }
        }
        for (k, _) in deleted_keys {
            if let Some(s) = by_root.get_mut(&uf.find(k)) {
                s.ended = true;
            }
        }
        root_order
            .into_iter()
            .filter_map(|r| by_root.remove(&r))
            .collect()
    }
}

/// RFC 6265 section 5.1.3: `host` is `domain` or a subdomain of it.
fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<IpAddr>().is_err())
}

/// The registrable domain of a host (public suffix list), else the host.
fn registrable(host: &str) -> &str {
    if host.parse::<IpAddr>().is_ok() {
        return host;
    }
    psl::domain_str(host).unwrap_or(host)
}

#[derive(Debug, Default)]
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn add(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins two sets; the older key (smaller index) stays the root.
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (keep, join) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[join] = keep;
        }
    }
}

#[cfg(test)]
mod tests;
