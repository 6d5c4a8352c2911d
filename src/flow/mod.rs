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

pub use conn::{ConnRecord, Connection, EndpointState, Letter, RoleSource};
pub use reassembly::{Origin, ReassemblyLimits, StreamCounters};

use crate::capture::Maps;
use crate::decode::{Endpoint, TcpFlags, TcpSegment};
use conn::server_by_port;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::hash_map::Entry;

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

/// A connection that has seen nothing but its SYN (and exact copies of
/// it): a SYN flood's many half-open connections hold no streams. Anything
/// else on its endpoints hatches it into a [`Connection`] by replaying its
/// SYNs, so that its record is the one it would have had.
struct Embryo<C> {
    id: u64,
    /// The first SYN (no payload).
    ts_ns: u64,
    src: Endpoint,
    dst: Endpoint,
    vlan: u64,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    /// Copies of it since, and when the last came.
    copies: u64,
    last_ns: u64,
    /// `None` only while it hatches.
    consumer: Option<C>,
}

impl<C> Embryo<C> {
    fn is_copy(&self, seg: &TcpSegment<'_>) -> bool {
        seg.src == self.src
            && seg.seq == self.seq
            && seg.ack == self.ack
            && seg.flags.0 == self.flags.0
            && seg.payload.is_empty()
            && seg.payload_missing == 0
    }

    fn syn(&self, ts_ns: u64) -> TcpSegment<'static> {
        TcpSegment {
            ts_ns,
            src: self.src,
            dst: self.dst,
            vlan: self.vlan,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            payload: b"",
            payload_missing: 0,
        }
    }
}

/// What the table holds for a connection. Boxed: the table's spare slots
/// stay small.
enum Slot<C> {
    Syn(Box<Embryo<C>>),
    Conn(Box<Connection<C>>),
}

impl<C> Slot<C> {
    fn id(&self) -> u64 {
        match self {
            Slot::Syn(e) => e.id,
            Slot::Conn(c) => c.id,
        }
    }

    fn last_ns(&self) -> u64 {
        match self {
            Slot::Syn(e) => e.last_ns,
            Slot::Conn(c) => c.last_ns,
        }
    }

    fn closed(&self) -> bool {
        matches!(self, Slot::Conn(c) if c.closed_ns.is_some())
    }
}

pub struct FlowTable<F: ConsumerFactory> {
    conns: FxHashMap<FlowKey, Slot<F::Consumer>>,
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
        if self.conns.len() >= self.limits.max_connections && !self.conns.contains_key(&key) {
            self.make_room();
        }
        let limits = self.limits.reassembly;
        let place = self.maps.locate(seg.payload);
        let conn = match self.conns.entry(key) {
            Entry::Occupied(mut known) => {
                if let Slot::Syn(e) = known.get_mut() {
                    if e.is_copy(seg) {
                        e.copies = e.copies.saturating_add(1);
                        e.last_ns = e.last_ns.max(seg.ts_ns);
                        return;
                    }
                    let conn = Self::hatch(e, &limits, &self.maps, &mut self.factory);
                    *known.get_mut() = Slot::Conn(conn);
                }
                let Slot::Conn(conn) = known.get_mut() else {
                    unreachable!("hatched above")
                };
                if !(seg.flags.syn_only() && conn.is_new_incarnation(seg)) {
                    // The common case: one lookup, and the connection does
                    // the rest.
                    let was_open = conn.closed_ns.is_none();
                    let pending_before = conn.pending_bytes();
                    let origin = Origin {
                        maps: &self.maps,
                        place,
                    };
                    conn.apply(seg, &limits, origin, &mut self.factory);
                    if was_open && conn.closed_ns.is_some() {
                        self.open_now -= 1;
                        self.factory.open_now_changed(conn.id, -1);
                        // It lingers for its last packets only: no byte
                        // copies are kept for comparing retransmissions.
                        conn.release_tails();
                    }
                    let pending_after = conn.pending_bytes();
                    if pending_after != pending_before {
                        self.total_pending = self.total_pending + pending_after - pending_before;
                        if self.total_pending > self.limits.max_total_pending_bytes {
                            conn.flush(seg.ts_ns, &mut self.factory);
                            self.total_pending -= pending_after;
                            self.stats.memory_flushes += 1;
                        }
                    }
                    return;
                }
                // Port reuse: the old connection ends, a new one begins.
                let old = known.remove();
                self.close_slot(old);
                let conn = self.open(seg);
                match self.conns.entry(key).or_insert(Slot::Conn(conn)) {
                    Slot::Conn(c) => c,
                    Slot::Syn(_) => unreachable!("just inserted"),
                }
            }
            Entry::Vacant(slot) => {
                if seg.flags.syn_only()
                    && !seg.flags.fin()
                    && seg.payload.is_empty()
                    && seg.payload_missing == 0
                {
                    // A SYN alone: an embryo, until more comes.
                    let id = self.next_id;
                    self.next_id += 1;
                    self.stats.connections += 1;
                    let consumer = self.factory.open(id, &seg.src, &seg.dst, true);
                    slot.insert(Slot::Syn(Box::new(Embryo {
                        id,
                        ts_ns: seg.ts_ns,
                        src: seg.src,
                        dst: seg.dst,
                        vlan: seg.vlan,
                        seq: seg.seq,
                        ack: seg.ack,
                        flags: seg.flags,
                        copies: 0,
                        last_ns: seg.ts_ns,
                        consumer: Some(consumer),
                    })));
                    self.open_now += 1;
                    self.factory.open_now_changed(id, 1);
                    self.stats.peak_open = self.stats.peak_open.max(self.open_now);
                    return;
                }
                match slot.insert(Slot::Conn(Self::open_in(
                    &mut self.next_id,
                    &mut self.stats,
                    &mut self.factory,
                    seg,
                ))) {
                    Slot::Conn(c) => c,
                    Slot::Syn(_) => unreachable!("just inserted"),
                }
            }
        };
        let origin = Origin {
            maps: &self.maps,
            place,
        };
        conn.apply(seg, &limits, origin, &mut self.factory);
        if conn.closed_ns.is_none() {
            self.open_now += 1;
            self.factory.open_now_changed(conn.id, 1);
            self.stats.peak_open = self.stats.peak_open.max(self.open_now);
        }
        self.total_pending += conn.pending_bytes();
    }

    /// The connection an embryo would have been: its SYNs replayed (the
    /// first at its time, the copies at the last's: only the last time
    /// shows in a connection).
    fn hatch(
        e: &mut Embryo<F::Consumer>,
        limits: &ReassemblyLimits,
        maps: &Maps,
        factory: &mut F,
    ) -> Box<Connection<F::Consumer>> {
        let consumer = e.consumer.take().expect("an embryo hatches once");
        let mut conn = Box::new(Connection::new(
            e.id,
            e.src,
            e.dst,
            e.vlan,
            RoleSource::Handshake,
            e.ts_ns,
            consumer,
        ));
        let origin = || Origin { maps, place: None };
        conn.apply(&e.syn(e.ts_ns), limits, origin(), factory);
        for _ in 0..e.copies {
            conn.apply(&e.syn(e.last_ns), limits, origin(), factory);
        }
        conn
    }

    fn open(&mut self, seg: &TcpSegment<'_>) -> Box<Connection<F::Consumer>> {
        Self::open_in(&mut self.next_id, &mut self.stats, &mut self.factory, seg)
    }

    /// A new connection for `seg`, its roles from the handshake or the ports.
    fn open_in(
        next_id: &mut u64,
        stats: &mut FlowStats,
        factory: &mut F,
        seg: &TcpSegment<'_>,
    ) -> Box<Connection<F::Consumer>> {
        let (client, server, roles) = if seg.flags.syn() && !seg.flags.ack() {
            (seg.src, seg.dst, RoleSource::Handshake)
        } else if seg.flags.syn() {
            (seg.dst, seg.src, RoleSource::Handshake)
        } else if server_by_port(&seg.src, &seg.dst) {
            (seg.dst, seg.src, RoleSource::Port)
        } else {
            (seg.src, seg.dst, RoleSource::Port)
        };
        let id = *next_id;
        *next_id += 1;
        stats.connections += 1;
        let consumer = factory.open(id, &client, &server, roles == RoleSource::Handshake);
        Box::new(Connection::new(
            id, client, server, seg.vlan, roles, seg.ts_ns, consumer,
        ))
    }

    /// Ends connections closed for longer than the linger time or idle for
    /// longer than the idle timeout.
    pub fn sweep(&mut self, now: u64) {
        let limits = self.limits;
        let mut done: Vec<FlowKey> = Vec::new();
        for (key, c) in &self.conns {
            // A closed connection stays while its last packets (FIN
            // retransmissions, keep-alive probes) still trickle in.
            let quiet = now.saturating_sub(c.last_ns());
            let closed = c.closed() && quiet >= limits.close_linger_ns;
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

    /// The table is full: end the least recently active eighth (closed
    /// ones first; among equally quiet ones, the oldest, so that a capture
    /// whose clock stands still still evicts oldest first). A selection,
    /// not a sort, per eighth: constant work per connection opened.
    fn make_room(&mut self) {
        let mut by_age: Vec<(bool, u64, u64, FlowKey)> = self
            .conns
            .iter()
            .map(|(k, c)| (!c.closed(), c.last_ns(), c.id(), *k))
            .collect();
        let n = (by_age.len() / 8).max(1);
        if n < by_age.len() {
            by_age.select_nth_unstable_by_key(n - 1, |(open, last, id, _)| (*open, *last, *id));
        }
        self.stats.table_full_evictions += n as u64;
        self.close_keys(by_age.into_iter().take(n).map(|(_, _, _, k)| k).collect());
    }

    /// Closes the given connections in id order (deterministic output).
    fn close_keys(&mut self, keys: Vec<FlowKey>) {
        let mut conns: Vec<_> = keys.iter().filter_map(|k| self.conns.remove(k)).collect();
        conns.sort_unstable_by_key(|c| c.id());
        for c in conns {
            self.close_slot(c);
        }
    }

    fn close_slot(&mut self, slot: Slot<F::Consumer>) {
        let conn = match slot {
            Slot::Conn(c) => c,
            Slot::Syn(mut e) => {
                let limits = self.limits.reassembly;
                Self::hatch(&mut e, &limits, &self.maps, &mut self.factory)
            }
        };
        self.close(*conn);
    }

    fn close(&mut self, mut conn: Connection<F::Consumer>) {
        if conn.closed_ns.is_none() {
            self.open_now -= 1;
            self.factory.open_now_changed(conn.id, -1);
        }
        self.total_pending -= conn.pending_bytes();
        conn.finish(&mut self.factory);
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

#[cfg(test)]
mod tests;
