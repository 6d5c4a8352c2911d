//! The report model: what every renderer reads. Field names are the JSON
//! contract (`sessmap.report/v1`, DESIGN.md).

use crate::capture::InputSummary;
pub use crate::capture::LiveStats;
use crate::decode::Endpoint;
use crate::decode::FragStats;
use crate::flow::RoleSource;
use crate::proto::ftp::FtpCounters;
use crate::proto::http::HttpCounters;
use crate::proto::http2::Http2Counters;
pub use crate::proto::text::{lossless, Text};
use crate::proto::tls::keylog::KeyLogCounters;
use crate::proto::tls::{Decryption, StopReason, TlsCounters};
use crate::proto::Protocol;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "sessmap.report/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub inputs: Vec<InputSummary>,
    pub stats: Stats,
    pub connections: Vec<ConnectionReport>,
    pub sessions: Vec<SessionReport>,
    pub hosts: Vec<HostReport>,
    pub findings: Vec<Finding>,
    /// Problems with the input that did not stop the analysis.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub packets: u64,
    /// A live capture: libpcap's own counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveStats>,
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
    pub sessions: u64,
    pub ftp: FtpCounters,
    /// Connections that belong to no session.
    pub connections_without_session: u64,
    pub http: HttpCounters,
    /// HTTP/2 framing and HPACK, when a connection spoke HTTP/2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2Stats>,
    /// TLS decryption, when key material was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsStats>,
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
    /// What the payload was, recognised by content (absent without payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
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
    /// HTTP requests on the connection.
    pub requests: u64,
    /// The HTTP version the connection spoke (`1.1` for any HTTP/1.x, `2`),
    /// in cleartext or decrypted; absent when no HTTP was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<&'static str>,
    /// The sessions this connection carried, with their requests on it.
    pub sessions: Vec<ConnSession>,
    /// Why the connection has no session (absent when it has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_session: Option<NoSession>,
    /// The TLS handshake, on a TLS connection (boxed: most connections have
    /// none, and every row is kept until the report is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsReport>>,
}

/// What a TLS connection's plaintext handshake showed.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// The negotiated version (`TLS 1.2`), null without a ServerHello.
    pub version: Option<String>,
    /// Server Name Indication.
    pub sni: Option<Text>,
    /// `full`, `session-id` or `ticket` (resumed, TLS ≤ 1.2), `psk`
    /// (resumed, TLS 1.3), `incomplete` (a hello missing), or `unseen`
    /// (the capture started after the handshake).
    pub handshake: &'static str,
    /// The connection whose handshake issued what this one resumed.
    pub resumes: Option<u64>,
    /// With key material (`--keylog`, embedded secrets) only, the fields
    /// below. The negotiated cipher suite (IANA name, or `0xNNNN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// The protocol the server selected by ALPN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// Where each direction stopped decrypting, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<StopReport>,
    /// Plaintext application bytes decrypted, per side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decrypted_bytes: Option<PerSide>,
    /// The protocol inside, once decrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<InnerProtocol>,
    /// The ClientHello's random: how `extract` finds the connection's
    /// secrets to embed. Not reported.
    #[serde(skip)]
    pub client_random: Option<[u8; 32]>,
}

impl ConnectionReport {
    /// For people: the protocol, with `/2` for cleartext HTTP/2 (`http`,
    /// `http/2`, `ftp`, `tls`); `None` without payload.
    pub fn protocol_label(&self) -> Option<String> {
        let p = serde_json::to_value(self.protocol?).ok()?;
        let p = p.as_str()?;
        Some(match (self.protocol, self.http_version) {
            (Some(crate::proto::Protocol::Http), Some("2")) => format!("{p}/2"),
            _ => p.to_owned(),
        })
    }
}

impl TlsReport {
    /// For people: how decryption went and what was inside (`decrypted
    /// http/2`, `partial http/1.1`, `no-keys`); `None` without key material.
    pub fn decryption_note(&self) -> Option<String> {
        let d = serde_json::to_value(self.decryption?).ok()?;
        let d = d.as_str()?.to_owned();
        Some(match &self.inner {
            Some(i) => format!("{d} {}/{}", i.protocol, i.version),
            None => d,
        })
    }
}

/// Where a direction of a TLS connection stopped decrypting.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StopReport {
    /// `client` (what the client sent) or `server`.
    pub side: &'static str,
    /// Records decrypted on that side before.
    pub records: u64,
    /// Offset of the record in that side's TCP stream.
    pub offset: u64,
    pub reason: StopReason,
}

/// The protocol read inside a decrypted TLS connection.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InnerProtocol {
    pub protocol: &'static str,
    /// `1.1` or `2`.
    pub version: &'static str,
}

/// HTTP/2 over the capture (cleartext h2c and decrypted h2).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Http2Stats {
    /// Connections that spoke HTTP/2.
    pub connections: u64,
    #[serde(flatten)]
    pub counters: Http2Counters,
}

/// TLS decryption over the capture (with key material only).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsStats {
    /// TLS connections, and their decryption outcomes.
    pub connections: u64,
    pub decrypted: u64,
    pub partial: u64,
    pub no_keys: u64,
    pub failed: u64,
    /// Connections whose suite sessmap does not decrypt, by suite.
    pub unsupported_cipher: BTreeMap<String, u64>,
    #[serde(flatten)]
    pub counters: TlsCounters,
    pub keylog: KeyLogCounters,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct ConnSession {
    pub id: u64,
    pub requests: u64,
}

/// Why a connection belongs to no session.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoSession {
    NoPayload,
    NotHttp,
    Encrypted,
    /// TLS decrypted, but only the handshake was sent (a connection opened
    /// and never used).
    NoApplicationData,
    /// HTTP, but no request carried or received a session cookie.
    NoSessionCookie,
    /// The capture lost the start of the client's stream.
    GapBeforeRequest,
    /// An FTP data connection that matches no announcement of a readable
    /// control channel.
    FtpUnlinked,
}

impl NoSession {
    pub fn describe(self) -> &'static str {
        match self {
            NoSession::NoPayload => "no payload",
            NoSession::NotHttp => "not HTTP",
            NoSession::Encrypted => "encrypted",
            NoSession::NoApplicationData => "TLS handshake only",
            NoSession::NoSessionCookie => "HTTP without session cookie",
            NoSession::GapBeforeRequest => "gap before any request",
            NoSession::FtpUnlinked => "FTP data, unlinked",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionReport {
    pub id: u64,
    pub kind: &'static str,
    /// The site the session belongs to (cookie scope).
    pub server: Text,
    /// `NAME=value` (the value redacted unless `--show-secrets`).
    pub key: Text,
    /// Other values of the session: rotated ids, other session cookies sent
    /// with it.
    pub aliases: Vec<Text>,
    pub clients: Vec<String>,
    pub user: Option<Text>,
    #[serde(serialize_with = "as_rfc3339")]
    pub start: u64,
    #[serde(serialize_with = "as_rfc3339")]
    pub end: u64,
    pub connections: Vec<u64>,
    pub requests: u64,
    /// Used from more than one client address.
    pub multiple_clients: bool,
    /// The server deleted the session cookie.
    pub ended: bool,
    /// Gap notices over the session's connections: bytes the capture lost,
    /// so some of its requests or links may be missing.
    pub gaps: u64,
    /// FTP: the control connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<u64>,
    /// FTP: `success` or `failure` of the login, when a reply said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<&'static str>,
    /// FTP: one entry per data connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<Vec<Transfer>>,
    /// FTP: data connections announced that never came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<Vec<Announcement>>,
    /// FTP: the security mechanism that made the control channel opaque
    /// (its data connections cannot be linked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opaque: Option<String>,
    /// HTTP: `tls` when every connection of the session was decrypted TLS,
    /// `mixed` when some were (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<&'static str>,
    /// TLS: the connection of the full handshake (null when it is not in
    /// the capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Option<u64>>,
}

/// An FTP data connection of a session.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub connection: u64,
    /// RETR, STOR, LIST, … (null when no transfer command was seen).
    pub command: Option<String>,
    pub argument: Option<Text>,
    /// `download` (server to client) or `upload`.
    pub direction: Option<&'static str>,
    /// `passive` or `active`.
    pub mode: &'static str,
    /// PASV, EPSV, LPSV, PORT, EPRT or LPRT; `inferred` when the capture
    /// lost the announcement and evidence linked the connection.
    pub setup: String,
    /// Why an inferred link was made (only with `setup: "inferred"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inferred: Option<String>,
    pub extended: bool,
    /// Payload bytes moved in the transfer's direction (both directions
    /// when the command is unknown).
    pub bytes: u64,
    /// The final reply to the transfer command.
    pub reply: Option<u16>,
}

/// An announced data connection.
#[derive(Debug, Clone, Serialize)]
pub struct Announcement {
    pub setup: String,
    /// `ip:port`, or `:port` for EPSV (whose address is the server's).
    pub endpoint: String,
    #[serde(serialize_with = "as_rfc3339")]
    pub at: u64,
}

/// Something worth a look, from the rule list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    /// `error`, `warning` or `info`.
    pub severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<u64>,
    pub message: String,
}

// Rows keep numbers and addresses, not strings: a capture can have millions
// of connections, and the strings are made only while rendering.
fn as_display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_rfc3339<S: Serializer>(ns: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(super::time::Rfc3339::of(*ns).as_str())
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostReport {
    pub address: String,
    /// Connections this address opened (as client).
    pub connections: u64,
    /// Sessions used from this address.
    pub sessions: u64,
    /// Connections this address accepted (as server).
    pub served: u64,
}
