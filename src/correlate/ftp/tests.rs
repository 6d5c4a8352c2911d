use super::*;

const S: u64 = 1_000_000_000;

fn ep(s: &str) -> Endpoint {
    let a: std::net::SocketAddr = s.parse().unwrap();
    Endpoint {
        ip: a.ip(),
        port: a.port(),
    }
}

fn conn(id: u64, client: &str, server: &str, start_s: u64) -> ConnFacts {
    ConnFacts {
        id,
        client: ep(client),
        server: ep(server),
        start_ns: start_s * S,
        roles_guessed: false,
    }
}

/// A control session from 10.0.0.5 to 10.0.0.9:21 with the given
/// announcements: (seconds, kind, advertised address, port).
fn session(id: u64, client_port: u16, ann: &[(u64, ExpectKind, Option<&str>, u16)]) -> FtpSessions {
    let mut f = FtpSessions::default();
    let at = |ts: u64| At {
        conn: id,
        ts_ns: ts * S,
    };
    let ends = Some((ep(&format!("10.0.0.5:{client_port}")), ep("10.0.0.9:21")));
    f.event(
        at(0),
        ends,
        FtpEvent::Command {
            verb: "USER".into(),
            arg: "u".into(),
        },
    );
    for (ts, kind, addr, port) in ann {
        f.event(
            at(*ts),
            ends,
            FtpEvent::Expect {
                kind: *kind,
                endpoint: Advertised {
                    addr: addr.map(|a| a.parse().unwrap()),
                    port: *port,
                },
            },
        );
        f.event(
            at(*ts),
            ends,
            FtpEvent::Command {
                verb: "RETR".into(),
                arg: format!("f{ts}").into_bytes(),
            },
        );
    }
    f
}

fn link(f: &FtpSessions, conns: &[ConnFacts]) -> (Vec<(u64, u64)>, usize) {
    let controls: BTreeSet<u64> = f.controls.keys().copied().collect();
    let (links, unmatched) = f.link(&controls, conns);
    (
        links.iter().map(|l| (l.control, l.data)).collect(),
        unmatched.values().map(Vec::len).sum(),
    )
}

#[test]
fn nat_pasv_links_to_the_real_server() {
    let f = session(
        1,
        40000,
        &[(10, ExpectKind::Pasv, Some("203.0.113.7"), 5000)],
    );
    let (l, u) = link(&f, &[conn(2, "10.0.0.5:40002", "10.0.0.9:5000", 10)]);
    assert_eq!((l, u), (vec![(1, 2)], 0));
}

#[test]
fn active_mode_from_any_server_port() {
    let f = session(1, 40000, &[(10, ExpectKind::Port, Some("10.0.0.5"), 6000)]);
    let (l, _) = link(&f, &[conn(2, "10.0.0.9:33333", "10.0.0.5:6000", 10)]);
    assert_eq!(l, [(1, 2)]);
    // A connection from another host is not the server's.
    let (l, u) = link(&f, &[conn(2, "10.0.0.66:20", "10.0.0.5:6000", 10)]);
    assert_eq!((l.len(), u), (0, 1));
}

#[test]
fn a_data_connection_seen_just_before_its_announcement_still_links() {
    let f = session(1, 40000, &[(10, ExpectKind::Epsv, None, 5000)]);
    let (l, _) = link(&f, &[conn(2, "10.0.0.5:40002", "10.0.0.9:5000", 9)]);
    assert_eq!(l, [(1, 2)]);
    // But not long before.
    let (l, _) = link(&f, &[conn(2, "10.0.0.5:40002", "10.0.0.9:5000", 5)]);
    assert!(l.is_empty());
}

#[test]
fn a_reused_passive_port_links_each_connection_to_its_own_announcement() {
    let f = session(
        1,
        40000,
        &[
            (10, ExpectKind::Pasv, Some("10.0.0.9"), 5000),
            (20, ExpectKind::Pasv, Some("10.0.0.9"), 5000),
        ],
    );
    let (l, u) = link(
        &f,
        &[
            conn(2, "10.0.0.5:40002", "10.0.0.9:5000", 10),
            conn(3, "10.0.0.5:40003", "10.0.0.9:5000", 20),
        ],
    );
    assert_eq!((l, u), (vec![(1, 2), (1, 3)], 0));
    // The first transfer never came: its announcement stays unmatched
    // and does not take the second transfer's connection.
    let (l, u) = link(&f, &[conn(3, "10.0.0.5:40003", "10.0.0.9:5000", 20)]);
    assert_eq!((l, u), (vec![(1, 3)], 1));
    // ... and the connection carries the second transfer's command.
    let controls: BTreeSet<u64> = f.controls.keys().copied().collect();
    let (links, _) = f.link(&controls, &[conn(3, "10.0.0.5:40003", "10.0.0.9:5000", 20)]);
    assert_eq!(links[0].command.as_ref().unwrap().argument, b"f20");
}

#[test]
fn two_sessions_announcing_the_same_port_do_not_swap_connections() {
    // Session 7 announces :5000 at t=9, session 1 at t=10; their
    // connections come at 9 and 10.
    let mut f = session(1, 40000, &[(10, ExpectKind::Pasv, Some("10.0.0.9"), 5000)]);
    let g = session(7, 40010, &[(9, ExpectKind::Pasv, Some("10.0.0.9"), 5000)]);
    f.controls.extend(g.controls);
    let (l, u) = link(
        &f,
        &[
            conn(2, "10.0.0.5:40002", "10.0.0.9:5000", 9),
            conn(3, "10.0.0.5:40003", "10.0.0.9:5000", 10),
        ],
    );
    assert_eq!((l, u), (vec![(1, 3), (7, 2)], 0));
}

#[test]
fn a_connection_whose_roles_were_guessed_from_ports_still_links() {
    // No handshake: port 20 looked like the server.
    let f = session(1, 40000, &[(10, ExpectKind::Port, Some("10.0.0.5"), 6000)]);
    let mut c = conn(2, "10.0.0.5:6000", "10.0.0.9:20", 10);
    c.roles_guessed = true;
    let (l, _) = link(&f, &[c]);
    assert_eq!(l, [(1, 2)]);
}

#[test]
fn two_sessions_from_one_host_keep_their_own_connections() {
    let mut f = session(1, 40000, &[(10, ExpectKind::Pasv, Some("10.0.0.9"), 5000)]);
    let g = session(7, 40010, &[(11, ExpectKind::Pasv, Some("10.0.0.9"), 5001)]);
    f.controls.extend(g.controls);
    let (l, _) = link(
        &f,
        &[
            conn(2, "10.0.0.5:40002", "10.0.0.9:5001", 11),
            conn(3, "10.0.0.5:40003", "10.0.0.9:5000", 11),
        ],
    );
    assert_eq!(l, [(1, 3), (7, 2)]);
}

#[test]
fn the_transfer_command_is_the_first_after_the_announcement() {
    let f = session(1, 40000, &[(10, ExpectKind::Pasv, Some("10.0.0.9"), 5000)]);
    let controls: BTreeSet<u64> = f.controls.keys().copied().collect();
    let (links, _) = f.link(&controls, &[conn(2, "10.0.0.5:40002", "10.0.0.9:5000", 10)]);
    let cmd = links[0].command.as_ref().unwrap();
    assert_eq!(
        (cmd.verb.as_str(), &cmd.argument[..]),
        ("RETR", &b"f10"[..])
    );
}

/// A control session from events at millisecond times.
fn control(f: &mut FtpSessions, id: u64, client: &str, events: &[(u64, FtpEvent)]) {
    let ends = Some((ep(client), ep("10.0.0.9:21")));
    for (ms, e) in events {
        let at = At {
            conn: id,
            ts_ns: ms * 1_000_000,
        };
        f.event(at, ends, e.clone());
    }
}

fn cmd(verb: &str, arg: &str) -> FtpEvent {
    FtpEvent::Command {
        verb: verb.into(),
        arg: arg.into(),
    }
}

fn reply(code: u16, to: &str) -> FtpEvent {
    FtpEvent::Reply {
        code,
        text: String::new(),
        to: Some(to.into()),
    }
}

/// PASV at 1000 ms whose 227 was lost, RETR at 1010 ms answered 150
/// and 226.
fn lost_227(at: u64) -> Vec<(u64, FtpEvent)> {
    vec![
        (at, cmd("PASV", "")),
        (at + 10, cmd("RETR", "a.txt")),
        (at + 12, reply(150, "RETR")),
        (at + 20, reply(226, "RETR")),
    ]
}

fn conn_ms(id: u64, client: &str, server: &str, ms: u64) -> ConnFacts {
    ConnFacts {
        start_ns: ms * 1_000_000,
        ..conn(id, client, server, 0)
    }
}

#[test]
fn a_data_connection_whose_227_was_lost_is_inferred() {
    let mut f = FtpSessions::default();
    control(&mut f, 1, "10.0.0.5:40000", &lost_227(1000));
    let lossy = BTreeSet::from([1]);
    let d = conn_ms(2, "10.0.0.5:40002", "10.0.0.9:5000", 1005);
    let (links, ambiguous) = f.infer(&lossy, &[d], &[]);
    assert!(ambiguous.is_empty());
    assert_eq!(links.len(), 1);
    let l = &links[0];
    assert_eq!((l.control, l.data, l.kind), (1, 2, ExpectKind::Pasv));
    assert_eq!(l.command.as_ref().unwrap().argument, b"a.txt");
    assert!(l.inferred.as_ref().unwrap().contains("PASV"));
    // Not from a control connection without gaps, not in the wrong
    // direction, not long after the exchange.
    assert!(f.infer(&BTreeSet::new(), &[d], &[]).0.is_empty());
    let reversed = conn_ms(2, "10.0.0.9:5000", "10.0.0.5:40002", 1005);
    assert!(f.infer(&lossy, &[reversed], &[]).0.is_empty());
    let late = conn_ms(2, "10.0.0.5:40002", "10.0.0.9:5000", 3000);
    assert!(f.infer(&lossy, &[late], &[]).0.is_empty());
}

#[test]
fn two_candidate_control_sessions_mean_no_inference() {
    let mut f = FtpSessions::default();
    control(&mut f, 1, "10.0.0.5:40000", &lost_227(1000));
    control(&mut f, 7, "10.0.0.5:40010", &lost_227(1002));
    let lossy = BTreeSet::from([1, 7]);
    let d = conn_ms(3, "10.0.0.5:40002", "10.0.0.9:5000", 1005);
    let (links, ambiguous) = f.infer(&lossy, &[d], &[]);
    assert!(links.is_empty());
    assert_eq!(
        ambiguous,
        [Ambiguous {
            data: 3,
            controls: vec![1, 7]
        }]
    );
}

#[test]
fn an_announced_transfer_is_no_evidence() {
    let mut f = FtpSessions::default();
    let mut events = lost_227(1000);
    events.insert(
        1,
        (
            1002,
            FtpEvent::Expect {
                kind: ExpectKind::Pasv,
                endpoint: Advertised {
                    addr: None,
                    port: 6000,
                },
            },
        ),
    );
    control(&mut f, 1, "10.0.0.5:40000", &events);
    let d = conn_ms(2, "10.0.0.5:40002", "10.0.0.9:5000", 1005);
    assert!(f.infer(&BTreeSet::from([1]), &[d], &[]).0.is_empty());
}

#[test]
fn a_session_without_gaps_still_competes() {
    // Session 7 lost nothing, but its RETR was answered 150 with no
    // announcement it could use (a malformed 227, say): it could own
    // the connection as well as session 1, whose 227 was lost.
    let mut f = FtpSessions::default();
    control(&mut f, 1, "10.0.0.5:40000", &lost_227(1000));
    control(
        &mut f,
        7,
        "10.0.0.5:40010",
        &[
            (1001, cmd("RETR", "b.txt")),
            (1003, reply(150, "RETR")),
            (1020, reply(226, "RETR")),
        ],
    );
    let d = conn_ms(3, "10.0.0.5:40002", "10.0.0.9:5000", 1005);
    let (links, ambiguous) = f.infer(&BTreeSet::from([1]), &[d], &[]);
    assert!(links.is_empty());
    assert_eq!(ambiguous.len(), 1);
    assert_eq!(ambiguous[0].controls, [1, 7]);
    // Session 7 alone (no gaps) infers nothing.
    let mut g = FtpSessions::default();
    g.controls.insert(7, f.controls[&7].clone());
    let (links, ambiguous) = g.infer(&BTreeSet::new(), &[d], &[]);
    assert!(links.is_empty() && ambiguous.is_empty());
}
