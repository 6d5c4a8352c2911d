//! Reassembly and connection-state tests in wire terms: segments as
//! (sequence number, bytes), fed in every order where order must not matter.

use super::reassembly::{HalfStream, ReassemblyLimits};
use super::seq::SeqNum;
use super::*;
use crate::decode::{Endpoint, TcpFlags, TcpSegment};

/// Records what reassembly delivers: the stream with gaps as `None` bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Recorder {
    stream: [Vec<Option<u8>>; 2],
    ended: [bool; 2],
}

impl StreamConsumer<Collect> for Recorder {
    fn data(&mut self, _: At, dir: Direction, offset: u64, bytes: &[u8], _: &mut Collect) {
        Deliver::data(self, dir, offset, bytes);
    }
    fn gap(&mut self, _: At, dir: Direction, offset: u64, len: u64, _: &mut Collect) {
        Deliver::gap(self, dir, offset, len);
    }
    fn end(&mut self, _: At, dir: Direction, _: &mut Collect) {
        Deliver::end(self, dir);
    }
}

impl Deliver for Recorder {
    fn data(&mut self, dir: Direction, offset: u64, bytes: &[u8]) {
        let s = &mut self.stream[dir as usize];
        assert_eq!(offset, s.len() as u64, "data must continue the stream");
        assert!(!self.ended[dir as usize], "data after end");
        s.extend(bytes.iter().map(|b| Some(*b)));
    }
    fn gap(&mut self, dir: Direction, offset: u64, len: u64) {
        let s = &mut self.stream[dir as usize];
        assert_eq!(offset, s.len() as u64, "gap must continue the stream");
        assert!(!self.ended[dir as usize], "gap after end");
        s.extend(std::iter::repeat_n(None, len as usize));
    }
    fn end(&mut self, dir: Direction) {
        assert!(!self.ended[dir as usize], "ended twice");
        self.ended[dir as usize] = true;
    }
}

impl Recorder {
    fn text(&self) -> String {
        self.stream[0]
            .iter()
            .map(|b| b.map_or('_', |b| b as char))
            .collect()
    }
}

const D: Direction = Direction::ToServer;

/// Feeds `segments` (seq, bytes) after a SYN at `isn`, then finishes.
fn run(
    isn: Option<u32>,
    segments: &[(u32, &[u8])],
    limits: ReassemblyLimits,
) -> (Recorder, HalfStream) {
    let mut h = HalfStream::default();
    let mut r = Recorder::default();
    if let Some(isn) = isn {
        h.syn(SeqNum(isn));
    }
    for (seq, bytes) in segments {
        h.segment(D, &limits, SeqNum(*seq), bytes, 0, &mut r);
    }
    h.finish(D, None, &mut r);
    (r, h)
}

/// A stream whose SYN had sequence number 0 (data starts at 1).
fn started() -> (HalfStream, Recorder) {
    let mut h = HalfStream::default();
    h.syn(SeqNum(0));
    (h, Recorder::default())
}

fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

#[test]
fn every_order_gives_the_same_stream() {
    let segs: Vec<(u32, &[u8])> = vec![
        (101, b"GET "),
        (105, b"/ HT"),
        (109, b"TP/1"),
        (113, b".1\r\n"),
    ];
    for order in permutations(&segs) {
        let (r, h) = run(Some(100), &order, ReassemblyLimits::default());
        assert_eq!(r.text(), "GET / HTTP/1.1\r\n", "order {order:?}");
        assert_eq!(h.counters.bytes, 16);
        assert_eq!(h.counters.missed, 0);
        assert_eq!(h.counters.retransmitted, 0);
        assert!(r.ended[0]);
    }
}

#[test]
fn retransmissions_are_counted_not_repeated() {
    let segs: Vec<(u32, &[u8])> = vec![
        (1, b"abcd"),
        (5, b"efgh"),
        (1, b"abcd"),
        (3, b"cdef"),
        (9, b"ij"),
    ];
    for order in permutations(&segs) {
        let (r, h) = run(Some(0), &order, ReassemblyLimits::default());
        assert_eq!(r.text(), "abcdefghij", "order {order:?}");
        assert_eq!(h.counters.bytes, 10);
        // Whatever the order, 8 bytes arrived a second time.
        assert_eq!(h.counters.retransmitted, 8, "order {order:?}");
        assert_eq!(h.counters.overlap_conflicts, 0);
    }
}

#[test]
fn conflicting_overlap_keeps_the_first_data_and_is_counted() {
    type Case = (&'static [(u32, &'static [u8])], &'static str, u64);
    let cases: [Case; 3] = [
        // In order: the retransmission differs from what was delivered.
        (&[(1, b"abcd"), (1, b"XXcd"), (5, b"ef")], "abcdef", 4),
        // Out of order: the later segment overlaps a buffered one.
        (&[(3, b"cdef"), (4, b"XY"), (1, b"ab")], "abcdef", 2),
        // A segment spanning a buffered chunk: the chunk's bytes win.
        (&[(3, b"CD"), (1, b"abcdef")], "abCDef", 2),
    ];
    for (segs, text, repeated) in cases {
        let (r, h) = run(Some(0), segs, ReassemblyLimits::default());
        assert_eq!(r.text(), text, "{segs:?}");
        assert_eq!(h.counters.overlap_conflicts, 1, "{segs:?}");
        assert_eq!(h.counters.retransmitted, repeated, "{segs:?}");
    }
}

#[test]
fn sequence_numbers_wrap() {
    let isn = u32::MAX - 5;
    let segs: Vec<(u32, &[u8])> = vec![
        (isn.wrapping_add(1), b"abcd"),
        (isn.wrapping_add(5), b"efgh"),
        (isn.wrapping_add(9), b"ijkl"),
    ];
    assert_eq!(segs[2].0, 3);
    for order in permutations(&segs) {
        let (r, h) = run(Some(isn), &order, ReassemblyLimits::default());
        assert_eq!(r.text(), "abcdefghijkl", "order {order:?}");
        assert_eq!(h.counters.missed, 0);
    }
}

#[test]
fn mid_stream_start_begins_at_the_first_segment() {
    let (r, h) = run(
        None,
        &[(5000, b"HTTP/1.1 200 OK\r\n"), (5017, b"\r\n")],
        ReassemblyLimits::default(),
    );
    assert_eq!(r.text(), "HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(h.counters.bytes, 19);
}

#[test]
fn a_lost_segment_becomes_a_gap_at_the_end() {
    let segs: Vec<(u32, &[u8])> = vec![(1, b"ab"), (5, b"ef"), (7, b"gh")];
    for order in permutations(&segs) {
        let (r, h) = run(Some(0), &order, ReassemblyLimits::default());
        assert_eq!(r.text(), "ab__efgh", "order {order:?}");
        assert_eq!(h.counters.missed, 2);
        assert_eq!(h.counters.gaps, 1);
    }
}

#[test]
fn the_peer_ack_past_a_hole_skips_it_at_once() {
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    h.segment(D, &limits, SeqNum(5), b"ef", 0, &mut r);
    assert_eq!(r.text(), "ab");
    // The receiver acknowledged byte 7: it had bytes 3-4, the capture did not.
    h.acked(D, SeqNum(7), &mut r);
    assert_eq!(r.text(), "ab__ef");
    assert_eq!(h.counters.missed, 2);
}

#[test]
fn the_out_of_order_bound_skips_the_hole() {
    let limits = ReassemblyLimits {
        max_pending_bytes: 4,
        max_pending_chunks: 8,
    };
    // Byte 2 ('b') is lost; 'c'..'h' wait; at the bound the hole is skipped.
    let (r, h) = run(
        Some(0),
        &[(1, b"a"), (3, b"cd"), (5, b"ef"), (7, b"gh")],
        limits,
    );
    assert_eq!(r.text(), "a_cdefgh");
    assert_eq!(h.counters.pending_overflows, 1);
    assert_eq!(h.counters.missed, 1);
}

#[test]
fn making_room_never_skips_the_data_that_fills_the_hole() {
    let limits = ReassemblyLimits {
        max_pending_bytes: 1 << 20,
        max_pending_chunks: 4,
    };
    // 'b'..'e' lost, then 'cd' retransmitted while the buffer is full: the
    // skipped hole ends where 'cd' starts.
    let segs: Vec<(u32, &[u8])> = vec![
        (1, b"a"),
        (6, b"f"),
        (8, b"h"),
        (10, b"j"),
        (12, b"l"),
        (3, b"cd"),
    ];
    let (r, h) = run(Some(0), &segs, limits);
    assert_eq!(r.text(), "a_cd_f_h_j_l");
    assert_eq!(h.counters.missed, 5);
    assert_eq!(h.counters.bytes, 7);
}

#[test]
fn adjacent_out_of_order_segments_share_one_chunk() {
    let limits = ReassemblyLimits {
        max_pending_bytes: 1 << 20,
        max_pending_chunks: 2,
    };
    // One hole followed by many contiguous segments: the bound counts holes,
    // so the late retransmission still fills the hole.
    let mut segs: Vec<(u32, &[u8])> = (0..50).map(|i| (3 + i * 2, &b"xy"[..])).collect();
    segs.push((1, b"ab"));
    let (r, h) = run(Some(0), &segs, limits);
    assert_eq!(h.counters.missed, 0);
    assert_eq!(h.counters.pending_overflows, 0);
    assert_eq!(r.text().len(), 102);
    assert!(r.text().starts_with("abxyxy"));
}

#[test]
fn an_ack_at_the_chunk_start_skips_the_hole_and_every_hole_before_it() {
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"a", 0, &mut r);
    h.segment(D, &limits, SeqNum(4), b"d", 0, &mut r);
    h.segment(D, &limits, SeqNum(7), b"g", 0, &mut r);
    // The receiver expects byte 7 next: it had 'b', 'c', 'e' and 'f'.
    h.acked(D, SeqNum(7), &mut r);
    assert_eq!(r.text(), "a__d__g");
    assert_eq!(h.counters.missed, 4);
}

#[test]
fn a_segment_after_an_acknowledged_hole_is_delivered_at_once() {
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    // Bytes 3-4 were lost by the capture and acknowledged by the peer
    // before anything else came. The ACK alone skips nothing; the next
    // segment proves the hole lost and is delivered at once.
    h.acked(D, SeqNum(5), &mut r);
    assert_eq!(r.text(), "ab");
    h.segment(D, &limits, SeqNum(5), b"ef", 0, &mut r);
    assert_eq!(r.text(), "ab__ef");
    assert_eq!((h.counters.missed, h.counters.gaps), (2, 1));
    // A FIN after a lost tail: the peer's ACK of the FIN adds no byte and
    // no gap notice after the end; the end of the connection counts the
    // lost tail.
    h.fin(D, SeqNum(9), &mut r);
    h.acked(D, SeqNum(10), &mut r);
    assert_eq!(r.text(), "ab__ef");
    h.finish(D, Some(SeqNum(10)), &mut r);
    assert_eq!(r.text(), "ab__ef__");
    assert_eq!(h.counters.missed, 4);
}

#[test]
fn an_ack_timestamped_before_its_data_loses_nothing() {
    // Files merged per direction, or `-i any`: the peer's ACK of bytes 3-4
    // comes a moment before the segment that carries them.
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    h.acked(D, SeqNum(5), &mut r);
    h.segment(D, &limits, SeqNum(3), b"cd", 0, &mut r);
    h.segment(D, &limits, SeqNum(5), b"ef", 0, &mut r);
    assert_eq!(r.text(), "abcdef");
    assert_eq!((h.counters.missed, h.counters.gaps), (0, 0));
}

#[test]
fn a_hole_filled_by_a_late_retransmission_costs_nothing() {
    // The network lost bytes 3-4; the FIN and the peer's duplicate ACKs
    // (up to the hole) come before the retransmission that fills it.
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    h.segment(D, &limits, SeqNum(5), b"ef", 0, &mut r);
    h.fin(D, SeqNum(7), &mut r);
    h.acked(D, SeqNum(3), &mut r);
    h.acked(D, SeqNum(3), &mut r);
    assert!(!r.ended[0]);
    h.segment(D, &limits, SeqNum(3), b"cd", 0, &mut r);
    assert_eq!(r.text(), "abcdef");
    assert!(r.ended[0]);
    assert_eq!((h.counters.missed, h.counters.gaps), (0, 0));
}

#[test]
fn a_fin_past_the_last_data_counts_the_lost_tail() {
    let (mut h, mut r) = started();
    h.segment(D, &ReassemblyLimits::default(), SeqNum(1), b"ab", 0, &mut r);
    h.fin(D, SeqNum(11), &mut r);
    assert!(!r.ended[0]);
    h.finish(D, None, &mut r);
    assert_eq!(h.counters.missed, 8);
    assert!(r.ended[0]);
}

#[test]
fn data_after_the_end_is_counted() {
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    h.fin(D, SeqNum(3), &mut r);
    assert!(r.ended[0]);
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    h.segment(D, &limits, SeqNum(9), b"zz", 0, &mut r);
    assert_eq!(h.counters.retransmitted, 2);
    assert_eq!(h.counters.out_of_window, 1);
    assert_eq!(r.text(), "ab");
}

#[test]
fn fin_ends_the_stream_once_the_data_before_it_is_in() {
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(3), b"cd", 0, &mut r);
    h.fin(D, SeqNum(5), &mut r);
    assert!(!r.ended[0], "a hole before the FIN keeps the stream open");
    h.segment(D, &limits, SeqNum(1), b"ab", 0, &mut r);
    assert!(r.ended[0]);
    assert_eq!(r.text(), "abcd");
}

#[test]
fn snaplen_cut_payload_is_a_gap() {
    let (mut h, mut r) = started();
    let limits = ReassemblyLimits::default();
    h.segment(D, &limits, SeqNum(1), b"ab", 3, &mut r);
    h.segment(D, &limits, SeqNum(6), b"fg", 0, &mut r);
    assert_eq!(r.text(), "ab___fg");
    assert_eq!(h.counters.missed, 3);
}

#[test]
fn tail_loss_acknowledged_by_the_peer_is_missed() {
    let (mut h, mut r) = started();
    h.segment(D, &ReassemblyLimits::default(), SeqNum(1), b"ab", 0, &mut r);
    h.finish(D, Some(SeqNum(11)), &mut r);
    assert_eq!(h.counters.missed, 8);
    assert_eq!(r.text(), "ab________");
}

// ---- connections through the table ----

#[derive(Default)]
struct Collect {
    done: Vec<(ConnRecord, Recorder)>,
}

impl ConsumerFactory for Collect {
    type Consumer = Recorder;
    fn open(&mut self, _: u64, _: &Endpoint, _: &Endpoint, _: bool) -> Recorder {
        Recorder::default()
    }
    fn close(&mut self, record: ConnRecord, consumer: Recorder) {
        self.done.push((record, consumer));
    }
}

fn ep(s: &str) -> Endpoint {
    let sa: std::net::SocketAddr = s.parse().unwrap();
    Endpoint {
        ip: sa.ip(),
        port: sa.port(),
    }
}

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:80";
const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;

/// (ts seconds, from, to, flags, seq, ack, payload)
type Pkt = (u64, &'static str, &'static str, u8, u32, u32, &'static [u8]);

fn table(pkts: &[Pkt]) -> Vec<(ConnRecord, Recorder)> {
    let mut t = FlowTable::new(FlowLimits::default(), Collect::default());
    for (ts, from, to, flags, seq, ack, payload) in pkts {
        t.segment(&TcpSegment {
            ts_ns: ts * 1_000_000_000,
            src: ep(from),
            dst: ep(to),
            vlan: 0,
            seq: *seq,
            ack: *ack,
            flags: TcpFlags(*flags),
            payload,
            payload_missing: 0,
        });
    }
    let (mut f, _) = t.finish();
    f.done.sort_by_key(|(r, _)| r.id);
    f.done
}

fn handshake_and_close() -> Vec<Pkt> {
    vec![
        (1, C, S, SYN, 100, 0, b""),
        (1, S, C, SYN | ACK, 500, 101, b""),
        (1, C, S, ACK, 101, 501, b""),
        (1, C, S, ACK, 101, 501, b"ping"),
        (1, S, C, ACK, 501, 105, b"pong!"),
        (2, C, S, FIN | ACK, 105, 506, b""),
        (2, S, C, FIN | ACK, 506, 106, b""),
        (2, C, S, ACK, 106, 507, b""),
    ]
}

#[test]
fn a_full_connection_is_sf_with_zeek_history() {
    let done = table(&handshake_and_close());
    assert_eq!(done.len(), 1);
    let (rec, rx) = &done[0];
    assert_eq!(rec.client, ep(C));
    assert_eq!(rec.server, ep(S));
    assert_eq!(rec.roles, RoleSource::Handshake);
    assert_eq!(rec.state, "SF");
    assert_eq!(rec.history, "ShADdFf");
    assert_eq!(rec.packets, [5, 3]);
    assert_eq!(rec.counters[0].bytes, 4);
    assert_eq!(rec.counters[1].bytes, 5);
    assert_eq!(rx.ended, [true, true]);
}

#[test]
fn conn_states_follow_zeek() {
    let rej = table(&[(1, C, S, SYN, 1, 0, b""), (1, S, C, RST | ACK, 0, 2, b"")]);
    assert_eq!(rej[0].0.state, "REJ");
    let s0 = table(&[(1, C, S, SYN, 1, 0, b""), (4, C, S, SYN, 1, 0, b"")]);
    assert_eq!(s0.len(), 1, "a retransmitted SYN is the same connection");
    assert_eq!(s0[0].0.state, "S0");
    let mut rsto = handshake_and_close();
    rsto.truncate(5);
    rsto.push((2, C, S, RST | ACK, 105, 506, b""));
    assert_eq!(table(&rsto)[0].0.state, "RSTO");
    let mut rstr = handshake_and_close();
    rstr.truncate(5);
    rstr.push((2, S, C, RST, 506, 0, b""));
    assert_eq!(table(&rstr)[0].0.state, "RSTR");
    let mut s1 = handshake_and_close();
    s1.truncate(5);
    assert_eq!(table(&s1)[0].0.state, "S1");
    let oth = table(&[
        (1, S, C, ACK, 900, 100, b"data"),
        (1, C, S, ACK, 100, 904, b""),
    ]);
    assert_eq!(oth[0].0.state, "OTH");
    assert_eq!(oth[0].0.roles, RoleSource::Port);
    assert_eq!(oth[0].0.server, ep(S), "the lower port serves");
}

#[test]
fn a_new_syn_after_close_is_a_new_connection() {
    let mut pkts = handshake_and_close();
    let mut again = handshake_and_close();
    for p in again.iter_mut() {
        p.0 += 1;
        if p.3 & SYN != 0 && p.1 == C {
            p.4 = 7000;
        }
    }
    // Shift the client's sequence numbers of the second incarnation.
    for p in again.iter_mut().skip(1) {
        if p.1 == C {
            p.4 = p.4 - 100 + 7000;
        } else {
            p.5 = p.5 - 100 + 7000;
        }
    }
    pkts.extend(again);
    let done = table(&pkts);
    assert_eq!(done.len(), 2);
    for (rec, rx) in &done {
        assert_eq!(rec.state, "SF");
        assert_eq!(rx.text(), "ping");
    }
}

#[test]
fn syn_ack_seen_before_syn_is_one_connection() {
    let pkts: Vec<Pkt> = vec![
        (1, S, C, SYN | ACK, 500, 101, b""),
        (1, C, S, SYN, 100, 0, b""),
        (1, C, S, ACK, 101, 501, b"hi"),
    ];
    let done = table(&pkts);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0.client, ep(C));
    assert_eq!(done[0].1.text(), "hi");
}

/// A SYN from client port `port` at `ts_ns`.
fn syn(ts_ns: u64, port: u16) -> TcpSegment<'static> {
    TcpSegment {
        ts_ns,
        src: Endpoint { port, ..ep(C) },
        dst: ep(S),
        vlan: 0,
        seq: 1,
        ack: 0,
        flags: TcpFlags(SYN),
        payload: b"",
        payload_missing: 0,
    }
}

#[test]
fn a_full_table_evicts_the_oldest_and_loses_no_connection() {
    let limits = FlowLimits {
        max_connections: 4,
        ..Default::default()
    };
    let mut t = FlowTable::new(limits, Collect::default());
    for i in 0..10u16 {
        t.segment(&syn(u64::from(i) * 1_000, 40_000 + i));
        assert!(t.open_connections() <= 4);
    }
    let (f, stats) = t.finish();
    assert_eq!(f.done.len(), 10);
    assert_eq!(stats.table_full_evictions, 6);
    let mut ids: Vec<u64> = f.done.iter().map(|(r, _)| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
}

#[test]
fn a_conflicting_repeat_after_a_reset_is_still_compared() {
    // The pattern of an injected RST: the bytes repeated after it differ.
    let pkts: Vec<Pkt> = vec![
        (1, C, S, SYN, 100, 0, b""),
        (1, S, C, SYN | ACK, 500, 101, b""),
        (1, C, S, ACK, 101, 501, b""),
        (1, C, S, ACK, 101, 501, b"hello"),
        (1, S, C, RST, 501, 0, b""),
        (1, C, S, ACK, 101, 501, b"HELLO"),
    ];
    let done = table(&pkts);
    assert_eq!(done.len(), 1);
    let c = &done[0].0.counters[Direction::ToServer as usize];
    assert_eq!(c.retransmitted, 5);
    assert_eq!(c.overlap_conflicts, 1);
    // After both FINs the copies go: a repeat is counted, not compared.
    let pkts: Vec<Pkt> = vec![
        (1, C, S, SYN, 100, 0, b""),
        (1, S, C, SYN | ACK, 500, 101, b""),
        (1, C, S, ACK, 101, 501, b"hello"),
        (1, C, S, FIN | ACK, 106, 501, b""),
        (1, S, C, FIN | ACK, 501, 107, b""),
        (1, C, S, ACK, 101, 502, b"HELLO"),
    ];
    let done = table(&pkts);
    let c = &done[0].0.counters[Direction::ToServer as usize];
    assert_eq!(c.retransmitted, 5);
    assert_eq!(c.overlap_conflicts, 0);
}

#[test]
fn a_full_table_whose_clock_stands_still_evicts_the_oldest_first() {
    let limits = FlowLimits {
        max_connections: 4,
        ..Default::default()
    };
    let mut t = FlowTable::new(limits, Collect::default());
    // One timestamp for all, and ports falling, so that neither time nor
    // the endpoints order them: only their age does.
    for i in 0..10u16 {
        t.segment(&syn(7, 50_000 - i));
    }
    let evicted: Vec<u64> = t.factory().done.iter().map(|(r, _)| r.id).collect();
    assert_eq!(evicted, vec![1, 2, 3, 4, 5, 6]);
    let (f, stats) = t.finish();
    assert_eq!(stats.table_full_evictions, 6);
    assert_eq!(f.done.len(), 10);
}

#[test]
fn idle_connections_leave_the_table_on_capture_time() {
    let mut t = FlowTable::new(FlowLimits::default(), Collect::default());
    let seg = |ts: u64, port: u16| syn(ts * 1_000_000_000, port);
    t.segment(&seg(0, 1));
    t.segment(&seg(1, 2));
    // One wild timestamp alone does not expire anything.
    t.segment(&seg(1_000_000, 3));
    assert_eq!(t.open_connections(), 3);
    t.segment(&seg(400, 4));
    t.segment(&seg(401, 5));
    assert_eq!(t.open_connections(), 3, "connections 1 and 2 went idle");
    assert_eq!(t.factory().done.len(), 2);
}

/// Pointing at delivered bytes in a mapped input instead of copying them
/// changes nothing: random streams of small and full-size segments, with
/// retransmissions of recent bytes (some altered, some out of order),
/// counted and compared the same both ways.
#[test]
fn tail_in_place_compares_as_the_copies_do() {
    use crate::capture::Maps;
    let mut rnd = crate::test_util::xorshift(7);
    // The "input": a file holding every payload (and altered copies).
    let mut file = tempfile::tempfile().unwrap();
    let mut content = Vec::new();
    let mut segments: Vec<(u32, usize, usize)> = Vec::new(); // seq, at, len
    let mut stream = Vec::new();
    let mut seq = 1u32;
    for _ in 0..400 {
        let len = match rnd() % 4 {
            0 => 1 + (rnd() % 200) as usize,
            1 => 1024 + (rnd() % 2000) as usize,
            _ => 1448,
        };
        let bytes: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        segments.push((seq, content.len(), len));
        content.extend_from_slice(&bytes);
        stream.extend_from_slice(&bytes);
        seq += len as u32;
        if rnd() % 3 == 0 {
            // A retransmission of recent bytes, maybe altered, maybe
            // running past what was sent so far.
            let back = 1 + (rnd() % 3000) as usize;
            let from = stream.len().saturating_sub(back);
            let n = (1 + rnd() % 2500) as usize;
            let mut again: Vec<u8> = stream[from..(from + n).min(stream.len())].to_vec();
            if rnd() % 2 == 0 {
                let i = (rnd() as usize) % again.len();
                again[i] ^= 0x55;
            }
            segments.push((1 + from as u32, content.len(), again.len()));
            content.extend_from_slice(&again);
        }
        if rnd() % 10 == 0 && segments.len() > 2 {
            // Two segments swapped: the later one waits out of order.
            let k = segments.len();
            segments.swap(k - 1, k - 2);
        }
    }
    std::io::Write::write_all(&mut file, &content).unwrap();
    // SAFETY: a private temporary file, not changed while mapped.
    let map = std::sync::Arc::new(unsafe { memmap2::Mmap::map(&file) }.unwrap());
    let mut maps = Maps::default();
    maps.add([map.clone()]);
    let limits = ReassemblyLimits::default();
    let (mut copied, mut pointed) = (started(), started());
    for &(seq, at, len) in &segments {
        let bytes = &map[at..at + len];
        copied
            .0
            .segment(D, &limits, SeqNum(seq), bytes, 0, &mut copied.1);
        let origin = super::Origin {
            maps: &maps,
            place: maps.locate(bytes),
        };
        assert_eq!(origin.place.map(|p| p.at), Some(at));
        pointed
            .0
            .segment_from(D, &limits, SeqNum(seq), bytes, 0, origin, &mut pointed.1);
    }
    let c = copied.0.counters;
    assert!(
        c.overlap_conflicts > 20 && c.retransmitted > 50_000,
        "{c:?}"
    );
    assert_eq!(format!("{:?}", pointed.0.counters), format!("{c:?}"));
    assert_eq!(pointed.1, copied.1);
}
