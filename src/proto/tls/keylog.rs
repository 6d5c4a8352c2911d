//! TLS key logs: the NSS key log format (`SSLKEYLOGFILE`, RFC 9850) that
//! browsers, curl, Python, Node and Go write, from files given with
//! `--keylog` and from pcapng Decryption Secrets Blocks.
//!
//! ```text
//! # comment
//! CLIENT_RANDOM <client random, 64 hex> <master secret, 96 hex>
//! CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random> <secret>
//! SERVER_TRAFFIC_SECRET_0 <client random> <secret>
//! ```
//!
//! Secrets are keyed by the client random of the ClientHello they belong
//! to. Other labels (`RSA`, `EXPORTER_SECRET`, …) are ignored; a line that
//! breaks the grammar is counted and named with its line number, and never
//! stops the run. Key material never leaves this module except into the
//! record decryptor: nothing here is printed.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// Longest key log line read (the longest valid one is under 250 bytes).
pub const MAX_LINE: usize = 1024;
/// Client randoms kept over all key logs.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Key log bytes read over all sources.
pub const MAX_BYTES: u64 = 512 << 20;
/// Malformed lines named in warnings (the rest are only counted).
const NAMED_MALFORMED: usize = 10;
/// How often a live key log file is read again for new lines.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// The secrets of one handshake, by kind. Each is as long as its hash (32
/// or 48 bytes); the TLS 1.2 master secret is 48 bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub master: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic: Option<Vec<u8>>,
    pub server_traffic: Option<Vec<u8>>,
    pub client_early: Option<Vec<u8>>,
}

impl Secrets {
    /// The key log lines (NSS format) for these secrets of `client_random`:
    /// for a Decryption Secrets Block in an export, never for a report.
    pub fn nss_lines(&self, client_random: &[u8; 32]) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let random = hex(client_random);
        let mut out = String::new();
        for (label, secret) in [
            ("CLIENT_RANDOM", &self.master),
            ("CLIENT_EARLY_TRAFFIC_SECRET", &self.client_early),
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &self.client_handshake),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", &self.server_handshake),
            ("CLIENT_TRAFFIC_SECRET_0", &self.client_traffic),
            ("SERVER_TRAFFIC_SECRET_0", &self.server_traffic),
        ] {
            if let Some(secret) = secret {
                out.push_str(&format!("{label} {random} {}\n", hex(secret)));
            }
        }
        out
    }
}

// Secrets never appear in debug output either.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has = |s: &Option<Vec<u8>>| s.is_some();
        f.debug_struct("Secrets")
            .field("master", &has(&self.master))
            .field("client_handshake", &has(&self.client_handshake))
            .field("server_handshake", &has(&self.server_handshake))
            .field("client_traffic", &has(&self.client_traffic))
            .field("server_traffic", &has(&self.server_traffic))
            .field("client_early", &has(&self.client_early))
            .finish()
    }
}

/// What reading key logs met, for the report's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyLogCounters {
    /// Lines read (comments and blank lines included).
    pub lines: u64,
    /// Secrets kept (one line each).
    pub secrets: u64,
    /// Distinct client randoms with secrets.
    pub client_randoms: u64,
    /// Lines that broke the grammar.
    pub malformed: u64,
    /// Well-formed lines with a label sessmap does not use.
    pub ignored: u64,
    /// Lines over [`MAX_LINE`], secrets over [`MAX_ENTRIES`], or bytes over
    /// [`MAX_BYTES`]: not read.
    pub over_limit: u64,
}

/// Every secret read so far, by client random.
#[derive(Default)]
pub struct KeyLog {
    by_random: HashMap<[u8; 32], Secrets>,
    pub counters: KeyLogCounters,
    bytes: u64,
    /// The first malformed lines: "FILE line N: why".
    pub malformed: Vec<String>,
}

impl std::fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLog")
            .field("counters", &self.counters)
            .finish()
    }
}

fn hex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect()
}

impl KeyLog {
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.by_random.get(client_random)
    }

    /// Reads whole lines of `text`; `first_line` numbers the first one.
    /// Returns the number of lines read.
    pub fn read(&mut self, source: &str, text: &[u8], first_line: u64) -> u64 {
        let mut n = 0;
        for line in text.split(|b| *b == b'\n') {
            n += 1;
            self.line(source, first_line + n - 1, line);
        }
        // A trailing newline ends the last line; it does not start one.
        if text.ends_with(b"\n") {
            n -= 1;
            self.counters.lines -= 1;
        }
        n
    }

    fn bad(&mut self, source: &str, line_no: u64, why: &str) {
        self.counters.malformed += 1;
        if self.malformed.len() < NAMED_MALFORMED {
            self.malformed
                .push(format!("{source} line {line_no}: {why}"));
        }
    }

    /// One line, without its newline.
    pub fn line(&mut self, source: &str, line_no: u64, line: &[u8]) {
        self.counters.lines += 1;
        self.bytes += line.len() as u64 + 1;
        if self.bytes > MAX_BYTES || line.len() > MAX_LINE {
            self.counters.over_limit += 1;
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            return;
        }
        let mut fields = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return self.bad(source, line_no, "not LABEL CLIENT_RANDOM SECRET");
        };
        let slot: fn(&mut Secrets) -> &mut Option<Vec<u8>> = match label {
            b"CLIENT_RANDOM" => |s| &mut s.master,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => |s| &mut s.client_handshake,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => |s| &mut s.server_handshake,
            b"CLIENT_TRAFFIC_SECRET_0" => |s| &mut s.client_traffic,
            b"SERVER_TRAFFIC_SECRET_0" => |s| &mut s.server_traffic,
            b"CLIENT_EARLY_TRAFFIC_SECRET" => |s| &mut s.client_early,
            l if l
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_') =>
            {
                self.counters.ignored += 1;
                return;
            }
            _ => return self.bad(source, line_no, "unknown label"),
        };
        let Some(random) = hex(random).and_then(|r| <[u8; 32]>::try_from(r).ok()) else {
            return self.bad(source, line_no, "the client random is not 64 hex digits");
        };
        let Some(secret) = hex(secret) else {
            return self.bad(source, line_no, "the secret is not hex");
        };
        let want: &[usize] = if label == b"CLIENT_RANDOM" {
            &[48]
        } else {
            &[32, 48]
        };
        if !want.contains(&secret.len()) {
            return self.bad(
                source,
                line_no,
                &format!("a {}-byte secret (expected {want:?})", secret.len()),
            );
        }
        let len = self.by_random.len();
        let entry = match self.by_random.get_mut(&random) {
            Some(e) => e,
            None if len >= MAX_ENTRIES => {
                self.counters.over_limit += 1;
                return;
            }
            None => {
                self.counters.client_randoms += 1;
                self.by_random.entry(random).or_default()
            }
        };
        *slot(entry) = Some(secret);
        self.counters.secrets += 1;
    }
}

/// TLS ≤ 1.2 sessions remembered for resumption (session ids and tickets
/// of handshakes whose master secret is known).
pub const MAX_SESSIONS: usize = 100_000;

/// The index of a resumable session: its kind and id (a session id, or the
/// SHA-256 of a ticket).
pub fn session_key(kind: &[u8], id: &[u8]) -> Vec<u8> {
    let mut k = kind.to_vec();
    k.extend_from_slice(id);
    k
}

/// A key log file read as it grows (a browser appends while it runs).
struct Tail {
    path: PathBuf,
    shown: String,
    offset: u64,
    line_no: u64,
    /// The end of the file when it did not end with a newline yet.
    partial: Vec<u8>,
}

/// Key logs shared by every connection: files given on the command line
/// (read again for new lines when a client random is missing, at most once
/// per [`REFRESH_INTERVAL`], in live captures) and embedded secrets.
#[derive(Default)]
pub struct KeyStore {
    log: RwLock<KeyLog>,
    tails: Mutex<(Vec<Tail>, Option<Instant>)>,
    /// Master secrets by resumable session (see [`session_key`]).
    sessions: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    /// Whether files may still grow (a live capture).
    live: bool,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyStore")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot read key log: {source}")]
pub struct KeyLogError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl KeyStore {
    /// Reads each file now. `live`: the files may grow while the capture
    /// runs, and are read again when a client random is not found.
    pub fn open(paths: &[PathBuf], live: bool) -> Result<KeyStore, KeyLogError> {
        let store = KeyStore {
            live,
            ..Default::default()
        };
        {
            let mut tails = store.tails.lock().unwrap_or_else(|e| e.into_inner());
            for path in paths {
                let shown = crate::capture::shown(path).display().to_string();
                // Fail now on a file that cannot be opened at all.
                std::fs::File::open(path).map_err(|source| KeyLogError {
                    path: shown.clone(),
                    source,
                })?;
                tails.0.push(Tail {
                    path: path.clone(),
                    shown,
                    offset: 0,
                    line_no: 0,
                    partial: Vec::new(),
                });
            }
        }
        store.refresh_now()?;
        Ok(store)
    }

    /// Secrets embedded in a capture (a pcapng Decryption Secrets Block).
    pub fn add_embedded(&self, source: &str, text: &[u8]) {
        let mut log = self.log.write().unwrap_or_else(|e| e.into_inner());
        log.read(source, text, 1);
    }

    /// Reads what was appended to each file since the last read.
    fn refresh_now(&self) -> Result<(), KeyLogError> {
        let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        tails.1 = Some(Instant::now());
        let mut log = self.log.write().unwrap_or_else(|e| e.into_inner());
        for t in &mut tails.0 {
            let io = |source| KeyLogError {
                path: t.shown.clone(),
                source,
            };
            let mut file = std::fs::File::open(&t.path).map_err(io)?;
            file.seek(SeekFrom::Start(t.offset)).map_err(io)?;
            let mut new = Vec::new();
            let room = MAX_BYTES.saturating_sub(t.offset);
            file.take(room).read_to_end(&mut new).map_err(io)?;
            t.offset += new.len() as u64;
            let mut text = std::mem::take(&mut t.partial);
            text.extend_from_slice(&new);
            // Keep an unfinished last line for the next read.
            let end = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            t.partial = text.split_off(end);
            if t.partial.len() > MAX_LINE {
                t.partial.clear();
                log.counters.over_limit += 1;
            }
            t.line_no += log.read(&t.shown, &text, t.line_no + 1);
        }
        // A file given once (not live) that ends without a newline: its
        // last line is whole.
        if !self.live {
            for t in &mut tails.0 {
                let last = std::mem::take(&mut t.partial);
                if !last.is_empty() {
                    t.line_no += 1;
                    log.line(&t.shown, t.line_no, &last);
                }
            }
        }
        Ok(())
    }

    /// The secrets of a handshake, if they are `enough`. In a live capture
    /// secrets that are missing or not enough yet read the files again
    /// first (at most once per [`REFRESH_INTERVAL`]).
    pub fn lookup(
        &self,
        client_random: &[u8; 32],
        enough: impl Fn(&Secrets) -> bool,
    ) -> Option<Secrets> {
        if let Some(s) = self.read_log().get(client_random).filter(|s| enough(s)) {
            return Some(s.clone());
        }
        if !self.live {
            return None;
        }
        let due = {
            let tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
            tails.1.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL)
        };
        if due {
            // A file that vanished keeps what was read from it.
            let _ = self.refresh_now();
        }
        self.read_log()
            .get(client_random)
            .filter(|s| enough(s))
            .cloned()
    }

    /// In a live capture, reads what was appended to the files now, whatever
    /// the interval: for a connection that ends with records still waiting
    /// for its keys (once per such connection, and only the new bytes).
    pub fn refresh_final(&self) {
        if self.live {
            let _ = self.refresh_now();
        }
    }

    /// The secrets known for a handshake (for exports).
    pub fn secrets(&self, client_random: &[u8; 32]) -> Option<Secrets> {
        self.read_log().get(client_random).cloned()
    }

    /// Remembers the master secret a session id or ticket resumes.
    pub fn remember(&self, key: Vec<u8>, master: &[u8]) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < MAX_SESSIONS || s.contains_key(&key) {
            s.insert(key, master.to_vec());
        }
    }

    /// The master secret of a resumable session.
    pub fn session(&self, key: &[u8]) -> Option<Vec<u8>> {
        let s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.get(key).cloned()
    }

    /// Whether lookups may still find new secrets later (live files).
    pub fn is_live(&self) -> bool {
        self.live
    }

    fn read_log(&self) -> std::sync::RwLockReadGuard<'_, KeyLog> {
        self.log.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn counters(&self) -> KeyLogCounters {
        self.read_log().counters
    }

    /// The first malformed lines, "FILE line N: why".
    pub fn malformed(&self) -> Vec<String> {
        self.read_log().malformed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn log(text: &str) -> KeyLog {
        let mut l = KeyLog::default();
        l.read("keys.txt", text.as_bytes(), 1);
        l
    }

    #[test]
    fn labels_and_comments() {
        let master = "ab".repeat(48);
        let secret = "cd".repeat(32);
        let text = format!(
            "# SSL/TLS secrets log file\n\nCLIENT_RANDOM {R} {master}\r\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {R} {secret}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {R} {secret}\n\
             CLIENT_TRAFFIC_SECRET_0 {R} {secret}\n\
             SERVER_TRAFFIC_SECRET_0 {R} {secret}\n\
             CLIENT_EARLY_TRAFFIC_SECRET {R} {secret}\n\
             EXPORTER_SECRET {R} {secret}\n"
        );
        let l = log(&text);
        let mut random = [0u8; 32];
        for (i, b) in random.iter_mut().enumerate() {
            *b = i as u8;
        }
        let s = l.get(&random).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.client_handshake.as_deref(), Some(&[0xcd; 32][..]));
        assert!(s.server_handshake.is_some() && s.client_traffic.is_some());
        assert!(s.server_traffic.is_some() && s.client_early.is_some());
        assert_eq!(l.counters.lines, 9);
        assert_eq!(l.counters.secrets, 6);
        assert_eq!(l.counters.client_randoms, 1);
        assert_eq!(l.counters.ignored, 1);
        assert_eq!(l.counters.malformed, 0);
        // Debug output shows which secrets exist, never their bytes.
        assert!(!format!("{s:?}").contains("ab"));
    }

    #[test]
    fn malformed_lines_are_counted_and_named() {
        let master = "ab".repeat(48);
        let text = format!(
            "CLIENT_RANDOM {R}\n\
             CLIENT_RANDOM 0001 {master}\n\
             CLIENT_RANDOM {R} zz{}\n\
             CLIENT_RANDOM {R} abcd\n\
             client_random {R} {master}\n\
             CLIENT_RANDOM {R} {master}\n",
            "ab".repeat(47)
        );
        let l = log(&text);
        assert_eq!(l.counters.malformed, 5);
        assert_eq!(l.counters.secrets, 1, "the good line still counts");
        assert_eq!(
            l.malformed,
            [
                "keys.txt line 1: not LABEL CLIENT_RANDOM SECRET",
                "keys.txt line 2: the client random is not 64 hex digits",
                "keys.txt line 3: the secret is not hex",
                "keys.txt line 4: a 2-byte secret (expected [48])",
                "keys.txt line 5: unknown label",
            ]
        );
    }

    #[test]
    fn long_lines_are_refused() {
        let l = log(&format!("CLIENT_RANDOM {R} {}\n", "ab".repeat(MAX_LINE)));
        assert_eq!(l.counters.over_limit, 1);
        assert_eq!(l.counters.secrets, 0);
    }

    #[test]
    fn a_growing_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.log");
        let secret = "cd".repeat(32);
        std::fs::write(
            &path,
            format!("SERVER_TRAFFIC_SECRET_0 {R} {secret}\nCLIENT_TR"),
        )
        .unwrap();
        let store = KeyStore::open(std::slice::from_ref(&path), true).unwrap();
        let mut random = [0u8; 32];
        for (i, b) in random.iter_mut().enumerate() {
            *b = i as u8;
        }
        let has_client = |s: &Secrets| s.client_traffic.is_some();
        assert!(store.lookup(&random, |_| true).is_some());
        assert!(store.lookup(&random, has_client).is_none());
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "AFFIC_SECRET_0 {R} {secret}").unwrap();
        // Within the interval the file is not read again.
        assert!(store.lookup(&random, has_client).is_none());
        std::thread::sleep(REFRESH_INTERVAL);
        assert!(store.lookup(&[9; 32], |_| true).is_none());
        assert!(store.lookup(&random, has_client).is_some());
        assert_eq!(store.counters().malformed, 0);
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let e = KeyStore::open(&[PathBuf::from("/nonexistent/keys.log")], false).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("/nonexistent/keys.log: cannot read key log"));
    }
}
