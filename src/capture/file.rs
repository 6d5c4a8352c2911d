//! One capture file (or stdin), read with the pure-Rust `pcap-parser`.
//!
//! Why not libpcap for files: libpcap stops part-way through a pcapng whose
//! interfaces have different link types, cannot read gzip, and was measured
//! slower than `pcap-parser` on classic pcap (see BENCHMARKS.md). libpcap is
//! still used to compile `--filter` expressions and for live capture.
//!
//! Reading is a peek/take protocol so that several files can be merged by
//! timestamp without copying frames: `peek` parses records up to the next
//! packet and returns its timestamp; `take` hands out the packet, borrowed
//! from the reader's buffer until the next call.

use super::{CaptureError, Frame, LinkType};
use flate2::read::MultiGzDecoder;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Initial reader buffer; grows on demand for larger records.
const BUFFER_BYTES: usize = 1 << 20;
/// Largest record we accept. Real records are at most 256 KiB (the largest
/// snaplen tools use); anything bigger is a corrupt length field.
const MAX_RECORD_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Pcap,
    Pcapng,
}

/// What the report says about one input.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    pub path: String,
    pub format: InputFormat,
    pub compressed: bool,
    /// Link types of the interfaces that carried packets or were declared.
    pub linktypes: BTreeSet<String>,
    pub packets: u64,
    /// Why reading stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The problem that stopped reading and where (`warning` without the
    /// file's name): what an input with no packet at all is refused with.
    #[serde(skip)]
    pub problem: Option<String>,
    /// Oddities read past (records longer than their snaplen): warnings of
    /// the report that do not make the input truncated.
    #[serde(skip)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: LinkType,
    /// Offset of its Interface Description Block.
    at: u64,
    /// Most bytes captured per packet (0: no limit).
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_secs: i64,
}

#[derive(Debug, Clone, Copy)]
struct Peeked {
    ts_ns: u64,
    linktype: LinkType,
}

enum Step {
    Packet(Peeked),
    Skip,
    Eof,
    NeedMore,
    TooSmall,
    Truncated,
    Corrupt(&'static str),
    /// A block pcap-parser cannot parse: `describe_bad_block` says why.
    Unparseable,
    ReadError,
}

/// What the headers read so far say of the records that follow.
struct Layout {
    legacy_linktype: LinkType,
    legacy_nanos: bool,
    /// The classic pcap header's snaplen (0: none said).
    legacy_snaplen: u32,
    /// Byte order of the file (pcap) or of the section being read (pcapng).
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Records whose captured length exceeds their snaplen: how many, and
    /// the first (offset, captured length, snaplen).
    oversized: (u64, Option<(u64, u32, u32)>),
}

/// Where records come from: pcap-parser over a stream (gzip, stdin,
/// pcapng), or a plain classic pcap file mapped into memory and parsed in
/// place (no read copy, each record header parsed once).
enum Backend {
    Stream(Box<dyn PcapReaderIterator + Send>),
    Mapped(Mapped),
}

/// A classic pcap file in memory. (A file truncated by another process
/// while it is mapped would fault; a file still growing is read as far as
/// it was when opened.)
struct Mapped {
    /// Shared with flow workers, which read payloads in place.
    map: Arc<memmap2::Mmap>,
    /// Offset of the next record header.
    pos: usize,
    /// The file's byte order is not the machine's.
    swapped: bool,
    /// The peeked record: data offset, captured and original length.
    record: Option<(usize, usize, u32)>,
    /// Bytes before this offset were given back to the kernel.
    released: usize,
    /// Pages are released this far behind the reader (others read the map).
    behind: usize,
}

/// Mapped pages already read are released in steps of this size, so that
/// the process's resident memory does not grow with the file.
const RELEASE_STEP: usize = 2 << 20;
/// Everything behind the reader is released again at every this many bytes.
const RERELEASE_STEP: usize = 64 << 20;
/// How far behind the reader pages are released: flow workers read
/// payloads a few batches behind it (see `shard`), and a page released
/// under them would be faulted in again.
const RELEASE_BEHIND: usize = 4 << 20;

impl Mapped {
    fn u32_at(&self, at: usize) -> u32 {
        let b = [
            self.map[at],
            self.map[at + 1],
            self.map[at + 2],
            self.map[at + 3],
        ];
        if self.swapped {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
}

/// The classic pcap magic (as little-endian bytes on disk, then swapped):
/// microsecond and nanosecond timestamps.
fn pcap_magic(head: &[u8]) -> Option<(bool, bool)> {
    match head.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] => Some((false, false)),
        [0xa1, 0xb2, 0xc3, 0xd4] => Some((true, false)),
        [0x4d, 0x3c, 0xb2, 0xa1] => Some((false, true)),
        [0xa1, 0xb2, 0x3c, 0x4d] => Some((true, true)),
        _ => None,
    }
}

pub struct FileSource {
    index: usize,
    path: PathBuf,
    backend: Backend,
    /// Bytes of the record handed out by `take`, consumed on the next call.
    pending_consume: usize,
    layout: Layout,
    peeked: Option<Peeked>,
    last_ts_ns: u64,
    buffer_bytes: usize,
    done: bool,
    /// Why the gzip stream ended early, once it has (a cut-short `.gz`).
    gzip_end: GzipEnd,
    summary: InputSummary,
    /// TLS key log text from pcapng Decryption Secrets Blocks, not taken yet.
    secrets: Vec<u8>,
    /// Embedded secret bytes read so far (bounded by [`MAX_EMBEDDED_SECRETS`]).
    secrets_read: u64,
}

/// Bytes of embedded TLS secrets read per input.
pub const MAX_EMBEDDED_SECRETS: u64 = 64 << 20;
/// The Decryption Secrets Block type of a TLS key log ("TLSK").
const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;

impl FileSource {
    /// Opens `path` (`-` is stdin), detects gzip, pcap or pcapng, and reads up
    /// to the first packet so that header problems surface here.
    pub fn open(path: &Path, index: usize) -> Result<FileSource, CaptureError> {
        let named = shown(path);
        if let Some(mut source) = FileSource::open_mapped(path, index) {
            source.peek();
            source.check_linktypes()?;
            return Ok(source);
        }
        let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(path).map_err(|source| CaptureError::Open {
                path: named.clone(),
                source,
            })?)
        };
        // Peek at the magic without trusting one read to return it (a pipe
        // may deliver a byte at a time), then put it back in front.
        let mut raw = raw;
        let mut magic = [0u8; 2];
        let got = read_full(&mut raw, &mut magic).map_err(|source| CaptureError::Read {
            path: named.clone(),
            source,
        })?;
        let head = std::io::Cursor::new(magic[..got].to_vec());
        let compressed = magic[..got] == [0x1f, 0x8b];
        let rest = head.chain(raw);
        // pcap-parser sizes up the file from its first read: always fill it.
        let gzip_end = GzipEnd::default();
        let reader: Box<dyn Read + Send> = if compressed {
            Box::new(FullReads(StopAtGzipError {
                inner: MultiGzDecoder::new(BufReader::new(rest)),
                end: gzip_end.clone(),
            }))
        } else {
            Box::new(FullReads(BufReader::with_capacity(64 * 1024, rest)))
        };
        let reader = pcap_parser::create_reader(BUFFER_BYTES, reader).map_err(|e| match e {
            // The stream broke before a capture header was whole.
            _ if gzip_end.get().is_some() => CaptureError::Read {
                path: named.clone(),
                source: std::io::Error::other(format!(
                    "gzip stream cut short or corrupt before the capture header ({})",
                    gzip_end.get().unwrap_or_default()
                )),
            },
            PcapError::Eof => CaptureError::Empty {
                path: named.clone(),
            },
            PcapError::ReadError => CaptureError::Read {
                path: named.clone(),
                source: std::io::Error::other(if compressed {
                    "corrupt gzip stream"
                } else {
                    "read failed"
                }),
            },
            PcapError::Incomplete(_) => CaptureError::NotCapture {
                path: named.clone(),
                detail: describe_start(path, compressed, true),
            },
            _ => CaptureError::NotCapture {
                path: named.clone(),
                detail: describe_start(path, compressed, false),
            },
        })?;
        let mut source = FileSource::new(index, path, Backend::Stream(reader), compressed);
        source.gzip_end = gzip_end;
        source.peek();
        source.check_linktypes()?;
        Ok(source)
    }

    /// A plain classic pcap file, mapped; `None` for anything else (stdin,
    /// gzip, pcapng, a file too short for a header), which is streamed.
    fn open_mapped(path: &Path, index: usize) -> Option<FileSource> {
        if path.as_os_str() == "-" {
            return None;
        }
        let file = File::open(path).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        // SAFETY: the map is only read; see `Mapped` for a file changed
        // while it is read.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        let (swapped, nanos) = pcap_magic(&map)?;
        if map.len() < 24 {
            return None;
        }
        // Read ahead: the file is read once, front to back.
        let _ = map.advise(memmap2::Advice::Sequential);
        let m = Mapped {
            map: Arc::new(map),
            pos: 24,
            swapped,
            record: None,
            released: 0,
            behind: 0,
        };
        let linktype = LinkType(m.u32_at(20));
        let snaplen = m.u32_at(16);
        let mut source = FileSource::new(index, path, Backend::Mapped(m), false);
        source.layout.legacy_linktype = linktype;
        source.layout.legacy_snaplen = snaplen;
        source.layout.legacy_nanos = nanos;
        source.summary.linktypes.insert(linktype.to_string());
        Some(source)
    }

    /// A source before its first record: a classic pcap of Ethernet until
    /// a header says otherwise.
    fn new(index: usize, path: &Path, backend: Backend, compressed: bool) -> FileSource {
        FileSource {
            index,
            path: path.to_owned(),
            backend,
            pending_consume: 0,
            layout: Layout {
                legacy_linktype: LinkType::ETHERNET,
                legacy_nanos: false,
                legacy_snaplen: 0,
                big_endian: false,
                interfaces: Vec::new(),
                oversized: (0, None),
            },
            peeked: None,
            last_ts_ns: 0,
            buffer_bytes: BUFFER_BYTES,
            gzip_end: GzipEnd::default(),
            done: false,
            secrets: Vec::new(),
            secrets_read: 0,
            summary: InputSummary {
                path: path.display().to_string(),
                format: InputFormat::Pcap,
                compressed,
                linktypes: BTreeSet::new(),
                packets: 0,
                warning: None,
                problem: None,
                notes: Vec::new(),
            },
        }
    }

    /// Refuses an input none of whose link types sessmap decodes.
    fn check_linktypes(&self) -> Result<(), CaptureError> {
        let path = &self.path;
        let source = self;
        if source.summary.format == InputFormat::Pcap
            && !source.layout.legacy_linktype.is_supported()
        {
            return Err(CaptureError::UnsupportedLinkType {
                path: shown(path),
                linktype: source.layout.legacy_linktype,
                at: "in the file header, byte 20".into(),
            });
        }
        if source.summary.format == InputFormat::Pcapng
            && !source.layout.interfaces.is_empty()
            && source
                .layout
                .interfaces
                .iter()
                .all(|i| !i.linktype.is_supported())
        {
            return Err(CaptureError::UnsupportedLinkType {
                path: shown(path),
                linktype: source.layout.interfaces[0].linktype,
                at: format!(
                    "in the interface description block at byte {}",
                    source.layout.interfaces[0].at
                ),
            });
        }
        Ok(())
    }

    /// Bytes of the (decompressed) input read so far.
    pub fn consumed(&self) -> u64 {
        match &self.backend {
            Backend::Stream(r) => r.consumed() as u64,
            Backend::Mapped(m) => m.pos as u64,
        }
    }

    /// The memory map of a mapped input, whose frames' bytes lie in it.
    /// `trailed`: other threads read it a little behind this one, so pages
    /// already read are given back to the kernel only when well behind.
    pub fn share_map(&mut self, trailed: bool) -> Option<Arc<memmap2::Mmap>> {
        match &mut self.backend {
            Backend::Mapped(m) => {
                if trailed {
                    m.behind = RELEASE_BEHIND;
                }
                Some(Arc::clone(&m.map))
            }
            Backend::Stream(_) => None,
        }
    }

    /// The input's path as given (`-`: standard input).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the report says of this input, so far (a copy, with its notes).
    pub fn summary(&self) -> InputSummary {
        let mut summary = self.summary.clone();
        if let (n, Some((at, caplen, snaplen))) = self.layout.oversized {
            summary.notes.push(format!(
                "{}: {n} record(s) capture more bytes than their snaplen, the first at byte {at} ({caplen} bytes, snaplen {snaplen}); they were read whole",
                shown(&self.path).display()
            ));
        }
        summary
    }

    /// Why the record at a streamed reader's position cannot be read
    /// whole, at the end of the input: its header's length against what is
    /// left.
    fn describe_cut(&mut self) -> String {
        let Layout {
            big_endian,
            legacy_snaplen,
            ..
        } = self.layout;
        let format = self.summary.format;
        let data = self.stream().data();
        let word = |at: usize| {
            let b: [u8; 4] = data[at..at + 4].try_into().unwrap_or_default();
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        match format {
            InputFormat::Pcap if data.len() >= 16 => {
                record_claim(word(8) as usize, legacy_snaplen as usize, data.len() - 16)
            }
            InputFormat::Pcapng if data.len() >= 8 => format!(
                "file cut short in the middle of a block ({} bytes long, {} left)",
                word(4),
                data.len()
            ),
            _ => "file cut short in the middle of a record".to_owned(),
        }
    }

    /// Why the next block of a pcapng (streamed) does not parse, from its
    /// header.
    fn describe_bad_block(&mut self) -> String {
        let big = self.layout.big_endian;
        let pcapng = self.summary.format == InputFormat::Pcapng;
        let data = self.stream().data();
        if !pcapng || data.len() < 8 {
            return "unparseable record".to_owned();
        }
        let word = |at: usize| {
            let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (kind, len) = (word(0), word(4));
        let block = format!("corrupt pcapng block of type {kind:#010x}");
        if len < 12 || len % 4 != 0 {
            format!("{block}: its length {len} is not a multiple of 4 of at least 12")
        } else if data.len() >= len as usize && word(len as usize - 4) != len {
            let end = word(len as usize - 4);
            format!("{block}: its length is {len} at its start and {end} at its end")
        } else {
            format!("{block} and length {len}: its body does not parse")
        }
    }

    /// Timestamp of the next packet, reading past non-packet records; `None`
    /// at the end of the input (clean or not: see `summary().warning`).
    pub fn peek(&mut self) -> Option<u64> {
        loop {
            if let Some(p) = self.peeked {
                return Some(p.ts_ns);
            }
            if self.done {
                return None;
            }
            let reader = match &mut self.backend {
                Backend::Stream(r) => r,
                Backend::Mapped(_) => {
                    self.peek_mapped();
                    continue;
                }
            };
            if self.pending_consume > 0 {
                reader.consume(self.pending_consume);
                self.pending_consume = 0;
            }
            let block_at = reader.consumed() as u64;
            let step = match reader.next() {
                Ok((offset, block)) => {
                    if let PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) = &block {
                        if dsb.secrets_type.0 == DSB_TLS_KEY_LOG
                            && self.secrets_read + dsb.data.len() as u64 <= MAX_EMBEDDED_SECRETS
                        {
                            let len = (dsb.secrets_len as usize).min(dsb.data.len());
                            self.secrets_read += len as u64;
                            self.secrets.extend_from_slice(&dsb.data[..len]);
                            // Lines end at the block's end.
                            if !self.secrets.ends_with(b"\n") {
                                self.secrets.push(b'\n');
                            }
                        }
                    }
                    let step = classify(
                        &block,
                        block_at,
                        &mut self.summary,
                        &mut self.layout,
                        self.last_ts_ns,
                    );
                    if !matches!(step, Step::Packet(_)) {
                        reader.consume(offset);
                    }
                    step
                }
                Err(PcapError::Eof) => Step::Eof,
                Err(PcapError::Incomplete(_)) => Step::NeedMore,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::BufferTooSmall) => Step::TooSmall,
                Err(PcapError::ReadError) => Step::ReadError,
                Err(_) => Step::Unparseable,
            };
            match step {
                Step::Packet(p) => self.peeked = Some(p),
                Step::Skip => {}
                Step::Eof => match self.gzip_end.get() {
                    Some(e) => self.stop(&format!("gzip stream cut short or corrupt ({e})")),
                    None => self.done = true,
                },
                Step::NeedMore => {
                    if self.stream().refill().is_err() {
                        self.stop("read error (I/O or corrupt gzip stream)");
                    }
                }
                Step::TooSmall => {
                    if self.buffer_bytes < MAX_RECORD_BYTES {
                        self.buffer_bytes *= 4;
                        let n = self.buffer_bytes;
                        self.stream().grow(n);
                        if self.stream().refill().is_err() {
                            self.stop("read error (I/O or corrupt gzip stream)");
                        }
                    } else {
                        self.stop("record length over 16 MiB (corrupt record header)");
                    }
                }
                Step::Truncated => match self.gzip_end.get() {
                    Some(e) => self.stop(&format!(
                        "gzip stream cut short or corrupt ({e}) in the middle of a record"
                    )),
                    None => {
                        let why = self.describe_cut();
                        self.stop(&why);
                    }
                },
                Step::Corrupt(why) => self.stop(why),
                Step::Unparseable => {
                    let why = self.describe_bad_block();
                    self.stop(&why);
                }
                Step::ReadError => self.stop("read error (I/O or corrupt gzip stream)"),
            }
        }
    }

    fn stream(&mut self) -> &mut Box<dyn PcapReaderIterator + Send> {
        match &mut self.backend {
            Backend::Stream(r) => r,
            Backend::Mapped(_) => unreachable!("only streamed inputs refill"),
        }
    }

    /// The next record of a mapped classic pcap: sets `peeked`, or ends
    /// the input (cleanly at its end, with a warning when a record is cut
    /// short or its length is corrupt).
    fn peek_mapped(&mut self) {
        let Backend::Mapped(m) = &mut self.backend else {
            return;
        };
        let len = m.map.len();
        // No frame borrows the map here (`take`'s frame lives until the
        // next call): pages wholly before this record are not read again
        // by this thread, and flow workers trail it by less than
        // RELEASE_BEHIND.
        let page_start = m.pos.saturating_sub(m.behind) & !4095;
        if page_start >= m.released + RELEASE_STEP {
            // SAFETY: the map is shared and read-only: released file-backed
            // pages come back from the page cache if they are read again.
            let _ = unsafe {
                m.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    m.released,
                    page_start - m.released,
                )
            };
            m.released = page_start;
            // Pages read again behind the reader (a retransmission compared
            // with the bytes it repeats, which the streams point at) are
            // given back too, now and then.
            if page_start % RERELEASE_STEP < RELEASE_STEP {
                // SAFETY: as above.
                let _ = unsafe {
                    m.map
                        .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, page_start)
                };
            }
        }
        if m.pos == len {
            // All read: what the report is built from is in memory now, and
            // bytes read again later (few) come back from the page cache.
            // SAFETY: as above.
            let _ = unsafe {
                m.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len)
            };
            self.done = true;
            return;
        }
        if len - m.pos < 16 {
            self.stop("file cut short in the middle of a record");
            return;
        }
        let ts_sec = u64::from(m.u32_at(m.pos));
        let frac = u64::from(m.u32_at(m.pos + 4));
        let caplen = m.u32_at(m.pos + 8) as usize;
        let orig_len = m.u32_at(m.pos + 12);
        let left = len - m.pos - 16;
        let snaplen = self.layout.legacy_snaplen as usize;
        if caplen > left || caplen > MAX_RECORD_BYTES {
            let why = record_claim(caplen, snaplen, left);
            self.stop(&why);
            return;
        }
        if snaplen > 0 && caplen > snaplen {
            let at = m.pos as u64;
            self.layout.oversized.0 += 1;
            self.layout
                .oversized
                .1
                .get_or_insert((at, caplen as u32, snaplen as u32));
        }
        let Backend::Mapped(m) = &mut self.backend else {
            return;
        };
        m.record = Some((m.pos + 16, caplen, orig_len));
        let frac = if self.layout.legacy_nanos {
            frac
        } else {
            frac * 1_000
        };
        self.peeked = Some(Peeked {
            ts_ns: (ts_sec * 1_000_000_000).saturating_add(frac),
            linktype: self.layout.legacy_linktype,
        });
    }

    /// Whether embedded secrets wait to be taken.
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// TLS key log text embedded in the blocks read so far (pcapng
    /// Decryption Secrets Blocks), once.
    pub fn take_secrets(&mut self) -> Option<Vec<u8>> {
        (!self.secrets.is_empty()).then(|| std::mem::take(&mut self.secrets))
    }

    /// The packet `peek` announced. Returns `None` if there is none.
    pub fn take(&mut self) -> Option<Frame<'_>> {
        let p = self.peeked.take()?;
        let reader = match &mut self.backend {
            Backend::Mapped(m) => {
                let (at, caplen, orig_len) = m.record.take()?;
                m.pos = at + caplen;
                self.summary.packets += 1;
                self.last_ts_ns = p.ts_ns;
                return Some(Frame {
                    ts_ns: p.ts_ns,
                    linktype: p.linktype,
                    data: &m.map[at..at + caplen],
                    orig_len,
                    input: self.index,
                });
            }
            Backend::Stream(r) => r,
        };
        let (offset, block) = reader.next().ok()?;
        self.pending_consume = offset;
        let (data, orig_len) = match block {
            PcapBlockOwned::Legacy(b) => (b.data, b.origlen),
            // Block data includes padding to 4 bytes: cut it to the
            // captured length.
            PcapBlockOwned::NG(Block::EnhancedPacket(b)) => {
                (b.data.get(..b.caplen as usize).unwrap_or(b.data), b.origlen)
            }
            // A simple packet's captured length is the smaller of its wire
            // length and the interface's snaplen; the rest is padding.
            PcapBlockOwned::NG(Block::SimplePacket(b)) => {
                let snaplen = self.layout.interfaces.first().map_or(0, |i| i.snaplen);
                let caplen = match snaplen {
                    0 => b.origlen,
                    s => b.origlen.min(s),
                };
                (b.data.get(..caplen as usize).unwrap_or(b.data), b.origlen)
            }
            _ => return None,
        };
        self.summary.packets += 1;
        self.last_ts_ns = p.ts_ns;
        Some(Frame {
            ts_ns: p.ts_ns,
            linktype: p.linktype,
            data,
            orig_len,
            input: self.index,
        })
    }

    fn stop(&mut self, why: &str) {
        let offset = self.consumed() as usize + self.pending_consume;
        self.summary.problem = Some(format!("{why} (at byte {offset})"));
        self.summary.warning = Some(format!(
            "{}: {} (at byte {}, after {}); the report covers what was read",
            shown(&self.path).display(),
            why,
            offset,
            match self.summary.packets {
                1 => "1 packet".to_owned(),
                n => format!("{n} packets"),
            }
        ));
        self.done = true;
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Why a classic pcap record claiming `caplen` captured bytes cannot be
/// read when `left` bytes follow its header.
fn record_claim(caplen: usize, snaplen: usize, left: usize) -> String {
    if caplen > MAX_RECORD_BYTES || (snaplen > 0 && caplen > snaplen) {
        let bound = if snaplen > 0 && snaplen < MAX_RECORD_BYTES {
            format!("the file's snaplen ({snaplen})")
        } else {
            "16 MiB".to_owned()
        };
        format!(
            "corrupt record header: it claims {caplen} captured bytes, more than {bound} and than the {left} bytes left"
        )
    } else {
        format!("file cut short in the middle of a record ({caplen} captured bytes, {left} left)")
    }
}

/// What the start of an input that is no capture holds, for the message
/// refusing it: `": <what is at byte 0>"`. Reads the file again (its first
/// bytes, decompressed for a gzip); standard input cannot be, and gets a
/// shorter message.
fn describe_start(path: &Path, compressed: bool, cut: bool) -> String {
    let what = if compressed { "gzip stream" } else { "file" };
    let mut head = [0u8; 64];
    let n = if path.as_os_str() == "-" {
        None
    } else {
        File::open(path).ok().and_then(|f| {
            let mut r: Box<dyn Read> = if compressed {
                Box::new(MultiGzDecoder::new(f))
            } else {
                Box::new(f)
            };
            read_full(&mut r, &mut head).ok()
        })
    };
    let Some(n) = n else {
        return if cut {
            format!(": the {what} ends inside its capture file header")
        } else {
            format!(": unrecognised header in the {what}")
        };
    };
    let head = &head[..n];
    let word = |at: usize, big: bool| {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let pcap = pcap_magic(head);
    let pcapng = head.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]);
    if cut || (n < 24 && (pcap.is_some() || pcapng)) {
        let header = if pcapng {
            "a pcapng section header block (at least 28 bytes)"
        } else {
            "a pcap file header (24 bytes)"
        };
        return format!(": the {what} ends at byte {n}, inside {header}");
    }
    if pcapng {
        let big = head.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d]);
        return format!(
            ": the pcapng section header block at byte 0 does not parse (length {}, byte-order magic {:08x})",
            word(4, big).unwrap_or(0),
            word(8, true).unwrap_or(0)
        );
    }
    if let Some((big, _)) = pcap {
        let half = |at: usize| {
            let b = [head[at], head[at + 1]];
            if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        return format!(
            ": the pcap file header at byte 0 does not parse (version {}.{})",
            half(4),
            half(6)
        );
    }
    let shown: String = head
        .iter()
        .take(8)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let looks = sniff(head);
    format!(
        ": byte 0 of the {what} starts {} (\"{shown}\"), which is no pcap or pcapng magic{}",
        hex.join(" "),
        looks
            .map(|l| format!("; it looks like {l}"))
            .unwrap_or_default()
    )
}

/// A guess at what kind of file starts with `head`.
fn sniff(head: &[u8]) -> Option<&'static str> {
    let text = head.trim_ascii_start();
    Some(match head {
        [0x1f, 0x8b, ..] => "gzip data",
        [b'P', b'K', 3, 4, ..] => "a zip archive",
        [b'B', b'Z', b'h', ..] => "bzip2 data",
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => "xz data",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd data",
        [0x7f, b'E', b'L', b'F', ..] => "an ELF executable",
        [b'%', b'P', b'D', b'F', ..] => "a PDF document",
        _ if text.starts_with(b"<") => "HTML or XML text",
        _ if text.starts_with(b"{") || text.starts_with(b"[") => "JSON text",
        _ if std::str::from_utf8(head).is_ok_and(|t| {
            t.chars()
                .all(|c| !c.is_control() || c.is_ascii_whitespace())
        }) =>
        {
            "text"
        }
        _ => return None,
    })
}

/// How messages name an input: standard input is not a file called `-`.
pub fn shown(path: &Path) -> PathBuf {
    if path.as_os_str() == "-" {
        PathBuf::from("standard input")
    } else {
        path.to_owned()
    }
}

/// Why a gzip stream ended early, shared between the reader that saw it
/// and the file that reports it.
#[derive(Debug, Clone, Default)]
struct GzipEnd(Arc<Mutex<Option<String>>>);

impl GzipEnd {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|e| e.clone())
    }

    fn set(&self, why: String) {
        if let Ok(mut e) = self.0.lock() {
            e.get_or_insert(why);
        }
    }
}

/// A gzip stream that breaks (cut short, corrupt) ends there instead of
/// failing the read: the bytes decoded before the break are a capture cut
/// short, reported as far as it goes (as `zcat | sessmap analyze -` would),
/// with the reason kept in `end`.
struct StopAtGzipError<R> {
    inner: R,
    end: GzipEnd,
}

impl<R: Read> Read for StopAtGzipError<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.end.get().is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => {
                self.end.set(e.to_string());
                Ok(0)
            }
            other => other,
        }
    }
}

/// A reader whose reads return a full buffer unless the input ends, so a
/// slow pipe cannot make a record look cut short.
struct FullReads<R>(R);

impl<R: Read> Read for FullReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_full(&mut self.0, buf)
    }
}

/// Interprets one record: updates the per-file state for headers and
/// interface descriptions, and returns the timestamp and link type of a
/// packet without touching its bytes.
fn classify(
    block: &PcapBlockOwned<'_>,
    at: u64,
    summary: &mut InputSummary,
    layout: &mut Layout,
    last_ts_ns: u64,
) -> Step {
    let Layout {
        legacy_linktype,
        legacy_nanos,
        legacy_snaplen,
        big_endian,
        interfaces,
        oversized,
    } = layout;
    let mut oversize = |caplen: u32, snaplen: u32| {
        if snaplen > 0 && caplen > snaplen {
            oversized.0 += 1;
            oversized.1.get_or_insert((at, caplen, snaplen));
        }
    };
    match block {
        PcapBlockOwned::LegacyHeader(h) => {
            *legacy_linktype = LinkType(h.network.0 as u32);
            *legacy_nanos = h.is_nanosecond_precision();
            *legacy_snaplen = h.snaplen;
            *big_endian = h.is_bigendian();
            summary.format = InputFormat::Pcap;
            summary.linktypes.insert(legacy_linktype.to_string());
            Step::Skip
        }
        PcapBlockOwned::Legacy(b) => {
            oversize(b.caplen, *legacy_snaplen);
            let frac = if *legacy_nanos {
                b.ts_usec as u64
            } else {
                b.ts_usec as u64 * 1_000
            };
            Step::Packet(Peeked {
                ts_ns: (b.ts_sec as u64 * 1_000_000_000).saturating_add(frac),
                linktype: *legacy_linktype,
            })
        }
        PcapBlockOwned::NG(block) => match block {
            Block::SectionHeader(shb) => {
                // Interface ids are per section.
                *big_endian = shb.big_endian();
                summary.format = InputFormat::Pcapng;
                interfaces.clear();
                Step::Skip
            }
            Block::InterfaceDescription(idb) => {
                let linktype = LinkType(idb.linktype.0 as u32);
                summary.linktypes.insert(linktype.to_string());
                interfaces.push(Interface {
                    linktype,
                    at,
                    snaplen: idb.snaplen,
                    // An invalid if_tsresol falls back to the default (µs).
                    units_per_sec: units_per_sec(idb.if_tsresol).unwrap_or(1_000_000),
                    offset_secs: idb.ts_offset(),
                });
                Step::Skip
            }
            Block::EnhancedPacket(epb) => match interfaces.get(epb.if_id as usize) {
                Some(iface) => {
                    oversize(epb.caplen, iface.snaplen);
                    let units = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                    Step::Packet(Peeked {
                        ts_ns: units_to_ns(units, iface),
                        linktype: iface.linktype,
                    })
                }
                None => Step::Corrupt("packet for an undeclared interface"),
            },
            Block::SimplePacket(_) => match interfaces.first() {
                // Simple packets carry no timestamp: keep the previous one.
                Some(iface) => Step::Packet(Peeked {
                    ts_ns: last_ts_ns,
                    linktype: iface.linktype,
                }),
                None => Step::Corrupt("packet for an undeclared interface"),
            },
            _ => Step::Skip,
        },
    }
}

/// Timestamp units per second from a pcapng `if_tsresol`: 10^-n seconds,
/// or 2^-n with the high bit set. (pcap-parser 0.17's own helper rejects
/// every binary resolution.) `None` when the unit does not fit in a u64.
fn units_per_sec(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(n).filter(|_| n < 64)
    } else {
        10u64.checked_pow(n)
    }
}

fn units_to_ns(units: u64, iface: &Interface) -> u64 {
    let per = iface.units_per_sec as u128;
    let ns = (units as u128 / per) * 1_000_000_000 + (units as u128 % per) * 1_000_000_000 / per;
    let ns = ns as i128 + iface.offset_secs as i128 * 1_000_000_000;
    ns.clamp(0, u64::MAX as i128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame's timestamp, bytes and original length.
    type Read = (u64, Vec<u8>, u32);

    /// Frames and the warning of an input, read to its end, and whether it
    /// was mapped.
    fn read_all(path: &Path) -> (Vec<Read>, Option<String>, bool) {
        let mut s = FileSource::open(path, 0).unwrap();
        let mapped = matches!(s.backend, Backend::Mapped(_));
        let mut frames = Vec::new();
        while s.peek().is_some() {
            let f = s.take().unwrap();
            frames.push((f.ts_ns, f.data.to_vec(), f.orig_len));
        }
        (frames, s.summary().warning.clone(), mapped)
    }

    #[test]
    fn mapped_pcap_reads_as_the_stream_does_even_when_broken() {
        use std::io::Write;
        let record = |ts: u32, frac: u32, data: &[u8], orig: u32, be: bool| {
            let mut r = Vec::new();
            for v in [ts, frac, data.len() as u32, orig] {
                r.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
            }
            r.extend(data);
            r
        };
        let dir = tempfile::tempdir().unwrap();
        for (be, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
            let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
            let mut head = Vec::new();
            for v in [magic, 0x0004_0002, 0, 0, 65535, 1] {
                head.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
            }
            // v2.4 is two u16s: rebuild it in the file's order.
            head[4..8].copy_from_slice(&if be { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
            let good = [
                record(1_700_000_000, 5, b"first frame", 60, be),
                record(1_700_000_001, 999_999, &[7; 100], 1514, be),
            ]
            .concat();
            let cases: Vec<Vec<u8>> = vec![
                good.clone(),
                // A record header cut short.
                [&good[..], &record(1, 2, b"x", 1, be)[..9]].concat(),
                // Data cut short.
                [&good[..], &record(1, 2, &[1; 50], 50, be)[..40]].concat(),
                // A corrupt length.
                [
                    &good[..],
                    &record(1, 2, b"", 0, be)[..8],
                    &if be {
                        (64u32 << 20).to_be_bytes()
                    } else {
                        (64u32 << 20).to_le_bytes()
                    }[..],
                    &[0; 8][..],
                ]
                .concat(),
            ];
            for (i, body) in cases.iter().enumerate() {
                let bytes = [&head[..], &body[..]].concat();
                let plain = dir.path().join(format!("c{i}.pcap"));
                std::fs::write(&plain, &bytes).unwrap();
                let gz = dir.path().join(format!("c{i}.pcap.gz"));
                let mut e = flate2::write::GzEncoder::new(
                    std::fs::File::create(&gz).unwrap(),
                    flate2::Compression::fast(),
                );
                e.write_all(&bytes).unwrap();
                e.finish().unwrap();
                let (frames, warning, mapped) = read_all(&plain);
                let (sframes, swarning, smapped) = read_all(&gz);
                assert!(mapped && !smapped);
                assert_eq!(frames, sframes, "case {i} be {be} nanos {nanos}");
                assert_eq!(frames.len(), 2, "case {i}");
                let strip = |w: Option<String>| w.map(|w| w.split_once(": ").unwrap().1.to_owned());
                if i == 3 {
                    // Both read the corrupt length from the record header.
                    assert!(warning
                        .as_deref()
                        .unwrap()
                        .contains("corrupt record header: it claims 67108864 captured bytes"));
                }
                assert_eq!(strip(warning.clone()), strip(swarning), "case {i}");
                assert_eq!(warning.is_some(), i > 0, "case {i}");
                let frac = if nanos { 5 } else { 5_000 };
                assert_eq!(frames[0].0, 1_700_000_000 * 1_000_000_000 + frac);
            }
        }
    }

    #[test]
    fn tsresol_decimal_and_binary() {
        assert_eq!(units_per_sec(6), Some(1_000_000));
        assert_eq!(units_per_sec(9), Some(1_000_000_000));
        assert_eq!(units_per_sec(0), Some(1));
        assert_eq!(units_per_sec(0x80 | 10), Some(1024));
        assert_eq!(units_per_sec(0x80 | 30), Some(1 << 30));
        assert_eq!(units_per_sec(0x80 | 64), None);
        assert_eq!(units_per_sec(20), None);
    }

    #[test]
    fn pcapng_resolutions_convert_to_nanoseconds() {
        let micro = Interface {
            linktype: LinkType::ETHERNET,
            at: 0,
            snaplen: 0,
            units_per_sec: 1_000_000,
            offset_secs: 0,
        };
        assert_eq!(units_to_ns(1_500_000, &micro), 1_500_000_000);
        let nano = Interface {
            units_per_sec: 1_000_000_000,
            ..micro
        };
        assert_eq!(
            units_to_ns(1_700_000_000_123_456_789, &nano),
            1_700_000_000_123_456_789
        );
        let binary = Interface {
            units_per_sec: 1 << 10,
            offset_secs: 10,
            ..micro
        };
        assert_eq!(units_to_ns(512, &binary), 10_500_000_000);
        let max = Interface {
            units_per_sec: 1,
            offset_secs: i64::MAX,
            ..micro
        };
        assert_eq!(units_to_ns(u64::MAX, &max), u64::MAX);
    }
}
