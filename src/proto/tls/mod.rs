//! TLS: the handshake in plaintext, and with key material the layer that
//! decrypts records and hands the plaintext to the inner parser.
//!
//! Without keys it reads what the plaintext handshake shows: enough to tell
//! a full handshake from a resumed one and to link resumptions (SNI, session
//! ids, tickets, PSK offers), the cipher suite and, up to TLS 1.2, ALPN.
//!
//! With a key log ([`keylog::KeyStore`]), the ClientHello's random finds the
//! handshake's secrets; records are decrypted per direction
//! ([`keys::RecordKeys`]) and their plaintext is read on: handshake messages
//! (TLS 1.3 EncryptedExtensions with ALPN, Finished, NewSessionTicket,
//! KeyUpdate) and application data, which goes to one inner parser chosen by
//! ALPN or content — the HTTP/1.x parser, the same one cleartext HTTP uses.
//! One consumer stack per connection: TLS → HTTP.
//!
//! Records are collected whole (at most [`MAX_RECORD`] bytes) because a
//! record decrypts only whole; handshake messages may span records and are
//! kept only up to [`MAX_MESSAGE`] bytes when needed, skipped otherwise. A
//! record that fails authentication stops that direction (wrong keys or lost
//! bytes), said in the report. After a capture gap an encrypted direction
//! looks for the next record that decrypts, within [`RESYNC_BYTES`] and
//! [`RESYNC_RECORDS`] sequence numbers; otherwise it is lost from there on.
//!
//! Still to do for issue 11 (HTTPS sessions), in order (HTTP/2 itself is
//! done: `proto::http2`, with h2c by preface, server-first SETTINGS,
//! `Upgrade: h2c` and CONNECT tunnels in `proto::ConnParser`):
//! 1. Captures recorded here with key logs: nginx (HTTP/1.1 and h2, TLS
//!    1.2/1.3, AES-128/256-GCM, ChaCha20) in front of the session app; curl
//!    `--http2`/`--http1.1` with cookie jars; a Python `ssl` client; two
//!    headless Chromium profiles as two users (two sessions); a DSB copy.
//! 2. The benchmark with and without `--keylog` (decrypted MB/s, ratio to
//!    the same traffic in cleartext; AES-NI path checked) in BENCHMARKS.md.
//! 3. Capture-writer edge cases (KeyUpdate, a record over many segments,
//!    HPACK eviction, CONTINUATION, split cookies, padding); the live netns
//!    test with an HTTPS client writing a key log.
//!

mod handshake;
pub mod keylog;
pub(crate) mod keys;
pub mod suites;

pub use handshake::{Handshake, TlsFacts, MAX_SNI, MAX_TICKETS};

use crate::flow::{At, Direction};
use crate::proto::http::{HttpLimits, HttpParser, HttpSink};
use crate::proto::http2::{looks_like_preface, Http2Parser};
use keylog::{KeyStore, Secrets};
use keys::{tls12_keys, tls13_keys, Failure, RecordKeys, Version};
use serde::Serialize;
use std::sync::Arc;
use suites::{suite, Suite};

/// Largest handshake message kept for parsing (a ClientHello with many
/// extensions is a few KiB; a ticket at most 64 KiB).
pub const MAX_MESSAGE: usize = 70_000;
/// Largest record body accepted: 2^14 + 2048, the TLS 1.2 ciphertext bound
/// (RFC 5246 §6.2.3); TLS 1.3 allows 2^14 + 256.
pub const MAX_RECORD: usize = 16_384 + 2_048;
/// Protected records held back per direction while their keys are not
/// known yet (0-RTT data before the ServerHello, a live key log that lags).
pub const MAX_PENDING: usize = 64 * 1024;
/// After a gap: sequence numbers tried past the next expected one.
pub const RESYNC_RECORDS: u64 = 64;
/// After a gap: bytes searched for a record that decrypts.
pub const RESYNC_BYTES: usize = 2 * (MAX_RECORD + 5);

/// A connection's decryption outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decryption {
    /// Every protected record seen decrypted.
    Decrypted,
    /// Some did, then a direction stopped (see [`Stop`]).
    Partial,
    /// No secrets for this handshake (or the handshake was not captured).
    NoKeys,
    /// The suite is not one sessmap decrypts.
    UnsupportedCipher,
    /// Secrets were found but the first records did not decrypt.
    Failed,
}

/// Why a direction stopped decrypting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// A record failed authentication: wrong keys or altered bytes.
    AuthFailed,
    /// A record too short or misaligned for the cipher.
    Malformed,
    /// The capture lost bytes and no later record decrypted.
    Gap,
    /// Records waited for keys longer than [`MAX_PENDING`] allows.
    PendingOverflow,
    /// Framing that is not TLS.
    NotTls,
}

/// Where and why a direction stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    pub dir: Direction,
    /// Records decrypted in that direction before.
    pub records: u64,
    /// Byte offset of the failing record in that direction's TCP stream.
    pub offset: u64,
    pub why: StopReason,
}

/// What decryption met, for the report's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TlsCounters {
    pub records_decrypted: u64,
    /// Plaintext bytes of application data.
    pub bytes_decrypted: u64,
    pub auth_failures: u64,
    /// Gaps after which a later record decrypted.
    pub resyncs: u64,
    /// Gaps after which none did.
    pub resync_failures: u64,
    /// Directions that gave up waiting for keys ([`MAX_PENDING`]).
    pub pending_overflow: u64,
    /// Records longer than [`MAX_RECORD`] (the direction stops).
    pub record_too_long: u64,
    /// 0-RTT records skipped: early data whose secret is not in the key log.
    pub early_data_skipped: u64,
    pub key_updates: u64,
}

/// What key lookup gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum KeyState {
    /// Not looked up yet (or live, and to be looked up again).
    #[default]
    Unknown,
    Found,
    Missing,
    Unsupported,
}

/// A key change that takes effect after the current record (TLS 1.3 keys
/// change only at record boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// The handshake is over: application traffic secret 0.
    Application,
    /// EndOfEarlyData: the handshake keys.
    Handshake,
    /// KeyUpdate: the next generation.
    Update,
}

/// The parser that reads a connection's decrypted application data.
#[derive(Debug)]
enum Inner {
    Http(Box<HttpParser>),
    /// HTTP/2, by ALPN or the client preface.
    Http2(Box<Http2Parser>),
}

/// One direction's reader state.
#[derive(Debug, Default)]
struct Side {
    /// Bytes of a record header not complete yet.
    header: Vec<u8>,
    /// The current record: header and the body collected so far.
    record: Option<([u8; 5], usize)>,
    body: Vec<u8>,
    /// The current record is a plaintext handshake record, read as it
    /// comes (its `len` counts the bytes left).
    streaming: bool,
    /// Stream bytes consumed.
    offset: u64,
    /// Offset of the current record's header.
    record_start: u64,
    /// Bytes of a handshake message header not complete yet.
    hs_header: Vec<u8>,
    /// Type and bytes left of the current handshake message, whether kept.
    message: Option<(u8, usize, bool)>,
    hs_body: Vec<u8>,
    /// Records are protected from here on (after ChangeCipherSpec, or the
    /// first TLS 1.3 application_data record).
    protected: bool,
    keys: Option<RecordKeys>,
    /// TLS 1.3 client: the handshake keys, tried when early data keys fail.
    fallback: Option<RecordKeys>,
    after_record: Option<Switch>,
    /// Early data this reader cannot decrypt: skip records that fail until
    /// one decrypts.
    skip_failures: bool,
    /// Protected records waiting for keys (whole records, header included).
    pending: Vec<u8>,
    /// After a gap: bytes searched for the next record that decrypts.
    resync: Option<Vec<u8>>,
    /// Stream offset where the records lost to the last gap began.
    lost_from: u64,
    records: u64,
    bytes: u64,
    stop: Option<Stop>,
    /// Nothing more to read (encrypted without keys, broken framing).
    done: bool,
}

#[derive(Debug, Default)]
pub struct TlsParser {
    pub facts: TlsFacts,
    pub counters: TlsCounters,
    sides: [Side; 2],
    store: Option<Arc<KeyStore>>,
    secrets: Option<Secrets>,
    key_state: KeyState,
    /// TLS ≤ 1.2: each direction's keys, made at the first ChangeCipherSpec.
    keys12: [Option<RecordKeys>; 2],
    inner: Option<Inner>,
    limits: HttpLimits,
    /// The live key log was read once more at an end (once a connection).
    refreshed_at_end: bool,
}

impl TlsParser {
    /// A reader; with `store`, a decryptor too.
    pub fn new(store: Option<Arc<KeyStore>>, limits: HttpLimits) -> TlsParser {
        TlsParser {
            store,
            limits,
            ..Default::default()
        }
    }

    /// The inner HTTP/1.x parser, once decrypted data reached it.
    pub fn http(&self) -> Option<&HttpParser> {
        match &self.inner {
            Some(Inner::Http(p)) => Some(p),
            _ => None,
        }
    }

    /// The inner HTTP/2 parser, once decrypted data reached it.
    pub fn http2(&self) -> Option<&Http2Parser> {
        match &self.inner {
            Some(Inner::Http2(p)) => Some(p),
            _ => None,
        }
    }

    /// The HTTP version inside, once decrypted application data was seen.
    pub fn inner_version(&self) -> Option<&'static str> {
        match &self.inner {
            Some(Inner::Http(p)) if p.saw_http() => Some("1.1"),
            Some(Inner::Http(_)) | None => None,
            Some(Inner::Http2(_)) => Some("2"),
        }
    }

    /// Plaintext application bytes per direction (to server, to client).
    pub fn decrypted_bytes(&self) -> [u64; 2] {
        [self.sides[0].bytes, self.sides[1].bytes]
    }

    /// The suite, when sessmap knows it.
    pub fn suite(&self) -> Option<&'static Suite> {
        self.facts.cipher_suite.and_then(suite)
    }

    /// Where the directions stopped, in direction order.
    pub fn stops(&self) -> impl Iterator<Item = &Stop> {
        self.sides.iter().filter_map(|s| s.stop.as_ref())
    }

    /// The outcome, when key material was given; `None` without.
    pub fn decryption(&self) -> Option<Decryption> {
        self.store.as_ref()?;
        let records: u64 = self.sides.iter().map(|s| s.records).sum();
        let stopped = self.sides.iter().any(|s| s.stop.is_some());
        Some(match self.key_state {
            KeyState::Unsupported => Decryption::UnsupportedCipher,
            _ if records > 0 && stopped => Decryption::Partial,
            _ if records > 0 => Decryption::Decrypted,
            KeyState::Found if stopped => Decryption::Failed,
            KeyState::Found => Decryption::Decrypted,
            KeyState::Unknown | KeyState::Missing => Decryption::NoKeys,
        })
    }

    pub fn data<S: HttpSink>(&mut self, at: At, dir: Direction, mut bytes: &[u8], sink: &mut S) {
        let d = dir as usize;
        if self.sides[d].resync.is_some() {
            return self.resync(at, dir, bytes, sink);
        }
        while !bytes.is_empty() && !self.sides[d].done {
            if self.sides[d].resync.is_some() {
                return self.resync(at, dir, bytes, sink);
            }
            let side = &mut self.sides[d];
            let Some((header, len)) = side.record else {
                let need = 5 - side.header.len();
                let take = need.min(bytes.len());
                if side.header.is_empty() {
                    side.record_start = side.offset;
                }
                side.header.extend_from_slice(&bytes[..take]);
                side.offset += take as u64;
                bytes = &bytes[take..];
                if side.header.len() == 5 {
                    let h: [u8; 5] = [
                        side.header[0],
                        side.header[1],
                        side.header[2],
                        side.header[3],
                        side.header[4],
                    ];
                    side.header.clear();
                    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                    if !(20..=24).contains(&h[0]) || h[1] != 3 || len > MAX_RECORD {
                        // Not (or no longer) TLS framing.
                        if len > MAX_RECORD && (20..=24).contains(&h[0]) {
                            self.counters.record_too_long += 1;
                        }
                        self.facts.malformed = self.facts.malformed.saturating_add(1);
                        self.stop(dir, StopReason::NotTls);
                    } else if len == 0 {
                        self.record(at, dir, h, Vec::new(), sink);
                    } else {
                        side.record = Some((h, len));
                        side.streaming = h[0] == 22 && !side.protected;
                        side.body.clear();
                    }
                }
                continue;
            };
            if side.streaming {
                // Plaintext handshake records stream: a certificate chain
                // is skipped, never buffered.
                let left = len - side.body.len();
                let take = left.min(bytes.len());
                let (chunk, rest) = bytes.split_at(take);
                side.offset += take as u64;
                bytes = rest;
                // `body` counts the bytes streamed, without keeping them.
                if take == left {
                    side.record = None;
                } else {
                    side.record = Some((header, len - take));
                }
                self.handshake_bytes(dir, chunk, false);
                if take == left {
                    self.after_plain_handshake(at, dir, sink);
                }
                continue;
            }
            let take = (len - side.body.len()).min(bytes.len());
            side.body.extend_from_slice(&bytes[..take]);
            side.offset += take as u64;
            bytes = &bytes[take..];
            if side.body.len() == len {
                side.record = None;
                let body = std::mem::take(&mut side.body);
                let body = self.record(at, dir, header, body, sink);
                // Keep the buffer's capacity for the next record.
                if self.sides[d].body.is_empty() {
                    self.sides[d].body = body;
                    self.sides[d].body.clear();
                }
            }
        }
    }

    /// Bytes lost: a plaintext direction loses its framing; a protected one
    /// looks for the next record that decrypts.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        let d = dir as usize;
        let side = &mut self.sides[d];
        // Where plaintext stopped: the end of the last whole record.
        side.lost_from = if side.record.is_some() || !side.header.is_empty() {
            side.record_start
        } else {
            side.offset
        };
        side.offset += len;
        if side.done {
            return;
        }
        side.record = None;
        side.header.clear();
        side.body.clear();
        if side.protected && side.keys.is_some() {
            // The inner parser hears of the loss once a record decrypts
            // again and its size is known.
            side.resync.get_or_insert_with(Vec::new).clear();
        } else {
            if side.protected && self.key_state == KeyState::Found {
                self.counters.resync_failures += 1;
                self.stop(dir, StopReason::Gap);
            }
            self.sides[d].done = true;
        }
    }

    pub fn end<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        // A live key log may have gained this handshake's secrets since it
        // was last read (curl writes them as the handshake goes; reads are
        // at most once per REFRESH_INTERVAL): read it once more before
        // giving up on the records held for them.
        // Records held in one direction are replayed here too when the
        // other direction found the keys after them.
        if self.sides.iter().any(|s| !s.pending.is_empty()) {
            if let Some(store) = &self.store {
                if self.key_state != KeyState::Found && !self.refreshed_at_end {
                    self.refreshed_at_end = true;
                    store.refresh_final();
                }
                for d in [Direction::ToServer, Direction::ToClient] {
                    self.replay(at, d, sink);
                }
            }
        }
        match &mut self.inner {
            Some(Inner::Http(p)) => p.end(at, dir, sink),
            Some(Inner::Http2(p)) => p.end(at, dir, sink),
            None => {}
        }
    }

    fn stop(&mut self, dir: Direction, why: StopReason) {
        let side = &mut self.sides[dir as usize];
        side.done = true;
        // Plaintext that is not TLS had nothing to decrypt.
        if side.stop.is_none() && side.protected {
            side.stop = Some(Stop {
                dir,
                records: side.records,
                offset: side.record_start,
                why,
            });
        }
    }

    /// One whole record. Returns the body buffer for reuse.
    fn record<S: HttpSink>(
        &mut self,
        at: At,
        dir: Direction,
        header: [u8; 5],
        mut body: Vec<u8>,
        sink: &mut S,
    ) -> Vec<u8> {
        let d = dir as usize;
        let ctype = header[0];
        if !self.sides[d].protected {
            match ctype {
                22 => {
                    self.handshake_bytes(dir, &body, false);
                    self.after_plain_handshake(at, dir, sink);
                    return body;
                }
                // TLS 1.3 middlebox compatibility: dummy ChangeCipherSpecs
                // (after a HelloRetryRequest, before the client's Finished).
                20 if self.tls13_likely(dir) => return body,
                20 => {
                    if dir == Direction::ToClient {
                        self.facts.server_ccs = true;
                    }
                    self.sides[d].protected = true;
                    if self.store.is_none() {
                        self.sides[d].done = true;
                    }
                    return body;
                }
                23 if self.tls13_likely(dir) => self.sides[d].protected = true,
                // Application data in the clear: the handshake was not seen.
                23 => {
                    self.sides[d].done = true;
                    return body;
                }
                _ => return body,
            }
        }
        if self.store.is_none() {
            self.sides[d].done = true;
            return body;
        }
        if ctype == 20 {
            // TLS 1.3's dummy ChangeCipherSpec is never protected.
            return body;
        }
        if self.sides[d].keys.is_none() {
            if !self.take_keys(dir) {
                match self.key_state {
                    KeyState::Unknown => self.hold(dir, header, &body),
                    _ => self.sides[d].done = true,
                }
                return body;
            }
            self.replay(at, dir, sink);
        }
        self.protected_record(at, dir, header, &mut body, sink);
        body
    }

    /// The ServerHello may give keys to records the client sent before it
    /// (0-RTT).
    fn after_plain_handshake<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        if dir == Direction::ToClient && self.facts.server_hello {
            self.replay(at, Direction::ToServer, sink);
        }
    }

    /// TLS 1.3 negotiated (a HelloRetryRequest says so too), or a client
    /// that may speak it before the ServerHello came (0-RTT).
    fn tls13_likely(&self, dir: Direction) -> bool {
        if self.facts.server_hello || self.facts.is_tls13() {
            return self.facts.is_tls13();
        }
        dir == Direction::ToServer && self.facts.client_hello
    }

    /// Keeps a protected record until its keys are known.
    fn hold(&mut self, dir: Direction, header: [u8; 5], body: &[u8]) {
        let side = &mut self.sides[dir as usize];
        if side.pending.len() + 5 + body.len() > MAX_PENDING {
            side.pending = Vec::new();
            self.counters.pending_overflow += 1;
            self.stop(dir, StopReason::PendingOverflow);
            return;
        }
        side.pending.extend_from_slice(&header);
        side.pending.extend_from_slice(body);
    }

    /// Records held back for `dir`, now that keys may be known.
    fn replay<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        let d = dir as usize;
        if self.sides[d].pending.is_empty() {
            return;
        }
        if self.sides[d].keys.is_none() && !self.take_keys(dir) {
            return;
        }
        let pending = std::mem::take(&mut self.sides[d].pending);
        let mut rest = &pending[..];
        while rest.len() >= 5 && !self.sides[d].done {
            let header = [rest[0], rest[1], rest[2], rest[3], rest[4]];
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            let Some(body) = rest.get(5..5 + len) else {
                break;
            };
            let body = body.to_vec();
            rest = &rest[5 + len..];
            self.record(at, dir, header, body, sink);
        }
    }

    /// Looks the handshake's secrets up (again, in a live capture).
    fn lookup(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if matches!(self.key_state, KeyState::Found | KeyState::Unsupported) {
            return;
        }
        let (Some(random), true) = (self.facts.client_random, self.facts.server_hello) else {
            return;
        };
        let Some(suite) = self.suite() else {
            self.key_state = KeyState::Unsupported;
            return;
        };
        let tls13 = suites::is_tls13_suite(suite.id);
        let enough = |s: &Secrets| {
            if tls13 {
                s.client_handshake.is_some() && s.server_handshake.is_some()
            } else {
                s.master.is_some()
            }
        };
        let mut found = store.lookup(&random, enough);
        if found.is_none() && !tls13 {
            // A resumed TLS ≤ 1.2 session: the master secret of the
            // handshake that issued its session id or ticket.
            found = self.resumed_master(&store).map(|master| Secrets {
                master: Some(master),
                ..Default::default()
            });
        }
        match found {
            Some(s) => {
                if !tls13 {
                    self.remember_sessions(&store, &s);
                }
                self.secrets = Some(s);
                self.key_state = KeyState::Found;
            }
            None if store.is_live() => {}
            None => self.key_state = KeyState::Missing,
        }
    }

    fn resumed_master(&self, store: &KeyStore) -> Option<Vec<u8>> {
        let f = &self.facts;
        match f.handshake() {
            Handshake::SessionId => {
                store.session(&keylog::session_key(b"sid", &f.offered_session_id))
            }
            Handshake::Ticket => f
                .offered_ticket
                .and_then(|t| store.session(&keylog::session_key(b"tkt", &t))),
            _ => None,
        }
    }

    /// What later connections may resume with this master secret.
    fn remember_sessions(&self, store: &KeyStore, s: &Secrets) {
        let Some(master) = &s.master else { return };
        if !self.facts.server_session_id.is_empty() {
            store.remember(
                keylog::session_key(b"sid", &self.facts.server_session_id),
                master,
            );
        }
        for t in &self.facts.new_tickets {
            store.remember(keylog::session_key(b"tkt", t), master);
        }
    }

    /// Sets `dir`'s first protected keys; false when they are not known.
    fn take_keys(&mut self, dir: Direction) -> bool {
        self.lookup();
        if self.key_state != KeyState::Found {
            return false;
        }
        let (Some(suite), Some(secrets)) = (self.suite(), self.secrets.clone()) else {
            return false;
        };
        let d = dir as usize;
        if suites::is_tls13_suite(suite.id) {
            let (hs, early) = match dir {
                Direction::ToServer => (&secrets.client_handshake, &secrets.client_early),
                Direction::ToClient => (&secrets.server_handshake, &None),
            };
            let hs = hs.as_deref().and_then(|s| tls13_keys(suite, s));
            let side = &mut self.sides[d];
            if dir == Direction::ToServer && self.facts.early_data_offered {
                match early.as_deref().and_then(|s| tls13_keys(suite, s)) {
                    Some(e) => {
                        side.keys = Some(e);
                        side.fallback = hs;
                    }
                    None => {
                        side.keys = hs;
                        side.skip_failures = true;
                    }
                }
            } else {
                side.keys = hs;
            }
        } else {
            if self.keys12.iter().all(Option::is_none) {
                let (Some(master), Some(cr), Some(sr)) = (
                    secrets.master.as_deref(),
                    self.facts.client_random,
                    self.facts.server_random,
                ) else {
                    return false;
                };
                let version = match self.facts.version {
                    0x0300 => Version::Ssl30,
                    0x0301 => Version::Tls10,
                    0x0302 => Version::Tls11,
                    _ => Version::Tls12,
                };
                // AEAD and SHA-256/384 suites exist only from TLS 1.2 on;
                // below it the PRF is MD5/SHA-1 whatever the table says.
                match tls12_keys(
                    suite,
                    version,
                    master,
                    &cr,
                    &sr,
                    self.facts.encrypt_then_mac,
                ) {
                    Some((c, s)) => self.keys12 = [Some(c), Some(s)],
                    None => {
                        self.key_state = KeyState::Unsupported;
                        return false;
                    }
                }
            }
            self.sides[d].keys = self.keys12[d].take();
        }
        self.sides[d].keys.is_some()
    }

    fn protected_record<S: HttpSink>(
        &mut self,
        at: At,
        dir: Direction,
        header: [u8; 5],
        body: &mut [u8],
        sink: &mut S,
    ) {
        let d = dir as usize;
        let side = &mut self.sides[d];
        let Some(keys) = side.keys.as_mut() else {
            return;
        };
        let copy = side.fallback.is_some().then(|| body.to_vec());
        let result = match keys.open(header, body) {
            Err(Failure::Auth) if side.fallback.is_some() => {
                // Early data is over (the server refused it, or it ended):
                // the handshake keys take over.
                let mut fb = side.fallback.take();
                let mut b = copy.unwrap_or_default();
                let r = fb.as_mut().map(|k| k.open(header, &mut b));
                side.keys = fb;
                match r {
                    Some(Ok((t, range))) => {
                        body[..b.len()].copy_from_slice(&b);
                        Ok((t, range))
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(Failure::Auth),
                }
            }
            r => r,
        };
        match result {
            Ok((ctype, range)) => {
                side.skip_failures = false;
                side.records += 1;
                self.counters.records_decrypted += 1;
                let plain = &body[range];
                self.plaintext(at, dir, ctype, plain, sink);
                self.after_record(dir);
            }
            Err(_) if side.skip_failures => self.counters.early_data_skipped += 1,
            Err(Failure::Auth) => {
                self.counters.auth_failures += 1;
                self.stop(dir, StopReason::AuthFailed);
            }
            Err(Failure::Malformed) => self.stop(dir, StopReason::Malformed),
        }
    }

    fn after_record(&mut self, dir: Direction) {
        let d = dir as usize;
        let Some(switch) = self.sides[d].after_record.take() else {
            return;
        };
        let (Some(suite), Some(secrets)) = (self.suite(), self.secrets.as_ref()) else {
            return;
        };
        match switch {
            Switch::Application => {
                let secret = match dir {
                    Direction::ToServer => &secrets.client_traffic,
                    Direction::ToClient => &secrets.server_traffic,
                };
                self.sides[d].fallback = None;
                match secret.as_deref().and_then(|s| tls13_keys(suite, s)) {
                    Some(k) => self.sides[d].keys = Some(k),
                    // The key log lacks the traffic secret: what follows
                    // cannot be read.
                    None => self.stop(dir, StopReason::AuthFailed),
                }
            }
            Switch::Handshake => {
                if let Some(k) = self.sides[d].fallback.take() {
                    self.sides[d].keys = Some(k);
                }
            }
            Switch::Update => {
                self.counters.key_updates += 1;
                if let Some(k) = self.sides[d].keys.as_mut() {
                    k.update();
                }
            }
        }
    }

    fn plaintext<S: HttpSink>(
        &mut self,
        at: At,
        dir: Direction,
        ctype: u8,
        plain: &[u8],
        sink: &mut S,
    ) {
        match ctype {
            22 => self.handshake_bytes(dir, plain, true),
            23 if !plain.is_empty() => {
                let d = dir as usize;
                self.sides[d].bytes += plain.len() as u64;
                self.counters.bytes_decrypted += plain.len() as u64;
                if self.inner.is_none() {
                    self.inner = Some(self.choose_inner(dir, plain));
                }
                if let Some(inner) = &mut self.inner {
                    inner.data(at, dir, plain, sink);
                }
            }
            _ => {}
        }
    }

    /// HTTP/2 by ALPN, or by its preface when the client speaks first
    /// (content decides when they disagree); HTTP/1.x otherwise.
    fn choose_inner(&self, dir: Direction, first: &[u8]) -> Inner {
        let h2_alpn = self.facts.alpn.as_deref() == Some(b"h2");
        let h2 = if dir == Direction::ToServer {
            looks_like_preface(first)
        } else {
            h2_alpn
        };
        if h2 {
            Inner::Http2(Box::new(Http2Parser::new(self.limits)))
        } else {
            Inner::Http(Box::new(HttpParser::new(self.limits, false)))
        }
    }

    /// After a gap in a protected direction: the next record that decrypts
    /// with one of the next [`RESYNC_RECORDS`] sequence numbers, within
    /// [`RESYNC_BYTES`] of the gap.
    fn resync<S: HttpSink>(&mut self, at: At, dir: Direction, bytes: &[u8], sink: &mut S) {
        let d = dir as usize;
        let Some(mut buf) = self.sides[d].resync.take() else {
            return;
        };
        self.sides[d].offset += bytes.len() as u64;
        buf.extend_from_slice(bytes);
        let buf_start = self.sides[d].offset - buf.len() as u64;
        let seq_before = self.sides[d].keys.as_ref().map_or(0, |k| k.seq);
        let Some((p, len, ctype, plain)) = self.find_record(d, &buf) else {
            if buf.len() > RESYNC_BYTES {
                self.counters.resync_failures += 1;
                self.sides[d].record_start = buf_start;
                self.stop(dir, StopReason::Gap);
            } else {
                self.sides[d].resync = Some(buf);
            }
            return;
        };
        let side = &mut self.sides[d];
        side.records += 1;
        side.record_start = buf_start + p as u64;
        // The plaintext lost: the ciphertext skipped less each lost
        // record's framing (exact for AEAD suites, close for CBC).
        let lost_records = side.keys.as_ref().map_or(0, |k| k.seq - 1 - seq_before);
        let overhead = side.keys.as_ref().map_or(0, RecordKeys::overhead) as u64 + 5;
        let skipped = side.record_start.saturating_sub(side.lost_from);
        let lost = skipped.saturating_sub(lost_records * overhead).max(1);
        if let Some(inner) = &mut self.inner {
            inner.gap(dir, lost);
        }
        self.counters.resyncs += 1;
        self.counters.records_decrypted += 1;
        self.plaintext(at, dir, ctype, &plain, sink);
        self.after_record(dir);
        // The rest is read as usual.
        let rest = &buf[p + 5 + len..];
        self.sides[d].offset -= rest.len() as u64;
        self.data(at, dir, rest, sink);
    }

    /// The first record in `buf` that decrypts: its start, body length,
    /// content type and plaintext. Advances the keys past it.
    fn find_record(&mut self, d: usize, buf: &[u8]) -> Option<(usize, usize, u8, Vec<u8>)> {
        let keys = self.sides[d].keys.as_mut()?;
        let tls13 = suites::is_tls13_suite(keys.suite().id);
        let mut p = 0;
        while p + 5 <= buf.len() {
            let h = [buf[p], buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]];
            let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
            let plausible = if tls13 {
                h[0] == 23 && h[1] == 3 && h[2] == 3
            } else {
                (20..=23).contains(&h[0]) && h[1] == 3 && h[2] <= 4
            };
            if !plausible || len > MAX_RECORD || len == 0 {
                p += 1;
                continue;
            }
            let body = buf.get(p + 5..p + 5 + len)?;
            // TLS 1.0 CBC chains its IV from the previous record's last
            // block: the 16 bytes before this header.
            let chained = p.checked_sub(16).map(|s| &buf[s..p]);
            let base = keys.seq;
            for seq in base..base + RESYNC_RECORDS {
                if let Some(iv) = chained {
                    keys.set_chain_iv(iv);
                }
                let mut b = body.to_vec();
                if let Ok((ctype, range)) = keys.open_at(seq, h, &mut b) {
                    keys.seq = seq + 1;
                    return Some((p, len, ctype, b[range].to_vec()));
                }
            }
            p += 1;
        }
        None
    }

    fn handshake_bytes(&mut self, dir: Direction, mut bytes: &[u8], protected: bool) {
        let d = dir as usize;
        while !bytes.is_empty() && !self.sides[d].done {
            let side = &mut self.sides[d];
            let Some((mtype, left, keep)) = side.message else {
                let need = 4 - side.hs_header.len();
                let take = need.min(bytes.len());
                side.hs_header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if side.hs_header.len() == 4 {
                    let h = std::mem::take(&mut side.hs_header);
                    let len =
                        (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
                    let wanted = match dir {
                        Direction::ToServer => matches!(h[0], 1 | 5 | 20 | 24),
                        Direction::ToClient => matches!(h[0], 2 | 4 | 8 | 20 | 24),
                    };
                    let keep = wanted && len <= MAX_MESSAGE;
                    if wanted && !keep {
                        self.facts.malformed = self.facts.malformed.saturating_add(1);
                    }
                    if dir == Direction::ToClient && h[0] == 11 && !protected {
                        // A certificate: its presence is the fact; the
                        // chain itself is skipped.
                        self.facts.certificate = true;
                    }
                    side.message = Some((h[0], len, keep));
                    side.hs_body.clear();
                    if len == 0 {
                        side.message = None;
                        if keep {
                            self.message(dir, h[0], &[], protected);
                        }
                    }
                }
                continue;
            };
            let take = left.min(bytes.len());
            if keep {
                side.hs_body.extend_from_slice(&bytes[..take]);
            }
            bytes = &bytes[take..];
            if left > take {
                side.message = Some((mtype, left - take, keep));
            } else {
                side.message = None;
                if keep {
                    let body = std::mem::take(&mut side.hs_body);
                    self.message(dir, mtype, &body, protected);
                }
            }
        }
    }

    fn message(&mut self, dir: Direction, mtype: u8, body: &[u8], protected: bool) {
        let d = dir as usize;
        let tls13 = self.facts.is_tls13();
        let ok = match (dir, mtype) {
            (Direction::ToServer, 1) if !protected => {
                let ok = handshake::client_hello(&mut self.facts, body).is_some();
                if self.store.is_none() {
                    // Without keys nothing else the client sends matters.
                    self.sides[d].done = true;
                }
                ok
            }
            (Direction::ToClient, 2) if !protected => {
                match handshake::server_hello(&mut self.facts, body) {
                    Some(retry) => {
                        if self.facts.is_tls13() && !retry {
                            // The rest of a TLS 1.3 handshake is protected.
                            self.sides[d].protected = true;
                            if self.store.is_none() {
                                self.sides[d].done = true;
                            }
                        }
                        true
                    }
                    None => false,
                }
            }
            (Direction::ToClient, 4) => {
                let ok = handshake::new_session_ticket(&mut self.facts, body).is_some();
                if !tls13 {
                    if let (Some(store), Some(s)) = (self.store.clone(), self.secrets.clone()) {
                        self.remember_sessions(&store, &s);
                    }
                }
                ok
            }
            (Direction::ToClient, 8) if protected => {
                handshake::encrypted_extensions(&mut self.facts, body).is_some()
            }
            (_, 20) if protected && tls13 => {
                self.sides[d].after_record = Some(Switch::Application);
                true
            }
            (Direction::ToServer, 5) if protected && tls13 => {
                self.sides[d].after_record = Some(Switch::Handshake);
                true
            }
            (_, 24) if protected && tls13 => {
                self.sides[d].after_record = Some(Switch::Update);
                true
            }
            _ => true,
        };
        if !ok {
            self.facts.malformed = self.facts.malformed.saturating_add(1);
        }
    }
}

impl Inner {
    fn data<S: HttpSink>(&mut self, at: At, dir: Direction, bytes: &[u8], sink: &mut S) {
        match self {
            Inner::Http(p) => p.data(at, dir, bytes, sink),
            Inner::Http2(p) => p.data(at, dir, bytes, sink),
        }
    }

    fn gap(&mut self, dir: Direction, len: u64) {
        match self {
            Inner::Http(p) => p.gap(dir, len),
            Inner::Http2(p) => p.gap(dir, len),
        }
    }
}

#[cfg(test)]
mod tests;
