//! Correlate: connections and protocol facts in, the report's map out.
//!
//! It is the flow table's [`ConsumerFactory`]: it hands each new connection
//! its protocol consumer and takes the finished connection back, keeping only
//! the facts (the per-connection parser state is dropped then). Sessions are
//! built here as the HTTP and FTP parsers arrive; for now it turns
//! connections into report rows and a per-host summary.

use crate::decode::Endpoint;
use crate::flow::{ConnRecord, ConsumerFactory, Direction};
use crate::proto::ByteCounter;
use crate::report::{ConnectionReport, HostReport, PerSide};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Default)]
pub struct Correlator {
    connections: Vec<ConnectionReport>,
    /// Consumers that saw data out of order (a reassembly defect; must stay 0).
    pub stream_contract_violations: u64,
    /// Times a connection's out-of-order buffer hit its bound.
    pub reassembly_overflows: u64,
    /// Segments dropped as far outside their stream.
    pub out_of_window: u64,
}

impl ConsumerFactory for Correlator {
    type Consumer = ByteCounter;

    fn open(&mut self, _id: u64, _client: &Endpoint, _server: &Endpoint) -> ByteCounter {
        ByteCounter::default()
    }

    fn close(&mut self, record: ConnRecord, counter: ByteCounter) {
        let c = &record.counters;
        let s = Direction::ToServer as usize;
        let r = Direction::ToClient as usize;
        let side = |f: fn(&crate::flow::StreamCounters) -> u64| PerSide {
            client: f(&c[s]),
            server: f(&c[r]),
        };
        if counter.out_of_order > 0
            || counter.bytes != [c[s].bytes, c[r].bytes]
            || counter.gap_bytes != [c[s].missed, c[r].missed]
        {
            self.stream_contract_violations += 1;
        }
        self.reassembly_overflows += c[s].pending_overflows + c[r].pending_overflows;
        self.out_of_window += c[s].out_of_window + c[r].out_of_window;
        self.connections.push(ConnectionReport {
            id: record.id,
            client: record.client,
            server: record.server,
            vlan: vlan_ids(record.vlan),
            roles: record.roles,
            start: record.start_ns,
            end: record.end_ns,
            duration: record.end_ns.saturating_sub(record.start_ns) as f64 / 1e9,
            state: record.state,
            history: record.history.clone(),
            packets: PerSide {
                client: record.packets[s],
                server: record.packets[r],
            },
            bytes: side(|x| x.bytes),
            missed_bytes: side(|x| x.missed),
            retransmitted_bytes: side(|x| x.retransmitted),
            overlap_conflicts: side(|x| x.overlap_conflicts),
            gaps: c[s].gaps + c[r].gaps,
        });
    }
}

impl Correlator {
    /// Connections in id order, and the per-host summary.
    pub fn finish(&mut self) -> (Vec<ConnectionReport>, Vec<HostReport>) {
        let mut connections = std::mem::take(&mut self.connections);
        connections.sort_unstable_by_key(|c| c.id);
        let mut hosts: BTreeMap<IpAddr, HostReport> = BTreeMap::new();
        for c in &connections {
            for (ip, opened) in [(c.client.ip, true), (c.server.ip, false)] {
                let h = hosts.entry(ip).or_insert_with(|| HostReport {
                    address: ip.to_string(),
                    connections: 0,
                    served: 0,
                });
                if opened {
                    h.connections += 1;
                } else {
                    h.served += 1;
                }
            }
        }
        (connections, hosts.into_values().collect())
    }
}

fn vlan_ids(packed: u64) -> Vec<u16> {
    let mut ids = Vec::new();
    let mut v = packed;
    while v != 0 {
        ids.push((v & 0xfff) as u16);
        v >>= 13;
    }
    ids.reverse();
    ids
}
