use super::*;

fn conn(id: u64, f: TlsFacts) -> TlsConn {
    TlsConn {
        id,
        client: "10.0.0.5".parse().unwrap(),
        server: "10.0.0.9:443".into(),
        server_ip: "10.0.0.9".parse().unwrap(),
        start_ns: id * 1_000,
        end_ns: id * 1_000 + 500,
        facts: f,
    }
}

fn full(sid: u8, ticket: Option<u8>) -> TlsFacts {
    TlsFacts {
        client_hello: true,
        server_hello: true,
        version: 0x0303,
        server_session_id: vec![sid; 32],
        certificate: true,
        server_ccs: true,
        new_tickets: ticket.map(|t| [t; 32]).into_iter().collect(),
        sni: Some(b"shop.test".to_vec()),
        ..Default::default()
    }
}

fn by_sid(sid: u8) -> TlsFacts {
    TlsFacts {
        client_hello: true,
        offered_session_id: vec![sid; 32],
        server_hello: true,
        version: 0x0303,
        server_session_id: vec![sid; 32],
        server_ccs: true,
        ..Default::default()
    }
}

fn by_ticket(ticket: u8, new: Option<u8>) -> TlsFacts {
    TlsFacts {
        client_hello: true,
        offered_ticket: Some([ticket; 32]),
        offered_session_id: vec![0xee; 32],
        server_hello: true,
        version: 0x0303,
        server_session_id: vec![0xee; 32],
        server_ccs: true,
        new_tickets: new.map(|t| [t; 32]).into_iter().collect(),
        ..Default::default()
    }
}

#[test]
fn equal_ids_at_unrelated_servers_do_not_link() {
    let mut other = conn(2, by_sid(1));
    other.server_ip = "10.9.9.9".parse().unwrap();
    other.facts.sni = Some(b"elsewhere.test".to_vec());
    let mut same_name = conn(3, by_sid(1));
    same_name.server_ip = "10.0.0.10".parse().unwrap();
    same_name.facts.sni = Some(b"SHOP.test".to_vec());
    let linked = link(vec![conn(1, full(1, None)), other, same_name]);
    // 3 names the same server (another address of shop.test); 2 is an
    // unrelated server whose original is not in the capture.
    assert_eq!(linked.resumes, HashMap::from([(3, 1)]));
    assert_eq!(linked.lineages.len(), 2);
    assert_eq!(linked.lineages[0].connections, [1, 3]);
    assert_eq!(linked.lineages[1].connections, [2]);
    assert_eq!(linked.lineages[1].original, None);
}

#[test]
fn a_connection_opened_before_the_full_handshake_can_resume_it() {
    // Connection 5 was opened first (a preconnect) but resumed the
    // session connection 6 established.
    let linked = link(vec![conn(5, by_sid(1)), conn(6, full(1, None))]);
    assert_eq!(linked.lineages.len(), 1);
    assert_eq!(linked.lineages[0].original, Some(6));
    assert_eq!(linked.lineages[0].connections, [5, 6]);
    assert_eq!(linked.resumes, HashMap::from([(5, 6)]));
}

#[test]
fn resumptions_join_the_full_handshake_that_issued_them() {
    let linked = link(vec![
        conn(1, full(1, None)),
        conn(2, by_sid(1)),
        conn(3, full(2, Some(7))),
        conn(4, by_ticket(7, Some(8))),
        // Resumes the ticket connection 4 was given: same lineage.
        conn(5, by_ticket(8, None)),
        conn(6, full(3, None)),
        // Its original is not in the capture; 8 offers the same.
        conn(7, by_sid(9)),
        conn(8, by_sid(9)),
    ]);
    let l = &linked.lineages;
    assert_eq!(l.len(), 3);
    assert_eq!(l[0].connections, [1, 2]);
    assert_eq!(l[0].original, Some(1));
    assert_eq!(l[0].key, Key::session_id(&[1; 32]));
    assert_eq!(l[0].server.as_deref(), Some(&b"shop.test"[..]));
    assert_eq!(l[1].connections, [3, 4, 5]);
    assert_eq!(l[1].key, Key::ticket(&[7; 32]));
    assert_eq!(l[2].connections, [7, 8]);
    assert_eq!(l[2].original, None);
    assert_eq!(linked.resumes, HashMap::from([(2, 1), (4, 3), (5, 4)]));
}
