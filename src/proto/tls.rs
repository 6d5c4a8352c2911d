//! TLS handshake reader: the plaintext part of a TLS handshake, enough to
//! tell a full handshake from a resumed one and to link resumptions to the
//! handshake that issued what they resume.
//!
//! From the client it reads the ClientHello (SNI, offered session id,
//! SessionTicket extension, pre_shared_key offer); from the server the
//! ServerHello (session id, negotiated version, accepted PSK), whether a
//! Certificate came, a TLS 1.2 NewSessionTicket, and the ChangeCipherSpec
//! after which everything is encrypted. Records are walked as a stream;
//! handshake messages may span records. Bodies of messages it does not need
//! (a certificate chain) are skipped, never buffered, and a message it
//! needs is kept only up to [`MAX_MESSAGE`] bytes, so memory per connection
//! is bounded whatever the bytes say. A gap ends reading of that direction.

use crate::flow::Direction;
use sha2::{Digest, Sha256};

/// Largest handshake message kept for parsing (a ClientHello with many
/// extensions is a few KiB; a ticket at most 64 KiB).
pub const MAX_MESSAGE: usize = 70_000;

/// Longest SNI kept (a DNS name is at most 255 bytes).
pub const MAX_SNI: usize = 255;

/// The ServerHello random that marks a TLS 1.3 HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What one connection's handshake showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    pub client_hello: bool,
    /// Server Name Indication (bytes as sent).
    pub sni: Option<Vec<u8>>,
    /// The session id the client offered (empty: none).
    pub offered_session_id: Vec<u8>,
    /// SHA-256 of the non-empty SessionTicket the client offered.
    pub offered_ticket: Option<[u8; 32]>,
    /// The client offered a TLS 1.3 pre-shared key.
    pub psk_offered: bool,
    pub server_hello: bool,
    /// The negotiated version (supported_versions when present).
    pub version: u16,
    /// The session id in the ServerHello.
    pub server_session_id: Vec<u8>,
    /// The server selected a TLS 1.3 pre-shared key.
    pub psk_accepted: bool,
    /// A Certificate message came from the server in plaintext (its
    /// header is enough; the chain is skipped).
    pub certificate: bool,
    /// SHA-256 of the ticket in a TLS 1.2 NewSessionTicket.
    pub new_ticket: Option<[u8; 32]>,
    /// The server's ChangeCipherSpec (TLS ≤ 1.2: the end of its plaintext).
    pub server_ccs: bool,
    /// Messages that did not parse, or were too long to keep.
    pub malformed: u32,
}

/// How a handshake started its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A certificate was sent (or, TLS 1.3, no PSK was accepted).
    Full,
    /// Abbreviated: the server echoed the offered session id.
    SessionId,
    /// Abbreviated: the client offered a ticket and the server sent no
    /// certificate.
    Ticket,
    /// TLS 1.3: the server accepted a pre-shared key.
    Psk,
    /// Not seen far enough to say.
    Incomplete,
    /// Neither hello was captured (the connection started earlier).
    Unseen,
}

impl TlsFacts {
    /// TLS 1.3, or one of its drafts (0x7fNN).
    pub fn is_tls13(&self) -> bool {
        self.version == 0x0304 || self.version >> 8 == 0x7f
    }

    /// Full or resumed, from what was seen.
    pub fn handshake(&self) -> Handshake {
        if !self.server_hello {
            return if self.client_hello {
                Handshake::Incomplete
            } else {
                Handshake::Unseen
            };
        }
        if self.is_tls13() {
            return if self.psk_accepted {
                Handshake::Psk
            } else {
                Handshake::Full
            };
        }
        if self.certificate {
            return Handshake::Full;
        }
        // Without the ClientHello, what was offered is unknown.
        if !self.client_hello {
            return Handshake::Incomplete;
        }
        // An abbreviated handshake goes ServerHello, ChangeCipherSpec: the
        // certificate would have come between them.
        if !self.server_ccs {
            return Handshake::Incomplete;
        }
        if self.offered_ticket.is_some() {
            Handshake::Ticket
        } else if !self.offered_session_id.is_empty()
            && self.server_session_id == self.offered_session_id
        {
            Handshake::SessionId
        } else {
            // Anonymous or PSK cipher suites: no certificate, no resumption.
            Handshake::Full
        }
    }

    /// `TLS 1.2` etc., or the hex code.
    pub fn version_name(&self) -> Option<String> {
        if !self.server_hello {
            return None;
        }
        Some(match self.version {
            0x0300 => "SSL 3.0".into(),
            0x0301 => "TLS 1.0".into(),
            0x0302 => "TLS 1.1".into(),
            0x0303 => "TLS 1.2".into(),
            0x0304 => "TLS 1.3".into(),
            v if v >> 8 == 0x7f => format!("TLS 1.3 (draft {})", v & 0xff),
            v => format!("0x{v:04x}"),
        })
    }
}

/// One direction's reader state.
#[derive(Debug, Default)]
struct Side {
    /// Bytes of a record header not complete yet.
    header: Vec<u8>,
    /// Content type and bytes left of the current record.
    record: Option<(u8, usize)>,
    /// Bytes of a handshake message header not complete yet.
    hs_header: Vec<u8>,
    /// Type and bytes left of the current handshake message, whether kept.
    message: Option<(u8, usize, bool)>,
    body: Vec<u8>,
    /// Nothing more to read (encrypted, a gap, or broken framing).
    done: bool,
}

#[derive(Debug, Default)]
pub struct TlsParser {
    pub facts: TlsFacts,
    sides: [Side; 2],
}

impl TlsParser {
    pub fn data(&mut self, dir: Direction, mut bytes: &[u8]) {
        let d = dir as usize;
        while !bytes.is_empty() && !self.sides[d].done {
            let side = &mut self.sides[d];
            let Some((ctype, left)) = side.record else {
                let need = 5 - side.header.len();
                let take = need.min(bytes.len());
                side.header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if side.header.len() == 5 {
                    let h = std::mem::take(&mut side.header);
                    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                    if !(20..=24).contains(&h[0]) || h[1] != 3 || len > 18_432 {
                        // Not (or no longer) TLS framing.
                        side.done = true;
                        self.facts.malformed = self.facts.malformed.saturating_add(1);
                    } else {
                        side.record = Some((h[0], len));
                        if len == 0 {
                            side.record = None;
                        }
                    }
                }
                continue;
            };
            let take = left.min(bytes.len());
            let (chunk, rest) = bytes.split_at(take);
            bytes = rest;
            side.record = (left > take).then_some((ctype, left - take));
            match ctype {
                22 => self.handshake_bytes(dir, chunk),
                // TLS 1.3 middlebox compatibility: a dummy ChangeCipherSpec
                // may follow a HelloRetryRequest; the real ServerHello is
                // still to come in plaintext.
                20 if dir == Direction::ToClient
                    && !self.facts.server_hello
                    && self.facts.is_tls13() => {}
                20 => {
                    // ChangeCipherSpec: what follows is encrypted.
                    if dir == Direction::ToClient {
                        self.facts.server_ccs = true;
                    }
                    self.sides[d].done = true;
                }
                23 => self.sides[d].done = true,
                _ => {}
            }
        }
    }

    /// Bytes lost: the framing is lost with them.
    pub fn gap(&mut self, dir: Direction) {
        self.sides[dir as usize].done = true;
    }

    fn handshake_bytes(&mut self, dir: Direction, mut bytes: &[u8]) {
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
                    let wanted = matches!((dir, h[0]), (Direction::ToServer, 1))
                        || matches!((dir, h[0]), (Direction::ToClient, 2 | 4));
                    let keep = wanted && len <= MAX_MESSAGE;
                    if wanted && !keep {
                        self.facts.malformed = self.facts.malformed.saturating_add(1);
                    }
                    if dir == Direction::ToClient && h[0] == 11 {
                        // A certificate: its presence is the fact; the
                        // chain itself is skipped.
                        self.facts.certificate = true;
                    }
                    side.message = Some((h[0], len, keep));
                    side.body.clear();
                    if len == 0 {
                        side.message = None;
                        if keep {
                            self.message(dir, h[0], &[]);
                        }
                    }
                }
                continue;
            };
            let take = left.min(bytes.len());
            if keep {
                side.body.extend_from_slice(&bytes[..take]);
            }
            bytes = &bytes[take..];
            if left > take {
                side.message = Some((mtype, left - take, keep));
            } else {
                side.message = None;
                if keep {
                    let body = std::mem::take(&mut side.body);
                    self.message(dir, mtype, &body);
                }
            }
        }
    }

    fn message(&mut self, dir: Direction, mtype: u8, body: &[u8]) {
        let f = &mut self.facts;
        let ok = match (dir, mtype) {
            (Direction::ToServer, 1) => {
                let ok = client_hello(f, body).is_some();
                // Nothing else the client sends in plaintext matters.
                self.sides[dir as usize].done = true;
                ok
            }
            (Direction::ToClient, 2) => match server_hello(f, body) {
                Some(retry) => {
                    if f.is_tls13() && !retry {
                        // The rest of a TLS 1.3 handshake is encrypted.
                        self.sides[dir as usize].done = true;
                    }
                    true
                }
                None => false,
            },
            (Direction::ToClient, 4) => new_session_ticket(f, body).is_some(),
            _ => true,
        };
        if !ok {
            self.facts.malformed = self.facts.malformed.saturating_add(1);
        }
    }
}

/// A cursor over a message body; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn client_hello(f: &mut TlsFacts, body: &[u8]) -> Option<()> {
    let mut r = Reader(body);
    r.take(2 + 32)?;
    f.client_hello = true;
    let sid = r.vec8()?;
    if sid.len() > 32 {
        return None;
    }
    f.offered_session_id = sid.to_vec();
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    if r.0.is_empty() {
        return Some(());
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        match ty {
            0 => {
                let mut list = Reader(Reader(data).vec16()?);
                while !list.0.is_empty() {
                    let kind = list.u8()?;
                    let name = list.vec16()?;
                    // A host name is at most 255 bytes.
                    if kind == 0 && f.sni.is_none() && name.len() <= MAX_SNI {
                        f.sni = Some(name.to_vec());
                    }
                }
            }
            35 if !data.is_empty() => f.offered_ticket = Some(digest(data)),
            41 => f.psk_offered = true,
            _ => {}
        }
    }
    Some(())
}

/// `Some(true)` for a HelloRetryRequest.
fn server_hello(f: &mut TlsFacts, body: &[u8]) -> Option<bool> {
    let mut r = Reader(body);
    let version = r.u16()?;
    let random = r.take(32)?;
    let retry = random == HRR_RANDOM;
    // TLS 1.3 drafts before 22 dropped the session id and compression.
    let draft = version >> 8 == 0x7f && version & 0xff < 22;
    let sid = if draft { &[][..] } else { r.vec8()? };
    if sid.len() > 32 {
        return None;
    }
    r.take(if draft { 2 } else { 3 })?; // cipher suite, compression
    let mut negotiated = version;
    let mut psk = false;
    if !r.0.is_empty() {
        let mut exts = Reader(r.vec16()?);
        while !exts.0.is_empty() {
            let ty = exts.u16()?;
            let data = exts.vec16()?;
            match ty {
                43 => negotiated = Reader(data).u16()?,
                41 => psk = true,
                _ => {}
            }
        }
    }
    f.version = negotiated;
    if !retry {
        f.server_hello = true;
        f.server_session_id = sid.to_vec();
        f.psk_accepted = psk;
    }
    Some(retry)
}

fn new_session_ticket(f: &mut TlsFacts, body: &[u8]) -> Option<()> {
    if f.is_tls13() {
        return Some(());
    }
    let mut r = Reader(body);
    r.take(4)?; // lifetime hint
    let ticket = r.vec16()?;
    if !ticket.is_empty() {
        f.new_ticket = Some(digest(ticket));
    }
    Some(())
}

#[cfg(test)]
mod tests;
