//! FTP control channels (RFC 959, RFC 2428 EPSV/EPRT, RFC 1639 LPSV/LPRT,
//! RFC 4217 AUTH TLS).
//!
//! Both directions are read as lines (bounded): commands from the client,
//! replies from the server, multi-line replies in the RFC 959 form
//! (`123-` … `123 `) and the looser forms servers send (every line
//! `123-`, text lines with no code). Each reply is paired with the command
//! it answers. The parser reports facts as [`FtpEvent`]s: commands,
//! replies, the data-connection expectations that PASV/EPSV/LPSV replies and
//! PORT/EPRT/LPRT commands create, and when the channel turns opaque (AUTH
//! accepted) or clear again (CCC). Linking data connections is the
//! correlator's job.

pub mod address;

use crate::flow::{At, Direction};
use address::Advertised;
use serde::Serialize;
use std::fmt;

/// Where FTP facts go.
pub trait FtpSink {
    fn ftp(&mut self, at: At, event: FtpEvent);
}

/// Longest command or reply line kept; longer ones are counted and cut.
pub const MAX_LINE: usize = 4096;
/// Longest reply text kept in an event.
const MAX_TEXT: usize = 512;

/// Commands of RFC 959 and its extensions; a client line that starts with
/// one of them is FTP.
const VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "QUIT", "REIN", "PORT", "PASV", "TYPE", "STRU",
    "MODE", "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR", "DELE", "RMD",
    "MKD", "PWD", "LIST", "NLST", "SITE", "SYST", "STAT", "HELP", "NOOP", "FEAT", "OPTS", "AUTH",
    "ADAT", "PROT", "PBSZ", "CCC", "MIC", "CONF", "ENC", "EPRT", "EPSV", "LPRT", "LPSV", "MDTM",
    "SIZE", "MLSD", "MLST", "LANG", "HOST", "CLNT", "XCWD", "XMKD", "XPWD", "XRMD", "XCUP", "MFMT",
    "MFF", "AVBL", "CSID", "DSIZ", "HASH", "THMB",
];

/// Commands that only FTP has (SMTP, POP3 and NNTP share QUIT, NOOP, HELP,
/// AUTH, MODE, LIST, STAT).
const CONFIRMING: &[&str] = &[
    "USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "REIN", "PORT", "PASV", "TYPE", "STRU", "RETR",
    "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR", "DELE", "RMD", "MKD", "PWD",
    "NLST", "SITE", "SYST", "FEAT", "OPTS", "PBSZ", "PROT", "CCC", "EPRT", "EPSV", "LPRT", "LPSV",
    "MDTM", "SIZE", "MLSD", "MLST", "XCWD", "XMKD", "XPWD", "XRMD", "XCUP",
];
/// Commands of mail and news protocols that also open with `NNN` banners.
const NOT_FTP: &[&str] = &[
    "EHLO",
    "HELO",
    "LHLO",
    "MAIL",
    "RCPT",
    "DATA",
    "STARTTLS",
    "VRFY",
    "EXPN",
    "ARTICLE",
    "GROUP",
    "POST",
    "IHAVE",
    "CAPABILITIES",
    "NEWNEWS",
    "XOVER",
    "APOP",
    "UIDL",
];
/// Security mechanisms named by AUTH (RFC 2228, RFC 4217).
const MECHANISMS: &[&str] = &["TLS", "SSL", "TLS-C", "TLS-P", "GSSAPI", "KERBEROS_V4"];

/// How a data connection is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExpectKind {
    Pasv,
    Epsv,
    Lpsv,
    Port,
    Eprt,
    Lprt,
}

impl ExpectKind {
    /// The server listens (passive) or the client does (active).
    pub fn passive(self) -> bool {
        matches!(self, ExpectKind::Pasv | ExpectKind::Epsv | ExpectKind::Lpsv)
    }

    /// The RFC 2428 / RFC 1639 forms.
    pub fn extended(self) -> bool {
        !matches!(self, ExpectKind::Pasv | ExpectKind::Port)
    }
}

impl fmt::Display for ExpectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExpectKind::Pasv => "PASV",
            ExpectKind::Epsv => "EPSV",
            ExpectKind::Lpsv => "LPSV",
            ExpectKind::Port => "PORT",
            ExpectKind::Eprt => "EPRT",
            ExpectKind::Lprt => "LPRT",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtpEvent {
    /// A command; its argument as sent (file names need not be UTF-8).
    Command { verb: String, arg: Vec<u8> },
    /// A complete reply; `to` is the verb of the command it answers.
    Reply {
        code: u16,
        text: String,
        to: Option<String>,
    },
    /// The reply to this command never came: the capture lost it (the
    /// server's stream had a gap, and a later reply answers a later command).
    Unanswered { verb: String },
    /// A data connection was announced.
    Expect {
        kind: ExpectKind,
        endpoint: Advertised,
    },
    /// An announcement whose argument could not be trusted.
    MalformedExpect { kind: ExpectKind, why: &'static str },
    /// A security mechanism was accepted: the channel is encrypted now.
    Opaque { mechanism: String },
    /// Cleartext again (after CCC).
    Clear,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FtpCounters {
    pub commands: u64,
    pub replies: u64,
    pub expectations: u64,
    pub malformed_expectations: u64,
    /// Lines longer than `MAX_LINE` (cut).
    pub long_lines: u64,
    /// Bytes the control channel lost to capture gaps.
    pub lost_bytes: u64,
    /// Commands whose reply the capture lost.
    pub unanswered: u64,
}

#[derive(Debug, Default)]
struct Lines {
    buf: Vec<u8>,
    /// The current line passed `MAX_LINE`: skip to its end.
    skipping: bool,
}

impl Lines {
    /// Takes bytes up to and including the next line end; returns how many
    /// it took and the line (without its line end) when one completed.
    fn next_line(&mut self, bytes: &[u8], counters: &mut FtpCounters) -> (usize, Option<Vec<u8>>) {
        let (take, complete) = match bytes.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (bytes.len(), false),
        };
        if !self.skipping {
            let room = MAX_LINE.saturating_sub(self.buf.len());
            if take > room {
                counters.long_lines += 1;
                self.buf.extend_from_slice(&bytes[..room]);
                self.skipping = true;
            } else {
                self.buf.extend_from_slice(&bytes[..take]);
            }
        }
        if !complete {
            return (take, None);
        }
        let mut line = std::mem::take(&mut self.buf);
        self.skipping = false;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        (take, Some(line))
    }
}

#[derive(Debug, Default)]
pub struct FtpParser {
    client: Lines,
    server: Lines,
    /// Commands not yet answered, oldest first (bounded).
    waiting: std::collections::VecDeque<Waiting>,
    /// Gap notices so far, per direction (client, server): a reply or
    /// command may have been lost since a command was queued.
    gaps: [u64; 2],
    /// A multi-line reply in progress: its code and first line.
    multiline: Option<(u16, String)>,
    /// Encrypted after AUTH: lines are not read until cleartext returns.
    opaque: bool,
    /// The client sent an AUTH and the server has not answered yet.
    auth_pending: Option<String>,
    /// Commands travel protected (RFC 2228 ENC/MIC/CONF): still lines, but
    /// their content is hidden.
    protected: bool,
    /// TLS record framing per direction while opaque (or probing after
    /// AUTH).
    records: [Records; 2],
    /// A client line was a command only FTP has.
    pub confirmed: bool,
    /// A client line was a mail or news command.
    vetoed: bool,
    /// The server's first line was a reply.
    greeted: bool,
    pub counters: FtpCounters,
}

/// Commands remembered while waiting for their replies.
const MAX_WAITING: usize = 64;

/// A command waiting for its reply, with the gap counts when it was sent.
#[derive(Debug, Clone)]
struct Waiting {
    verb: String,
    gaps: [u64; 2],
}

/// Transfer commands: answered by 1xx, then 226/250 (or an error).
pub const TRANSFER_VERBS: &[&str] = &["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"];

/// Whether reply `code` can answer `verb` (RFC 959 section 5.4, RFC 2228,
/// RFC 2428, RFC 1639, RFC 3659, RFC 2389). Errors (4xx, 5xx) and 202
/// ("superfluous") answer anything, and so does any reply to a verb not
/// listed here: they say nothing about which command they answer.
fn answers(code: u16, verb: &str) -> bool {
    let codes: &[u16] = match verb {
        v if TRANSFER_VERBS.contains(&v) => &[110, 125, 150, 226, 250],
        "PASV" => &[227],
        "EPSV" => &[229, 200],
        "LPSV" => &[228],
        "USER" => &[230, 331, 332],
        "PASS" => &[230, 332],
        "ACCT" => &[230],
        "PORT" | "EPRT" | "LPRT" | "TYPE" | "MODE" | "STRU" | "NOOP" | "PROT" | "PBSZ" | "CCC"
        | "ALLO" => &[200],
        "CWD" | "XCWD" | "CDUP" | "XCUP" => &[200, 250],
        "DELE" | "RMD" | "XRMD" | "RNTO" => &[250],
        "PWD" | "XPWD" | "MKD" | "XMKD" => &[257],
        "REST" | "RNFR" => &[350],
        "SIZE" | "MDTM" => &[213],
        "SYST" => &[215],
        "FEAT" => &[211],
        "QUIT" => &[221],
        "ABOR" => &[225, 226],
        "AUTH" => &[234, 334],
        "ADAT" => &[235, 335],
        _ => return true,
    };
    code >= 400 || code == 202 || codes.contains(&code)
}

/// Whether the first bytes of a stream look like FTP: a reply (`220 `,
/// `220-`, any code) from the server, or a known command from the client.
pub fn looks_like_ftp(dir: Direction, bytes: &[u8]) -> bool {
    match dir {
        Direction::ToClient => is_reply_start(bytes),
        Direction::ToServer => command_verb(bytes).is_some(),
    }
}

fn is_reply_start(b: &[u8]) -> bool {
    b.len() >= 4
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b[3], b' ' | b'-')
        && (b'1'..=b'6').contains(&b[0])
}

/// The verb of a client line, if it is a known FTP command.
fn command_verb(line: &[u8]) -> Option<String> {
    let end = line
        .iter()
        .position(|b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(line.len());
    if end == 0
        || end > 4
        || !line[end..]
            .first()
            .is_none_or(|b| matches!(b, b' ' | b'\r' | b'\n'))
    {
        return None;
    }
    let verb = std::str::from_utf8(&line[..end]).ok()?.to_ascii_uppercase();
    VERBS.contains(&verb.as_str()).then_some(verb)
}

/// What the bytes of an opaque channel turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Walk {
    /// TLS records, up to the given offset of this call's bytes: the end
    /// of the first record header whole in them, or all of them.
    Tls(usize),
    /// Not enough bytes to tell.
    Undecided,
    /// Text: its first bytes (some may come from earlier calls), and where
    /// it goes on in this call's bytes.
    Text(Vec<u8>, usize),
}

/// TLS record framing (RFC 8446 section 5.1): a content type (20-23),
/// version major 3, minor, and a 16-bit length. Walking it finds where
/// cleartext resumes, whatever the segment boundaries.
#[derive(Debug, Default)]
struct Records {
    head: Vec<u8>,
    remaining: usize,
}

impl Records {
    fn feed(&mut self, bytes: &[u8]) -> Walk {
        let mut i = 0;
        while i < bytes.len() {
            if self.remaining > 0 {
                let skip = self.remaining.min(bytes.len() - i);
                self.remaining -= skip;
                i += skip;
                continue;
            }
            while self.head.len() < 5 && i < bytes.len() {
                self.head.push(bytes[i]);
                i += 1;
                // Not a record header: collect up to 5 bytes (or a line
                // end) so the caller can tell cleartext FTP from noise.
                let tls = matches!(self.head[..], [20..=23] | [20..=23, 3, ..]);
                if !tls && (self.head.len() == 5 || self.head.last() == Some(&b'\n')) {
                    return Walk::Text(std::mem::take(&mut self.head), i);
                }
            }
            if self.head.len() == 5 {
                if !matches!(self.head[..], [20..=23, 3, ..]) {
                    return Walk::Text(std::mem::take(&mut self.head), i);
                }
                self.remaining = u16::from_be_bytes([self.head[3], self.head[4]]) as usize;
                self.head.clear();
                // Said at once, as it would be were the bytes split here:
                // what follows is read with the channel opaque.
                return Walk::Tls(i);
            }
        }
        if self.remaining > 0 {
            Walk::Tls(bytes.len())
        } else {
            Walk::Undecided
        }
    }
}

impl FtpParser {
    pub fn data<S: FtpSink>(&mut self, at: At, dir: Direction, bytes: &[u8], sink: &mut S) {
        // No byte says nothing (and must not decide a probe).
        if bytes.is_empty() {
            return;
        }
        let d = dir as usize;
        let mut input = bytes;
        // One pass per change of state (text, TLS, text again): no recursion.
        loop {
            // After AUTH, a side may start TLS without a 234 we could see.
            // Bytes held by an undecided probe are walked on to a decision
            // even when the AUTH has since been refused: they are the
            // start of this side's next line or record.
            let probing = (self.auth_pending.is_some() && self.reader(dir).buf.is_empty())
                || !self.records[d].head.is_empty();
            if self.opaque || probing {
                match self.records[d].feed(input) {
                    Walk::Tls(used) => {
                        if !self.opaque {
                            let mechanism = self.auth_pending.take().unwrap_or_default();
                            self.go_opaque(at, mechanism, Some(dir), sink);
                        }
                        input = input.get(used..).unwrap_or_default();
                        if input.is_empty() {
                            return;
                        }
                        continue;
                    }
                    Walk::Undecided => return,
                    Walk::Text(head, offset) => {
                        input = input.get(offset..).unwrap_or_default();
                        if self.opaque {
                            // Cleartext again (after CCC) only when it reads
                            // as FTP; anything else is ciphertext we lost
                            // our place in.
                            if !looks_like_ftp(dir, &head) {
                                self.records[d] = Records::default();
                                continue;
                            }
                            self.opaque = false;
                            self.client = Lines::default();
                            self.server = Lines::default();
                            // Both sides' record framing is over.
                            self.records = Default::default();
                            sink.ftp(at, FtpEvent::Clear);
                        }
                        // The head is at most 5 bytes: not a whole command
                        // or reply that could change the state but "234\n".
                        let _ = self.lines(at, dir, &head, sink);
                        // A line ended in it: what follows may be a record
                        // still, as if it came in a segment of its own.
                        if head.last() == Some(&b'\n') {
                            continue;
                        }
                    }
                }
            }
            match self.lines(at, dir, input, sink) {
                None => return,
                Some(used) => input = input.get(used..).unwrap_or_default(),
            }
        }
    }

    fn reader(&mut self, dir: Direction) -> &mut Lines {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    /// Reads lines from `bytes`; stops early (returning how much it read)
    /// when a line turns the channel opaque or leaves an AUTH pending.
    fn lines<S: FtpSink>(
        &mut self,
        at: At,
        dir: Direction,
        bytes: &[u8],
        sink: &mut S,
    ) -> Option<usize> {
        let mut pos = 0;
        while pos < bytes.len() {
            let (reader, counters) = match dir {
                Direction::ToServer => (&mut self.client, &mut self.counters),
                Direction::ToClient => (&mut self.server, &mut self.counters),
            };
            let (used, line) = reader.next_line(&bytes[pos..], counters);
            pos += used;
            let Some(line) = line else { continue };
            match dir {
                Direction::ToServer => self.command(at, &line, sink),
                Direction::ToClient => self.reply_line(at, &line, sink),
            }
            // A pending AUTH makes the next bytes of either side a
            // possible TLS record: `data` probes them, as it would had
            // they come in a segment of their own.
            if self.opaque || self.auth_pending.is_some() {
                return Some(pos);
            }
        }
        None
    }

    pub fn gap(&mut self, dir: Direction, len: u64) {
        self.counters.lost_bytes += len;
        self.gaps[dir as usize] += 1;
        // While opaque, the record framing is lost too: look for it again.
        self.records[dir as usize] = Records::default();
        // The partial line is lost; the next line starts fresh.
        match dir {
            Direction::ToServer => self.client = Lines::default(),
            Direction::ToClient => {
                self.server = Lines::default();
                self.multiline = None;
            }
        }
    }

    /// Whether the connection is an FTP control channel: FTP commands one
    /// way and FTP replies the other. (One way alone is not enough: an
    /// uploaded file can hold lines that read like commands.)
    pub fn is_ftp(&self) -> bool {
        self.confirmed && self.greeted && !self.vetoed
    }

    /// Encrypted from here. The walker of `keep` (the side whose TLS bytes
    /// revealed it) keeps its place in the record it is reading.
    fn go_opaque<S: FtpSink>(
        &mut self,
        at: At,
        mechanism: String,
        keep: Option<Direction>,
        sink: &mut S,
    ) {
        self.opaque = true;
        for dir in [Direction::ToServer, Direction::ToClient] {
            if Some(dir) != keep {
                self.records[dir as usize] = Records::default();
            }
        }
        self.waiting.clear();
        self.multiline = None;
        sink.ftp(at, FtpEvent::Opaque { mechanism });
    }

    fn command<S: FtpSink>(&mut self, at: At, line: &[u8], sink: &mut S) {
        let Some(verb) = command_verb(line) else {
            // Mail and news commands say this is not FTP.
            if let Some(word) = line.split(|b| *b == b' ').next() {
                let word = String::from_utf8_lossy(word).to_ascii_uppercase();
                if NOT_FTP.contains(&word.trim_end_matches(['\r', '\n'])) {
                    self.vetoed = true;
                }
            }
            return;
        };
        if CONFIRMING.contains(&verb.as_str()) {
            self.confirmed = true;
        }
        self.counters.commands += 1;
        let arg = line
            .get(verb.len() + 1..)
            .unwrap_or_default()
            .trim_ascii()
            .to_vec();
        let text = String::from_utf8_lossy(&arg).into_owned();
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(Waiting {
            verb: verb.clone(),
            gaps: self.gaps,
        });
        let active = match verb.as_str() {
            "PORT" => Some((ExpectKind::Port, address::host_port_numbers(&text))),
            "EPRT" => Some((ExpectKind::Eprt, address::eprt_argument(&text))),
            "LPRT" => Some((ExpectKind::Lprt, address::long_host_port(&text))),
            "AUTH" => {
                // Only the mechanism's name: an argument could carry more.
                let mechanism = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                self.auth_pending = Some(if MECHANISMS.contains(&mechanism.as_str()) {
                    mechanism
                } else {
                    "other".into()
                });
                None
            }
            _ => None,
        };
        let protected = matches!(verb.as_str(), "ENC" | "MIC" | "CONF") && !self.protected;
        sink.ftp(at, FtpEvent::Command { verb, arg });
        if protected {
            // RFC 2228: the commands inside are encrypted or signed.
            self.protected = true;
            let mechanism = self
                .auth_pending
                .take()
                .unwrap_or_else(|| "RFC 2228".into());
            sink.ftp(at, FtpEvent::Opaque { mechanism });
        }
        if let Some((kind, parsed)) = active {
            self.expect(at, kind, parsed, sink);
        }
    }

    fn expect<S: FtpSink>(
        &mut self,
        at: At,
        kind: ExpectKind,
        parsed: Result<Advertised, &'static str>,
        sink: &mut S,
    ) {
        match parsed {
            Ok(endpoint) => {
                self.counters.expectations += 1;
                sink.ftp(at, FtpEvent::Expect { kind, endpoint });
            }
            Err(why) => {
                self.counters.malformed_expectations += 1;
                sink.ftp(at, FtpEvent::MalformedExpect { kind, why });
            }
        }
    }

    fn reply_line<S: FtpSink>(&mut self, at: At, line: &[u8], sink: &mut S) {
        let code =
            if is_reply_start(line) || (line.len() == 3 && line.iter().all(u8::is_ascii_digit)) {
                std::str::from_utf8(&line[..3])
                    .ok()
                    .and_then(|c| c.parse::<u16>().ok())
            } else {
                None
            };
        let text = || {
            let t = String::from_utf8_lossy(line.get(4..).unwrap_or_default());
            t.chars().take(MAX_TEXT).collect::<String>()
        };
        match (&self.multiline, code) {
            // The last line of a multi-line reply: the same code and a space.
            (Some((open, first)), Some(c)) if c == *open && line.get(3) != Some(&b'-') => {
                let first = first.clone();
                self.multiline = None;
                self.reply(at, c, first, sink);
            }
            // Continuation lines: free text, or (non-conforming servers)
            // `code-` again.
            (Some(_), _) => {}
            (None, Some(c)) if line.get(3) == Some(&b'-') => {
                self.greeted = true;
                self.multiline = Some((c, text()));
            }
            (None, Some(c)) => {
                self.greeted = true;
                self.reply(at, c, text(), sink);
            }
            (None, None) => {}
        }
    }

    /// The command a reply answers. In order, as the protocol goes, unless
    /// the capture lost something. A command that was still waiting when
    /// the next one was sent after a server gap lost its reply there. A
    /// reply that only other commands get
    /// (a 150 while PASV waits) answers the first later command it fits
    /// when the server's stream had a gap since the oldest waiting command
    /// was sent (the replies of the commands before it were lost: they
    /// leave the queue, reported unanswered); it answers a command the
    /// capture lost (`None`) when no waiting command fits and either stream
    /// had a gap since the oldest waiting command was sent. Without a gap
    /// to explain a mismatch, the oldest command takes the reply, as before.
    fn answered<S: FtpSink>(&mut self, at: At, code: u16, sink: &mut S) -> Option<String> {
        const CLIENT: usize = Direction::ToServer as usize;
        const SERVER: usize = Direction::ToClient as usize;
        // A command still waiting when the next was sent, with a server gap
        // in between, lost its reply in that gap: the client waited for it
        // (FTP is lock-step) and went on. (Reassembly hands over the server
        // bytes that precede a client segment before that segment, when they
        // are in.) Not a transfer and what may be sent while it runs: ABOR,
        // STAT, NOOP.
        while self.waiting.len() > 1
            && self.waiting[1].gaps[SERVER] > self.waiting[0].gaps[SERVER]
            && !(TRANSFER_VERBS.contains(&self.waiting[0].verb.as_str())
                && matches!(self.waiting[1].verb.as_str(), "ABOR" | "STAT" | "NOOP"))
        {
            if let Some(lost) = self.waiting.pop_front() {
                self.counters.unanswered += 1;
                sink.ftp(at, FtpEvent::Unanswered { verb: lost.verb });
            }
        }
        let fits = self.waiting.iter().position(|w| answers(code, &w.verb));
        let skip = match fits {
            Some(k) if k > 0 && self.waiting[0].gaps[SERVER] < self.gaps[SERVER] => k,
            Some(_) => 0,
            // The command it answers was lost. A server gap counts too: the
            // client gap that lost the command may be proven only by the
            // client's next segment, after this reply.
            None if self.waiting.front().is_none_or(|w| {
                w.gaps[CLIENT] < self.gaps[CLIENT] || w.gaps[SERVER] < self.gaps[SERVER]
            }) =>
            {
                return None;
            }
            None => 0,
        };
        for lost in self.waiting.drain(..skip) {
            self.counters.unanswered += 1;
            sink.ftp(at, FtpEvent::Unanswered { verb: lost.verb });
        }
        // 1xx are preliminary: the command still waits for its final reply.
        if code < 200 {
            self.waiting.front().map(|w| w.verb.clone())
        } else {
            self.waiting.pop_front().map(|w| w.verb)
        }
    }

    fn reply<S: FtpSink>(&mut self, at: At, code: u16, text: String, sink: &mut S) {
        self.counters.replies += 1;
        let to = self.answered(at, code, sink);
        // A passive reply announces a data connection when it answers the
        // matching command, or when the command is unknown (the capture
        // began later). Paired with another command, it answers a command the
        // capture lost, and is not trusted (as Zeek does).
        let passive = match (code, to.as_deref()) {
            (227, None | Some("PASV")) => {
                Some((ExpectKind::Pasv, address::host_port_numbers(&text)))
            }
            (229, None | Some("EPSV")) => Some((ExpectKind::Epsv, address::epsv_reply(&text))),
            (228, None | Some("LPSV")) => Some((ExpectKind::Lpsv, address::long_host_port(&text))),
            _ => None,
        };
        // 234: TLS (RFC 4217) begins after this reply. (334 starts an
        // RFC 2228 exchange whose commands stay lines: see ENC above.)
        let auth = (code == 234 && (self.auth_pending.is_some() || to.as_deref() == Some("AUTH")))
            .then(|| self.auth_pending.take().unwrap_or_else(|| "TLS".into()));
        // An accepted FTP security mechanism confirms FTP (RFC 2228's AUTH
        // is FTP's; mail's AUTH comes after EHLO, which vetoes).
        if to.as_deref() == Some("AUTH")
            && (code == 234 || code == 334)
            && auth
                .as_deref()
                .or(self.auth_pending.as_deref())
                .is_some_and(|m| m != "other")
        {
            self.confirmed = true;
        }
        if to.as_deref() == Some("AUTH") && code >= 400 {
            self.auth_pending = None;
        }
        sink.ftp(at, FtpEvent::Reply { code, text, to });
        if let Some((kind, parsed)) = passive {
            self.expect(at, kind, parsed, sink);
        }
        if let Some(mechanism) = auth {
            self.go_opaque(at, mechanism, None, sink);
        }
    }
}

#[cfg(test)]
mod tests;
