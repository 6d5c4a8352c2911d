//! The handshake messages sessmap reads, plaintext or decrypted, and the
//! facts they give.

use sha2::{Digest, Sha256};

/// Longest SNI kept (a DNS name is at most 255 bytes).
pub const MAX_SNI: usize = 255;
/// NewSessionTicket messages remembered per connection (TLS 1.3 servers
/// send two by default).
pub const MAX_TICKETS: usize = 8;

/// The ServerHello random that marks a TLS 1.3 HelloRetryRequest.
pub(super) const HRR_RANDOM: [u8; 32] = [
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
    /// SHA-256 of the tickets of NewSessionTicket messages: TLS 1.2's in
    /// plaintext, TLS 1.3's once decrypted (at most [`MAX_TICKETS`]).
    pub new_tickets: Vec<[u8; 32]>,
    /// SHA-256 of the first PSK identity a TLS 1.3 ClientHello offered (a
    /// ticket of an earlier connection).
    pub offered_psk: Option<[u8; 32]>,
    /// The ClientHello random (the key log's index).
    pub client_random: Option<[u8; 32]>,
    /// The ServerHello random.
    pub server_random: Option<[u8; 32]>,
    /// The negotiated cipher suite.
    pub cipher_suite: Option<u16>,
    /// The protocol the server selected by ALPN (in the ServerHello up to
    /// TLS 1.2, in the encrypted EncryptedExtensions in TLS 1.3).
    pub alpn: Option<Vec<u8>>,
    /// RFC 7366 encrypt_then_mac was negotiated.
    pub encrypt_then_mac: bool,
    /// The client offered TLS 1.3 0-RTT early data.
    pub early_data_offered: bool,
    /// The server accepted early data (EncryptedExtensions).
    pub early_data_accepted: bool,
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

/// A cursor over a message body; every read is checked.
pub(super) struct Reader<'a>(&'a [u8]);

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

pub(super) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(super) fn client_hello(f: &mut TlsFacts, body: &[u8]) -> Option<()> {
    let mut r = Reader(body);
    r.take(2)?;
    f.client_random = r.take(32)?.try_into().ok();
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
            41 => {
                f.psk_offered = true;
                // OfferedPsks: identities<7..2^16-1>, each identity<1..2^16-1>
                // and a ticket age; the binders follow.
                let mut ids = Reader(Reader(data).vec16()?);
                if let Some(id) = ids.vec16() {
                    f.offered_psk = Some(digest(id));
                }
            }
            42 => f.early_data_offered = true,
            _ => {}
        }
    }
    Some(())
}

/// The one protocol name of a server's ALPN extension.
fn alpn(data: &[u8]) -> Option<Vec<u8>> {
    let mut list = Reader(Reader(data).vec16()?);
    Some(list.vec8()?.to_vec())
}

/// TLS 1.3 EncryptedExtensions: ALPN and early data acceptance.
pub(super) fn encrypted_extensions(f: &mut TlsFacts, body: &[u8]) -> Option<()> {
    let mut exts = Reader(Reader(body).vec16()?);
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        match ty {
            16 => f.alpn = alpn(data),
            42 => f.early_data_accepted = true,
            _ => {}
        }
    }
    Some(())
}

/// `Some(true)` for a HelloRetryRequest.
pub(super) fn server_hello(f: &mut TlsFacts, body: &[u8]) -> Option<bool> {
    let mut r = Reader(body);
    let version = r.u16()?;
    let random = r.take(32)?;
    let retry = random == HRR_RANDOM;
    let random: Option<[u8; 32]> = random.try_into().ok();
    // TLS 1.3 drafts before 22 dropped the session id and compression.
    let draft = version >> 8 == 0x7f && version & 0xff < 22;
    let sid = if draft { &[][..] } else { r.vec8()? };
    if sid.len() > 32 {
        return None;
    }
    let suite = r.u16()?;
    if !draft {
        r.u8()?; // compression
    }
    let mut negotiated = version;
    let mut psk = false;
    let mut etm = false;
    let mut selected = None;
    if !r.0.is_empty() {
        let mut exts = Reader(r.vec16()?);
        while !exts.0.is_empty() {
            let ty = exts.u16()?;
            let data = exts.vec16()?;
            match ty {
                43 => negotiated = Reader(data).u16()?,
                41 => psk = true,
                22 => etm = true,
                16 => selected = alpn(data),
                _ => {}
            }
        }
    }
    f.version = negotiated;
    if !retry {
        f.server_hello = true;
        f.server_session_id = sid.to_vec();
        f.psk_accepted = psk;
        f.server_random = random;
        f.cipher_suite = Some(suite);
        f.encrypt_then_mac = etm;
        if selected.is_some() {
            f.alpn = selected;
        }
    }
    Some(retry)
}

pub(super) fn new_session_ticket(f: &mut TlsFacts, body: &[u8]) -> Option<()> {
    let mut r = Reader(body);
    r.take(4)?; // lifetime
    if f.is_tls13() {
        // RFC 8446 §4.6.1: ticket_age_add, ticket_nonce, then the ticket.
        r.take(4)?;
        r.vec8()?;
    }
    let ticket = r.vec16()?;
    if !ticket.is_empty() && f.new_tickets.len() < MAX_TICKETS {
        f.new_tickets.push(digest(ticket));
    }
    Some(())
}
