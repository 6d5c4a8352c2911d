//! A small capture writer: classic pcap (µs or ns) and frame builders for
//! Ethernet/IPv4/IPv6/TCP. Tests and the benchmark generator use it to write
//! the edge cases that real stacks rarely produce.

use super::LinkType;
use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6Header, TcpHeader};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// Writes a classic pcap file (little-endian).
pub struct PcapWriter<W: Write> {
    out: W,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W, linktype: LinkType, nanos: bool) -> io::Result<Self> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        out.write_all(&magic.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&linktype.0.to_le_bytes())?;
        Ok(PcapWriter { out, nanos })
    }

    /// Writes one record; `orig_len` may exceed `data.len()` (snaplen).
    pub fn write(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = (ts_ns / 1_000_000_000) as u32;
        let frac = ts_ns % 1_000_000_000;
        let frac = if self.nanos { frac } else { frac / 1_000 } as u32;
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&frac.to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(&orig_len.to_le_bytes())?;
        self.out.write_all(data)
    }

    /// Writes a full frame (captured length = wire length).
    pub fn frame(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        self.write(ts_ns, data, data.len() as u32)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes a pcapng file (little-endian): one section, an interface per
/// link type (nanosecond timestamps), Enhanced Packet Blocks. For captures
/// whose frames have several link types, which classic pcap cannot hold.
pub struct PcapngWriter<W: Write> {
    out: W,
    interfaces: Vec<LinkType>,
}

impl<W: Write> PcapngWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        // Section Header Block: byte-order magic, version 1.0, length unknown.
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut out, 0x0a0d_0d0a, &body)?;
        Ok(PcapngWriter {
            out,
            interfaces: Vec::new(),
        })
    }

    /// The interface id for `linktype`, describing it the first time.
    fn interface(&mut self, linktype: LinkType) -> io::Result<u32> {
        if let Some(i) = self.interfaces.iter().position(|l| *l == linktype) {
            return Ok(i as u32);
        }
        let mut body = Vec::with_capacity(20);
        body.extend_from_slice(&(linktype.0 as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&262_144u32.to_le_bytes());
        // if_tsresol = 9: nanoseconds; then opt_endofopt.
        body.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        block(&mut self.out, 1, &body)?;
        self.interfaces.push(linktype);
        Ok(self.interfaces.len() as u32 - 1)
    }

    /// A Decryption Secrets Block (pcapng, type 10) of TLS key log lines
    /// (secrets type `TLSK`), as `editcap --inject-secrets tls,FILE` writes.
    pub fn tls_secrets(&mut self, keylog: &[u8]) -> io::Result<()> {
        let mut body = Vec::with_capacity(8 + keylog.len() + 3);
        body.extend_from_slice(&0x544c_534bu32.to_le_bytes());
        let len = u32::try_from(keylog.len()).map_err(io::Error::other)?;
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(keylog);
        body.resize(body.len().div_ceil(4) * 4, 0);
        block(&mut self.out, 10, &body)
    }

    /// One packet; `orig_len` may exceed `data.len()` (snaplen).
    pub fn write(
        &mut self,
        linktype: LinkType,
        ts_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let interface = self.interface(linktype)?;
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        body.extend_from_slice(&interface.to_le_bytes());
        body.extend_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts_ns as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&orig_len.to_le_bytes());
        body.extend_from_slice(data);
        body.resize(body.len().div_ceil(4) * 4, 0);
        block(&mut self.out, 6, &body)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A pcapng block: type, total length, body (padded to 4), total length.
fn block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let len = (12 + body.len()) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&len.to_le_bytes())
}

/// TCP flag bits as on the wire.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// One TCP segment to build.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
}

/// The IP packet (no link header) carrying `seg`. Both addresses must be of
/// the same family; a mixed pair is a bug in the caller's test.
pub fn ip_tcp(seg: &Segment<'_>) -> Vec<u8> {
    let mut tcp = TcpHeader::new(seg.src.port(), seg.dst.port(), seg.seq, 65_535);
    tcp.fin = seg.flags & flags::FIN != 0;
    tcp.syn = seg.flags & flags::SYN != 0;
    tcp.rst = seg.flags & flags::RST != 0;
    tcp.psh = seg.flags & flags::PSH != 0;
    tcp.ack = seg.flags & flags::ACK != 0;
    tcp.acknowledgment_number = seg.ack;
    let tcp_len = tcp.header_len() + seg.payload.len();
    let mut out = Vec::with_capacity(60 + tcp_len);
    match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = Ipv4Header::new(tcp_len as u16, 64, IpNumber::TCP, s.octets(), d.octets())
                .unwrap_or_default();
            tcp.checksum = tcp.calc_checksum_ipv4(&ip, seg.payload).unwrap_or(0);
            let _ = ip.write(&mut out);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = Ipv6Header {
                payload_length: tcp_len as u16,
                next_header: IpNumber::TCP,
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
                ..Default::default()
            };
            tcp.checksum = tcp.calc_checksum_ipv6(&ip, seg.payload).unwrap_or(0);
            let _ = ip.write(&mut out);
        }
        _ => panic!("ip_tcp: mixed address families"),
    }
    let _ = tcp.write(&mut out);
    out.extend_from_slice(seg.payload);
    out
}

/// An Ethernet II frame carrying `ip` (an IPv4 or IPv6 packet).
pub fn ethernet(ip: &[u8]) -> Vec<u8> {
    let ether_type = if ip.first().is_some_and(|b| b >> 4 == 6) {
        EtherType::IPV6
    } else {
        EtherType::IPV4
    };
    let eth = Ethernet2Header {
        source: [2, 0, 0, 0, 0, 1],
        destination: [2, 0, 0, 0, 0, 2],
        ether_type,
    };
    let mut out = Vec::with_capacity(14 + ip.len());
    out.extend_from_slice(&eth.to_bytes());
    out.extend_from_slice(ip);
    out
}

/// An Ethernet frame carrying one TCP segment.
pub fn ethernet_tcp(seg: &Segment<'_>) -> Vec<u8> {
    ethernet(&ip_tcp(seg))
}
