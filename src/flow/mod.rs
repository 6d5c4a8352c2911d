//! Flow: TCP segments in, connections and per-direction byte streams out.
//!
//! The table keys connections by their two endpoints and VLAN tags. Each
//! connection owns a consumer (built by a [`ConsumerFactory`]) that receives
//! each direction's in-order bytes, gap notices and end of stream; when the
//! connection is over (closed and lingered, idle, evicted, end of capture)
//! the factory gets its summary back with the consumer.
//!
//! Memory follows concurrency, not capture length: connections leave the
//! table when closed or idle on capture time, and the table itself is
//! bounded by `max_connections`.

mod conn;
mod reassembly;
pub mod seq;

pub use conn::{ConnRecord, Connection, EndpointState, RoleSource};
pub use reassembly::{Origin, ReassemblyLimits, StreamCounters};

use crate::capture::Maps;
use crate::decode::{Endpoint, TcpSegment};
use conn::server_by_port;
use rustc_hash::FxHashMap;
use seq::SeqNum;
use serde::Serialize;

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToServer = 0,
    ToClient = 1,
}

impl Direction {
    pub fn other(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// Where and when bytes are delivered: the connection and the capture time
/// of the packet that completed them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct At {
    pub conn: u64,
    pub ts_ns: u64,
}

/// Receives one connection's reassembled streams. Protocol parsers
/// implement it; what they find goes to `sink` (the factory that made them),
/// as it is found.
pub trait StreamConsumer<S> {
    /// In-order bytes of one direction, starting at stream offset `offset`.
    fn data(&mut self, at: At, dir: Direction, offset: u64, bytes: &[u8], sink: &mut S);
    /// `len` bytes at `offset` were never seen; data resumes after them.
    fn gap(&mut self, at: At, dir: Direction, offset: u64, len: u64, sink: &mut S);
    /// No more bytes will come in this direction.
    fn end(&mut self, at: At, dir: Direction, sink: &mut S);
}

/// Builds a consumer for each new connection, receives what consumers find,
/// and takes each consumer back, with the connection's summary, when the
/// connection is over.
pub trait ConsumerFactory: Sized {
    type Consumer: StreamConsumer<Self>;
    /// `handshake`: the connection was seen from its SYN (or SYN-ACK), so
    /// its streams start at their first byte.
    fn open(
        &mut self,
        id: u64,
        client: &Endpoint,
        server: &Endpoint,
        handshake: bool,
    ) -> Self::Consumer;
    fn close(&mut self, record: ConnRecord, consumer: Self::Consumer);
    /// The count of connections open (not yet closed by FIN both ways or
    /// RST) changed by `delta` because of connection `conn`. The table keeps
    /// its own count; a factory that merges several tables needs this one.
    fn open_now_changed(&mut self, _conn: u64, _delta: i64) {}
}

/// Reassembly's output side: one direction's bytes, gaps and end.
pub trait Deliver {
    fn data(&mut self, dir: Direction, offset: u64, bytes: &[u8]);
    fn gap(&mut self, dir: Direction, offset: u64, len: u64);
    fn end(&mut self, dir: Direction);
}

/// A connection's consumer with its sink, at one moment.
struct Delivery<'a, C, S> {
    consumer: &'a mut C,
    sink: &'a mut S,
    at: At,
}

impl<S, C: StreamConsumer<S>> Deliver for Delivery<'_, C, S> {
    fn data(&mut self, dir: Direction, offset: u64, bytes: &[u8]) {
        self.consumer.data(self.at, dir, offset, bytes, self.sink);
    }
    fn gap(&mut self, dir: Direction, offset: u64, len: u64) {
        self.consumer.gap(self.at, dir, offset, len, self.sink);
    }
    fn end(&mut self, dir: Direction) {
        self.consumer.end(self.at, dir, self.sink);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// A connection with no packet for this long (capture time) is over.
    pub idle_timeout_ns: u64,
    /// How long a closed connection stays after its last packet, to absorb
    /// late ACKs and retransmissions, before it leaves the table.
    pub close_linger_ns: u64,
    /// Most connections tracked at once.
    pub max_connections: usize,
    /// Out-of-order bytes buffered over all connections. The connection that
    /// goes over it gives up on its holes (skips them as gaps).
    pub max_total_pending_bytes: usize,
    pub reassembly: ReassemblyLimits,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            idle_timeout_ns: 300_000_000_000,
            close_linger_ns: 5_000_000_000,
            max_connections: 262_144,
            max_total_pending_bytes: 64 << 20,
            reassembly: ReassemblyLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FlowStats {
    pub connections: u64,
    /// Connections ended by the idle timeout.
    pub idle_timeouts: u64,
    /// Connections evicted early because the table was full.
    pub table_full_evictions: u64,
    /// Times a connection flushed its holes because all connections together
    /// buffered more than `max_total_pending_bytes`.
    pub memory_flushes: u64,
    /// Most connections open at once (not yet closed by FIN both ways or RST).
    pub peak_open: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
    vlan: u64,
}

impl FlowKey {
    fn of(seg: &TcpSegment<'_>) -> FlowKey {
        let (lo, hi) = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        FlowKey {
            lo,
            hi,
            vlan: seg.vlan,
        }
    }
}

/// How often (capture time) the table looks for idle and closed connections.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// The clock that expires connections. It follows capture time, but a
/// single frame with a wild timestamp must not expire every connection: it
/// advances only to the older of the last two segments' times.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    now_ns: u64,
    last_ts_ns: u64,
    next_sweep_ns: u64,
}

impl Clock {
    /// Advances to a segment's time; `Some(now)` when the table is due to
    /// sweep before that segment.
    pub fn tick(&mut self, ts_ns: u64) -> Option<u64> {
        self.now_ns = self.now_ns.max(ts_ns.min(self.last_ts_ns));
        self.last_ts_ns = ts_ns;
        if self.now_ns < self.next_sweep_ns {
            return None;
        }
        self.next_sweep_ns = self.now_ns.saturating_add(SWEEP_EVERY_NS);
        Some(self.now_ns)
    }
}

pub struct FlowTable<F: ConsumerFactory> {
    /// Boxed: a connection is large, and the table's spare slots stay small.
    conns: FxHashMap<FlowKey, Box<Connection<F::Consumer>>>,
    limits: FlowLimits,
    factory: F,
    next_id: u64,
    clock: Clock,
    stats: FlowStats,
    /// Connections in the table not yet closed.
    open_now: u64,
    /// Out-of-order bytes buffered over all connections.
    total_pending: usize,
    /// Mapped inputs: segments read from them are remembered in place.
    maps: Maps,
}

impl<F: ConsumerFactory> FlowTable<F> {
    pub fn new(limits: FlowLimits, factory: F) -> Self {
        FlowTable {
            conns: FxHashMap::default(),
            limits,
            factory,
            next_id: 1,
            clock: Clock::default(),
            stats: FlowStats::default(),
            open_now: 0,
            total_pending: 0,
            maps: Maps::default(),
        }
    }

    /// The maps of mapped inputs whose frames' bytes stay readable: the
    /// streams point at delivered bytes in them instead of copying them.
    pub fn share_maps(&mut self, maps: impl IntoIterator<Item = std::sync::Arc<memmap2::Mmap>>) {
        self.maps.add(maps);
    }

    pub fn segment(&mut self, seg: &TcpSegment<'_>) {
        if let Some(now) = self.clock.tick(seg.ts_ns) {
            self.sweep(now);
        }
        self.segment_unclocked(seg);
    }

    /// The id the next connection opened gets (ids must grow). A table that
    /// holds one shard of a capture numbers its connections by the segment
    /// that opens them, so that the merge can number them as one table does.
    pub fn set_next_id(&mut self, id: u64) {
        debug_assert!(id >= self.next_id);
        self.next_id = id;
    }

    /// A segment, with the clock kept by the caller (who calls
    /// [`sweep`](Self::sweep) when it is due).
    pub fn segment_unclocked(&mut self, seg: &TcpSegment<'_>) {
        let key = FlowKey::of(seg);
        let syn_only = seg.flags.syn() && !seg.flags.ack() && !seg.flags.rst();
        if syn_only {
            if let Some(old) = self.conns.get(&key) {
                if is_new_incarnation(old, seg) {
                    if let Some(old) = self.conns.remove(&key) {
                        self.close(*old);
                    }
                }
            }
        }
        let limits = self.limits.reassembly;
        let origin = Origin {
            maps: &self.maps,
            place: self.maps.locate(seg.payload),
        };
        // The common case: one lookup.
        if let Some(conn) = self.conns.get_mut(&key) {
            let was_open = conn.closed_ns.is_none();
            let pending_before = pending_bytes(conn);
            update(conn, seg, &limits, origin, &mut self.factory);
            if was_open && conn.closed_ns.is_some() {
                self.open_now -= 1;
                self.factory.open_now_changed(conn.id, -1);
            }
            let pending_after = pending_bytes(conn);
            if pending_after != pending_before {
                self.total_pending = self.total_pending + pending_after - pending_before;
                if self.total_pending > self.limits.max_total_pending_bytes {
                    flush(conn, seg.ts_ns, &mut self.factory);
                    self.total_pending -= pending_after;
                    self.stats.memory_flushes += 1;
                }
            }
            return;
        }
        if self.conns.len() >= self.limits.max_connections {
            self.make_room();
        }
        let mut conn = Box::new(self.open(seg));
        let origin = Origin {
            maps: &self.maps,
            place: self.maps.locate(seg.payload),
        };
        update(&mut conn, seg, &limits, origin, &mut self.factory);
        if conn.closed_ns.is_none() {
            self.open_now += 1;
            self.factory.open_now_changed(conn.id, 1);
            self.stats.peak_open = self.stats.peak_open.max(self.open_now);
        }
        self.total_pending += pending_bytes(&conn);
        self.conns.insert(key, conn);
    }

    fn open(&mut self, seg: &TcpSegment<'_>) -> Connection<F::Consumer> {
        let (client, server, roles) = if seg.flags.syn() && !seg.flags.ack() {
            (seg.src, seg.dst, RoleSource::Handshake)
        } else if seg.flags.syn() {
            (seg.dst, seg.src, RoleSource::Handshake)
        } else if server_by_port(&seg.src, &seg.dst) {
            (seg.dst, seg.src, RoleSource::Port)
        } else {
            (seg.src, seg.dst, RoleSource::Port)
        };
        let id = self.next_id;
        self.next_id += 1;
        self.stats.connections += 1;
        let consumer = self
            .factory
            .open(id, &client, &server, roles == RoleSource::Handshake);
        Connection::new(id, client, server, seg.vlan, roles, seg.ts_ns, consumer)
    }

    /// Ends connections closed for longer than the linger time or idle for
    /// longer than the idle timeout.
    pub fn sweep(&mut self, now: u64) {
        let limits = self.limits;
        let mut done: Vec<FlowKey> = Vec::new();
        for (key, c) in &self.conns {
            // A closed connection stays while its last packets (FIN
            // retransmissions, keep-alive probes) still trickle in.
            let quiet = now.saturating_sub(c.last_ns);
            let closed = c.closed_ns.is_some() && quiet >= limits.close_linger_ns;
            let idle = quiet >= limits.idle_timeout_ns;
            if closed || idle {
                done.push(*key);
            }
            if idle && !closed {
                self.stats.idle_timeouts += 1;
            }
        }
        self.close_keys(done);
    }

    /// The table is full: end the least recently active eighth.
    fn make_room(&mut self) {
        let mut by_age: Vec<(u64, u64, FlowKey)> = self
            .conns
            .iter()
            .map(|(k, c)| (c.closed_ns.map_or(1, |_| 0), c.last_ns, *k))
            .collect();
        by_age.sort_unstable_by_key(|(closed, last, k)| (*closed, *last, k.lo, k.hi));
        let n = (by_age.len() / 8).max(1);
        self.stats.table_full_evictions += n as u64;
        self.close_keys(by_age.into_iter().take(n).map(|(_, _, k)| k).collect());
    }

    /// Closes the given connections in id order (deterministic output).
    fn close_keys(&mut self, keys: Vec<FlowKey>) {
        let mut conns: Vec<_> = keys.iter().filter_map(|k| self.conns.remove(k)).collect();
        conns.sort_unstable_by_key(|c| c.id);
        for c in conns {
            self.close(*c);
        }
    }

    fn close(&mut self, mut conn: Connection<F::Consumer>) {
        if conn.closed_ns.is_none() {
            self.open_now -= 1;
            self.factory.open_now_changed(conn.id, -1);
        }
        self.total_pending -= pending_bytes(&conn);
        let at = At {
            conn: conn.id,
            ts_ns: conn.last_ns,
        };
        for dir in [Direction::ToServer, Direction::ToClient] {
            let peer_ack = conn.halves[dir.other() as usize].last_ack;
            let Connection {
                halves, consumer, ..
            } = &mut conn;
            let mut out = Delivery {
                consumer,
                sink: &mut self.factory,
                at,
            };
            halves[dir as usize].stream.finish(dir, peer_ack, &mut out);
        }
        for dir in [Direction::ToServer, Direction::ToClient] {
            if conn.counters(dir).gaps > 0 {
                conn.mark(dir, b'G');
            }
        }
        let record = conn.record();
        self.factory.close(record, conn.consumer);
    }

    /// End of input: every connection still open is over.
    pub fn finish(mut self) -> (F, FlowStats) {
        let keys: Vec<FlowKey> = self.conns.keys().copied().collect();
        self.close_keys(keys);
        (self.factory, self.stats)
    }

    pub fn factory(&self) -> &F {
        &self.factory
    }

    pub fn factory_mut(&mut self) -> &mut F {
        &mut self.factory
    }

    /// Connections seen so far.
    pub fn connections_opened(&self) -> u64 {
        self.stats.connections
    }

    #[cfg(test)]
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }
}

fn pending_bytes<C>(conn: &Connection<C>) -> usize {
    conn.halves[0].stream.pending_bytes() + conn.halves[1].stream.pending_bytes()
}

/// Gives up on every hole of the connection (memory budget exhausted).
fn flush<S, C: StreamConsumer<S>>(conn: &mut Connection<C>, ts_ns: u64, sink: &mut S) {
    let at = At {
        conn: conn.id,
        ts_ns,
    };
    for dir in [Direction::ToServer, Direction::ToClient] {
        let Connection {
            halves, consumer, ..
        } = &mut *conn;
        let mut out = Delivery {
            consumer,
            sink: &mut *sink,
            at,
        };
        halves[dir as usize].stream.flush(dir, &mut out);
        if halves[dir as usize].stream.counters.gaps > 0 {
            conn.mark(dir, b'G');
        }
    }
}

/// A SYN on a known 4-tuple starts a new connection when the old one is over
/// (closed or reset) or the SYN carries another initial sequence number than
/// the one the old connection started with (port reuse). A SYN with the same
/// number is a retransmission.
fn is_new_incarnation<C>(old: &Connection<C>, seg: &TcpSegment<'_>) -> bool {
    let dir = old.direction_of(&seg.src);
    let half = &old.halves[dir as usize];
    let seq = SeqNum(seg.seq);
    match half.isn {
        Some(isn) => isn != seq,
        // No SYN from this side yet. The peer's ACK tells: a SYN-ACK seen
        // first (capture reordering) acknowledges exactly this SYN.
        None => {
            old.closed_ns.is_some()
                || old.halves[dir.other() as usize]
                    .last_ack
                    .is_some_and(|a| a != seq.plus(1))
        }
    }
}

/// Applies one segment to its connection: endpoint states, history,
/// reassembly.
fn update<S, C: StreamConsumer<S>>(
    conn: &mut Connection<C>,
    seg: &TcpSegment<'_>,
    limits: &ReassemblyLimits,
    origin: Origin<'_>,
    sink: &mut S,
) {
    let gaps = |c: &Connection<C>| {
        [
            c.halves[0].stream.counters.gaps,
            c.halves[1].stream.counters.gaps,
        ]
    };
    let before = gaps(conn);
    apply(conn, seg, limits, origin, sink);
    let after = gaps(conn);
    // Zeek's 'G': a content gap, recorded when it is found.
    for dir in [Direction::ToServer, Direction::ToClient] {
        if after[dir as usize] > before[dir as usize] {
            conn.mark(dir, b'G');
        }
    }
}

fn apply<S, C: StreamConsumer<S>>(
    conn: &mut Connection<C>,
    seg: &TcpSegment<'_>,
    limits: &ReassemblyLimits,
    origin: Origin<'_>,
    sink: &mut S,
) {
    use EndpointState::*;
    let at = At {
        conn: conn.id,
        ts_ns: seg.ts_ns,
    };
    let dir = conn.direction_of(&seg.src);
    let d = dir as usize;
    let o = dir.other() as usize;
    conn.last_ns = conn.last_ns.max(seg.ts_ns);
    conn.halves[d].packets += 1;
    let flags = seg.flags;
    let seq = SeqNum(seg.seq);

    if flags.rst() {
        conn.mark(dir, b'R');
        conn.halves[d].state = Reset;
        conn.closed_ns.get_or_insert(seg.ts_ns);
        return;
    }
    if flags.syn() {
        if flags.fin() {
            conn.mark(dir, b'Q');
        }
        conn.mark(dir, if flags.ack() { b'H' } else { b'S' });
        let half = &mut conn.halves[d];
        if half.isn.is_none() {
            half.isn = Some(seq);
            half.stream.syn(seq);
        }
        if half.state == Inactive {
            half.state = if flags.ack() { SynAckSent } else { SynSent };
        }
    } else if conn.halves[d].state == Inactive {
        conn.halves[d].state = Partial;
    }
    if flags.ack() {
        let ack = SeqNum(seg.ack);
        conn.halves[d].last_ack = Some(ack);
        if !flags.syn() {
            // The handshake's third step establishes both sides.
            if matches!(conn.halves[d].state, SynSent | Partial)
                && matches!(conn.halves[o].state, SynAckSent | Established)
            {
                conn.halves[d].state = Established;
                conn.halves[o].state = Established;
            }
            if seg.payload.is_empty() && !flags.fin() {
                conn.mark(dir, b'A');
            }
        }
        let Connection {
            halves, consumer, ..
        } = &mut *conn;
        let mut out = Delivery {
            consumer,
            sink: &mut *sink,
            at,
        };
        halves[o].stream.acked(dir.other(), ack, &mut out);
    }

    let data_seq = if flags.syn() { seq.plus(1) } else { seq };
    if !seg.payload.is_empty() || seg.payload_missing > 0 {
        let before = *conn.counters(dir);
        {
            let Connection {
                halves, consumer, ..
            } = &mut *conn;
            let mut out = Delivery {
                consumer,
                sink: &mut *sink,
                at,
            };
            halves[d].stream.segment_from(
                dir,
                limits,
                data_seq,
                seg.payload,
                seg.payload_missing,
                origin,
                &mut out,
            );
        }
        let after = *conn.counters(dir);
        conn.mark(dir, b'D');
        if after.retransmitted > before.retransmitted {
            conn.mark(dir, b'T');
        }
        if after.overlap_conflicts > before.overlap_conflicts {
            conn.mark(dir, b'I');
        }
    }
    if flags.fin() {
        conn.mark(dir, b'F');
        let half = &mut conn.halves[d];
        if half.state != Reset {
            half.state = Closed;
        }
        let fin_seq = data_seq.plus(seg.payload.len() as u32 + seg.payload_missing);
        let Connection {
            halves, consumer, ..
        } = &mut *conn;
        let mut out = Delivery {
            consumer,
            sink: &mut *sink,
            at,
        };
        halves[d].stream.fin(dir, fin_seq, &mut out);
        if conn.halves[o].state == Closed {
            conn.closed_ns.get_or_insert(seg.ts_ns);
        }
    }
}

#[cfg(test)]
mod tests;
