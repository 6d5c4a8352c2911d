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
use rustc_hash::{FxHashMap as HashMap, FxHashSet};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
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

/// Records of transactions with session keys kept for the end of the
/// capture: distinct shapes, and each further connection a shape was seen
/// on. Past it, transactions that would need a new record are counted
/// (`dropped`), not kept; repeats of a kept record still count.
pub const MAX_FACTS: usize = 2_000_000;
/// Bytes of distinct names, values and hosts kept.
pub const MAX_STRING_BYTES: usize = 256 << 20;
/// Values longer than this are kept as their SHA-256 digest.
const MAX_VALUE: usize = 256;
/// Shortest value taken as a session id (well-known cookie names, URL
/// parameters): "guest", "1" or "yes" are not ids.
const MIN_ID: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// Extra session cookie names (`--cookie`), compared case-insensitively.
    pub cookies: Vec<String>,
    /// Extra URL parameter names (`--url-param`).
    pub url_params: Vec<String>,
}

impl SessionConfig {
    /// A well-known session cookie name.
    fn is_well_known(&self, name: &str) -> bool {
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
    }

    /// A name given with `--cookie`.
    fn is_configured(&self, name: &str) -> bool {
        self.cookies.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// A session cookie name whatever its value looks like.
    fn is_candidate(&self, name: &str) -> bool {
        self.is_configured(name) || self.is_well_known(name)
    }

    /// What sessions need of `tx`: the keys that could be session keys
    /// (a candidate name, or a value that looks random), long values as
    /// their digest, URL parameter names in lower case. It needs nothing
    /// but the configuration, so with `--threads` it runs on the worker
    /// that parsed the transaction, and the one correlation only interns.
    pub fn screen(&self, tx: Transaction) -> TxFacts {
        let Transaction {
            request,
            response,
            host_hint,
        } = tx;
        let mut facts = TxFacts {
            ts_ns: request
                .as_ref()
                .map(|r| r.ts_ns)
                .or(response.as_ref().map(|r| r.ts_ns))
                .unwrap_or(0),
            ..TxFacts::default()
        };
        let mut host = None;
        if let Some(r) = request {
            host = r.host;
            for (name, value) in r.cookies {
                if value.is_empty() {
                    continue;
                }
                let named = self.is_candidate(&name);
                if named || looks_random(&value) {
                    facts.carried.push(Carried {
                        kind: KeyKind::Cookie,
                        named,
                        name,
                        value: value_text(value),
                    });
                }
            }
            for (name, value) in r.url_params {
                if self.is_url_param(&name) {
                    facts.carried.push(Carried {
                        kind: KeyKind::Url,
                        named: true,
                        name: name.to_ascii_lowercase(),
                        value: value_text(value),
                    });
                }
            }
            (facts.user, facts.basic) = match r.auth {
                Some(Auth::Basic { user }) => (Some(user), true),
                Some(Auth::Other { user: Some(u), .. }) => (Some(u), false),
                Some(Auth::Bearer { token }) => (Some(format!("\u{0}bearer:{token}")), false),
                _ => (None, false),
            };
        }
        facts.host = host.or(host_hint).filter(|h| !h.is_empty());
        if let Some(resp) = response {
            let now = (resp.ts_ns / 1_000_000_000) as i64;
            for c in resp.set_cookies {
                if c.deletes(now) || c.value.is_empty() {
                    facts.set.push(SetFact {
                        name: c.name,
                        ..SetFact::default()
                    });
                    continue;
                }
                // Cookies that cannot be session keys are kept only when
                // long-lived: that rules their name out.
                let persistent = c.is_persistent();
                if !(self.is_candidate(&c.name) || looks_random(&c.value) || persistent) {
                    continue;
                }
                facts.set.push(SetFact {
                    name: c.name,
                    value: Some(value_text(c.value)),
                    domain: c.domain,
                    persistent,
                    secure: c.secure,
                    http_only: c.http_only,
                });
            }
            for (name, value) in resp.location_params {
                if self.is_url_param(&name) {
                    facts
                        .url_given
                        .push((name.to_ascii_lowercase(), value_text(value)));
                }
            }
        }
        facts
    }

    fn is_url_param(&self, name: &str) -> bool {
        URL_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name))
            || self.url_params.iter().any(|p| p.eq_ignore_ascii_case(name))
    }
}

/// A value as it is kept: a very long one as its digest.
fn value_text(value: String) -> String {
    if value.len() <= MAX_VALUE {
        return value;
    }
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// What [`HttpSessions`] needs of one transaction, made by
/// [`SessionConfig::screen`].
#[derive(Debug, Default)]
pub struct TxFacts {
    ts_ns: u64,
    /// The host the request named (else the one the connection's last
    /// request named); `None`: the server's address stands for it.
    host: Option<String>,
    /// Keys the request carried that could be session keys.
    carried: Vec<Carried>,
    /// The identity of its Authorization header (a bearer token as
    /// `\0bearer:TOKEN`), and whether it was Basic.
    user: Option<String>,
    basic: bool,
    /// The response's Set-Cookie headers that matter, in order.
    set: Vec<SetFact>,
    /// URL session ids the response handed out (in a redirect).
    url_given: Vec<(String, String)>,
}

#[derive(Debug)]
struct Carried {
    kind: KeyKind,
    /// A candidate session cookie name, or a URL parameter: a key the
    /// live view counts.
    named: bool,
    name: String,
    value: String,
}

/// A Set-Cookie: `value` is `None` when it deletes the cookie.
#[derive(Debug, Default)]
struct SetFact {
    name: String,
    value: Option<String>,
    domain: Option<String>,
    persistent: bool,
    secure: bool,
    http_only: bool,
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
    // Ids of every framework carry letters; numbers with dots (load
    // balancer cookies, timestamps) are not ids.
    entropy >= 3.0 && v.iter().any(u8::is_ascii_alphabetic)
}

/// How a cookie name/value pair was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    secure: bool,
    http_only: bool,
}

/// Transactions of one shape (the same client, host, keys carried, set and
/// deleted, and user), summarised: a session's thousands of requests with
/// the same cookies are one record, so memory follows sessions, not
/// requests.
#[derive(Debug)]
struct Tx {
    /// When this shape of transaction was first seen.
    ts_ns: u64,
    /// When it was last seen.
    last_ns: u64,
    /// Transactions of this shape per connection.
    /// Sorted by connection (a small vector: most shapes live on one).
    conns: Vec<(u64, u64)>,
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

/// What makes two transactions the same for sessions.
type Shape<'a> = (
    IpAddr,
    u32,
    &'a [(KeyKind, u32, u32)],
    &'a [(u32, u32)],
    &'a [(u32, u32)],
    &'a [u32],
    Option<u32>,
);

impl Default for Tx {
    fn default() -> Self {
        Tx {
            ts_ns: 0,
            last_ns: 0,
            conns: Vec::new(),
            client: IpAddr::from([0, 0, 0, 0]),
            host: 0,
            carried: Vec::new(),
            set: Vec::new(),
            url_given: Vec::new(),
            deleted: Vec::new(),
            user: None,
        }
    }
}

impl Tx {
    fn shape(&self) -> Shape<'_> {
        (
            self.client,
            self.host,
            &self.carried,
            &self.set,
            &self.url_given,
            &self.deleted,
            self.user,
        )
    }
}

/// Per connection: the client address (for transactions without one).
#[derive(Debug, Default)]
pub struct HttpSessions {
    config: SessionConfig,
    strings: Interner,
    txs: Vec<Tx>,
    /// Indices in `txs` by the hash of their shape (the shape itself is
    /// not copied: candidates are compared with the record).
    shapes: HashMap<u64, Vec<u32>>,
    shape_hasher: std::hash::RandomState,
    sets: HashMap<(u32, u32), Vec<SetInfo>>,
    /// Records kept: shapes plus (shape, connection) pairs beyond a
    /// shape's first, bounded by `MAX_FACTS`.
    facts: usize,
    max_facts: usize,
    /// Transactions not kept because `MAX_FACTS` was reached.
    pub dropped: u64,
    /// Connections that carried HTTP Basic credentials, with the first user.
    pub basic_auth: BTreeMap<u64, String>,
    /// For the live view: distinct keys of session cookie names and URL
    /// ids seen so far, and the newest few ("NAME on HOST").
    live_keys: FxHashSet<(u32, u32)>,
    pub newest: std::collections::VecDeque<String>,
    /// The record being built (its shape and first time; `conns` and
    /// `last_ns` are set when it is kept), its vectors reused from one
    /// transaction to the next.
    scratch: Tx,
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
    /// The server set one of its cookies without Secure (over cleartext
    /// HTTP, as all HTTP sessmap reads is).
    pub set_without_secure: bool,
    /// The server set one of its cookies without HttpOnly.
    pub set_without_http_only: bool,
}

impl HttpSessions {
    pub fn new(config: SessionConfig) -> Self {
        HttpSessions {
            config,
            max_facts: MAX_FACTS,
            ..Default::default()
        }
    }

    /// Records one transaction of connection `conn` from `client` to
    /// `server`.
    #[cfg(test)]
    pub fn add(&mut self, conn: u64, client: IpAddr, server: IpAddr, tx: Transaction) {
        let facts = self.config.screen(tx);
        self.add_facts(conn, client, server, &facts);
    }

    /// Records one transaction's screened facts (see [`TxFacts`]).
    pub fn add_facts(&mut self, conn: u64, client: IpAddr, server: IpAddr, facts: &TxFacts) {
        if self.strings.bytes() >= MAX_STRING_BYTES {
            self.dropped += 1;
            return;
        }
        let host = match &facts.host {
            Some(h) => self.strings.id(h),
            None => self.strings.id(&server.to_string()),
        };
        let mut rec = std::mem::take(&mut self.scratch);
        rec.carried.clear();
        rec.set.clear();
        rec.url_given.clear();
        rec.deleted.clear();
        rec.client = client;
        rec.host = host;
        rec.ts_ns = facts.ts_ns;
        for c in &facts.carried {
            let n = self.strings.id(&c.name);
            let v = self.strings.id(&c.value);
            rec.carried.push((c.kind, n, v));
        }
        if let Some(user) = &facts.user {
            if facts.basic && self.basic_auth.len() < MAX_FACTS {
                self.basic_auth.entry(conn).or_insert_with(|| user.clone());
            }
        }
        rec.user = facts.user.as_deref().map(|u| self.strings.id(u));
        for c in &facts.set {
            let n = self.strings.id(&c.name);
            let Some(value) = &c.value else {
                rec.deleted.push(n);
                continue;
            };
            let v = self.strings.id(value);
            let info = SetInfo {
                host,
                domain: c.domain.as_deref().map(|d| self.strings.id(d)),
                persistent: c.persistent,
                secure: c.secure,
                http_only: c.http_only,
            };
            let infos = self.sets.entry((n, v)).or_default();
            if infos.len() < 4 {
                infos.push(info);
            }
            rec.set.push((n, v));
        }
        for (name, value) in &facts.url_given {
            let n = self.strings.id(name);
            let v = self.strings.id(value);
            rec.url_given.push((n, v));
        }
        for (c, &(_, n, v)) in facts.carried.iter().zip(&rec.carried) {
            if c.named && self.live_keys.len() < MAX_FACTS && self.live_keys.insert((n, v)) {
                let label = format!("{} on {}", self.strings.get(n), self.strings.get(rec.host));
                if self.newest.len() == 3 {
                    self.newest.pop_front();
                }
                self.newest.push_back(label);
            }
        }
        // A transaction with no session key at all can belong to no session.
        if !(rec.carried.is_empty()
            && rec.set.is_empty()
            && rec.url_given.is_empty()
            && rec.deleted.is_empty())
        {
            self.record(conn, &rec);
        }
        self.scratch = rec;
    }

    /// Counts a transaction of `rec`'s shape on `conn`: a new record for a
    /// new shape, else one more on the shape's record.
    fn record(&mut self, conn: u64, rec: &Tx) {
        let ts_ns = rec.ts_ns;
        let hash = std::hash::BuildHasher::hash_one(&self.shape_hasher, rec.shape());
        let found = self.shapes.get(&hash).and_then(|list| {
            list.iter().copied().find(|&i| {
                self.txs
                    .get(i as usize)
                    .is_some_and(|t| t.shape() == rec.shape())
            })
        });
        // Transactions arrive when answered, not in request order
        // across connections: a shape's first time is the minimum.
        match found.and_then(|i| self.txs.get_mut(i as usize)) {
            Some(t) => match t.conns.binary_search_by_key(&conn, |&(c, _)| c) {
                Ok(at) => {
                    if let Some((_, n)) = t.conns.get_mut(at) {
                        *n += 1;
                    }
                    t.ts_ns = t.ts_ns.min(ts_ns);
                    t.last_ns = t.last_ns.max(ts_ns);
                }
                Err(at) if self.facts < self.max_facts => {
                    self.facts += 1;
                    t.conns.insert(at, (conn, 1));
                    t.ts_ns = t.ts_ns.min(ts_ns);
                    t.last_ns = t.last_ns.max(ts_ns);
                }
                Err(_) => self.dropped += 1,
            },
            None if self.facts < self.max_facts => {
                self.facts += 1;
                // MAX_FACTS keeps the index within u32.
                let index = self.txs.len() as u32;
                self.shapes.entry(hash).or_default().push(index);
                self.txs.push(Tx {
                    ts_ns,
                    last_ns: ts_ns,
                    conns: vec![(conn, 1)],
                    client: rec.client,
                    host: rec.host,
                    carried: rec.carried.clone(),
                    set: rec.set.clone(),
                    url_given: rec.url_given.clone(),
                    deleted: rec.deleted.clone(),
                    user: rec.user,
                });
            }
            None => self.dropped += 1,
        }
    }

    /// Distinct session keys seen so far (before the end's verdicts).
    pub fn live_count(&self) -> usize {
        self.live_keys.len()
    }

    /// Builds the sessions, in order of first use.
    pub fn finish(self) -> Vec<Session> {
        let HttpSessions {
            config,
            mut strings,
            txs,
            sets,
            ..
        } = self;
        // Shapes were recorded in order of first sight.
        // Every host's registrable domain gets an id up front.
        for tx in &txs {
            let site = registrable(strings.get(tx.host)).to_owned();
            strings.id(&site);
        }
        let strings = strings;
        let name_of = |id: u32| strings.get(id);

        // The site a Set-Cookie scopes its cookie to (RFC 6265 section 5.3:
        // a Domain that does not cover the setting host, or that is a public
        // suffix, is ignored).
        let set_site = |i: &SetInfo| -> u32 {
            match i.domain {
                Some(d)
                    if domain_match(name_of(i.host), name_of(d))
                        && !is_public_suffix(name_of(d)) =>
                {
                    d
                }
                _ => i.host,
            }
        };
        // The site of a key as used by a request to `host`: the scope of a
        // Set-Cookie of it that covers `host`, else the host's registrable
        // domain.
        let site_of = |kind: KeyKind, n: u32, v: u32, host: u32| -> u32 {
            if kind == KeyKind::Cookie {
                if let Some(infos) = sets.get(&(n, v)) {
                    let h = name_of(host);
                    for i in infos {
                        let site = set_site(i);
                        if site == host || domain_match(h, name_of(site)) {
                            return site;
                        }
                    }
                }
            }
            strings.find(registrable(name_of(host))).unwrap_or(host)
        };

        // 1. Facts for the verdicts, each gathered in one pass.
        // Per (site, name) set by the server: any long-lived Set-Cookie;
        // all values random.
        let mut set_summary: HashMap<(u32, u32), (bool, bool)> = HashMap::default();
        for ((n, v), infos) in &sets {
            for i in infos {
                let e = set_summary
                    .entry((set_site(i), *n))
                    .or_insert((false, true));
                e.0 |= i.persistent;
                e.1 &= looks_random(name_of(*v));
            }
        }
        // Per key: the client addresses that sent it; per heuristic
        // (site, name): distinct well-known-name values sent with it (two
        // are enough to know it spans sessions).
        let mut clients_of: HashMap<(u32, u32, u32, KeyKind), BTreeSet<IpAddr>> =
            HashMap::default();
        let mut partners: HashMap<(u32, u32), BTreeSet<(u32, u32)>> = HashMap::default();
        for tx in &txs {
            let known: Vec<(u32, u32)> = tx
                .carried
                .iter()
                .filter(|(k, n, _)| *k == KeyKind::Cookie && config.is_well_known(name_of(*n)))
                .map(|(_, n, v)| (*n, *v))
                .collect();
            for &(kind, n, v) in &tx.carried {
                let site = site_of(kind, n, v, tx.host);
                let c = clients_of.entry((site, n, v, kind)).or_default();
                if c.len() < SHARED_BY {
                    c.insert(tx.client);
                }
                if kind == KeyKind::Cookie && !config.is_candidate(name_of(n)) {
                    let p = partners.entry((site, n)).or_default();
                    for k in &known {
                        if p.len() < 2 {
                            p.insert(*k);
                        }
                    }
                }
            }
        }
        let mut shared_names: BTreeSet<(u32, u32)> = partners
            .iter()
            .filter(|(_, p)| p.len() >= 2)
            .map(|(k, _)| *k)
            .collect();
        for ((site, n, _, kind), c) in &clients_of {
            if *kind == KeyKind::Cookie && c.len() >= SHARED_BY {
                shared_names.insert((*site, *n));
            }
        }
        let clients = |site: u32, n: u32, v: u32, kind: KeyKind| {
            clients_of.get(&(site, n, v, kind)).map_or(0, BTreeSet::len)
        };
        // Whether a key can be (part of) a session.
        let qualifies = |kind: KeyKind, site: u32, n: u32, v: u32| -> bool {
            let name = name_of(n);
            let value = name_of(v);
            match kind {
                KeyKind::Url => value.len() >= MIN_ID && clients(site, n, v, kind) < SHARED_BY,
                KeyKind::Cookie if config.is_configured(name) => true,
                // A constant many clients send ("guest") is no session id; a
                // random one many clients send is a shared session: flagged.
                KeyKind::Cookie if config.is_well_known(name) => {
                    value.len() >= MIN_ID
                        && (looks_random(value) || clients(site, n, v, kind) < SHARED_BY)
                }
                KeyKind::Cookie => {
                    set_summary.get(&(site, n)) == Some(&(false, true))
                        && !shared_names.contains(&(site, n))
                }
            }
        };

        // 2-3. Keys and their unions.
        let mut keys: HashMap<(u32, u32, u32, KeyKind), usize> = HashMap::default();
        let mut key_info: Vec<Key> = Vec::new();
        let mut uf = UnionFind::default();
        let mut key_of = |site: u32, n: u32, v: u32, kind: KeyKind, ts: u64, uf: &mut UnionFind| {
            *keys.entry((site, n, v, kind)).or_insert_with(|| {
                key_info.push(Key {
                    site,
                    name: n,
                    value: v,
                    kind,
                    first_ns: ts,
                });
                uf.add()
            })
        };
        let mut tx_key: Vec<Option<usize>> = Vec::with_capacity(txs.len());
        let mut deletions: Vec<(usize, u64)> = Vec::new();
        for tx in &txs {
            let mut carried: Vec<(usize, u32, KeyKind)> = Vec::new();
            for &(kind, n, v) in &tx.carried {
                let site = site_of(kind, n, v, tx.host);
                if qualifies(kind, site, n, v) {
                    carried.push((key_of(site, n, v, kind, tx.ts_ns, &mut uf), n, kind));
                }
            }
            let mut started: Vec<usize> = Vec::new();
            for &(n, v) in &tx.set {
                let site = sets
                    .get(&(n, v))
                    .and_then(|infos| infos.iter().find(|i| i.host == tx.host))
                    .map_or(tx.host, set_site);
                if qualifies(KeyKind::Cookie, site, n, v) {
                    let k = key_of(site, n, v, KeyKind::Cookie, tx.ts_ns, &mut uf);
                    // Rotation: the request carried another value of it.
                    for &(c, cn, ckind) in &carried {
                        if cn == n && ckind == KeyKind::Cookie {
                            uf.union(c, k);
                        }
                    }
                    started.push(k);
                }
            }
            for &(n, v) in &tx.url_given {
                let site = site_of(KeyKind::Url, n, v, tx.host);
                if qualifies(KeyKind::Url, site, n, v) {
                    started.push(key_of(site, n, v, KeyKind::Url, tx.ts_ns, &mut uf));
                }
            }
            // Keys sent together, or handed out together, are one session.
            for pair in carried.windows(2) {
                uf.union(pair[0].0, pair[1].0);
            }
            for pair in started.windows(2) {
                uf.union(pair[0], pair[1]);
            }
            for &n in &tx.deleted {
                // A deletion that comes with a new value is a rotation.
                if tx.set.iter().any(|(sn, _)| *sn == n) {
                    continue;
                }
                for &(c, cn, _) in &carried {
                    if cn == n {
                        deletions.push((c, tx.last_ns));
                    }
                }
            }
            tx_key.push(carried.first().map(|c| c.0).or(started.first().copied()));
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
                    site: name_of(key_info[*k].site).to_owned(),
                    values: Vec::new(),
                    clients: BTreeSet::new(),
                    users: BTreeSet::new(),
                    bearer_tokens: BTreeSet::new(),
                    start_ns: tx.ts_ns,
                    end_ns: tx.ts_ns,
                    connections: BTreeMap::new(),
                    requests: 0,
                    ended: false,
                    set_without_secure: false,
                    set_without_http_only: false,
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
            s.end_ns = s.end_ns.max(tx.last_ns);
            for (conn, n) in &tx.conns {
                *s.connections.entry(*conn).or_default() += n;
                s.requests += n;
            }
        }
        // Values of each session, in order of first use (keys are distinct,
        // so no value repeats).
        let mut order: Vec<usize> = (0..key_info.len()).collect();
        order.sort_by_key(|k| (key_info[*k].first_ns, *k));
        for k in order {
            if let Some(s) = by_root.get_mut(&uf.find(k)) {
                let key = &key_info[k];
                let label = match key.kind {
                    KeyKind::Url => format!("url:{}", name_of(key.name)),
                    KeyKind::Cookie => name_of(key.name).to_owned(),
                };
                s.values.push((label, name_of(key.value).to_owned()));
                if let Some(infos) = sets.get(&(key.name, key.value)) {
                    s.set_without_secure |= infos.iter().any(|i| !i.secure);
                    s.set_without_http_only |= infos.iter().any(|i| !i.http_only);
                }
            }
        }
        // Ended: the server deleted the cookie and the session was not used
        // after that.
        for (k, ts) in deletions {
            if let Some(s) = by_root.get_mut(&uf.find(k)) {
                if ts >= s.end_ns {
                    s.ended = true;
                }
            }
        }
        root_order
            .into_iter()
            .filter_map(|r| by_root.remove(&r))
            .collect()
    }
}

/// A session key: a value of a cookie or URL parameter on a site.
#[derive(Debug, Clone, Copy)]
struct Key {
    site: u32,
    name: u32,
    value: u32,
    kind: KeyKind,
    first_ns: u64,
}

/// Whether a domain is itself a public suffix (`co.uk`, `com`).
fn is_public_suffix(domain: &str) -> bool {
    psl::suffix_str(domain) == Some(domain)
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

mod report;
#[cfg(test)]
mod tests;

pub(crate) use report::build;
