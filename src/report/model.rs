//! The report model: what every renderer reads. Field names are the JSON
//! contract (`sessmap.report/v1`, DESIGN.md).

use crate::capture::InputSummary;
use crate::decode::Endpoint;
use crate::decode::FragStats;
use crate::flow::RoleSource;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "sessmap.report/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub inputs: Vec<InputSummary>,
    pub stats: Stats,
    pub connections: Vec<ConnectionReport>,
    pub hosts: Vec<HostReport>,
    /// Problems with the input that did not stop the analysis.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub packets: u64,
    /// Packets per link type name.
    pub linktypes: BTreeMap<String, u64>,
    /// Packets dropped by `--filter`.
    pub filtered: u64,
    pub tcp_segments: u64,
    /// TCP segments whose payload the snaplen cut.
    pub tcp_payload_truncated: u64,
    /// Frames that gave no TCP segment, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    pub fragments: FragStats,
    pub connections: u64,
    /// Most connections open at once (handshake or data seen, not yet closed
    /// by FIN both ways or RST).
    pub peak_open_connections: u64,
    /// Connections ended by the idle timeout rather than by FIN or RST.
    pub idle_timeouts: u64,
    /// Named limits that tripped, with how often.
    pub limits: BTreeMap<&'static str, u64>,
    /// Inputs that ended early (cut short or corrupt).
    pub truncated_inputs: u64,
}

/// Per-direction pair: from the client, from the server.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct PerSide {
    pub client: u64,
    pub server: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    pub id: u64,
    #[serde(serialize_with = "as_display")]
    pub client: Endpoint,
    #[serde(serialize_with = "as_display")]
    pub server: Endpoint,
    /// VLAN ids, outermost first (absent without tags).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlan: Vec<u16>,
    /// How the client/server roles were decided.
    pub roles: RoleSource,
    /// Nanoseconds since the epoch; RFC 3339 in JSON.
    #[serde(serialize_with = "as_rfc3339")]
    pub start: u64,
    #[serde(serialize_with = "as_rfc3339")]
    pub end: u64,
    /// Seconds.
    pub duration: f64,
    /// Zeek's conn_state vocabulary.
    pub state: &'static str,
    /// Zeek's history letters (client upper case, server lower case).
    pub history: String,
    pub packets: PerSide,
    /// Unique payload bytes.
    pub bytes: PerSide,
    pub missed_bytes: PerSide,
    pub retransmitted_bytes: PerSide,
    /// Segments that repeated bytes with different content.
    pub overlap_conflicts: PerSide,
    /// Gap notices given to the protocol parsers.
    pub gaps: u64,
}

// Rows keep numbers and addresses, not strings: a capture can have millions
// of connections, and the strings are made only while rendering.
fn as_display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_rfc3339<S: Serializer>(ns: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::rfc3339(*ns))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostReport {
    pub address: String,
    /// Connections this address opened (as client).
    pub connections: u64,
    /// Connections this address accepted (as server).
    pub served: u64,
}
