//! The FTP control parser in wire terms, fed whole and one byte at a time.

use super::*;

#[derive(Default)]
struct Sink(Vec<FtpEvent>);

impl FtpSink for Sink {
    fn ftp(&mut self, _at: At, event: FtpEvent) {
        self.0.push(event);
    }
}

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

fn feed(script: &[(Direction, &[u8])], split: usize) -> (Vec<FtpEvent>, FtpParser) {
    let mut p = FtpParser::default();
    let mut sink = Sink::default();
    for (dir, bytes) in script {
        for piece in bytes.chunks(split) {
            p.data(At { conn: 1, ts_ns: 0 }, *dir, piece, &mut sink);
        }
    }
    (sink.0, p)
}

/// Whole and byte by byte must agree.
fn run(script: &[(Direction, &[u8])]) -> (Vec<FtpEvent>, FtpParser) {
    let (whole, p) = feed(script, usize::MAX);
    let (bytes, _) = feed(script, 1);
    assert_eq!(whole, bytes, "whole and byte-by-byte differ");
    (whole, p)
}

fn expects(events: &[FtpEvent]) -> Vec<(ExpectKind, Option<String>, u16)> {
    events
        .iter()
        .filter_map(|e| match e {
            FtpEvent::Expect { kind, endpoint } => {
                Some((*kind, endpoint.addr.map(|a| a.to_string()), endpoint.port))
            }
            _ => None,
        })
        .collect()
}

fn replies(events: &[FtpEvent]) -> Vec<(u16, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            FtpEvent::Reply { code, to, .. } => Some((*code, to.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn login_and_passive_retr() {
    let (ev, p) = run(&[
        (S, b"220 ProFTPD Server ready.\r\n"),
        (C, b"USER anonymous\r\n"),
        (S, b"331 Anonymous login ok\r\n"),
        (C, b"PASS me@example.com\r\n"),
        (S, b"230 Anonymous access granted\r\n"),
        (C, b"PASV\r\n"),
        (
            S,
            b"227 Entering Passive Mode (199,233,217,249,221,90).\r\n",
        ),
        (C, b"RETR robots.txt\r\n"),
        (
            S,
            b"150 Opening BINARY mode data connection\r\n226 Transfer complete\r\n",
        ),
    ]);
    assert!(p.is_ftp());
    assert_eq!(
        expects(&ev),
        [(ExpectKind::Pasv, Some("199.233.217.249".into()), 56666)]
    );
    assert_eq!(
        replies(&ev),
        [
            (220, None),
            (331, Some("USER".into())),
            (230, Some("PASS".into())),
            (227, Some("PASV".into())),
            (150, Some("RETR".into())),
            (226, Some("RETR".into()))
        ]
    );
    assert!(ev.contains(&FtpEvent::Command {
        verb: "RETR".into(),
        arg: b"robots.txt".to_vec()
    }));
}

#[test]
fn active_and_extended_modes() {
    let (ev, _) = run(&[
        (C, b"PORT 141,142,220,235,131,126\r\n"),
        (S, b"200 PORT command successful\r\n"),
        (
            C,
            b"EPRT |2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49190|\r\n",
        ),
        (S, b"200 EPRT command successful\r\n"),
        (C, b"EPSV\r\n"),
        (S, b"229 Entering Extended Passive Mode (|||57086|)\r\n"),
        (C, b"LPRT 4,4,10,0,0,1,2,4,1\r\n"),
        (S, b"200 OK\r\n"),
        (C, b"LPSV\r\n"),
        (
            S,
            b"228 Entering Long Passive Mode (4,4,10,0,0,2,2,4,2)\r\n",
        ),
    ]);
    assert_eq!(
        expects(&ev),
        [
            (ExpectKind::Port, Some("141.142.220.235".into()), 33662),
            (
                ExpectKind::Eprt,
                Some("2001:470:1f11:81f:c999:d94:aa7c:2e3e".into()),
                49190
            ),
            (ExpectKind::Epsv, None, 57086),
            (ExpectKind::Lprt, Some("10.0.0.1".into()), 1025),
            (ExpectKind::Lpsv, Some("10.0.0.2".into()), 1026),
        ]
    );
}

#[test]
fn malformed_arguments_are_recorded_not_trusted() {
    let (ev, p) = run(&[
        (C, b"PORT 300,1,1,1,4,1\r\n"),
        (S, b"501 Illegal PORT command\r\n"),
        (C, b"EPRT |1|10.0.0.1|99999|\r\n"),
        (S, b"501 Bad EPRT\r\n"),
        (C, b"PASV\r\n"),
        (S, b"227 Entering Passive Mode (1,2,3)\r\n"),
    ]);
    assert!(expects(&ev).is_empty());
    assert_eq!(p.counters.malformed_expectations, 3);
    assert!(ev.contains(&FtpEvent::MalformedExpect {
        kind: ExpectKind::Port,
        why: "a number over 255"
    }));
}

#[test]
fn a_passive_reply_to_another_command_answers_a_lost_one() {
    // The capture lost "PASV" (and TYPE's reply): the 227 pairs with TYPE
    // and announces nothing, as Zeek does.
    let (ev, _) = run(&[
        (C, b"TYPE I\r\n"),
        (S, b"227 Entering Passive Mode (10,0,0,2,4,1)\r\n"),
    ]);
    assert!(expects(&ev).is_empty());
    // Seen from the middle, with no command known, it is taken.
    let (ev, _) = run(&[(S, b"227 Entering Passive Mode (10,0,0,2,4,1)\r\n")]);
    assert_eq!(expects(&ev).len(), 1);
}

#[test]
fn multi_line_replies_conforming_and_not() {
    let (ev, _) = run(&[
        (
            S,
            b"220-Welcome\r\n  to the server\r\n220-more\r\n220 ready\r\n",
        ),
        (C, b"FEAT\r\n"),
        (
            S,
            b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n211 End\r\n",
        ),
        (C, b"HELP\r\n"),
        (
            S,
            b"214-The following commands are recognized\r\n214-USER PASS\r\n214 Help OK\r\n",
        ),
        (C, b"SYST\r\n"),
        (S, b"215 UNIX Type: L8\r\n"),
    ]);
    assert_eq!(
        replies(&ev),
        [
            (220, None),
            (211, Some("FEAT".into())),
            (214, Some("HELP".into())),
            (215, Some("SYST".into()))
        ]
    );
}

#[test]
fn auth_tls_makes_the_channel_opaque_and_ccc_clears_it() {
    let (ev, _) = run(&[
        (S, b"220 ready\r\n"),
        (C, b"AUTH TLS\r\n"),
        (S, b"234 AUTH TLS successful\r\n"),
        (C, b"\x16\x03\x01\x00\x05hello"),
        (S, b"\x16\x03\x03\x00\x05world"),
        (C, b"\x17\x03\x03\x00\x0eencrypted-PASV"),
        (S, b"200 CCC OK, clear text now\r\n"),
        (C, b"PASV\r\n"),
        (S, b"227 Entering Passive Mode (10,0,0,2,4,1)\r\n"),
    ]);
    assert!(ev.contains(&FtpEvent::Opaque {
        mechanism: "TLS".into()
    }));
    assert!(ev.contains(&FtpEvent::Clear));
    assert_eq!(
        expects(&ev),
        [(ExpectKind::Pasv, Some("10.0.0.2".into()), 1025)]
    );
    // After CCC the PASV command itself is read again and pairs its reply.
    assert!(ev.contains(&FtpEvent::Command {
        verb: "PASV".into(),
        arg: Vec::new()
    }));
    assert!(replies(&ev).contains(&(227, Some("PASV".into()))));
    // Nothing between the 234 and the cleartext was read as FTP.
    assert!(!ev
        .iter()
        .any(|e| matches!(e, FtpEvent::Command { verb, .. } if verb != "AUTH" && verb != "PASV")));
}

#[test]
fn rfc2228_protected_commands_are_opaque() {
    let (ev, _) = run(&[
        (S, b"220 GridFTP Server ready\r\n"),
        (C, b"AUTH GSSAPI\r\n"),
        (S, b"334 Using authentication type; ADAT must follow\r\n"),
        (C, b"ADAT YIIC...\r\n"),
        (S, b"235 GSSAPI Authentication succeeded\r\n"),
        (C, b"ENC FgMBAAE...\r\n"),
        (S, b"631 FgMBAAE...\r\n"),
    ]);
    assert!(ev.contains(&FtpEvent::Opaque {
        mechanism: "GSSAPI".into()
    }));
}

#[test]
fn long_lines_are_cut_and_counted() {
    let mut long = b"SITE ".to_vec();
    long.extend(std::iter::repeat_n(b'x', MAX_LINE * 2));
    long.extend_from_slice(b"\r\nNOOP\r\n");
    let (ev, p) = run(&[(C, &long)]);
    assert_eq!(p.counters.long_lines, 1);
    assert!(ev.contains(&FtpEvent::Command {
        verb: "NOOP".into(),
        arg: Vec::new()
    }));
}

#[test]
fn smtp_is_not_ftp() {
    let (_, p) = run(&[
        (S, b"220 mail.example ESMTP Postfix\r\n"),
        (C, b"EHLO client\r\n"),
        (S, b"250-mail\r\n250 OK\r\n"),
    ]);
    assert!(!p.is_ftp());
}

#[test]
fn a_gap_drops_the_partial_line_only() {
    let mut p = FtpParser::default();
    let mut sink = Sink::default();
    let at = At { conn: 1, ts_ns: 0 };
    p.data(at, C, b"RETR fi", &mut sink);
    p.gap(C, 10);
    p.data(at, C, b"le.txt\r\nSTOR up.bin\r\n", &mut sink);
    let verbs: Vec<&FtpEvent> = sink.0.iter().collect();
    assert_eq!(
        verbs,
        [&FtpEvent::Command {
            verb: "STOR".into(),
            arg: b"up.bin".to_vec()
        }]
    );
    assert_eq!(p.counters.lost_bytes, 10);
}

/// Mutated control channels fed whole and in random pieces: never a panic,
/// and the same events either way.
#[test]
fn mutated_control_channels_parse_the_same_whatever_the_split() {
    let client: &[u8] = b"USER alice\r\nPASS secret\r\nPASV\r\nRETR a.txt\r\nEPRT |2|::1|4000|\r\nLIST\r\nAUTH TLS\r\n";
    let server: &[u8] = b"220-hi\r\n there\r\n220 ready\r\n331 ok\r\n230 in\r\n227 Entering Passive Mode (10,0,0,2,4,1).\r\n150 go\r\n226 done\r\n200 ok\r\n150 go\r\n226 done\r\n234 tls\r\n\x16\x03\x01\x00\x02ab\x15\x03\x03\x00\x01x220 clear again\r\n";
    let mut next = crate::test_util::xorshift(0x2545_f491_4f6c_dd1du64);
    for _ in 0..10_000 {
        let mut streams = [client.to_vec(), server.to_vec()];
        for s in streams.iter_mut() {
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % s.len();
                match next() % 3 {
                    0 => s[at] = next() as u8,
                    1 => s.insert(at, b"\r\n-|,( 0123456789"[(next() % 17) as usize]),
                    _ => {
                        s.remove(at);
                    }
                }
            }
        }
        let script = [
            (C, &streams[0][..40.min(streams[0].len())]),
            (S, &streams[1][..]),
            (C, &streams[0][40.min(streams[0].len())..]),
        ];
        let split = 1 + (next() % 11) as usize;
        let (whole, _) = feed(&script, usize::MAX);
        let (pieces, _) = feed(&script, split);
        assert_eq!(
            whole,
            pieces,
            "split {split}: {:?} / {:?}",
            String::from_utf8_lossy(&streams[0]),
            String::from_utf8_lossy(&streams[1])
        );
    }
}

/// A script with capture gaps: `None` bytes is a gap of 20 bytes.
fn run_lossy(script: &[(Direction, Option<&[u8]>)]) -> Vec<FtpEvent> {
    let mut out = Vec::new();
    for split in [usize::MAX, 1] {
        let mut p = FtpParser::default();
        let mut sink = Sink::default();
        let at = At { conn: 1, ts_ns: 0 };
        for (dir, bytes) in script {
            match bytes {
                Some(b) => b
                    .chunks(split)
                    .for_each(|piece| p.data(at, *dir, piece, &mut sink)),
                None => p.gap(*dir, 20),
            }
        }
        out.push(sink.0);
    }
    assert_eq!(out[0], out[1], "whole and byte-by-byte differ");
    out.swap_remove(0)
}

#[test]
fn a_lost_227_does_not_shift_the_pairings_after_it() {
    let ev = run_lossy(&[
        (C, Some(b"PASV\r\n")),
        // The 227 was lost.
        (S, None),
        (C, Some(b"RETR a.txt\r\n")),
        (S, Some(b"150 Opening\r\n226 Done\r\n")),
        (C, Some(b"TYPE I\r\n")),
        (S, Some(b"200 ok\r\n")),
        (C, Some(b"PASV\r\n")),
        (S, Some(b"227 Entering Passive Mode (10,0,0,2,4,2)\r\n")),
        (C, Some(b"RETR b.txt\r\n")),
        (S, Some(b"150 Opening\r\n226 Done\r\n")),
    ]);
    assert_eq!(
        replies(&ev),
        [
            (150, Some("RETR".into())),
            (226, Some("RETR".into())),
            (200, Some("TYPE".into())),
            (227, Some("PASV".into())),
            (150, Some("RETR".into())),
            (226, Some("RETR".into())),
        ]
    );
    assert!(ev.contains(&FtpEvent::Unanswered {
        verb: "PASV".into()
    }));
    assert_eq!(
        expects(&ev),
        [(ExpectKind::Pasv, Some("10.0.0.2".into()), 1026)]
    );
}

#[test]
fn a_lost_226_does_not_take_the_next_commands_reply() {
    let ev = run_lossy(&[
        (C, Some(b"RETR a.txt\r\n")),
        (S, Some(b"150 Opening\r\n")),
        (S, None),
        (C, Some(b"TYPE I\r\n")),
        (S, Some(b"200 ok\r\n")),
        (C, Some(b"EPSV\r\n")),
        (
            S,
            Some(b"229 Entering Extended Passive Mode (|||4000|)\r\n"),
        ),
    ]);
    assert_eq!(
        replies(&ev),
        [
            (150, Some("RETR".into())),
            (200, Some("TYPE".into())),
            (229, Some("EPSV".into())),
        ]
    );
    assert_eq!(expects(&ev).len(), 1);
}

#[test]
fn a_reply_to_a_lost_command_answers_no_waiting_one() {
    // TYPE's 200 was lost, then the PASV command: the 227 still announces.
    let ev = run_lossy(&[
        (C, Some(b"TYPE I\r\n")),
        (S, None),
        (C, None),
        (S, Some(b"227 Entering Passive Mode (10,0,0,2,4,1)\r\n")),
    ]);
    assert_eq!(replies(&ev), [(227, None)]);
    assert_eq!(expects(&ev).len(), 1);
    // Without a gap to explain it, a mismatch is paired in order and the
    // 227 is not trusted (see above).
    let ev = run_lossy(&[
        (C, Some(b"TYPE I\r\n")),
        (S, Some(b"227 Entering Passive Mode (10,0,0,2,4,1)\r\n")),
    ]);
    assert!(expects(&ev).is_empty());
}

#[test]
fn a_reply_lost_before_the_next_command_still_realigns() {
    // TYPE's 200 was lost, and the gap was known before the client repeated
    // TYPE (the peer's ACK revealed it): the 229 still answers EPSV.
    let ev = run_lossy(&[
        (C, Some(b"TYPE I\r\n")),
        (S, None),
        (C, Some(b"TYPE I\r\n")),
        (S, Some(b"200 ok\r\n")),
        (C, Some(b"EPSV\r\n")),
        (
            S,
            Some(b"229 Entering Extended Passive Mode (|||4000|)\r\n"),
        ),
    ]);
    assert_eq!(expects(&ev).len(), 1);
    assert!(ev.contains(&FtpEvent::Unanswered {
        verb: "TYPE".into()
    }));
}

#[test]
fn abor_during_a_transfer_whose_150_was_lost_leaves_the_transfer_waiting() {
    let ev = run_lossy(&[
        (C, Some(b"RETR big.bin\r\n")),
        // The 150 was lost; the client aborts.
        (S, None),
        (C, Some(b"ABOR\r\n")),
        (
            S,
            Some(b"426 Connection closed; transfer aborted.\r\n226 ABOR ok\r\n"),
        ),
    ]);
    assert_eq!(
        replies(&ev),
        [(426, Some("RETR".into())), (226, Some("ABOR".into()))]
    );
    assert!(!ev.iter().any(|e| matches!(e, FtpEvent::Unanswered { .. })));
}

#[test]
fn a_byte_held_by_a_probe_is_read_when_the_auth_is_refused() {
    // A record's first byte after AUTH waits for more; the server refuses
    // the AUTH; the byte is the start of the next line, not lost, and a
    // later AUTH's ClientHello is seen as TLS.
    let held = [
        (S, &b"220 ready\r\n"[..]),
        (C, b"AUTH TLS\r\n"),
        (C, b"\x16"),
        (S, b"504 not here\r\n"),
        (C, b"USER bob\r\n"),
        (C, b"AUTH TLS\r\n"),
        (S, b"234 go\r\n"),
        (C, b"\x16\x03\x01\x00\x05hello"),
    ];
    let joined = [
        (S, &b"220 ready\r\n"[..]),
        (C, b"AUTH TLS\r\n"),
        (S, b"504 not here\r\n"),
        (C, b"\x16USER bob\r\n"),
        (C, b"AUTH TLS\r\n"),
        (S, b"234 go\r\n"),
        (C, b"\x16\x03\x01\x00\x05hello"),
    ];
    let (ev, _) = run(&held);
    assert_eq!(ev, run(&joined).0);
    assert!(ev.contains(&FtpEvent::Opaque {
        mechanism: "TLS".into()
    }));
    assert!(!ev
        .iter()
        .any(|e| matches!(e, FtpEvent::Command { verb, .. } if verb == "USER")));
}
