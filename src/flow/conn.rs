//! One TCP connection: roles, endpoint states, Zeek's `history` and
//! `conn_state`, and the two half-streams.

use super::reassembly::{HalfStream, StreamCounters};
use super::seq::SeqNum;
use super::Direction;
use crate::decode::Endpoint;
use serde::Serialize;

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
    pub fn mark(&mut self, dir: Direction, letter: u8) {
        const LETTERS: &[u8] = b"SHADFRTIGQ";
        let Some(i) = LETTERS.iter().position(|l| *l == letter) else {
            return;
        };
        let bit = 1u32 << (i * 2 + dir as usize);
        if self.history_seen & bit == 0 {
            self.history_seen |= bit;
            let c = if dir == Direction::ToServer {
                letter
            } else {
                letter.to_ascii_lowercase()
            };
            self.history.push(c as char);
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
