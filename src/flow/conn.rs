//! One TCP connection: roles, endpoint states, Zeek's `history` and
//! `conn_state`, and the two half-streams.

use super::reassembly::{HalfStream, Origin, ReassemblyLimits, StreamCounters};
use super::seq::SeqNum;
use super::{At, Delivery, Direction, StreamConsumer};
use crate::decode::{Endpoint, TcpSegment};
use serde::Serialize;

/// Zeek's history letters (upper case from the client, lower case from the
/// server), each recorded the first time it happens in a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    /// S: a SYN.
    Syn,
    /// H: a SYN-ACK.
    SynAck,
    /// A: a pure ACK.
    Ack,
    /// D: payload.
    Data,
    /// F: a FIN.
    Fin,
    /// R: a RST.
    Rst,
    /// T: a retransmission.
    Retransmission,
    /// I: bytes that differ from what they repeat.
    Inconsistent,
    /// G: a content gap.
    Gap,
    /// Q: SYN and FIN together.
    SynFin,
}

impl Letter {
    /// Upper case, in the order of the variants.
    const CHARS: &'static [u8; 10] = b"SHADFRTIGQ";
}

/// The state of one endpoint, after Zeek's TCP analyzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Seen only from the middle (no SYN).
    Partial,
    Established,
    Closed,
    Reset,
}

/// How the client/server roles were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleSource {
    /// The SYN (or SYN-ACK) showed who opened the connection.
    Handshake,
    /// No handshake seen: the lower (well-known) port is the server.
    Port,
}

#[derive(Debug, Default)]
pub struct Half {
    pub stream: HalfStream,
    pub state: EndpointState,
    pub packets: u64,
    /// The last acknowledgment number this side sent (it acknowledges the
    /// other side's stream).
    pub last_ack: Option<SeqNum>,
    pub isn: Option<SeqNum>,
}

/// A connection's summary once it is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnRecord {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub vlan: u64,
    pub roles: RoleSource,
    pub start_ns: u64,
    pub end_ns: u64,
    pub state: &'static str,
    pub history: String,
    pub packets: [u64; 2],
    pub counters: [StreamCounters; 2],
}

pub struct Connection<C> {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub vlan: u64,
    pub roles: RoleSource,
    pub start_ns: u64,
    pub last_ns: u64,
    pub halves: [Half; 2],
    history: String,
    /// Bit per (letter, direction) already in `history`.
    history_seen: u32,
    /// Capture time at which the connection was closed (FIN both ways or RST).
    pub closed_ns: Option<u64>,
    pub consumer: C,
}

impl<C> Connection<C> {
    pub fn new(
        id: u64,
        client: Endpoint,
        server: Endpoint,
        vlan: u64,
        roles: RoleSource,
        ts: u64,
        consumer: C,
    ) -> Self {
        Connection {
            id,
            client,
            server,
            vlan,
            roles,
            start_ns: ts,
            last_ns: ts,
            halves: Default::default(),
            history: String::new(),
            history_seen: 0,
            closed_ns: None,
            consumer,
        }
    }

    pub fn direction_of(&self, src: &Endpoint) -> Direction {
        if *src == self.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// Adds a Zeek history letter (upper case from the client, lower case
    /// from the server) the first time it happens in that direction.
    pub fn mark(&mut self, dir: Direction, letter: Letter) {
        let i = letter as usize;
        let bit = 1u32 << (i * 2 + dir as usize);
        if self.history_seen & bit == 0 {
            self.history_seen |= bit;
            let c = Letter::CHARS[i];
            let c = if dir == Direction::ToServer {
                c
            } else {
                c.to_ascii_lowercase()
            };
            self.history.push(c as char);
        }
    }

    /// Drops the copies of delivered bytes both directions keep, once both
    /// streams ended with their FIN: repeats after that are counted, not
    /// compared. (A reset, or a FIN with a hole before it, keeps them: a
    /// conflicting repeat after a RST is what an injection looks like.)
    pub fn release_tails(&mut self) {
        if self.halves.iter().all(|h| h.stream.is_ended()) {
            for h in &mut self.halves {
                h.stream.release_tail();
            }
        }
    }

    /// Out-of-order bytes both directions hold.
    pub fn pending_bytes(&self) -> usize {
        self.halves[0].stream.pending_bytes() + self.halves[1].stream.pending_bytes()
    }

    /// A SYN on this connection's 4-tuple starts a new connection when this
    /// one is over (closed or reset) or the SYN carries another initial
    /// sequence number than the one this one started with (port reuse). A
    /// SYN with the same number is a retransmission.
    pub fn is_new_incarnation(&self, seg: &TcpSegment<'_>) -> bool {
        let dir = self.direction_of(&seg.src);
        let half = &self.halves[dir as usize];
        let seq = SeqNum(seg.seq);
        match half.isn {
            Some(isn) => isn != seq,
            // No SYN from this side yet. The peer's ACK tells: a SYN-ACK seen
            // first (capture reordering) acknowledges exactly this SYN.
            None => {
                self.closed_ns.is_some()
                    || self.halves[dir.other() as usize]
                        .last_ack
                        .is_some_and(|a| a != seq.plus(1))
            }
        }
    }

    /// The gaps each direction's stream has declared.
    fn gaps(&self) -> [u64; 2] {
        [
            self.halves[0].stream.counters.gaps,
            self.halves[1].stream.counters.gaps,
        ]
    }

    /// Zeek's 'G': a content gap, recorded when it is found.
    fn mark_new_gaps(&mut self, before: [u64; 2]) {
        let after = self.gaps();
        for dir in [Direction::ToServer, Direction::ToClient] {
            if after[dir as usize] > before[dir as usize] {
                self.mark(dir, Letter::Gap);
            }
        }
    }

    /// A half-stream with the consumer and sink its output goes to.
    fn stream<'a, S>(
        &'a mut self,
        dir: Direction,
        sink: &'a mut S,
        at: At,
    ) -> (&'a mut HalfStream, Delivery<'a, C, S>) {
        let Connection {
            halves, consumer, ..
        } = self;
        (
            &mut halves[dir as usize].stream,
            Delivery { consumer, sink, at },
        )
    }

    /// Applies one segment: endpoint states, history, reassembly.
    pub fn apply<S>(
        &mut self,
        seg: &TcpSegment<'_>,
        limits: &ReassemblyLimits,
        origin: Origin<'_>,
        sink: &mut S,
    ) where
        C: StreamConsumer<S>,
    {
        use EndpointState::*;
        let at = At {
            conn: self.id,
            ts_ns: seg.ts_ns,
        };
        let dir = self.direction_of(&seg.src);
        let d = dir as usize;
        let o = dir.other() as usize;
        self.last_ns = self.last_ns.max(seg.ts_ns);
        self.halves[d].packets += 1;
        let flags = seg.flags;
        let seq = SeqNum(seg.seq);

        if flags.rst() {
            // (No stream is touched: no gap to mark.)
            self.mark(dir, Letter::Rst);
            self.halves[d].state = Reset;
            self.closed_ns.get_or_insert(seg.ts_ns);
            return;
        }
        let gaps = self.gaps();
        if flags.syn() {
            if flags.fin() {
                self.mark(dir, Letter::SynFin);
            }
            self.mark(
                dir,
                if flags.ack() {
                    Letter::SynAck
                } else {
                    Letter::Syn
                },
            );
            let half = &mut self.halves[d];
            if half.isn.is_none() {
                half.isn = Some(seq);
                half.stream.syn(seq);
            }
            if half.state == Inactive {
                half.state = if flags.ack() { SynAckSent } else { SynSent };
            }
        } else if self.halves[d].state == Inactive {
            self.halves[d].state = Partial;
        }
        if flags.ack() {
            let ack = SeqNum(seg.ack);
            self.halves[d].last_ack = Some(ack);
            if !flags.syn() {
                // The handshake's third step establishes both sides.
                if matches!(self.halves[d].state, SynSent | Partial)
                    && matches!(self.halves[o].state, SynAckSent | Established)
                {
                    self.halves[d].state = Established;
                    self.halves[o].state = Established;
                }
                if seg.payload.is_empty() && !flags.fin() {
                    self.mark(dir, Letter::Ack);
                }
            }
            let (stream, mut out) = self.stream(dir.other(), sink, at);
            stream.acked(dir.other(), ack, &mut out);
        }

        let data_seq = if flags.syn() { seq.plus(1) } else { seq };
        if !seg.payload.is_empty() || seg.payload_missing > 0 {
            let c = self.counters(dir);
            let (retransmitted, conflicts) = (c.retransmitted, c.overlap_conflicts);
            let (stream, mut out) = self.stream(dir, sink, at);
            stream.segment_from(
                dir,
                limits,
                data_seq,
                seg.payload,
                seg.payload_missing,
                origin,
                &mut out,
            );
            self.mark(dir, Letter::Data);
            let c = self.counters(dir);
            let (retransmitted, conflicts) = (
                c.retransmitted > retransmitted,
                c.overlap_conflicts > conflicts,
            );
            if retransmitted {
                self.mark(dir, Letter::Retransmission);
            }
            if conflicts {
                self.mark(dir, Letter::Inconsistent);
            }
        }
        if flags.fin() {
            self.mark(dir, Letter::Fin);
            let half = &mut self.halves[d];
            if half.state != Reset {
                half.state = Closed;
            }
            let fin_seq = data_seq.plus(seg.payload.len() as u32 + seg.payload_missing);
            let (stream, mut out) = self.stream(dir, sink, at);
            stream.fin(dir, fin_seq, &mut out);
            if self.halves[o].state == Closed {
                self.closed_ns.get_or_insert(seg.ts_ns);
            }
        }
        self.mark_new_gaps(gaps);
    }

    /// Gives up on every hole (the table's memory budget is exhausted).
    pub fn flush<S>(&mut self, ts_ns: u64, sink: &mut S)
    where
        C: StreamConsumer<S>,
    {
        let at = At {
            conn: self.id,
            ts_ns,
        };
        for dir in [Direction::ToServer, Direction::ToClient] {
            let (stream, mut out) = self.stream(dir, sink, at);
            stream.flush(dir, &mut out);
            if stream.counters.gaps > 0 {
                self.mark(dir, Letter::Gap);
            }
        }
    }

    /// The connection is over: each direction delivers what it still holds
    /// (holes the peer acknowledged, or all, are skipped as gaps).
    pub fn finish<S>(&mut self, sink: &mut S)
    where
        C: StreamConsumer<S>,
    {
        let at = At {
            conn: self.id,
            ts_ns: self.last_ns,
        };
        for dir in [Direction::ToServer, Direction::ToClient] {
            let peer_ack = self.halves[dir.other() as usize].last_ack;
            let (stream, mut out) = self.stream(dir, sink, at);
            stream.finish(dir, peer_ack, &mut out);
        }
        for dir in [Direction::ToServer, Direction::ToClient] {
            if self.counters(dir).gaps > 0 {
                self.mark(dir, Letter::Gap);
            }
        }
    }

    pub fn record(&self) -> ConnRecord {
        ConnRecord {
            id: self.id,
            client: self.client,
            server: self.server,
            vlan: self.vlan,
            roles: self.roles,
            start_ns: self.start_ns,
            end_ns: self.last_ns,
            state: self.conn_state(),
            history: self.history.clone(),
            packets: [self.halves[0].packets, self.halves[1].packets],
            counters: [
                self.halves[0].stream.counters,
                self.halves[1].stream.counters,
            ],
        }
    }

    /// Zeek's `conn_state` (base/protocols/conn/main.zeek), from the two
    /// endpoint states, the payload sizes and the history.
    pub fn conn_state(&self) -> &'static str {
        use EndpointState::*;
        let os = self.halves[Direction::ToServer as usize].state;
        let rs = self.halves[Direction::ToClient as usize].state;
        let o_size = self.halves[0].stream.counters.bytes;
        let r_size = self.halves[1].stream.counters.bytes;
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent) || (os == Reset && o_size == 0 && r_size == 0) {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                // History /^?S[^HAFGIQ]*R.*/: a SYN, then a reset, nothing
                // from the responder's handshake in between.
                let h = self.history.trim_start_matches('^').as_bytes();
                let rsto_s0 = h.first() == Some(&b'S')
                    && h[1..]
                        .iter()
                        .take_while(|c| !b"HAFGIQ".contains(c))
                        .any(|c| *c == b'R');
                if rsto_s0 {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive {
                "SH"
            } else {
                "S2"
            }
        } else if rs == Closed {
            if o_inactive {
                "SHR"
            } else {
                "S3"
            }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    /// The counters of one direction.
    pub fn counters(&self, dir: Direction) -> &StreamCounters {
        &self.halves[dir as usize].stream.counters
    }
}

/// The side that is the server when no handshake was seen: the lower port
/// (well-known and registered ports are below the ephemeral range); on a
/// tie, the destination of the first packet.
pub fn server_by_port(src: &Endpoint, dst: &Endpoint) -> bool {
    // true: `src` is the server.
    src.port < dst.port
}
