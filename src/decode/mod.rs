//! Decode: one raw frame in, one TCP segment view out (or a counted reason
//! for skipping the frame).
//!
//! The segment borrows the frame; only a datagram rebuilt from IP fragments
//! lives in the decoder's own buffer. Truncated frames keep what they have: a
//! TCP header that survived the snaplen still yields a segment, with the cut
//! payload reported as `payload_missing` so reassembly can count it as a gap.

mod frag;
mod link;

pub use frag::{FragLimits, FragStats};

use crate::capture::Frame;
use etherparse::{
    IpNumber, Ipv6ExtensionSlice, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket, TcpSlice,
};
use frag::{Defragmenter, FragKey};
use link::{LinkSkip, Network};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// One side of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// TCP header flags, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A decoded TCP segment, borrowing the frame (or the decoder's fragment
/// buffer).
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub ts_ns: u64,
    pub src: Endpoint,
    pub dst: Endpoint,
    /// VLAN ids, outermost first, 13 bits each (a presence bit, then the
    /// 12-bit id, so VLAN 0 differs from no tag); 0 without tags.
    /// Connections on different VLANs are different connections even with
    /// one 5-tuple.
    pub vlan: u64,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: &'a [u8],
    /// Payload bytes the sender sent that the capture did not keep.
    pub payload_missing: u32,
}

/// Why a frame produced no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NonIp,
    NonTcp,
    Truncated,
    BadHeader,
    UnsupportedLinkType,
    /// A fragment kept until its datagram is complete (not lost: counted in
    /// the fragment stats).
    FragmentHeld,
}

impl Skip {
    const ALL: [Skip; 6] = [
        Skip::NonIp,
        Skip::NonTcp,
        Skip::Truncated,
        Skip::BadHeader,
        Skip::UnsupportedLinkType,
        Skip::FragmentHeld,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Skip::NonIp => "non_ip",
            Skip::NonTcp => "non_tcp",
            Skip::Truncated => "truncated",
            Skip::BadHeader => "bad_header",
            Skip::UnsupportedLinkType => "unsupported_link_type",
            Skip::FragmentHeld => "fragment_held",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DecodeStats {
    pub tcp_segments: u64,
    /// Segments whose payload was cut by the snaplen.
    pub tcp_payload_truncated: u64,
    pub skipped: BTreeMap<&'static str, u64>,
    pub fragments: FragStats,
}

#[derive(Debug, Default)]
pub struct Decoder {
    defrag: Defragmenter,
    tcp_segments: u64,
    payload_truncated: u64,
    skipped: [u64; Skip::ALL.len()],
}

impl Decoder {
    pub fn new(limits: FragLimits) -> Self {
        Decoder {
            defrag: Defragmenter::new(limits),
            ..Default::default()
        }
    }

    /// Decodes one frame, counting the reason when it yields no segment.
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Option<TcpSegment<'a>> {
        match decode_frame(&mut self.defrag, frame) {
            Ok(seg) => {
                self.tcp_segments += 1;
                if seg.payload_missing > 0 {
                    self.payload_truncated += 1;
                }
                Some(seg)
            }
            Err(skip) => {
                self.skipped[skip as usize] += 1;
                None
            }
        }
    }

    pub fn finish(&mut self) {
        self.defrag.finish();
    }

    pub fn stats(&self) -> DecodeStats {
        let skipped = Skip::ALL
            .iter()
            .zip(self.skipped)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.name(), n))
            .collect();
        DecodeStats {
            tcp_segments: self.tcp_segments,
            tcp_payload_truncated: self.payload_truncated,
            skipped,
            fragments: self.defrag.stats,
        }
    }
}

fn decode_frame<'a>(
    defrag: &'a mut Defragmenter,
    frame: &Frame<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    let sliced = match link::strip(frame.linktype, frame.data) {
        Ok(Network::Ethernet(bytes)) => {
            LaxSlicedPacket::from_ethernet(bytes).map_err(|_| Skip::Truncated)?
        }
        Ok(Network::EtherType(et, bytes)) => {
            LaxSlicedPacket::from_ether_type(etherparse::EtherType(et), bytes)
        }
        Ok(Network::Ip(bytes)) => LaxSlicedPacket::from_ip(bytes).map_err(|e| match e {
            etherparse::err::ip::LaxHeaderSliceError::Len(_) => Skip::Truncated,
            etherparse::err::ip::LaxHeaderSliceError::Content(_) => Skip::BadHeader,
        })?,
        Err(LinkSkip::Truncated) => return Err(Skip::Truncated),
        Err(LinkSkip::NonIp) => return Err(Skip::NonIp),
        Err(LinkSkip::Unsupported) => return Err(Skip::UnsupportedLinkType),
    };
    let vlan = sliced
        .vlan_ids()
        .iter()
        .fold(0u64, |acc, id| (acc << 13) | 0x1000 | u64::from(id.value()));
    let ts_ns = frame.ts_ns;
    let net = match sliced.net {
        Some(net) => net,
        None => {
            return Err(match sliced.stop_err {
                Some((etherparse::err::packet::SliceError::Len(_), _)) => Skip::Truncated,
                Some(_) => Skip::BadHeader,
                None => Skip::NonIp,
            })
        }
    };
    let (src, dst, payload, claimed, frag) = match &net {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            let p = ip.payload().clone();
            let claimed = (h.total_len() as usize).saturating_sub(h.slice().len());
            let frag = ip.is_payload_fragmented().then(|| {
                (
                    u32::from(h.identification()),
                    u32::from(h.fragments_offset().value()) * 8,
                    h.more_fragments(),
                )
            });
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                p,
                claimed,
                frag,
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            let p = ip.payload().clone();
            let claimed =
                (h.payload_length() as usize).saturating_sub(ip.extensions().slice().len());
            let frag = if ip.is_payload_fragmented() {
                ip.extensions()
                    .clone()
                    .into_iter()
                    .find_map(|ext| match ext {
                        Ipv6ExtensionSlice::Fragment(f) => Some((
                            f.identification(),
                            u32::from(f.fragment_offset().value()) * 8,
                            f.more_fragments(),
                        )),
                        _ => None,
                    })
            } else {
                None
            };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                p,
                claimed,
                frag,
            )
        }
        LaxNetSlice::Arp(_) => return Err(Skip::NonIp),
    };
    let LaxIpPayloadSlice {
        incomplete,
        ip_number,
        payload: bytes,
        ..
    } = payload;
    if ip_number != IpNumber::TCP {
        return Err(Skip::NonTcp);
    }
    if let Some((id, offset, more)) = frag {
        if incomplete {
            // A fragment cut by the snaplen can never complete a datagram.
            return Err(Skip::Truncated);
        }
        let key = FragKey {
            src,
            dst,
            id,
            protocol: ip_number.0,
        };
        let whole = defrag
            .add(key, ts_ns, offset, more, bytes)
            .ok_or(Skip::FragmentHeld)?;
        return tcp_segment(ts_ns, src, dst, vlan, whole, whole.len());
    }
    let claimed = if incomplete { claimed } else { bytes.len() };
    tcp_segment(ts_ns, src, dst, vlan, bytes, claimed)
}

/// Reads the TCP header from `bytes` (the captured IP payload), of which the
/// sender sent `claimed` bytes.
fn tcp_segment(
    ts_ns: u64,
    src: IpAddr,
    dst: IpAddr,
    vlan: u64,
    bytes: &[u8],
    claimed: usize,
) -> Result<TcpSegment<'_>, Skip> {
    let tcp = TcpSlice::from_slice(bytes).map_err(|e| match e {
        etherparse::err::tcp::HeaderSliceError::Len(_) => Skip::Truncated,
        etherparse::err::tcp::HeaderSliceError::Content(_) => Skip::BadHeader,
    })?;
    let header_len = tcp.header_slice().len();
    let payload = tcp.payload();
    let sent = claimed.saturating_sub(header_len);
    let payload_missing = sent.saturating_sub(payload.len()) as u32;
    let flag_byte = bytes.get(13).copied().unwrap_or(0);
    Ok(TcpSegment {
        ts_ns,
        src: Endpoint {
            ip: src,
            port: tcp.source_port(),
        },
        dst: Endpoint {
            ip: dst,
            port: tcp.destination_port(),
        },
        vlan,
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flag_byte),
        window: tcp.window_size(),
        payload,
        payload_missing,
    })
}
