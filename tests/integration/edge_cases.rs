//! Edge cases that real stacks rarely produce, written with the project's
//! capture writer at test time (see common.rs), each checked for its facts.

use crate::common::*;
use serde_json::Value;
use sessmap::capture::writer::{ethernet, Segment};
use sessmap::capture::LinkType;

const C: &str = "10.1.0.1:43000";
const S: &str = "10.1.0.2:8080";

fn analyze_frames(linktype: LinkType, frames: &[(u64, Vec<u8>)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.pcap");
    write_pcap(&path, linktype, frames);
    analyze_json(&[path.to_str().unwrap()])
}

fn only_conn(report: &Value) -> &Value {
    let c = conns(report);
    assert_eq!(c.len(), 1, "{:#}", report["connections"]);
    &c[0]
}

#[test]
fn out_of_order_and_retransmitted_segments() {
    let mut t = Talk::new(C, S, 1000, 5000);
    t.handshake();
    let base = t.cseq;
    let parts: [&[u8]; 3] = [b"GET /a HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"];
    let mut seqs = Vec::new();
    let mut seq = base;
    for p in parts {
        seqs.push(seq);
        seq += p.len() as u32;
    }
    // Third, first, first again (retransmission), second.
    for i in [2, 0, 0, 1] {
        let f = t.segment(true, ACK | PSH, seqs[i], parts[i]);
        t.push(f);
    }
    t.cseq = seq;
    t.send(false, b"HTTP/1.1 204 No Content\r\n\r\n");
    t.close();
    let report = analyze_frames(LinkType::ETHERNET, &t.frames);
    let c = only_conn(&report);
    assert_eq!(c["state"], "SF");
    assert_eq!(c["bytes"]["client"], 28);
    assert_eq!(c["retransmitted_bytes"]["client"], 17);
    assert_eq!(c["missed_bytes"]["client"], 0);
    assert_eq!(c["overlap_conflicts"]["client"], 0);
    assert_eq!(c["packets"]["client"], 4 + 4);
}

#[test]
fn conflicting_overlap_is_counted_and_marked_in_history() {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    let seq = t.cseq;
    t.send(true, b"USER alice\r\n");
    let evil = t.segment(true, ACK | PSH, seq, b"USER mallo\r\n");
    t.push(evil);
    t.close();
    let c = only_conn(&analyze_frames(LinkType::ETHERNET, &t.frames)).clone();
    assert_eq!(c["overlap_conflicts"]["client"], 1);
    assert_eq!(c["retransmitted_bytes"]["client"], 12);
    assert_eq!(c["bytes"]["client"], 12);
    assert!(
        c["history"].as_str().unwrap().contains('I'),
        "{}",
        c["history"]
    );
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut t = Talk::new(C, S, u32::MAX - 3, u32::MAX - 1);
    t.handshake();
    t.send(true, b"0123456789");
    t.send(false, &[b'x'; 3000]);
    t.close();
    let c = only_conn(&analyze_frames(LinkType::ETHERNET, &t.frames)).clone();
    assert_eq!(c["state"], "SF");
    assert_eq!(c["bytes"]["client"], 10);
    assert_eq!(c["bytes"]["server"], 3000);
    assert_eq!(c["missed_bytes"]["client"], 0);
    assert_eq!(c["missed_bytes"]["server"], 0);
}

#[test]
fn capture_starting_mid_connection() {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    t.send(true, b"first");
    let skip = t.frames.len();
    t.send(false, b"reply");
    t.send(true, b"second");
    let frames = t.frames[skip..].to_vec();
    let c = only_conn(&analyze_frames(LinkType::ETHERNET, &frames)).clone();
    assert_eq!(c["state"], "OTH");
    assert_eq!(c["roles"], "port");
    assert_eq!(c["server"], S);
    assert_eq!(c["bytes"]["client"], 6);
    assert_eq!(c["bytes"]["server"], 5);
}

#[test]
fn port_reuse_after_close_is_a_new_connection() {
    let mut t = Talk::new(C, S, 100, 900);
    t.handshake();
    t.send(true, b"one");
    t.close();
    let mut again = Talk::new(C, S, 777_777, 123_456);
    again.ts_ns = t.ts_ns + 1_000_000_000;
    again.handshake();
    again.send(true, b"two!");
    again.close();
    let mut frames = t.frames;
    frames.extend(again.frames);
    let report = analyze_frames(LinkType::ETHERNET, &frames);
    let c = conns(&report);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0]["bytes"]["client"], 3);
    assert_eq!(c[1]["bytes"]["client"], 4);
    assert!(c.iter().all(|c| c["state"] == "SF"));
}

#[test]
fn retransmitted_syn_is_one_connection() {
    let mut t = Talk::new(C, S, 100, 900);
    let syn = t.segment(true, SYN, 100, b"");
    t.push(syn.clone());
    t.push(syn);
    let report = analyze_frames(LinkType::ETHERNET, &t.frames);
    let c = only_conn(&report);
    assert_eq!(c["state"], "S0");
    assert_eq!(c["packets"]["client"], 2);
}

#[test]
fn lost_segment_is_missed_bytes() {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    t.send(false, b"aaaa");
    let lost_at = t.frames.len();
    t.send(false, b"bbbb");
    t.send(false, b"cccc");
    // The client acknowledges everything: the capture lost the middle one.
    let ack = t.segment(true, ACK, t.cseq, b"");
    t.push(ack);
    t.close();
    t.frames.remove(lost_at);
    let c = only_conn(&analyze_frames(LinkType::ETHERNET, &t.frames)).clone();
    assert_eq!(c["bytes"]["server"], 8);
    assert_eq!(c["missed_bytes"]["server"], 4);
    assert_eq!(c["gaps"], 1);
}

#[test]
fn snaplen_cut_payload_is_missed_not_lost() {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    t.send(false, &[b'z'; 1000]);
    t.close();
    // Cut the data frame to 14 + 20 + 20 + 100 bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = sessmap::capture::writer::PcapWriter::new(file, LinkType::ETHERNET, false).unwrap();
    for (i, (ts, f)) in t.frames.iter().enumerate() {
        let keep = if i == 3 { 154 } else { f.len() };
        w.write(*ts, &f[..keep], f.len() as u32).unwrap();
    }
    drop(w);
    let report = analyze_json(&[path.to_str().unwrap()]);
    let c = only_conn(&report);
    assert_eq!(c["bytes"]["server"], 100);
    assert_eq!(c["missed_bytes"]["server"], 900);
    assert_eq!(report["stats"]["tcp_payload_truncated"], 1);
}

/// Splits an IPv4 packet into fragments of `size` payload bytes.
fn fragment_v4(packet: &[u8], size: usize) -> Vec<Vec<u8>> {
    let ihl = ((packet[0] & 0x0f) as usize) * 4;
    let payload = &packet[ihl..];
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let off = i * size;
        let more = off + chunk.len() < payload.len();
        let mut h = packet[..ihl].to_vec();
        let total = (ihl + chunk.len()) as u16;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
        let frag = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let mut p = h;
        p.extend_from_slice(chunk);
        out.push(p);
    }
    out
}

/// Splits an IPv6 packet (no extension headers) into fragments.
fn fragment_v6(packet: &[u8], size: usize) -> Vec<Vec<u8>> {
    let payload = &packet[40..];
    let next = packet[6];
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let off = i * size;
        let more = off + chunk.len() < payload.len();
        let mut p = packet[..40].to_vec();
        p[6] = 44; // Fragment header
        p[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
        p.push(next);
        p.push(0);
        p.extend_from_slice(&(((off / 8) as u16) << 3 | more as u16).to_be_bytes());
        p.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        p.extend_from_slice(chunk);
        out.push(p);
    }
    out
}

#[test]
fn ip_fragments_are_reassembled_in_any_order() {
    let v6 = ("[fd00::1]:43000", "[fd00::2]:8080");
    for (client, server, dest_opts) in [(C, S, false), (v6.0, v6.1, false), (v6.0, v6.1, true)] {
        let mut t = Talk::new(client, server, 1, 1);
        t.handshake();
        let body = vec![b'q'; 1200];
        let seg = Segment {
            src: t.client,
            dst: t.server,
            seq: t.cseq,
            ack: t.sseq,
            flags: ACK | PSH,
            payload: &body,
        };
        let mut ip = ip_of(&seg);
        if dest_opts {
            // Destination Options travel inside the fragments, after the
            // Fragment header.
            ip = strip_ethernet(&with_ipv6_extensions(&ethernet(&ip)))[..].to_vec();
            ip[6] = 60;
            ip.drain(40..48);
            let len = u16::from_be_bytes([ip[4], ip[5]]) - 8;
            ip[4..6].copy_from_slice(&len.to_be_bytes());
        }
        let mut frags = if client.starts_with('[') {
            fragment_v6(&ip, 400)
        } else {
            fragment_v4(&ip, 400)
        };
        assert!(frags.len() >= 3);
        frags.swap(0, 2);
        for f in frags {
            t.push(ethernet(&f));
        }
        t.cseq += 1200;
        t.close();
        let report = analyze_frames(LinkType::ETHERNET, &t.frames);
        let c = only_conn(&report);
        assert_eq!(c["bytes"]["client"], 1200, "{client} {dest_opts}");
        assert_eq!(c["missed_bytes"]["client"], 0);
        assert_eq!(report["stats"]["fragments"]["reassembled"], 1, "{client}");
        assert_eq!(report["stats"]["skipped"]["fragment_held"], 3, "{client}");
    }
}

/// Inserts 802.1Q tags (outermost first) after the MAC addresses.
fn tag(frame: &[u8], vlans: &[u16]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for (i, v) in vlans.iter().enumerate() {
        out.extend_from_slice(if i == 0 && vlans.len() > 1 {
            &[0x88, 0xa8]
        } else {
            &[0x81, 0x00]
        });
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

#[test]
fn same_five_tuple_on_different_vlans_are_different_connections() {
    let mut frames = Vec::new();
    for vlans in [&[][..], &[0][..], &[10, 20][..]] {
        let mut t = Talk::new(C, S, 1, 1);
        t.handshake();
        t.send(true, b"hello");
        t.close();
        frames.extend(t.frames.into_iter().map(|(ts, f)| (ts, tag(&f, vlans))));
    }
    frames.sort_by_key(|(ts, _)| *ts);
    let report = analyze_frames(LinkType::ETHERNET, &frames);
    let c = conns(&report);
    assert_eq!(c.len(), 3);
    let mut vlans: Vec<String> = c.iter().map(|c| c["vlan"].to_string()).collect();
    vlans.sort();
    assert_eq!(vlans, ["[0]", "[10,20]", "null"]);
    assert!(c
        .iter()
        .all(|c| c["bytes"]["client"] == 5 && c["state"] == "SF"));
}

/// One small exchange, re-wrapped in the given link-layer header.
fn exchange_in(linktype: LinkType, wrap: impl Fn(&[u8]) -> Vec<u8>) -> Value {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    t.send(true, b"ping");
    t.send(false, b"pong!");
    t.close();
    let frames: Vec<_> = t
        .frames
        .iter()
        .map(|(ts, f)| (*ts, wrap(strip_ethernet(f))))
        .collect();
    analyze_frames(linktype, &frames)
}

#[test]
fn every_supported_link_type_decodes() {
    let sll = |ip: &[u8]| {
        let mut f = vec![0, 0, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        f.extend_from_slice(ip);
        f
    };
    let sll2 = |ip: &[u8]| {
        let mut f = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        f.extend_from_slice(ip);
        f
    };
    let null = |ip: &[u8]| {
        let mut f = 2u32.to_le_bytes().to_vec();
        f.extend_from_slice(ip);
        f
    };
    let looped = |ip: &[u8]| {
        let mut f = 2u32.to_be_bytes().to_vec();
        f.extend_from_slice(ip);
        f
    };
    let nflog = |ip: &[u8]| {
        let mut f = vec![2, 0, 0, 0];
        // NFULA_PREFIX "x\0" (len 6, padded to 8), then NFULA_PAYLOAD.
        f.extend_from_slice(&[6, 0, 10, 0, b'x', 0, 0, 0]);
        f.extend_from_slice(&((ip.len() + 4) as u16).to_le_bytes());
        f.extend_from_slice(&9u16.to_le_bytes());
        f.extend_from_slice(ip);
        f
    };
    let raw = |ip: &[u8]| ip.to_vec();
    type Wrap = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let cases: Vec<(LinkType, Wrap)> = vec![
        (LinkType::LINUX_SLL, Box::new(sll)),
        (LinkType::LINUX_SLL2, Box::new(sll2)),
        (LinkType::NULL, Box::new(null)),
        (LinkType::LOOP, Box::new(looped)),
        (LinkType::NFLOG, Box::new(nflog)),
        (LinkType::RAW, Box::new(raw)),
        (LinkType::RAW_12, Box::new(raw)),
        (LinkType::IPV4, Box::new(raw)),
    ];
    for (lt, wrap) in cases {
        let report = exchange_in(lt, wrap);
        let c = only_conn(&report);
        assert_eq!(c["bytes"]["client"], 4, "{lt}");
        assert_eq!(c["bytes"]["server"], 5, "{lt}");
        assert_eq!(c["state"], "SF", "{lt}");
        assert_eq!(
            report["stats"]["packets"], report["stats"]["tcp_segments"],
            "{lt}"
        );
    }
}

#[test]
fn truncated_file_reports_what_was_read_with_a_warning() {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    t.send(true, b"GET / HTTP/1.1\r\n\r\n");
    t.send(false, &[b'b'; 500]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcap");
    write_pcap(&path, LinkType::ETHERNET, &t.frames);
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 300]).unwrap();
    let out = sessmap(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("cut.pcap") && err.contains("cut short"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stats"]["packets"], 4);
    assert_eq!(report["stats"]["truncated_inputs"], 1);
    assert!(report["inputs"][0]["warning"]
        .as_str()
        .unwrap()
        .contains("cut short"));
    assert_eq!(only_conn(&report)["bytes"]["client"], 18);
}

#[test]
fn a_gzip_stream_cut_short_reports_what_was_read_with_a_warning() {
    // The recorded capture, gzip-compressed, cut at 60 % of its bytes: what
    // a decompressor can still read of it is a pcap cut short.
    let gz = std::fs::read(repo("testdata/http-loopback/capture.pcap.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &gz[..gz.len() * 6 / 10]).unwrap();
    let out = sessmap(&["analyze", "--format", "json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("cut.pcap.gz") && err.contains("gzip"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stats"]["truncated_inputs"], 1);
    assert!(report["inputs"][0]["compressed"].as_bool().unwrap());
    // The same packets as the bytes a decompressor gets before the break,
    // read as a plain file (`zcat cut.pcap.gz | sessmap analyze -`).
    let mut plain = Vec::new();
    let mut d = flate2::read::GzDecoder::new(&gz[..gz.len() * 6 / 10]);
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut d, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => plain.extend_from_slice(&buf[..n]),
        }
    }
    let plain_path = dir.path().join("cut.pcap");
    std::fs::write(&plain_path, &plain).unwrap();
    let out = sessmap(&["analyze", "--format", "json", plain_path.to_str().unwrap()]);
    let from_plain: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packets = report["stats"]["packets"].as_u64().unwrap();
    assert!(packets > 0 && packets < 58, "{packets} of 58 packets");
    assert_eq!(packets, from_plain["stats"]["packets"]);
    assert_eq!(report["connections"], from_plain["connections"]);
}

/// Inserts a hop-by-hop and a destination-options header (each 8 bytes of
/// PadN) between an IPv6 header and its TCP segment.
fn with_ipv6_extensions(frame: &[u8]) -> Vec<u8> {
    let ip = strip_ethernet(frame);
    let mut p = ip[..40].to_vec();
    let payload_len = u16::from_be_bytes([ip[4], ip[5]]) + 16;
    p[4..6].copy_from_slice(&payload_len.to_be_bytes());
    p[6] = 0; // Hop-by-hop
    p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // then Destination Options
    p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // then TCP
    p.extend_from_slice(&ip[40..]);
    ethernet(&p)
}

#[test]
fn ipv6_extension_headers_before_tcp() {
    let mut t = Talk::new("[fd00::1]:43000", "[fd00::2]:8080", 1, 1);
    t.handshake();
    t.send(true, b"ping");
    t.send(false, b"pong!");
    t.close();
    let frames: Vec<_> = t
        .frames
        .iter()
        .map(|(ts, f)| (*ts, with_ipv6_extensions(f)))
        .collect();
    let report = analyze_frames(LinkType::ETHERNET, &frames);
    let c = only_conn(&report);
    assert_eq!(c["client"], "[fd00::1]:43000");
    assert_eq!(c["bytes"]["client"], 4);
    assert_eq!(c["bytes"]["server"], 5);
    assert_eq!(c["state"], "SF");
}

#[test]
fn connections_without_a_session_say_why() {
    let mut frames = Vec::new();
    let mut port: u16 = 50_000;
    let mut talk = |f: &dyn Fn(&mut Talk)| {
        port += 1;
        let mut t = Talk::new(&format!("10.1.0.1:{port}"), "10.1.0.2:8443", 1, 1);
        t.ts_ns += u64::from(port) * 1_000_000_000;
        t.handshake();
        f(&mut t);
        t.close();
        frames.extend(t.frames.clone());
    };
    // 1: nothing but the handshake.
    talk(&|_| {});
    // 2: a TLS ClientHello record.
    talk(&|t| {
        t.send(
            true,
            &[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00],
        )
    });
    // 3: SSH.
    talk(&|t| {
        t.send(false, b"SSH-2.0-OpenSSH_9.2\r\n");
        t.send(true, b"SSH-2.0-client\r\n");
    });
    // 4: the request's first segment was lost; the rest is not a message start.
    talk(&|t| {
        t.cseq += 100;
        t.send(true, b"ost: example\r\nCookie: PHPSESSID=abc\r\n\r\n");
    });
    // 5: HTTP without a session cookie.
    talk(&|t| {
        t.send(true, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
        t.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let report = analyze_frames(LinkType::ETHERNET, &frames);
    let why: Vec<&str> = conns(&report)
        .iter()
        .map(|c| c["no_session"].as_str().unwrap())
        .collect();
    assert_eq!(
        why,
        [
            "no_payload",
            "encrypted",
            "not_http",
            "gap_before_request",
            "no_session_cookie"
        ]
    );
    let protocols: Vec<String> = conns(&report)
        .iter()
        .map(|c| c["protocol"].to_string())
        .collect();
    assert_eq!(
        protocols,
        ["null", "\"tls\"", "\"unknown\"", "\"unknown\"", "\"http\""]
    );
    assert_eq!(report["stats"]["connections_without_session"], 5);
}

/// An FTP control channel, written line by line.
fn ftp_control(t: &mut Talk, lines: &[(bool, &str)]) {
    for (from_client, line) in lines {
        t.send(*from_client, line.as_bytes());
    }
}

#[test]
fn ftp_data_after_a_150_that_matches_no_announcement_is_flagged() {
    let mut ctl = Talk::new("10.2.0.1:40000", "10.2.0.2:21", 1, 1);
    ctl.handshake();
    ftp_control(
        &mut ctl,
        &[
            (false, "220 ready\r\n"),
            (true, "USER bob\r\n"),
            (false, "331 password\r\n"),
            (true, "PASS hunter2\r\n"),
            (false, "230 in\r\n"),
            // The PASV exchange is not in the capture.
            (true, "RETR report.pdf\r\n"),
            (false, "150 Opening data connection\r\n"),
        ],
    );
    let mut data = Talk::new("10.2.0.1:40002", "10.2.0.2:50123", 1, 1);
    data.ts_ns = ctl.ts_ns + 1_000_000;
    data.handshake();
    data.send(false, &[7u8; 900]);
    data.close();
    ctl.ts_ns = data.ts_ns + 1_000_000;
    ftp_control(
        &mut ctl,
        &[
            (false, "226 done\r\n"),
            (true, "PORT 10,9,9,9,4,1\r\n"),
            (false, "200 ok\r\n"),
        ],
    );
    ctl.close();
    let mut frames = ctl.frames;
    frames.extend(data.frames);
    frames.sort_by_key(|(ts, _)| *ts);
    let r = analyze_frames(LinkType::ETHERNET, &frames);
    let data_conn = conns(&r)
        .iter()
        .find(|c| c["server"] == "10.2.0.2:50123")
        .unwrap();
    assert_eq!(data_conn["no_session"], "ftp_unlinked");
    let rules = rules(&r);
    assert_eq!(
        rules,
        ["cleartext-credentials", "ftp-bounce", "ftp-unlinked-data"]
    );
    let unlinked = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "ftp-unlinked-data")
        .unwrap();
    assert_eq!(unlinked["connection"], data_conn["id"]);
    assert_eq!(unlinked["severity"], "warning");
    let bounce = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "ftp-bounce")
        .unwrap();
    assert!(
        bounce["message"]
            .as_str()
            .unwrap()
            .contains("10.9.9.9:1025"),
        "{bounce}"
    );
}

#[test]
fn non_utf8_file_names_keep_their_bytes() {
    let mut ctl = Talk::new("10.3.0.1:40000", "10.3.0.2:21", 1, 1);
    ctl.handshake();
    ftp_control(
        &mut ctl,
        &[
            (false, "220 ready\r\n"),
            (true, "USER anonymous\r\n"),
            (false, "230 in\r\n"),
            (true, "PASV\r\n"),
            (false, "227 Entering Passive Mode (10,3,0,2,19,137).\r\n"),
        ],
    );
    // A Latin-1 file name: "café.txt".
    ctl.send(true, b"RETR caf\xe9.txt\r\n");
    ftp_control(&mut ctl, &[(false, "150 go\r\n")]);
    let mut data = Talk::new("10.3.0.1:40002", "10.3.0.2:5001", 1, 1);
    data.ts_ns = ctl.ts_ns + 1_000_000;
    data.handshake();
    data.send(false, b"hello");
    data.close();
    ctl.ts_ns = data.ts_ns + 1_000_000;
    ftp_control(&mut ctl, &[(false, "226 done\r\n")]);
    ctl.close();
    let mut frames = ctl.frames;
    frames.extend(data.frames);
    frames.sort_by_key(|(ts, _)| *ts);
    let r = analyze_frames(LinkType::ETHERNET, &frames);
    let t = &r["sessions"][0]["transfers"][0];
    assert_eq!(t["command"], "RETR");
    // base64 of "caf\xe9.txt"
    assert_eq!(t["argument"], serde_json::json!({"bytes": "Y2Fm6S50eHQ="}));
    assert_eq!(t["bytes"], 5);
}

#[test]
fn non_utf8_hosts_and_cookie_values_keep_their_bytes() {
    let mut t = Talk::new(C, S, 1, 1);
    t.handshake();
    t.send(
        true,
        b"GET / HTTP/1.1\r\nHost: caf\xe9.example\r\nCookie: PHPSESSID=abc\xff12345678\r\n\r\n",
    );
    t.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    t.close();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.pcap");
    write_pcap(&path, LinkType::ETHERNET, &t.frames);
    let r = analyze_json(&["--show-secrets", path.to_str().unwrap()]);
    let s = &r["sessions"][0];
    // base64 of "caf\xe9.example" and of "PHPSESSID=abc\xff12345678".
    assert_eq!(
        s["server"],
        serde_json::json!({"bytes": "Y2Fm6S5leGFtcGxl"})
    );
    assert_eq!(
        s["key"],
        serde_json::json!({"bytes": "UEhQU0VTU0lEPWFiY/8xMjM0NTY3OA=="})
    );
    // Redacted, the key is plain text again.
    let r = analyze_json(&[path.to_str().unwrap()]);
    assert!(r["sessions"][0]["key"]
        .as_str()
        .unwrap()
        .starts_with("PHPSESSID=fp:"));
}

/// A WebSocket upgrade stays an HTTP connection after the 101, whose
/// frames are found to be no known protocol: its request and session stay.
/// (A CONNECT tunnel carrying HTTP/2 is Suricata's http2-errorcode, in
/// http2_corpus.)
#[test]
fn tunnels_after_http_keep_their_http() {
    let mut t = Talk::new(C, S, 1000, 5000);
    t.handshake();
    t.send(
        true,
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: PHPSESSID=0123456789abcdef0123\r\n\r\n",
    );
    t.send(
        false,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    t.send(
        true,
        &[0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e],
    );
    t.send(false, &[0x81, 0x02, b'h', b'i']);
    t.close();
    let report = analyze_frames(LinkType::ETHERNET, &t.frames);
    let c = only_conn(&report);
    assert_eq!(c["protocol"], "http", "{c}");
    assert_eq!(c["http_version"], "1.1");
    assert_eq!(c["requests"], 1);
    assert_eq!(c["sessions"].as_array().unwrap().len(), 1, "{c}");
}
