//! Link-layer headers that etherparse does not strip for us (or strips too
//! strictly): Linux SLL and SLL2, BSD null/loopback, NFLOG. What remains is
//! handed to etherparse's lax slicing.

use crate::capture::LinkType;

/// Where the network layer starts, and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'a> {
    /// A whole Ethernet II frame (etherparse reads the VLAN tags too).
    Ethernet(&'a [u8]),
    /// A payload with its EtherType known from the link header.
    EtherType(u16, &'a [u8]),
    /// An IP packet, version from its first nibble.
    Ip(&'a [u8]),
}

/// Why a frame has no network layer we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSkip {
    Truncated,
    NonIp,
    Unsupported,
}

/// Linux cooked capture v1: packet type (2), ARPHRD type (2), address length
/// (2), address (8), protocol (2).
const SLL_LEN: usize = 16;
/// Linux cooked capture v2: protocol (2), reserved (2), interface index (4),
/// ARPHRD type (2), packet type (1), address length (1), address (8).
const SLL2_LEN: usize = 20;
/// ARPHRD_NETLINK: netlink messages captured on the `nlmon` device, not IP.
const ARPHRD_NETLINK: u16 = 824;
/// NFLOG: family (1), version (1), resource id (2), then TLVs.
const NFLOG_HEADER_LEN: usize = 4;
const NFULA_PAYLOAD: u16 = 9;

pub fn strip(linktype: LinkType, frame: &[u8]) -> Result<Network<'_>, LinkSkip> {
    match linktype {
        LinkType::ETHERNET => Ok(Network::Ethernet(frame)),
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            Ok(Network::Ip(frame))
        }
        LinkType::NULL | LinkType::LOOP => {
            // The address family is host-order (NULL) or network-order
            // (LOOP) and its values differ between BSDs (IPv6 is 24, 28 or
            // 30): the IP version nibble is the reliable signal.
            frame.get(4..).map(Network::Ip).ok_or(LinkSkip::Truncated)
        }
        LinkType::LINUX_SLL => {
            let header = frame.get(..SLL_LEN).ok_or(LinkSkip::Truncated)?;
            let arphrd = u16::from_be_bytes([header[2], header[3]]);
            let protocol = u16::from_be_bytes([header[14], header[15]]);
            cooked(arphrd, protocol, &frame[SLL_LEN..])
        }
        LinkType::LINUX_SLL2 => {
            let header = frame.get(..SLL2_LEN).ok_or(LinkSkip::Truncated)?;
            let protocol = u16::from_be_bytes([header[0], header[1]]);
            let arphrd = u16::from_be_bytes([header[8], header[9]]);
            cooked(arphrd, protocol, &frame[SLL2_LEN..])
        }
        LinkType::NFLOG => nflog_payload(frame).map(Network::Ip),
        _ => Err(LinkSkip::Unsupported),
    }
}

fn cooked(arphrd: u16, protocol: u16, rest: &[u8]) -> Result<Network<'_>, LinkSkip> {
    if arphrd == ARPHRD_NETLINK {
        return Err(LinkSkip::NonIp);
    }
    // Protocol values below 0x0600 are not EtherTypes (802.2 LLC, CAN, ...);
    // a few devices (tun, ipip) put IP right after the header with any value.
    match protocol {
        0x0800 | 0x86dd | 0x8100 | 0x88a8 | 0x9100 => Ok(Network::EtherType(protocol, rest)),
        _ if matches!(rest.first().map(|b| b >> 4), Some(4 | 6)) && protocol < 0x0600 => {
            Ok(Network::Ip(rest))
        }
        _ => Err(LinkSkip::NonIp),
    }
}

/// The IP packet inside an NFLOG record: the NFULA_PAYLOAD TLV. TLV lengths
/// are in host byte order (little-endian on every capture we have seen) and
/// include the 4-byte TLV header; values are padded to 4 bytes.
fn nflog_payload(frame: &[u8]) -> Result<&[u8], LinkSkip> {
    let mut rest = frame.get(NFLOG_HEADER_LEN..).ok_or(LinkSkip::Truncated)?;
    while rest.len() >= 4 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_le_bytes([rest[2], rest[3]]);
        if len < 4 {
            return Err(LinkSkip::Truncated);
        }
        if kind == NFULA_PAYLOAD {
            return rest.get(4..len).ok_or(LinkSkip::Truncated);
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).ok_or(LinkSkip::Truncated)?;
    }
    Err(LinkSkip::NonIp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn ethernet_and_raw_pass_through() {
        assert_eq!(
            strip(LinkType::ETHERNET, &IP),
            Ok(Network::Ethernet(&IP[..]))
        );
        for lt in [
            LinkType::RAW,
            LinkType::RAW_12,
            LinkType::IPV4,
            LinkType::IPV6,
        ] {
            assert_eq!(strip(lt, &IP), Ok(Network::Ip(&IP[..])));
        }
    }

    #[test]
    fn null_and_loop_skip_the_family_word() {
        let mut frame = vec![2, 0, 0, 0];
        frame.extend_from_slice(&IP);
        assert_eq!(strip(LinkType::NULL, &frame), Ok(Network::Ip(&IP[..])));
        assert_eq!(strip(LinkType::LOOP, &frame), Ok(Network::Ip(&IP[..])));
        assert_eq!(strip(LinkType::NULL, &[2, 0]), Err(LinkSkip::Truncated));
    }

    #[test]
    fn sll_reads_the_protocol_field() {
        // Outgoing (4), ARPHRD_ETHER (1), address length 6, address, IPv4.
        let mut frame = vec![0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        frame.extend_from_slice(&IP);
        assert_eq!(
            strip(LinkType::LINUX_SLL, &frame),
            Ok(Network::EtherType(0x0800, &IP[..]))
        );
        // ARPHRD_NONE (0xfffe) from a tun device: etherparse's SLL parser
        // rejects it, we read it.
        frame[2] = 0xff;
        frame[3] = 0xfe;
        assert_eq!(
            strip(LinkType::LINUX_SLL, &frame),
            Ok(Network::EtherType(0x0800, &IP[..]))
        );
        frame[14] = 0x08;
        frame[15] = 0x06; // ARP
        assert_eq!(strip(LinkType::LINUX_SLL, &frame), Err(LinkSkip::NonIp));
        assert_eq!(
            strip(LinkType::LINUX_SLL, &frame[..10]),
            Err(LinkSkip::Truncated)
        );
    }

    #[test]
    fn sll2_reads_protocol_and_device_type() {
        // IPv6, reserved, ifindex 1, ARPHRD_LOOPBACK (772), host, 6, address.
        let mut frame = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        frame.extend_from_slice(&IP);
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &frame),
            Ok(Network::EtherType(0x86dd, &IP[..]))
        );
        frame[8] = 0x03;
        frame[9] = 0x38; // ARPHRD_NETLINK
        assert_eq!(strip(LinkType::LINUX_SLL2, &frame), Err(LinkSkip::NonIp));
    }

    #[test]
    fn nflog_finds_the_payload_tlv() {
        // AF_INET, version 0, resource 0; a prefix TLV (len 5, padded to 8),
        // then the payload TLV.
        let mut frame = vec![2, 0, 0, 0, 5, 0, 10, 0, b'x', 0, 0, 0];
        frame.extend_from_slice(&[8, 0, 9, 0]);
        frame.extend_from_slice(&IP);
        assert_eq!(strip(LinkType::NFLOG, &frame), Ok(Network::Ip(&IP[..])));
        // A TLV claiming to run past the end.
        let bad = [2, 0, 0, 0, 200, 0, 9, 0, 1, 2];
        assert_eq!(strip(LinkType::NFLOG, &bad), Err(LinkSkip::Truncated));
        assert_eq!(strip(LinkType(147), &bad), Err(LinkSkip::Unsupported));
    }
}
