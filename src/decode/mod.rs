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
use etherparse::{IpNumber, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket, TcpSlice};
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
    /// A SYN that opens: no ACK, no RST.
    pub fn syn_only(self) -> bool {
        self.0 & (Self::SYN | Self::ACK | Self::RST) == Self::SYN
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
    decode_frame_by(defrag, frame, true)
}

/// `fast`: try [`plain_ip`] first (off only in tests, to compare).
fn decode_frame_by<'a>(
    defrag: &'a mut Defragmenter,
    frame: &Frame<'a>,
    fast: bool,
) -> Result<TcpSegment<'a>, Skip> {
    let network = link::strip(frame.linktype, frame.data);
    // The common case read directly: untagged IPv4 or IPv6, whole,
    // unfragmented, TCP right after the fixed header.
    let plain = match network {
        _ if !fast => None,
        Ok(Network::Ethernet(bytes)) => match (bytes.get(12..14), bytes.get(14).map(|b| b >> 4)) {
            (Some([0x08, 0x00]), Some(4)) | (Some([0x86, 0xdd]), Some(6)) => plain_ip(&bytes[14..]),
            _ => None,
        },
        Ok(Network::Ip(bytes)) => plain_ip(bytes),
        _ => None,
    };
    if let Some((src, dst, tcp)) = plain {
        return tcp_segment(frame.ts_ns, src, dst, 0, parse_tcp(tcp)?, tcp.len());
    }
    // `bare`: the network-layer bytes when the link header told us where
    // they start (kept for the IPv6 fragment walk).
    let (sliced, bare) = match network {
        Ok(Network::Ethernet(bytes)) => (
            LaxSlicedPacket::from_ethernet(bytes).map_err(|_| Skip::Truncated)?,
            None,
        ),
        Ok(Network::EtherType(et, bytes)) => (
            LaxSlicedPacket::from_ether_type(etherparse::EtherType(et), bytes),
            Some(bytes),
        ),
        Ok(Network::Ip(bytes)) => (
            LaxSlicedPacket::from_ip(bytes).map_err(|e| match e {
                etherparse::err::ip::LaxHeaderSliceError::Len(_) => Skip::Truncated,
                etherparse::err::ip::LaxHeaderSliceError::Content(_) => Skip::BadHeader,
            })?,
            Some(bytes),
        ),
        Err(LinkSkip::Truncated) => return Err(Skip::Truncated),
        Err(LinkSkip::NonIp) => return Err(Skip::NonIp),
        Err(LinkSkip::Unsupported) => return Err(Skip::UnsupportedLinkType),
    };
    let vlan = sliced
        .vlan_ids()
        .iter()
        .fold(0u64, |acc, id| (acc << 13) | 0x1000 | u64::from(id.value()));
    let ts_ns = frame.ts_ns;
    let net = match &sliced.net {
        Some(net) => net,
        None => {
            return Err(match sliced.stop_err {
                Some((etherparse::err::packet::SliceError::Len(_), _)) => Skip::Truncated,
                Some(_) => Skip::BadHeader,
                None => Skip::NonIp,
            })
        }
    };
    let (src, dst, payload, claimed, frag) = match net {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            let p = ip.payload().clone();
            let claimed = (h.total_len() as usize).saturating_sub(h.slice().len());
            let frag = if ip.is_payload_fragmented() {
                if p.incomplete {
                    // A fragment cut by the snaplen can never complete.
                    return Err(Skip::Truncated);
                }
                Some(Fragment {
                    id: u32::from(h.identification()),
                    offset: u32::from(h.fragments_offset().value()) * 8,
                    more: h.more_fragments(),
                    protocol: p.ip_number.0,
                    data: p.payload,
                })
            } else {
                None
            };
            let (src, dst) = (h.source_addr(), h.destination_addr());
            (IpAddr::V4(src), IpAddr::V4(dst), p, claimed, frag)
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            let p = ip.payload().clone();
            let claimed =
                (h.payload_length() as usize).saturating_sub(ip.extensions().slice().len());
            let frag = if ip.is_payload_fragmented() {
                // etherparse reads on past the Fragment header, where a
                // non-first fragment holds payload, not headers: walk the
                // raw packet instead.
                let raw = sliced.ether_payload().map(|e| e.payload).or(bare);
                Some(raw.ok_or(Skip::BadHeader).and_then(ipv6_fragment)?)
            } else {
                None
            };
            let (src, dst) = (h.source_addr(), h.destination_addr());
            (IpAddr::V6(src), IpAddr::V6(dst), p, claimed, frag)
        }
        LaxNetSlice::Arp(_) => return Err(Skip::NonIp),
    };
    if let Some(f) = frag {
        if !matches!(f.protocol, TCP | HOP_BY_HOP | ROUTING | DEST_OPTS) {
            return Err(Skip::NonTcp);
        }
        let key = FragKey {
            src,
            dst,
            id: f.id,
            protocol: f.protocol,
        };
        let whole = defrag
            .add(key, ts_ns, f.offset, f.more, f.data)
            .ok_or(Skip::FragmentHeld)?;
        // An IPv6 datagram may carry more extension headers after the
        // Fragment header.
        let tcp = skip_ipv6_extensions(f.protocol, whole).ok_or(Skip::NonTcp)?;
        return tcp_segment(ts_ns, src, dst, vlan, parse_tcp(tcp)?, tcp.len());
    }
    let LaxIpPayloadSlice {
        incomplete,
        ip_number,
        payload: bytes,
        ..
    } = payload;
    if ip_number != IpNumber::TCP {
        return Err(Skip::NonTcp);
    }
    let claimed = if incomplete { claimed } else { bytes.len() };
    // The lax slicer already read the TCP header of these bytes; parse
    // again only to say why it could not.
    let tcp = match sliced.transport {
        Some(etherparse::TransportSlice::Tcp(tcp)) => tcp,
        _ => parse_tcp(bytes)?,
    };
    tcp_segment(ts_ns, src, dst, vlan, tcp, claimed)
}

/// An IP packet that needs none of the general slicer: IPv4 without
/// fragmentation or IPv6 without extension headers, carrying TCP, with its
/// length field within the captured bytes (padding after it is cut). Its
/// addresses and the TCP bytes; `None` sends the packet the general way.
fn plain_ip(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff;
            if ihl < 20 || total < ihl || total > ip.len() || frag != 0 || ip[9] != TCP {
                return None;
            }
            let a = |i: usize| std::net::Ipv4Addr::new(ip[i], ip[i + 1], ip[i + 2], ip[i + 3]);
            Some((IpAddr::V4(a(12)), IpAddr::V4(a(16)), &ip[ihl..total]))
        }
        6 => {
            let len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            if ip.len() < 40 || ip[6] != TCP || len == 0 || 40 + len > ip.len() {
                return None;
            }
            let a = |i: usize| {
                let b: [u8; 16] = ip[i..i + 16].try_into().unwrap_or([0; 16]);
                std::net::Ipv6Addr::from(b)
            };
            Some((IpAddr::V6(a(8)), IpAddr::V6(a(24)), &ip[40..40 + len]))
        }
        _ => None,
    }
}

fn parse_tcp(bytes: &[u8]) -> Result<TcpSlice<'_>, Skip> {
    TcpSlice::from_slice(bytes).map_err(|e| match e {
        etherparse::err::tcp::HeaderSliceError::Len(_) => Skip::Truncated,
        etherparse::err::tcp::HeaderSliceError::Content(_) => Skip::BadHeader,
    })
}

const HOP_BY_HOP: u8 = 0;
const TCP: u8 = 6;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DEST_OPTS: u8 = 60;

/// One IP fragment.
struct Fragment<'a> {
    id: u32,
    /// Byte offset in the datagram's payload.
    offset: u32,
    more: bool,
    /// The protocol (next header) of the reassembled payload.
    protocol: u8,
    data: &'a [u8],
}

/// The Fragment header of an IPv6 packet (RFC 8200 section 4.5), found by
/// walking the extension headers before it, and the bytes it carries.
fn ipv6_fragment(raw: &[u8]) -> Result<Fragment<'_>, Skip> {
    let payload_len = u16::from_be_bytes([
        *raw.get(4).ok_or(Skip::Truncated)?,
        *raw.get(5).ok_or(Skip::Truncated)?,
    ]) as usize;
    let end = 40 + payload_len;
    if raw.len() < end {
        return Err(Skip::Truncated);
    }
    let mut next = *raw.get(6).ok_or(Skip::Truncated)?;
    let mut pos = 40;
    loop {
        match next {
            HOP_BY_HOP | ROUTING | DEST_OPTS => {
                let len = (*raw.get(pos + 1).ok_or(Skip::BadHeader)? as usize + 1) * 8;
                next = *raw.get(pos).ok_or(Skip::BadHeader)?;
                pos += len;
            }
            FRAGMENT => {
                let h = raw.get(pos..pos + 8).ok_or(Skip::BadHeader)?;
                let off_flags = u16::from_be_bytes([h[2], h[3]]);
                return Ok(Fragment {
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    offset: u32::from(off_flags >> 3) * 8,
                    more: off_flags & 1 == 1,
                    protocol: h[0],
                    data: raw.get(pos + 8..end).ok_or(Skip::BadHeader)?,
                });
            }
            _ => return Err(Skip::BadHeader),
        }
    }
}

/// The TCP segment after any IPv6 extension headers that open `payload`
/// (whose first header is `next`).
fn skip_ipv6_extensions(mut next: u8, mut payload: &[u8]) -> Option<&[u8]> {
    loop {
        match next {
            TCP => return Some(payload),
            HOP_BY_HOP | ROUTING | DEST_OPTS => {
                let len = (*payload.get(1)? as usize + 1) * 8;
                next = *payload.first()?;
                payload = payload.get(len..)?;
            }
            _ => return None,
        }
    }
}

/// The segment of a parsed TCP header and payload (the captured IP
/// payload), of which the sender sent `claimed` bytes.
fn tcp_segment(
    ts_ns: u64,
    src: IpAddr,
    dst: IpAddr,
    vlan: u64,
    tcp: TcpSlice<'_>,
    claimed: usize,
) -> Result<TcpSegment<'_>, Skip> {
    let header_len = tcp.header_slice().len();
    let payload = tcp.payload();
    let sent = claimed.saturating_sub(header_len);
    let payload_missing = sent.saturating_sub(payload.len()) as u32;
    let flag_byte = tcp.header_slice().get(13).copied().unwrap_or(0);
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
        payload,
        payload_missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::writer::{ethernet_tcp, Segment};
    use crate::capture::LinkType;

    /// The direct read of plain packets gives what the general slicer
    /// gives, segment for segment and skip for skip, on valid packets and
    /// on mutated ones (lengths, versions, fragment bits, protocols).
    #[test]
    fn the_plain_path_agrees_with_the_general_one() {
        let mut next = crate::test_util::xorshift(0x5eed_1234_abcd_0001);
        let mut checked = 0;
        for round in 0..4000u32 {
            let v6 = round % 2 == 1;
            let (src, dst) = if v6 {
                (
                    "[fd00::1]:40000".parse().unwrap(),
                    "[fd00::2]:80".parse().unwrap(),
                )
            } else {
                (
                    "10.0.0.1:40000".parse().unwrap(),
                    "10.0.0.2:80".parse().unwrap(),
                )
            };
            let payload: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
            let mut frame = ethernet_tcp(&Segment {
                src,
                dst,
                seq: next() as u32,
                ack: next() as u32,
                flags: 0x18,
                payload: &payload,
            });
            // Ethernet padding, a cut, or flipped header bytes.
            match next() % 4 {
                0 => frame.extend([0; 6]),
                1 => frame.truncate(14 + (next() as usize) % (frame.len() - 14)),
                2 => {
                    for _ in 0..1 + next() % 3 {
                        let i = 14 + (next() as usize) % 60.min(frame.len() - 14);
                        frame[i] ^= 1 << (next() % 8);
                    }
                }
                _ => {}
            }
            for linktype in [LinkType::ETHERNET, LinkType(101)] {
                let data = if linktype == LinkType::ETHERNET {
                    &frame[..]
                } else {
                    &frame[14..]
                };
                let f = Frame {
                    ts_ns: 1,
                    linktype,
                    data,
                    orig_len: data.len() as u32,
                    input: 0,
                };
                let show = |r: Result<TcpSegment<'_>, Skip>| format!("{r:?}");
                let fast = show(decode_frame_by(&mut Defragmenter::default(), &f, true));
                let slow = show(decode_frame_by(&mut Defragmenter::default(), &f, false));
                assert_eq!(fast, slow, "round {round} {linktype:?}: {data:02x?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 8000);
    }
}
