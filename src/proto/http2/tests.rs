//! HPACK against RFC 7541 Appendix C; HTTP/2 frames fed whole and byte by
//! byte.

use super::hpack::{integer, Decoder, HpackError};
use super::huffman::{self, HuffmanError};
use super::*;
use crate::test_util::hex;

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, |n, v| {
        out.push((
            String::from_utf8(n.to_vec()).unwrap(),
            String::from_utf8(v.to_vec()).unwrap(),
        ))
    })?;
    Ok(out)
}

fn list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn huffman_codes_are_the_appendix_b_ones() {
    // Symbol: (code, length) as RFC 7541 Appendix B lists them.
    for (sym, want) in [
        (0, (0x1ff8, 13)),
        (10, (0x3ffffffc, 30)),
        (32, (0x14, 6)),
        (48, (0x0, 5)),
        (97, (0x3, 5)),
        (255, (0x3ffffee, 26)),
        (256, (0x3fffffff, 30)),
    ] {
        assert_eq!(huffman::code(sym), want, "symbol {sym}");
    }
}

#[test]
fn huffman_rejects_eos_and_bad_padding() {
    let mut out = Vec::new();
    // "a" is 00011, padded with ones: 0x1f.
    huffman::decode(&[0x1f], &mut out).unwrap();
    assert_eq!(out, b"a");
    // Padding of zeros.
    assert_eq!(
        huffman::decode(&[0x18], &mut Vec::new()),
        Err(HuffmanError::Padding)
    );
    // A byte of padding alone (8 bits of ones) is too long.
    assert_eq!(
        huffman::decode(&[0x1f, 0xff], &mut Vec::new()),
        Err(HuffmanError::Padding)
    );
    // EOS (30 ones) inside a string.
    assert_eq!(
        huffman::decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new()),
        Err(HuffmanError::Eos)
    );
}

#[test]
fn integers_c1() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337; C.1.3: 42 at a boundary.
    assert_eq!(integer(&[0x0a], 5), Ok((10, 1)));
    assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
    assert_eq!(integer(&[0x2a], 8), Ok((42, 1)));
    assert_eq!(integer(&[0x1f], 5), Err(HpackError::Integer));
    assert_eq!(
        integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 5),
        Err(HpackError::Integer)
    );
}

#[test]
fn field_representations_c2() {
    let mut d = Decoder::default();
    let c21 = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut d, &c21).unwrap(),
        list(&[("custom-key", "custom-header")])
    );
    assert_eq!(d.size(), 55);
    let mut d = Decoder::default();
    let c22 = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode(&mut d, &c22).unwrap(),
        list(&[(":path", "/sample/path")])
    );
    assert_eq!(d.size(), 0);
    let c23 = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(
        decode(&mut d, &c23).unwrap(),
        list(&[("password", "secret")])
    );
    assert_eq!(d.size(), 0);
    assert_eq!(
        decode(&mut d, &[0x82]).unwrap(),
        list(&[(":method", "GET")])
    );
}

const C3_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const C3_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const C3_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

/// C.3 (plain strings) and C.4 (Huffman): three requests on one table.
#[test]
fn requests_c3_and_c4() {
    for blocks in [
        [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ],
        [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ],
    ] {
        let mut d = Decoder::default();
        for (block, (want, size)) in blocks.iter().zip([(C3_1, 57), (C3_2, 110), (C3_3, 164)]) {
            assert_eq!(decode(&mut d, &hex(block)).unwrap(), list(want));
            assert_eq!(d.size(), size, "{block}");
        }
        assert_eq!(d.entries(), 3);
    }
}

/// C.5 (plain) and C.6 (Huffman): three responses on a 256-byte table, with
/// evictions.
#[test]
fn responses_c5_and_c6_evict() {
    let r1 = [
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    let r2 = [
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    let r3 = [
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];
    for blocks in [
        [
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
             3d31",
        ],
        [
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ],
    ] {
        let mut d = Decoder::with_max(256);
        for (block, (want, size)) in
            blocks
                .iter()
                .zip([(&r1[..], 222), (&r2[..], 222), (&r3[..], 215)])
        {
            assert_eq!(decode(&mut d, &hex(block)).unwrap(), list(want));
            assert_eq!(d.size(), size, "{block}");
        }
        // ":status: 302" went first, then the others of the first response.
        assert_eq!(d.entries(), 3);
        assert!(d.evictions >= 4, "{}", d.evictions);
    }
}

#[test]
fn table_size_updates_are_bounded() {
    let mut d = Decoder::default();
    // An update to 4096 is allowed by default; one to 4097 was not announced
    // in a SETTINGS this reader saw: accepted, counted.
    assert!(decode(&mut d, &[0x3f, 0xe1, 0x1f, 0x82]).is_ok());
    assert_eq!(d.over_settings, 0);
    assert!(decode(&mut d, &[0x3f, 0xe2, 0x1f, 0x82]).is_ok());
    assert_eq!(d.over_settings, 1);
    // SETTINGS raises the bound; past MAX_TABLE nothing is accepted.
    assert!(d.allow(65_536));
    assert!(decode(&mut d, &[0x3f, 0xe1, 0xff, 0x03, 0x82]).is_ok());
    assert_eq!(d.over_settings, 1);
    assert!(!d.allow(1 << 20));
    assert!(matches!(
        decode(&mut d, &[0x3f, 0xe2, 0xff, 0x03]),
        Err(HpackError::TableSize(65_537))
    ));
    // Indexes past both tables.
    assert_eq!(decode(&mut d, &[0xff, 0x00]), Err(HpackError::Index(127)));
    // A string longer than the block.
    assert_eq!(
        decode(&mut d, &[0x00, 0x05, b'a']),
        Err(HpackError::Truncated)
    );
}

// ---- HTTP/2 frames ----

/// A literal field without indexing, new name, plain strings.
fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x00];
    string(&mut b, name.as_bytes());
    string(&mut b, value.as_bytes());
    b
}

/// A literal field with incremental indexing, new name.
fn lit_indexed(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x40];
    string(&mut b, name.as_bytes());
    string(&mut b, value.as_bytes());
    b
}

fn string(b: &mut Vec<u8>, s: &[u8]) {
    assert!(s.len() < 127);
    b.push(s.len() as u8);
    b.extend_from_slice(s);
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn request_block(path: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0x82, 0x87]; // :method GET, :scheme https
    b.extend(lit(":path", path));
    b.extend(lit(":authority", "shop.example:8443"));
    for e in extra {
        b.extend_from_slice(e);
    }
    b
}

#[derive(Default)]
struct Sink(Vec<Transaction>);

impl HttpSink for Sink {
    fn transaction(&mut self, _at: At, tx: Transaction) {
        self.0.push(tx);
    }
}

fn at() -> At {
    At { conn: 1, ts_ns: 7 }
}

/// Feeds the two streams, whole or byte by byte, client first.
fn run(client: &[u8], server: &[u8], bytewise: bool) -> (Http2Parser, Vec<Transaction>) {
    let mut p = Http2Parser::new(HttpLimits::default());
    let mut sink = Sink::default();
    for (dir, bytes) in [(Direction::ToServer, client), (Direction::ToClient, server)] {
        if bytewise {
            for b in bytes.chunks(1) {
                p.data(at(), dir, b, &mut sink);
            }
        } else {
            p.data(at(), dir, bytes, &mut sink);
        }
    }
    p.end(at(), Direction::ToServer, &mut sink);
    p.end(at(), Direction::ToClient, &mut sink);
    (p, sink.0)
}

fn client_stream(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0])); // table 4096
    for f in frames {
        c.extend_from_slice(f);
    }
    c
}

fn server_stream(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut s = frame(SETTINGS, 0, 0, &[0, 5, 0, 0, 0x40, 0]); // frame 16384
    s.extend(frame(SETTINGS, ACK, 0, &[]));
    for f in frames {
        s.extend_from_slice(f);
    }
    s
}

fn response_block(status: &str, set_cookie: Option<&str>) -> Vec<u8> {
    let mut b = lit(":status", status);
    if let Some(c) = set_cookie {
        b.extend(lit("set-cookie", c));
    }
    b
}

#[test]
fn streams_become_transactions_whole_and_bytewise() {
    // Stream 1: HEADERS + CONTINUATION with split cookies, padded, with
    // priority; stream 3: a request answered after stream 5's; stream 5:
    // trailers after the response; a PUSH_PROMISE on stream 1 for 2.
    let block1 = request_block(
        "/cart?sid=abc",
        &[
            lit("cookie", "session=s1"),
            lit("cookie", "theme=dark; lang=en"),
            lit("authorization", "Basic YWxpY2U6cHc="),
        ],
    );
    let (first, rest) = block1.split_at(10);
    let mut h1 = vec![3]; // pad length
    h1.extend_from_slice(&[0x80, 0, 0, 3, 200]); // priority: exclusive on 3
    h1.extend_from_slice(first);
    h1.extend_from_slice(&[0, 0, 0]);
    let client = client_stream(&[
        frame(HEADERS, PADDED | PRIORITY, 1, &h1),
        frame(CONTINUATION, END_HEADERS, 1, rest),
        frame(HEADERS, END_HEADERS | 0x1, 3, &request_block("/a", &[])),
        frame(HEADERS, END_HEADERS, 5, &request_block("/b", &[])),
        frame(DATA, 0x1, 5, b"body"),
        frame(HEADERS, END_HEADERS | 0x1, 5, &lit("x-checksum", "1")),
    ]);
    let mut push = vec![0, 0, 0, 2];
    push.extend(request_block("/style.css", &[]));
    let server = server_stream(&[
        frame(PUSH_PROMISE, END_HEADERS, 1, &push),
        frame(
            HEADERS,
            END_HEADERS,
            1,
            &response_block("200", Some("session=s2; Path=/")),
        ),
        frame(HEADERS, END_HEADERS, 5, &response_block("103", None)),
        frame(HEADERS, END_HEADERS, 5, &response_block("204", None)),
        frame(HEADERS, END_HEADERS, 3, &response_block("404", None)),
        frame(HEADERS, END_HEADERS, 2, &response_block("200", None)),
        frame(DATA, 0x1, 2, b"p{}"),
        frame(HEADERS, END_HEADERS | 0x1, 3, &lit("grpc-status", "0")),
    ]);
    let mut seen = Vec::new();
    for bytewise in [false, true] {
        let (p, txs) = run(&client, &server, bytewise);
        let got: Vec<(String, u16)> = txs
            .iter()
            .map(|t| {
                (
                    t.request.as_ref().unwrap().target.clone(),
                    t.response.as_ref().unwrap().status,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/cart?sid=abc".to_owned(), 200),
                ("/b".to_owned(), 204),
                ("/a".to_owned(), 404),
                ("/style.css".to_owned(), 200),
            ]
        );
        let r = txs[0].request.as_ref().unwrap();
        assert_eq!(r.host.as_deref(), Some("shop.example"));
        assert_eq!(r.version, 2);
        assert_eq!(
            r.cookies,
            [
                ("session".to_owned(), "s1".to_owned()),
                ("theme".to_owned(), "dark".to_owned()),
                ("lang".to_owned(), "en".to_owned()),
            ]
        );
        assert_eq!(
            r.auth,
            Some(Auth::Basic {
                user: "alice".into()
            })
        );
        assert_eq!(r.url_params, [("sid".to_owned(), "abc".to_owned())]);
        let c = &txs[0].response.as_ref().unwrap().set_cookies[0];
        assert_eq!((c.name.as_str(), c.value.as_str()), ("session", "s2"));
        assert_eq!(p.counters.requests, 4);
        assert_eq!(p.counters.responses, 4);
        assert_eq!(p.h2.pushes, 1);
        assert_eq!(p.h2.trailers, 2);
        assert_eq!(p.h2.continuations, 1);
        assert_eq!(p.h2.padded_frames, 1);
        assert_eq!(p.stops(), [None, None]);
        seen.push(format!("{txs:?}"));
    }
    assert_eq!(seen[0], seen[1], "byte by byte reads the same");
}

#[test]
fn dynamic_table_references_and_eviction_across_streams() {
    // The second request refers to the first's indexed cookie (index 62).
    let mut b1 = request_block("/1", &[]);
    b1.extend(lit_indexed("cookie", "sid=AAAA"));
    let mut b3 = request_block("/2", &[]);
    b3.push(0x80 | 62);
    // A table shrunk to 0 by an update evicts everything; index 62 is then
    // an error, which stops the client's direction.
    let mut b5 = vec![0x20];
    b5.extend(request_block("/3", &[]));
    let mut b7 = request_block("/4", &[]);
    b7.push(0x80 | 62);
    let client = client_stream(&[
        frame(HEADERS, END_HEADERS, 1, &b1),
        frame(HEADERS, END_HEADERS, 3, &b3),
        frame(HEADERS, END_HEADERS, 5, &b5),
        frame(HEADERS, END_HEADERS, 7, &b7),
    ]);
    let server = server_stream(&[frame(HEADERS, END_HEADERS, 3, &response_block("200", None))]);
    for bytewise in [false, true] {
        let (p, txs) = run(&client, &server, bytewise);
        let cookies: Vec<(String, usize)> = txs
            .iter()
            .map(|t| {
                let r = t.request.as_ref().unwrap();
                (r.target.clone(), r.cookies.len())
            })
            .collect();
        assert_eq!(
            cookies,
            [("/2".into(), 1), ("/1".into(), 1), ("/3".into(), 0)]
        );
        assert_eq!(p.h2.hpack_errors, 1);
        assert_eq!(p.h2.hpack_evictions, 1);
        assert_eq!(p.stops(), [Some(Http2Stop::Hpack), None]);
        assert_eq!(p.h2.stopped_by_error, 1);
    }
}

#[test]
fn a_gap_stops_the_direction_and_says_so() {
    let client = client_stream(&[
        frame(HEADERS, END_HEADERS, 1, &request_block("/1", &[])),
        frame(HEADERS, END_HEADERS, 3, &request_block("/2", &[])),
    ]);
    let server = server_stream(&[frame(HEADERS, END_HEADERS, 1, &response_block("200", None))]);
    let mut p = Http2Parser::new(HttpLimits::default());
    let mut sink = Sink::default();
    p.data(at(), Direction::ToServer, &client, &mut sink);
    let cut = server.len() - 5;
    p.data(at(), Direction::ToClient, &server[..cut], &mut sink);
    p.gap(Direction::ToClient, 100);
    p.data(at(), Direction::ToClient, &server[cut..], &mut sink);
    p.end(at(), Direction::ToClient, &mut sink);
    assert_eq!(p.stops(), [None, Some(Http2Stop::Gap)]);
    assert_eq!(p.h2.stopped_by_gap, 1);
    assert_eq!(p.counters.lost_bytes, 100);
    // Both requests are reported, unanswered, counted as unpaired.
    assert_eq!(sink.0.len(), 2);
    assert!(sink.0.iter().all(|t| t.response.is_none()));
    assert_eq!(p.counters.unpaired, 2);
}

#[test]
fn bounds_hold_on_hostile_frames() {
    let limits = HttpLimits {
        max_pending: 4,
        ..HttpLimits::default()
    };
    // Ten requests never answered: at most four wait at once.
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|i| frame(HEADERS, END_HEADERS, 1 + 2 * i, &request_block("/x", &[])))
        .collect();
    let mut p = Http2Parser::new(limits);
    let mut sink = Sink::default();
    p.data(
        at(),
        Direction::ToServer,
        &client_stream(&frames),
        &mut sink,
    );
    assert_eq!(p.streams.len(), 4);
    assert_eq!(p.h2.stream_overflow, 6);
    assert_eq!(sink.0.len(), 6);
    // A header block larger than the bound (split over CONTINUATIONs)
    // stops the direction.
    let big = vec![0u8; 40_000];
    let client = client_stream(&[frame(HEADERS, 0, 1, &big), frame(CONTINUATION, 0, 1, &big)]);
    let (p, _) = run(&client, &[], false);
    assert_eq!(p.h2.header_block_too_large, 1);
    assert_eq!(p.stops()[0], Some(Http2Stop::HeaderBlockTooLarge));
    // A DATA frame over the frame size is counted and read past.
    let client = client_stream(&[
        frame(DATA, 0, 1, &vec![b'x'; 20_000]),
        frame(HEADERS, END_HEADERS, 3, &request_block("/after", &[])),
    ]);
    let (p, txs) = run(&client, &[], true);
    assert_eq!(p.h2.frame_too_large, 1);
    assert_eq!(txs.len(), 1);
    // Bad padding, a stray CONTINUATION, no preface: malformed, stopped.
    for bad in [
        client_stream(&[frame(HEADERS, PADDED | END_HEADERS, 1, &[9, 0x82])]),
        client_stream(&[frame(CONTINUATION, END_HEADERS, 1, &[0x82])]),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ] {
        let (p, txs) = run(&bad, &[], false);
        assert!(p.stops()[0].is_some());
        assert!(txs.is_empty());
    }
}

#[test]
fn an_upgraded_connection_answers_the_http1_request_on_stream_1() {
    let req = Request {
        method: "GET".into(),
        target: "/robots.txt".into(),
        host: Some("nghttp2.org".into()),
        ..Default::default()
    };
    let mut p = Http2Parser::upgraded(HttpLimits::default(), req);
    let mut sink = Sink::default();
    let server = server_stream(&[frame(HEADERS, END_HEADERS, 1, &response_block("200", None))]);
    p.data(at(), Direction::ToClient, &server, &mut sink);
    p.data(at(), Direction::ToServer, &client_stream(&[]), &mut sink);
    assert_eq!(sink.0.len(), 1);
    assert_eq!(sink.0[0].request.as_ref().unwrap().target, "/robots.txt");
    assert_eq!(p.counters.requests, 0, "counted by the HTTP/1.1 parser");
    assert_eq!(p.counters.responses, 1);
}

#[test]
fn mutated_streams_never_panic_and_stay_bounded() {
    // A valid conversation, then bytes flipped, cut and repeated at
    // pseudo-random places, fed in pseudo-random pieces; also pure noise
    // after a valid preface.
    let client = client_stream(&[
        frame(
            HEADERS,
            END_HEADERS,
            1,
            &request_block("/a", &[lit_indexed("cookie", "sid=1")]),
        ),
        frame(HEADERS, 0, 3, &request_block("/b", &[])[..6]),
        frame(CONTINUATION, END_HEADERS, 3, &request_block("/b", &[])[6..]),
        frame(DATA, PADDED | 0x1, 3, &[2, b'x', 0, 0]),
    ]);
    let mut push = vec![0, 0, 0, 2];
    push.extend(request_block("/p", &[]));
    let server = server_stream(&[
        frame(PUSH_PROMISE, END_HEADERS, 1, &push),
        frame(
            HEADERS,
            END_HEADERS,
            1,
            &response_block("200", Some("sid=2")),
        ),
        frame(RST_STREAM, 0, 3, &[0, 0, 0, 8]),
        frame(GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0, b'd']),
    ]);
    let mut next = crate::test_util::xorshift(0x9e37_79b9_7f4a_7c15);
    let limits = HttpLimits {
        max_pending: 8,
        max_header_bytes: 4096,
        ..HttpLimits::default()
    };
    for round in 0..400 {
        let mut p = Http2Parser::new(limits);
        let mut sink = Sink::default();
        for (dir, base) in [
            (Direction::ToServer, &client),
            (Direction::ToClient, &server),
        ] {
            let mut bytes = base.clone();
            match round % 3 {
                0 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() as usize) % bytes.len();
                        bytes[i] ^= 1 << (next() % 8);
                    }
                }
                1 => {
                    let cut = PREFACE.len() + (next() as usize) % (bytes.len() - PREFACE.len());
                    bytes.truncate(cut);
                    bytes.extend((0..next() % 3000).map(|_| next() as u8));
                }
                _ => {
                    let i = (next() as usize) % bytes.len();
                    let piece = bytes[i..].to_vec();
                    bytes.extend(piece);
                }
            }
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + (next() as usize) % rest.len().min(300);
                p.data(at(), dir, &rest[..n], &mut sink);
                rest = &rest[n..];
                if next() % 50 == 0 {
                    p.gap(dir, 1 + next() % 100);
                }
                let s = &p.sides[dir as usize];
                assert!(s.block.len() <= limits.max_header_bytes, "round {round}");
                assert!(s.payload.len() <= limits.max_header_bytes, "round {round}");
                assert!(p.streams.len() <= limits.max_pending, "round {round}");
            }
        }
        p.end(at(), Direction::ToServer, &mut sink);
        p.end(at(), Direction::ToClient, &mut sink);
        assert!(p.streams.is_empty(), "round {round}");
        assert!(sink.0.len() as u64 <= p.h2.streams + p.counters.responses);
    }
}

#[test]
fn a_gap_inside_a_data_frame_is_read_past() {
    let client = client_stream(&[
        frame(HEADERS, END_HEADERS, 1, &request_block("/1", &[])),
        frame(HEADERS, END_HEADERS, 3, &request_block("/2", &[])),
    ]);
    let mut first = server_stream(&[frame(HEADERS, END_HEADERS, 1, &response_block("200", None))]);
    let data = frame(DATA, 0x1, 1, &[b'z'; 3000]);
    first.extend(&data[..1000]);
    let rest = [
        &data[1500..],
        &frame(HEADERS, END_HEADERS, 3, &response_block("404", None))[..],
    ]
    .concat();
    let mut p = Http2Parser::new(HttpLimits::default());
    let mut sink = Sink::default();
    p.data(at(), Direction::ToServer, &client, &mut sink);
    p.data(at(), Direction::ToClient, &first, &mut sink);
    p.gap(Direction::ToClient, 500);
    p.data(at(), Direction::ToClient, &rest, &mut sink);
    p.end(at(), Direction::ToClient, &mut sink);
    assert_eq!(p.stops(), [None, None]);
    assert_eq!(p.h2.gaps_skipped, 1);
    let statuses: Vec<u16> = sink
        .0
        .iter()
        .map(|t| t.response.as_ref().unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 404]);
    // A gap inside a header block still ends the direction.
    let mut p = Http2Parser::new(HttpLimits::default());
    let block = frame(HEADERS, END_HEADERS, 1, &response_block("200", None));
    p.data(at(), Direction::ToClient, &block[..12], &mut sink);
    p.gap(Direction::ToClient, 3);
    assert_eq!(p.stops()[1], Some(Http2Stop::Gap));
}

#[test]
fn requests_after_the_server_ended_are_reported_at_once() {
    let mut p = Http2Parser::new(HttpLimits::default());
    let mut sink = Sink::default();
    p.data(at(), Direction::ToClient, &server_stream(&[]), &mut sink);
    p.end(at(), Direction::ToClient, &mut sink);
    let client = client_stream(&[frame(HEADERS, END_HEADERS, 1, &request_block("/late", &[]))]);
    p.data(at(), Direction::ToServer, &client, &mut sink);
    assert_eq!(sink.0.len(), 1);
    assert!(sink.0[0].response.is_none());
    assert!(p.streams.is_empty());
}
