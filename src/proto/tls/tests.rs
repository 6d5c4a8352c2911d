use super::handshake::{digest, HRR_RANDOM};
use super::*;
use crate::proto::http::Transaction;

#[derive(Default)]
struct Sink(Vec<Transaction>);

impl HttpSink for Sink {
    fn transaction(&mut self, _at: At, tx: Transaction) {
        self.0.push(tx);
    }
}

const AT: At = At { conn: 1, ts_ns: 0 };

trait Feed {
    fn feed(&mut self, dir: Direction, bytes: &[u8]);
}

impl Feed for TlsParser {
    fn feed(&mut self, dir: Direction, bytes: &[u8]) {
        self.data(AT, dir, bytes, &mut Sink::default());
    }
}
use Direction::{ToClient, ToServer};

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend((data.len() as u16).to_be_bytes());
    v.extend(data);
    v
}

fn sni(name: &str) -> Vec<u8> {
    let mut entry = vec![0u8];
    entry.extend((name.len() as u16).to_be_bytes());
    entry.extend(name.as_bytes());
    let mut list = (entry.len() as u16).to_be_bytes().to_vec();
    list.extend(entry);
    ext(0, &list)
}

fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut v = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    v.extend(body);
    v
}

fn record(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 3, 3];
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend(payload);
    v
}

fn client_hello(sid: &[u8], exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([7u8; 32]);
    b.push(sid.len() as u8);
    b.extend(sid);
    b.extend([0, 2, 0x13, 0x01, 1, 0]);
    let all: Vec<u8> = exts.concat();
    b.extend((all.len() as u16).to_be_bytes());
    b.extend(all);
    message(1, &b)
}

fn server_hello(random: [u8; 32], sid: &[u8], exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(random);
    b.push(sid.len() as u8);
    b.extend(sid);
    b.extend([0xc0, 0x2f, 0]);
    let all: Vec<u8> = exts.concat();
    if !all.is_empty() {
        b.extend((all.len() as u16).to_be_bytes());
        b.extend(all);
    }
    message(2, &b)
}

fn new_ticket(ticket: &[u8]) -> Vec<u8> {
    let mut b = 7200u32.to_be_bytes().to_vec();
    b.extend((ticket.len() as u16).to_be_bytes());
    b.extend(ticket);
    message(4, &b)
}

const CCS: [u8; 6] = [20, 3, 3, 0, 1, 1];

#[test]
fn a_full_tls12_handshake_issues_a_session_id_and_a_ticket() {
    let mut p = TlsParser::default();
    let sid = [0xab; 32];
    p.feed(
        ToServer,
        &record(22, &client_hello(&[], &[sni("shop.test"), ext(35, &[])])),
    );
    // ServerHello, a 40 000-byte Certificate over three records, then
    // NewSessionTicket and ChangeCipherSpec.
    let mut flight = server_hello([1; 32], &sid, &[ext(35, &[])]);
    flight.extend(message(11, &vec![0x30; 40_000]));
    let mut bytes = Vec::new();
    for chunk in flight.chunks(16_384) {
        bytes.extend(record(22, chunk));
    }
    bytes.extend(record(22, &new_ticket(b"TICKET-1")));
    bytes.extend(CCS);
    bytes.extend(record(22, &[0x55; 40])); // encrypted Finished
                                           // Delivered in 1000-byte pieces: messages span records and segments.
    for piece in bytes.chunks(1000) {
        p.feed(ToClient, piece);
    }
    let f = &p.facts;
    assert_eq!(f.sni.as_deref(), Some(&b"shop.test"[..]));
    assert!(f.offered_session_id.is_empty());
    assert_eq!(f.offered_ticket, None, "an empty SessionTicket is no offer");
    assert_eq!(f.server_session_id, sid);
    assert!(f.certificate && f.server_ccs);
    assert_eq!(f.new_tickets, [digest(b"TICKET-1")]);
    assert_eq!(f.handshake(), Handshake::Full);
    assert_eq!(f.version_name().as_deref(), Some("TLS 1.2"));
    assert_eq!(f.malformed, 0);
}

#[test]
fn abbreviated_handshakes_by_session_id_and_by_ticket() {
    let sid = [0x42; 32];
    let mut p = TlsParser::default();
    p.feed(ToServer, &record(22, &client_hello(&sid, &[])));
    let mut s = record(22, &server_hello([2; 32], &sid, &[]));
    s.extend(CCS);
    p.feed(ToClient, &s);
    assert_eq!(p.facts.handshake(), Handshake::SessionId);

    let mut p = TlsParser::default();
    p.feed(
        ToServer,
        &record(22, &client_hello(&sid, &[ext(35, b"TICKET-1")])),
    );
    let mut s = record(22, &server_hello([2; 32], &sid, &[]));
    s.extend(record(22, &new_ticket(b"TICKET-2")));
    s.extend(CCS);
    p.feed(ToClient, &s);
    assert_eq!(p.facts.handshake(), Handshake::Ticket);
    assert_eq!(p.facts.offered_ticket, Some(digest(b"TICKET-1")));
    assert_eq!(p.facts.new_tickets, [digest(b"TICKET-2")]);
}

#[test]
fn a_refused_offer_is_a_full_handshake_and_a_cut_one_is_incomplete() {
    let mut p = TlsParser::default();
    p.feed(ToServer, &record(22, &client_hello(&[1; 32], &[])));
    let mut s = record(22, &server_hello([2; 32], &[9; 32], &[]));
    s.extend(record(22, &message(11, &[0; 100])));
    p.feed(ToClient, &s);
    assert_eq!(p.facts.handshake(), Handshake::Full);

    // Only the ServerHello: a certificate might still have come.
    let mut p = TlsParser::default();
    p.feed(ToServer, &record(22, &client_hello(&[1; 32], &[])));
    p.feed(ToClient, &record(22, &server_hello([2; 32], &[1; 32], &[])));
    assert_eq!(p.facts.handshake(), Handshake::Incomplete);
}

#[test]
fn tls13_psk_after_a_hello_retry() {
    let mut p = TlsParser::default();
    p.feed(
        ToServer,
        &record(22, &client_hello(&[5; 32], &[ext(41, &[0; 40])])),
    );
    assert!(p.facts.psk_offered);
    let v13 = ext(43, &[3, 4]);
    let mut s = record(
        22,
        &server_hello(HRR_RANDOM, &[5; 32], std::slice::from_ref(&v13)),
    );
    // The compatibility-mode dummy ChangeCipherSpec after the retry.
    s.extend(CCS);
    s.extend(record(
        22,
        &server_hello([3; 32], &[5; 32], &[v13, ext(41, &[0, 0])]),
    ));
    s.extend(CCS);
    p.feed(ToClient, &s);
    assert!(p.facts.is_tls13());
    assert!(p.facts.psk_accepted);
    assert_eq!(p.facts.handshake(), Handshake::Psk);
}

#[test]
fn hostile_bytes_end_reading_without_panic() {
    // Lengths that point past the message, a record too long, garbage.
    let cases: Vec<Vec<u8>> = vec![
        record(22, &[1, 0, 0, 10, 3, 3]),
        record(22, &message(1, &[3, 3, 0, 0])),
        vec![22, 3, 3, 0xff, 0xff, 1, 2, 3],
        record(22, &message(2, &[3, 3])),
        record(22, &[4, 0xff, 0xff, 0xff]),
    ];
    for bytes in &cases {
        for dir in [ToServer, ToClient] {
            let mut p = TlsParser::default();
            for piece in bytes.chunks(3) {
                p.feed(dir, piece);
            }
            p.feed(dir, bytes);
            assert_ne!(p.facts.handshake(), Handshake::SessionId);
        }
    }
    // A message too large to keep is counted and skipped.
    let mut p = TlsParser::default();
    p.feed(ToServer, &[22, 3, 3, 0x40, 0, 1, 0x10, 0, 0]);
    assert_eq!(p.facts.malformed, 1);
}

#[test]
fn random_bytes_after_a_valid_start_never_panic() {
    // A valid ClientHello/ServerHello prefix, then pseudo-random bytes in
    // pseudo-random pieces, in both directions.
    let mut next = crate::test_util::xorshift(0x2545_f491_4f6c_dd1du64);
    for round in 0..300 {
        let mut p = TlsParser::default();
        for dir in [ToServer, ToClient] {
            let mut bytes = if dir == ToServer {
                record(22, &client_hello(&[1; 32], &[sni("x.test")]))
            } else {
                record(22, &server_hello([4; 32], &[1; 32], &[]))
            };
            let keep = (next() as usize) % bytes.len();
            bytes.truncate(keep);
            bytes.extend((0..(next() % 4096)).map(|_| next() as u8));
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + (next() as usize) % rest.len().min(700);
                p.feed(dir, &rest[..n]);
                rest = &rest[n..];
                // What is kept stays within its bounds.
                let side = &p.sides[dir as usize];
                assert!(side.header.len() < 5 && side.hs_header.len() < 4);
                assert!(side.hs_body.len() <= MAX_MESSAGE, "round {round}");
                assert!(side.body.len() <= MAX_RECORD, "round {round}");
            }
        }
        // Whatever followed, a resumption needs a ServerHello that echoed.
        if p.facts.handshake() == Handshake::SessionId {
            assert_eq!(p.facts.server_session_id, p.facts.offered_session_id);
        }
    }
}

#[test]
fn without_the_client_hello_an_echo_is_not_a_resumption() {
    let mut p = TlsParser::default();
    p.gap(ToServer, 10);
    p.feed(ToServer, &record(22, &client_hello(&[1; 32], &[])));
    let mut s = record(22, &server_hello([2; 32], &[1; 32], &[]));
    s.extend(CCS);
    p.feed(ToClient, &s);
    assert!(!p.facts.client_hello);
    assert_eq!(p.facts.handshake(), Handshake::Incomplete);
}

#[test]
fn an_overlong_sni_is_not_kept_and_a_certificate_is_not_buffered() {
    let long = "a".repeat(MAX_SNI + 1);
    let mut p = TlsParser::default();
    p.feed(ToServer, &record(22, &client_hello(&[], &[sni(&long)])));
    assert!(p.facts.client_hello);
    assert_eq!(p.facts.sni, None);
    // A Certificate header: known at once, its body skipped.
    p.feed(ToClient, &record(22, &server_hello([2; 32], &[3; 32], &[])));
    p.feed(ToClient, &[22, 3, 3, 0x40, 0x00, 11, 0x00, 0x3f, 0xfc]);
    p.feed(ToClient, &[0u8; 1000]);
    assert!(p.facts.certificate);
    assert!(p.sides[1].body.is_empty());
}
