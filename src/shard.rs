//! Connections sharded over worker threads (`--threads N`).
//!
//! The reading thread decodes frames (IP fragments are reassembled there,
//! since fragments carry no ports), keeps the one clock that expires
//! connections, and deals each TCP segment to a worker by a symmetric hash
//! of its endpoints and VLAN tags. Each worker owns a flow table and the
//! parsers of its connections. What they find comes back as facts keyed by
//! where one table would have found them: the segment's place in the
//! capture, then (for the connections a sweep or the end closes) the
//! connection's id, which is the place of the segment that opened it. The
//! reading thread merges the workers' facts in that order and replays them
//! into the one [`Correlator`], numbering connections in order of opening as
//! one table does: the report is the one-thread report, byte for byte.
//!
//! Work travels in batches of segments, every worker getting its share of
//! each batch (maybe none) and answering it with its facts; batches and
//! fact lists go back and forth and are reused, so the steady state
//! allocates nothing per segment. A few batches are in flight at once: the
//! memory is bounded, and the reader runs ahead of the workers.
//!
//! Not exact: the connection table's bound and the out-of-order memory
//! budget are per worker (each gets its share), so when one of them trips
//! (the report's `limits` say so), which connections pay may differ from
//! one thread's choice.

use crate::capture::{Maps, Place};
use crate::correlate::{CorrelateConfig, Correlator, TxFacts};
use crate::decode::{Endpoint, TcpSegment};
use crate::flow::{At, Clock, ConnRecord, ConsumerFactory, FlowLimits, FlowStats, FlowTable};
use crate::proto::ftp::{FtpEvent, FtpSink};
use crate::proto::http::{HttpSink, Transaction};
use crate::proto::ConnParser;
use crossbeam_channel::{bounded, Receiver, Sender};
use memmap2::Mmap;
use rustc_hash::FxHashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Segments per batch (over all workers). With the batches in flight, this
/// bounds how far the workers trail the reader in a mapped input (less than
/// the reader's `RELEASE_BEHIND`).
const BATCH_SEGMENTS: usize = 1024;
/// Payload bytes a batch may hold (copied, or in place in a mapped input)
/// before it is sent.
const BATCH_BYTES: usize = 512 << 10;
/// Batches sent and not yet merged.
const IN_FLIGHT: usize = 4;

/// Facts of a sweep (or of the end of input) come before the segment's own.
const SWEEP: u8 = 0;
const SEGMENT: u8 = 1;

/// Where one table would have produced a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// The segment (1-based, in capture order; `u64::MAX`: the end).
    segment: u64,
    phase: u8,
    /// In a sweep: the connection being closed (closes go in id order).
    conn: u64,
}

/// What a worker's table and parsers tell the correlation.
enum Fact {
    Open {
        id: u64,
        client: Endpoint,
        server: Endpoint,
    },
    Transaction(At, Box<TxFacts>),
    Ftp(At, FtpEvent),
    Close(Box<(ConnRecord, ConnParser)>),
    OpenNow(i64),
}

struct Keyed {
    key: Key,
    fact: Fact,
}

/// A segment without its payload, which is in its batch's `bytes`.
struct Item {
    segment: u64,
    what: What,
}

enum What {
    Sweep {
        now_ns: u64,
    },
    Segment {
        /// The segment with an empty payload.
        head: TcpSegment<'static>,
        /// Where the payload is: in an input map, or at `start` in the
        /// batch's bytes.
        place: Option<Place>,
        start: usize,
        len: usize,
    },
}

/// One worker's share of a batch going out; its facts coming back.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    bytes: Vec<u8>,
    /// Input maps the worker has not been given yet, in index order.
    maps: Vec<Arc<Mmap>>,
    facts: Vec<Keyed>,
}

/// A worker's factory: it builds the parsers and records what one
/// correlator would have been told, with its key.
struct Recorder {
    config: CorrelateConfig,
    segment: u64,
    phase: u8,
    facts: Vec<Keyed>,
}

impl Recorder {
    fn push(&mut self, conn: u64, fact: Fact) {
        let key = Key {
            segment: self.segment,
            phase: self.phase,
            conn: if self.phase == SWEEP { conn } else { 0 },
        };
        self.facts.push(Keyed { key, fact });
    }
}

impl ConsumerFactory for Recorder {
    type Consumer = ConnParser;

    fn open(
        &mut self,
        id: u64,
        client: &Endpoint,
        server: &Endpoint,
        handshake: bool,
    ) -> ConnParser {
        self.push(
            id,
            Fact::Open {
                id,
                client: *client,
                server: *server,
            },
        );
        self.config.parser(handshake)
    }

    fn close(&mut self, record: ConnRecord, parser: ConnParser) {
        self.push(record.id, Fact::Close(Box::new((record, parser))));
    }

    fn open_now_changed(&mut self, conn: u64, delta: i64) {
        self.push(conn, Fact::OpenNow(delta));
    }
}

impl HttpSink for Recorder {
    fn transaction(&mut self, at: At, tx: Transaction) {
        let facts = self.config.sessions.screen(tx);
        self.push(at.conn, Fact::Transaction(at, Box::new(facts)));
    }
}

impl FtpSink for Recorder {
    fn ftp(&mut self, at: At, event: FtpEvent) {
        self.push(at.conn, Fact::Ftp(at, event));
    }
}

/// A worker: its table, fed batch by batch, each batch sent back with the
/// facts it produced. When the batches stop, it ends its connections and
/// sends their facts in one last batch.
fn work(
    batches: Receiver<Batch>,
    done: Sender<Batch>,
    limits: FlowLimits,
    config: CorrelateConfig,
) -> FlowStats {
    let recorder = Recorder {
        config,
        segment: 0,
        phase: SEGMENT,
        facts: Vec::new(),
    };
    let mut table = FlowTable::new(limits, recorder);
    let mut maps = Maps::default();
    for mut batch in batches {
        if !batch.maps.is_empty() {
            maps.add(batch.maps.iter().cloned());
            table.share_maps(batch.maps.drain(..));
        }
        // The facts of an earlier batch, read by the correlation: they were
        // allocated here and are freed here.
        batch.facts.clear();
        std::mem::swap(&mut table.factory_mut().facts, &mut batch.facts);
        for item in &batch.items {
            let r = table.factory_mut();
            r.segment = item.segment;
            match item.what {
                What::Sweep { now_ns } => {
                    r.phase = SWEEP;
                    table.sweep(now_ns);
                }
                What::Segment {
                    head,
                    place,
                    start,
                    len,
                } => {
                    r.phase = SEGMENT;
                    table.set_next_id(item.segment);
                    let payload = match place {
                        None => &batch.bytes[start..start + len],
                        Some(place) => maps
                            .get(place, len)
                            .expect("a place found in the reader's maps"),
                    };
                    table.segment_unclocked(&TcpSegment { payload, ..head });
                }
            }
        }
        std::mem::swap(&mut table.factory_mut().facts, &mut batch.facts);
        batch.items.clear();
        batch.bytes.clear();
        if done.send(batch).is_err() {
            break;
        }
    }
    let r = table.factory_mut();
    r.segment = u64::MAX;
    r.phase = SWEEP;
    let (recorder, stats) = table.finish();
    let _ = done.send(Batch {
        facts: recorder.facts,
        ..Batch::default()
    });
    stats
}

struct Worker {
    batches: Option<Sender<Batch>>,
    done: Receiver<Batch>,
    thread: Option<JoinHandle<FlowStats>>,
    /// Batches back from this worker, emptied, for reuse.
    spare: Vec<Batch>,
}

/// What the merged facts are told to: the [`Correlator`] (a test's log
/// too).
/// It reads facts in place: they go back to the worker that made them
/// and are dropped there (freeing memory another thread allocated is dear
/// in glibc's malloc).
pub(crate) trait Correlation: FtpSink {
    fn opened(&mut self, id: u64, client: &Endpoint, server: &Endpoint);
    fn transaction(&mut self, at: At, tx: &TxFacts);
    fn closed(&mut self, record: &ConnRecord, parser: &ConnParser);
}

impl Correlation for Correlator {
    fn opened(&mut self, id: u64, client: &Endpoint, server: &Endpoint) {
        Correlator::opened(self, id, client, server);
    }
    fn transaction(&mut self, at: At, tx: &TxFacts) {
        self.transaction_at(at, tx);
    }
    fn closed(&mut self, record: &ConnRecord, parser: &ConnParser) {
        Correlator::closed(self, record, parser);
    }
}

/// The correlation side: the facts, merged, told to the one correlator.
struct Replay<C> {
    correlator: C,
    /// Worker ids (the opening segment) to report ids (order of opening).
    ids: FxHashMap<u64, u64>,
    opened: u64,
    open_now: i64,
    peak_open: u64,
    /// Per worker, the next fact to merge.
    next: Vec<usize>,
}

impl<C: Correlation> Replay<C> {
    fn id(&self, worker_id: u64) -> u64 {
        self.ids.get(&worker_id).copied().unwrap_or(0)
    }

    fn fact(&mut self, fact: &mut Fact) {
        match fact {
            Fact::Open { id, client, server } => {
                self.opened += 1;
                self.ids.insert(*id, self.opened);
                self.correlator.opened(self.opened, client, server);
            }
            Fact::Transaction(at, tx) => {
                let at = At {
                    conn: self.id(at.conn),
                    ..*at
                };
                self.correlator.transaction(at, tx);
            }
            Fact::Ftp(at, event) => {
                let at = At {
                    conn: self.id(at.conn),
                    ..*at
                };
                let event = std::mem::replace(event, FtpEvent::Clear);
                self.correlator.ftp(at, event);
            }
            Fact::Close(closed) => {
                let (record, parser) = &mut **closed;
                record.id = self.ids.remove(&record.id).unwrap_or(0);
                self.correlator.closed(record, parser);
            }
            Fact::OpenNow(delta) => {
                self.open_now += *delta;
                if *delta > 0 {
                    self.peak_open = self.peak_open.max(self.open_now as u64);
                }
            }
        }
    }

    /// Replays the workers' facts for one batch, merged by key. Each list is
    /// in key order already, and two workers never share a key. The facts
    /// stay in their lists, to be dropped by their workers.
    fn merge(&mut self, lists: &mut [Batch]) {
        let mut next = std::mem::take(&mut self.next);
        next.clear();
        next.resize(lists.len(), 0);
        loop {
            let mut best: Option<(usize, Key)> = None;
            for (w, list) in lists.iter().enumerate() {
                if let Some(k) = list.facts.get(next[w]).map(|f| f.key) {
                    if best.is_none_or(|(_, b)| k < b) {
                        best = Some((w, k));
                    }
                }
            }
            let Some((w, key)) = best else { break };
            // The run of facts with this key (one connection's close, or
            // one segment's facts) comes from one worker.
            let facts = &mut lists[w].facts;
            while let Some(f) = facts.get_mut(next[w]).filter(|f| f.key == key) {
                self.fact(&mut f.fact);
                next[w] += 1;
            }
        }
        self.next = next;
    }
}

/// The workers and the correlation of what they find.
pub(crate) struct Sharded<C = Correlator> {
    workers: Vec<Worker>,
    clock: Clock,
    /// Segments dealt so far.
    segments: u64,
    /// Each worker's share of the batch being filled.
    filling: Vec<Batch>,
    filled: usize,
    /// Payload bytes in the batch being filled (copied or in place).
    payload: usize,
    /// Input maps whose frames' payloads the workers read in place.
    maps: Maps,
    batch_segments: usize,
    in_flight: usize,
    /// The answers to one batch, being merged (kept for its allocation).
    answers: Vec<Batch>,
    replay: Replay<C>,
}

impl<C: Correlation> Sharded<C> {
    /// `threads` workers (at least 2), each with its share of the limits.
    /// `batch_segments`: 0 for the default (a test makes batches tiny).
    pub(crate) fn new(
        threads: usize,
        batch_segments: usize,
        limits: FlowLimits,
        correlator: C,
        config: CorrelateConfig,
    ) -> Sharded<C> {
        let n = threads.max(2);
        let share = FlowLimits {
            max_connections: (limits.max_connections / n).max(1),
            max_total_pending_bytes: limits.max_total_pending_bytes / n,
            ..limits
        };
        let workers = (0..n)
            .map(|i| {
                let (batches, inbox) = bounded(IN_FLIGHT + 1);
                let (outbox, done) = bounded(IN_FLIGHT + 1);
                let config = config.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("sessmap-flow-{i}"))
                    .spawn(move || work(inbox, outbox, share, config))
                    .expect("cannot start a worker thread");
                Worker {
                    batches: Some(batches),
                    done,
                    thread: Some(thread),
                    spare: Vec::new(),
                }
            })
            .collect();
        Sharded {
            workers,
            clock: Clock::default(),
            segments: 0,
            filling: (0..n).map(|_| Batch::default()).collect(),
            filled: 0,
            payload: 0,
            maps: Maps::default(),
            batch_segments: if batch_segments == 0 {
                BATCH_SEGMENTS
            } else {
                batch_segments
            },
            in_flight: 0,
            answers: Vec::with_capacity(n),
            replay: Replay {
                correlator,
                ids: FxHashMap::default(),
                opened: 0,
                open_now: 0,
                peak_open: 0,
                next: vec![0; n],
            },
        }
    }

    /// Payloads that lie in these maps are read in place by the workers
    /// (the maps stay alive as long as a worker holds them).
    pub(crate) fn share(&mut self, maps: Vec<Arc<Mmap>>) {
        for b in &mut self.filling {
            b.maps.extend(maps.iter().cloned());
        }
        self.maps.add(maps);
    }

    pub(crate) fn segment(&mut self, seg: &TcpSegment<'_>) {
        self.segments += 1;
        let segment = self.segments;
        if let Some(now_ns) = self.clock.tick(seg.ts_ns) {
            for b in &mut self.filling {
                b.items.push(Item {
                    segment,
                    what: What::Sweep { now_ns },
                });
            }
        }
        let w = shard(seg, self.workers.len());
        let place = self.maps.locate(seg.payload);
        let mut start = 0;
        if place.is_none() {
            let b = &mut self.filling[w].bytes;
            start = b.len();
            b.extend_from_slice(seg.payload);
        }
        self.payload += seg.payload.len();
        self.filling[w].items.push(Item {
            segment,
            what: What::Segment {
                head: TcpSegment {
                    payload: &[],
                    ..*seg
                },
                place,
                start,
                len: seg.payload.len(),
            },
        });
        self.filled += 1;
        if self.filled >= self.batch_segments || self.payload >= BATCH_BYTES {
            self.send();
        }
    }

    /// Sends the batch being filled, merging the oldest batches while too
    /// many are in flight.
    fn send(&mut self) {
        for w in 0..self.workers.len() {
            let next = self.workers[w].spare.pop().unwrap_or_default();
            let batch = std::mem::replace(&mut self.filling[w], next);
            let sent = self.workers[w]
                .batches
                .as_ref()
                .is_some_and(|tx| tx.send(batch).is_ok());
            if !sent {
                self.died(w);
            }
        }
        self.filled = 0;
        self.payload = 0;
        self.in_flight += 1;
        while self.in_flight > IN_FLIGHT {
            self.collect();
        }
    }

    /// Merges the oldest batch in flight: one answer from every worker.
    fn collect(&mut self) {
        let mut answers = std::mem::take(&mut self.answers);
        for w in 0..self.workers.len() {
            match self.workers[w].done.recv() {
                Ok(batch) => answers.push(batch),
                Err(_) => self.died(w),
            }
        }
        self.replay.merge(&mut answers);
        for (worker, batch) in self.workers.iter_mut().zip(answers.drain(..)) {
            worker.spare.push(batch);
        }
        self.answers = answers;
        self.in_flight -= 1;
    }

    /// A worker is gone: only a panic does that. Raise it here.
    fn died(&mut self, w: usize) -> ! {
        self.workers[w].batches = None;
        match self.workers[w].thread.take().map(JoinHandle::join) {
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            _ => panic!("flow worker {w} stopped"),
        }
    }

    /// Everything dealt so far is merged (before key material arrives in
    /// the middle of a capture, or a live view shows counts).
    pub(crate) fn sync(&mut self) {
        if self.filling.iter().any(|b| !b.items.is_empty()) {
            self.send();
        }
        while self.in_flight > 0 {
            self.collect();
        }
    }

    pub(crate) fn correlator(&self) -> &C {
        &self.replay.correlator
    }

    pub(crate) fn connections_opened(&self) -> u64 {
        self.replay.opened
    }

    /// End of input: every worker ends its connections; their facts are
    /// merged last.
    pub(crate) fn finish(mut self) -> (C, FlowStats) {
        self.sync();
        for w in &mut self.workers {
            w.batches = None;
        }
        let mut last = Vec::with_capacity(self.workers.len());
        for w in 0..self.workers.len() {
            match self.workers[w].done.recv() {
                Ok(batch) => last.push(batch),
                Err(_) => self.died(w),
            }
        }
        self.replay.merge(&mut last);
        drop(last);
        let mut stats = FlowStats::default();
        for w in 0..self.workers.len() {
            match self.workers[w].thread.take().map(JoinHandle::join) {
                Some(Ok(s)) => {
                    stats.connections += s.connections;
                    stats.idle_timeouts += s.idle_timeouts;
                    stats.table_full_evictions += s.table_full_evictions;
                    stats.memory_flushes += s.memory_flushes;
                }
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => {}
            }
        }
        stats.peak_open = self.replay.peak_open;
        // The workers' memory (their tables, parsers and facts, all freed
        // now) is in their own malloc arenas, where the report about to be
        // built could not reuse it: give it back to the kernel.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free memory to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
        (self.replay.correlator, stats)
    }
}

/// The worker of a segment's connection: a hash of its endpoints taken in
/// a fixed order, so that both directions land on one worker.
fn shard(seg: &TcpSegment<'_>, workers: usize) -> usize {
    let (lo, hi) = if seg.src <= seg.dst {
        (seg.src, seg.dst)
    } else {
        (seg.dst, seg.src)
    };
    let mut h = rustc_hash::FxHasher::default();
    (lo, hi, seg.vlan).hash(&mut h);
    // The high bits of an Fx hash are the well-mixed ones.
    ((h.finish() >> 32) as usize) % workers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags as F;
    use crate::test_util::xorshift;

    /// Everything a correlator is told, in order, as text.
    #[derive(Default)]
    struct Log {
        config: CorrelateConfig,
        lines: Vec<String>,
    }

    impl Correlation for Log {
        fn opened(&mut self, id: u64, client: &Endpoint, server: &Endpoint) {
            self.lines.push(format!("open {id} {client} {server}"));
        }
        fn transaction(&mut self, at: At, tx: &TxFacts) {
            self.lines.push(format!("tx {at:?} {tx:?}"));
        }
        fn closed(&mut self, r: &ConnRecord, _: &ConnParser) {
            self.lines.push(format!(
                "close {} {} {} {} {:?} {:?}",
                r.id, r.state, r.history, r.end_ns, r.packets, r.counters
            ));
        }
    }

    impl HttpSink for Log {
        fn transaction(&mut self, at: At, tx: Transaction) {
            let facts = self.config.sessions.screen(tx);
            Correlation::transaction(self, at, &facts);
        }
    }

    impl FtpSink for Log {
        fn ftp(&mut self, at: At, event: FtpEvent) {
            self.lines.push(format!("ftp {at:?} {event:?}"));
        }
    }

    /// One table's log: the reference.
    impl ConsumerFactory for Log {
        type Consumer = ConnParser;
        fn open(&mut self, id: u64, c: &Endpoint, s: &Endpoint, handshake: bool) -> ConnParser {
            self.opened(id, c, s);
            self.config.parser(handshake)
        }
        fn close(&mut self, record: ConnRecord, parser: ConnParser) {
            self.closed(&record, &parser);
        }
    }

    struct Seg {
        ts_ns: u64,
        src: Endpoint,
        dst: Endpoint,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: Vec<u8>,
    }

    /// Connections that open, talk HTTP and FTP, and end every way (FIN,
    /// RST, idle, the end of input, port reuse), many at once, so that
    /// sweeps close connections of several workers together.
    fn traffic(seed: u64) -> Vec<Seg> {
        let generator = std::cell::RefCell::new(xorshift(seed));
        let rnd = || (generator.borrow_mut())();
        let mut segs = Vec::new();
        for i in 0..300u32 {
            let client = Endpoint {
                ip: [10, 0, (i % 7) as u8, 1].into(),
                // Ports repeat: some connections reuse an earlier 4-tuple.
                port: 40_000 + (i % 250) as u16,
            };
            let ftp = i % 5 == 0;
            let server = Endpoint {
                ip: [10, 0, 9, 2].into(),
                port: if ftp { 21 } else { 80 },
            };
            let mut t = u64::from(i) * 150_000_000 + rnd() % 100_000_000;
            let (mut c, mut s) = (rnd() as u32, rnd() as u32);
            let push = |segs: &mut Vec<Seg>,
                        t: &mut u64,
                        up: bool,
                        c: u32,
                        s: u32,
                        flags: u8,
                        p: &[u8]| {
                *t += 1_000_000 + rnd() % 50_000_000;
                let (src, dst, seq, ack) = if up {
                    (client, server, c, s)
                } else {
                    (server, client, s, c)
                };
                segs.push(Seg {
                    ts_ns: *t,
                    src,
                    dst,
                    seq,
                    ack,
                    flags,
                    payload: p.to_vec(),
                });
            };
            let handshake = i % 11 != 3;
            if handshake {
                push(&mut segs, &mut t, true, c, 0, F::SYN, b"");
                c = c.wrapping_add(1);
                push(&mut segs, &mut t, false, c, s, F::SYN | F::ACK, b"");
                s = s.wrapping_add(1);
                push(&mut segs, &mut t, true, c, s, F::ACK, b"");
            }
            let exchanges: Vec<(Vec<u8>, Vec<u8>)> = if ftp {
                vec![
                    (b"USER u\r\n".to_vec(), b"331 ok\r\n".to_vec()),
                    (
                        b"PASV\r\n".to_vec(),
                        format!(
                            "227 Entering Passive Mode (10,0,9,2,{},{})\r\n",
                            100 + i % 50,
                            i % 200
                        )
                        .into_bytes(),
                    ),
                ]
            } else {
                (0..1 + rnd() % 3)
                    .map(|k| {
                        let req = format!("GET /{i}/{k} HTTP/1.1\r\nHost: h{}\r\nCookie: sid={:016x}\r\n\r\n", i % 3, i / 4);
                        let body = format!("{i}");
                        let resp = format!("HTTP/1.1 200 OK\r\nSet-Cookie: sid={:016x}\r\nContent-Length: {}\r\n\r\n{body}", i / 4, body.len());
                        (req.into_bytes(), resp.into_bytes())
                    })
                    .collect()
            };
            for (req, resp) in &exchanges {
                push(&mut segs, &mut t, true, c, s, F::ACK, req);
                c = c.wrapping_add(req.len() as u32);
                // Some answers are lost: the request waits until the end.
                if rnd() % 6 != 0 {
                    push(&mut segs, &mut t, false, c, s, F::ACK, resp);
                    s = s.wrapping_add(resp.len() as u32);
                }
            }
            match rnd() % 4 {
                0 => {
                    push(&mut segs, &mut t, true, c, s, F::FIN | F::ACK, b"");
                    push(
                        &mut segs,
                        &mut t,
                        false,
                        c.wrapping_add(1),
                        s,
                        F::FIN | F::ACK,
                        b"",
                    );
                }
                1 => push(&mut segs, &mut t, false, c, s, F::RST, b""),
                _ => {} // idle, or open at the end
            }
        }
        segs.sort_by_key(|s| s.ts_ns);
        segs
    }

    fn tcp(s: &Seg) -> TcpSegment<'_> {
        TcpSegment {
            ts_ns: s.ts_ns,
            src: s.src,
            dst: s.dst,
            vlan: 0,
            seq: s.seq,
            ack: s.ack,
            flags: F(s.flags),
            payload: &s.payload,
            payload_missing: 0,
        }
    }

    /// The merged facts reach the correlator in exactly the order one
    /// table gives them, for any worker count and batch size.
    #[test]
    fn merged_facts_come_in_one_tables_order() {
        let limits = FlowLimits {
            // Sweeps that end many connections at once.
            idle_timeout_ns: 3_000_000_000,
            ..FlowLimits::default()
        };
        for seed in 1..4 {
            let segs = traffic(seed);
            let mut one = FlowTable::new(limits, Log::default());
            for s in &segs {
                one.segment(&tcp(s));
            }
            let (reference, one_stats) = one.finish();
            assert!(reference.lines.len() > 1000, "{}", reference.lines.len());
            assert!(one_stats.idle_timeouts > 10, "{one_stats:?}");
            for (threads, batch) in [(2, 0), (3, 1), (4, 7), (5, 64)] {
                let mut many = Sharded::new(
                    threads,
                    batch,
                    limits,
                    Log::default(),
                    CorrelateConfig::default(),
                );
                for s in &segs {
                    many.segment(&tcp(s));
                }
                let (log, stats) = many.finish();
                let first_difference = reference
                    .lines
                    .iter()
                    .zip(&log.lines)
                    .position(|(a, b)| a != b);
                assert_eq!(
                    (first_difference, log.lines.len()),
                    (None, reference.lines.len()),
                    "seed {seed}, {threads} threads, batches of {batch}: {:?}",
                    first_difference.map(|i| (&reference.lines[i], &log.lines[i]))
                );
                assert_eq!(format!("{stats:?}"), format!("{one_stats:?}"));
            }
        }
    }
}
