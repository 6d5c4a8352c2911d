//! The HTTP parser in wire terms. Every exchange is fed whole and then one
//! byte at a time; both must give the same transactions.

use super::*;

#[derive(Default)]
struct Sink(Vec<Transaction>);

impl HttpSink for Sink {
    fn transaction(&mut self, _at: At, tx: Transaction) {
        self.0.push(tx);
    }
}

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

enum Ev<'a> {
    Data(Direction, &'a [u8]),
    Gap(Direction, u64),
}

fn run_with(
    script: &[Ev<'_>],
    split: usize,
    limits: HttpLimits,
    mid_stream: bool,
) -> (Vec<Transaction>, HttpCounters) {
    let mut p = HttpParser::new(limits, mid_stream);
    let mut sink = Sink::default();
    let mut ts = 0;
    for ev in script {
        match ev {
            Ev::Data(dir, bytes) => {
                for piece in bytes.chunks(split.max(1)) {
                    ts += 1;
                    p.data(At { conn: 1, ts_ns: ts }, *dir, piece, &mut sink);
                }
            }
            Ev::Gap(dir, len) => p.gap(*dir, *len),
        }
    }
    let at = At { conn: 1, ts_ns: ts };
    p.end(at, C, &mut sink);
    p.end(at, S, &mut sink);
    (sink.0, p.counters)
}

/// Runs whole and byte by byte; returns the transactions (timestamps
/// cleared) after checking both agree.
fn run(script: &[Ev<'_>]) -> (Vec<Transaction>, HttpCounters) {
    run_limits(script, HttpLimits::default())
}

fn run_limits(script: &[Ev<'_>], limits: HttpLimits) -> (Vec<Transaction>, HttpCounters) {
    run_mode(script, limits, false)
}

/// A capture that starts in the middle of the connection.
fn run_mid(script: &[Ev<'_>]) -> (Vec<Transaction>, HttpCounters) {
    run_mode(script, HttpLimits::default(), true)
}

fn run_mode(
    script: &[Ev<'_>],
    limits: HttpLimits,
    mid_stream: bool,
) -> (Vec<Transaction>, HttpCounters) {
    let clear = |mut txs: Vec<Transaction>| {
        for t in &mut txs {
            if let Some(r) = t.request.as_mut() {
                r.ts_ns = 0;
            }
            if let Some(r) = t.response.as_mut() {
                r.ts_ns = 0;
            }
        }
        txs
    };
    let (whole, cw) = run_with(script, usize::MAX, limits, mid_stream);
    let (bytes, cb) = run_with(script, 1, limits, mid_stream);
    // And in uneven pieces, which cut the stream at other places.
    let (sevens, c7) = run_with(script, 7, limits, mid_stream);
    assert_eq!(
        clear(sevens),
        clear(whole.clone()),
        "whole and 7-byte pieces differ"
    );
    assert_eq!(c7.lost_bytes, cw.lost_bytes);
    let (whole, bytes) = (clear(whole), clear(bytes));
    assert_eq!(whole, bytes, "whole and byte-by-byte differ");
    assert_eq!(
        (cw.requests, cw.responses, cw.malformed),
        (cb.requests, cb.responses, cb.malformed)
    );
    (whole, cw)
}

fn targets(txs: &[Transaction]) -> Vec<(String, u16)> {
    txs.iter()
        .map(|t| {
            (
                t.request
                    .as_ref()
                    .map_or(String::new(), |r| format!("{} {}", r.method, r.target)),
                t.response.as_ref().map_or(0, |r| r.status),
            )
        })
        .collect()
}

#[test]
fn keep_alive_with_cookies_and_set_cookie() {
    let script = [
        Ev::Data(C, b"GET /login HTTP/1.1\r\nHost: Shop.Example.com:8080\r\nCookie: PHPSESSID=abc; lang=en\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: PHPSESSID=def; path=/; HttpOnly\r\n\r\nhello"),
        Ev::Data(C, b"GET /a;jsessionid=XYZ?sid=9 HTTP/1.1\r\nHost: shop.example.com\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(
        targets(&txs),
        [
            ("GET /login".into(), 200),
            ("GET /a;jsessionid=XYZ?sid=9".into(), 404)
        ]
    );
    let r = txs[0].request.as_ref().unwrap();
    assert_eq!(r.host.as_deref(), Some("shop.example.com"));
    assert_eq!(
        r.cookies,
        [
            ("PHPSESSID".into(), "abc".into()),
            ("lang".into(), "en".into())
        ]
    );
    assert_eq!(
        r.auth,
        Some(Auth::Basic {
            user: "alice".into()
        })
    );
    let set = &txs[0].response.as_ref().unwrap().set_cookies;
    assert_eq!(
        (
            set[0].name.as_str(),
            set[0].value.as_str(),
            set[0].http_only
        ),
        ("PHPSESSID", "def", true)
    );
    let r2 = txs[1].request.as_ref().unwrap();
    assert_eq!(
        r2.url_params,
        [
            ("jsessionid".into(), "XYZ".into()),
            ("sid".into(), "9".into())
        ]
    );
    assert_eq!((c.requests, c.responses, c.malformed), (2, 2, 0));
}

#[test]
fn pipelined_requests_pair_in_order() {
    let script = [
        Ev::Data(C, b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /3 HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"),
        Ev::Data(S, b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\ntwoHTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    ];
    let (txs, _) = run(&script);
    assert_eq!(
        targets(&txs),
        [
            ("GET /1".into(), 200),
            ("GET /2".into(), 201),
            ("HEAD /3".into(), 200)
        ]
    );
}

#[test]
fn chunked_with_trailers_then_the_next_response() {
    let script = [
        Ev::Data(C, b"GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(
        targets(&txs),
        [("GET /big".into(), 200), ("GET /next".into(), 204)]
    );
    assert_eq!(c.malformed, 0);
}

#[test]
fn chunked_request_body() {
    let script = [
        Ev::Data(C, b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (txs, _) = run(&script);
    assert_eq!(
        targets(&txs),
        [("POST /up".into(), 200), ("GET /after".into(), 200)]
    );
}

#[test]
fn head_and_304_have_no_body() {
    let script = [
        Ev::Data(C, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /cached HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 77\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ];
    let (txs, _) = run(&script);
    assert_eq!(
        targets(&txs),
        [
            ("HEAD /".into(), 200),
            ("GET /cached".into(), 304),
            ("GET /x".into(), 200)
        ]
    );
}

#[test]
fn interim_100_continue_before_the_final_response() {
    let script = [
        Ev::Data(C, b"POST /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 100 Continue\r\n\r\n"),
        Ev::Data(C, b"data"),
        Ev::Data(S, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(targets(&txs), [("POST /f".into(), 201)]);
    assert_eq!(c.responses, 1);
}

#[test]
fn close_delimited_body_ends_with_the_stream() {
    let script = [
        Ev::Data(C, b"GET /old HTTP/1.0\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.0 200 OK\r\nSet-Cookie: sid=1234567890abcdef1234\r\n\r\nHTTP/1.1 200 OK looks like a status line but is body"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(targets(&txs), [("GET /old".into(), 200)]);
    assert_eq!(c.responses, 1);
    assert_eq!(txs[0].request.as_ref().unwrap().version, 0);
}

#[test]
fn oversize_header_is_malformed_and_parsing_goes_on() {
    let limits = HttpLimits {
        max_header_bytes: 256,
        ..Default::default()
    };
    let mut big = b"GET /huge HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1000));
    big.extend_from_slice(b"\r\n\r\nGET /fine HTTP/1.1\r\nHost: h\r\n\r\n");
    let script = [
        Ev::Data(C, &big),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (txs, c) = run_limits(&script, limits);
    assert_eq!(targets(&txs), [("GET /fine".into(), 200)]);
    assert_eq!((c.header_too_large, c.malformed, c.resyncs), (1, 1, 1));
}

#[test]
fn too_many_headers_is_malformed() {
    let limits = HttpLimits {
        max_headers: 3,
        ..Default::default()
    };
    let script = [Ev::Data(
        C,
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nGET /ok HTTP/1.1\r\n\r\n",
    )];
    let (txs, c) = run_limits(&script, limits);
    assert_eq!(targets(&txs), [("GET /ok".into(), 0)]);
    assert_eq!((c.too_many_headers, c.malformed), (1, 1));
}

#[test]
fn gap_inside_a_body_keeps_the_framing() {
    let script = [
        Ev::Data(
            C,
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        Ev::Data(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        ),
        Ev::Gap(S, 80),
        Ev::Data(S, b"0123456789HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(
        targets(&txs),
        [("GET /a".into(), 200), ("GET /b".into(), 200)]
    );
    assert_eq!((c.resyncs, c.lost_bytes), (0, 80));
}

#[test]
fn gap_in_headers_resynchronises_at_the_next_message() {
    let script = [
        Ev::Data(C, b"GET /a HTTP/1.1\r\nHo"),
        Ev::Gap(C, 30),
        Ev::Data(C, b"kie: x=1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(targets(&txs), [("GET /b".into(), 200)]);
    assert_eq!(c.resyncs, 1);
    assert!(c.lost_bytes >= 30 + 12);
}

#[test]
fn connect_and_101_end_http_parsing() {
    let script = [
        Ev::Data(
            C,
            b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
        Ev::Data(
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        ),
        Ev::Data(C, b"\x81\x85GET / HTTP/1.1\r\n\r\n"),
    ];
    let (txs, c) = run(&script);
    assert_eq!(targets(&txs), [("GET /chat".into(), 101)]);
    assert_eq!((c.tunnels, c.requests), (1, 1));
    let script = [
        Ev::Data(
            C,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
        ),
        Ev::Data(
            S,
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03",
        ),
    ];
    let (txs, c) = run(&script);
    assert_eq!(targets(&txs), [("CONNECT example.com:443".into(), 200)]);
    assert_eq!((c.tunnels, c.requests, c.malformed), (1, 1, 0));
}

#[test]
fn split_request_and_many_in_one_segment_agree() {
    let one = b"GET /x HTTP/1.1\r\nHost: h\r\nCookie: sid=0123456789abcdef0123\r\n\r\n";
    let many: Vec<u8> = one
        .iter()
        .chain(one.iter())
        .chain(one.iter())
        .copied()
        .collect();
    let (a, _) = run(&[Ev::Data(C, &many)]);
    let split: Vec<Ev<'_>> = (0..3).map(|_| Ev::Data(C, &one[..])).collect();
    let (b, _) = run(&split);
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|t| t.response.is_none()));
}

#[test]
fn not_http_is_recognised_from_the_first_bytes() {
    let (txs, c) = run(&[Ev::Data(S, b"220 ftp.example.com FTP server ready\r\n")]);
    assert!(txs.is_empty());
    assert_eq!(c.malformed, 0);
    let mut p = HttpParser::new(HttpLimits::default(), false);
    let mut sink = Sink::default();
    p.data(
        At { conn: 1, ts_ns: 0 },
        C,
        b"SSH-2.0-OpenSSH_9.2\r\n",
        &mut sink,
    );
    p.data(
        At { conn: 1, ts_ns: 0 },
        S,
        b"SSH-2.0-OpenSSH_9.2\r\n",
        &mut sink,
    );
    assert!(p.is_not_http());
    assert!(sink.0.is_empty());
}

#[test]
fn mid_stream_start_finds_the_next_message() {
    let (txs, _) = run_mid(&[
        Ev::Data(
            S,
            b"ody of an earlier response\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        Ev::Data(C, b"tail of a request body GET /x HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(txs.len(), 1, "the response without its request");
    assert_eq!(txs[0].response.as_ref().map(|r| r.status), Some(200));
    assert!(txs[0].request.is_none());
}

#[test]
fn text_that_merely_resembles_a_message_start_is_not_one() {
    // Mid-line look-alikes, whatever the split.
    let (txs, _) = run_mid(&[
        Ev::Data(S, b"xHTTP/1.1 200 OK\n\nzzzzzzzzzzzzzzzzzzzz"),
        Ev::Data(
            C,
            b"xx GET /x HTTP/1.1\r\nHost: a.example\r\nCookie: PHPSESSID=abc\r\n\r\n",
        ),
    ]);
    assert!(txs.is_empty(), "{txs:?}");
    // A line that starts like a request but is not one does not hide the
    // real request after it.
    let (txs, _) = run(&[
        Ev::Data(C, b"GET /a HTTP/1.1\r\n\r\n"),
        Ev::Gap(C, 10),
        Ev::Data(C, b"NOTE this\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(targets(&txs), [("GET /a".into(), 0), ("GET /x".into(), 0)]);
}

#[test]
fn a_bad_start_after_a_good_message_resynchronises_the_same_whatever_the_split() {
    let (txs, c) = run(&[Ev::Data(
        C,
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nXYZZY\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(targets(&txs), [("GET /a".into(), 0), ("GET /b".into(), 0)]);
    assert_eq!((c.malformed, c.resyncs), (1, 1));
}

#[test]
fn bare_lf_chunk_lines() {
    let (txs, c) = run(&[
        Ev::Data(C, b"GET / HTTP/1.1\n\nGET /2 HTTP/1.1\n\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\nHTTP/1.1 204 No Content\n\n"),
    ]);
    assert_eq!(
        targets(&txs),
        [("GET /".into(), 200), ("GET /2".into(), 204)]
    );
    assert_eq!(c.malformed, 0);
}

#[test]
fn a_refused_upgrade_or_connect_goes_back_to_http() {
    let (txs, c) = run(&[
        Ev::Data(C, b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"),
        Ev::Data(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        ),
        Ev::Data(C, b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        targets(&txs),
        [("CONNECT x:443".into(), 407), ("GET /after".into(), 200)]
    );
    assert_eq!(c.tunnels, 0);
}

#[test]
fn waiting_requests_are_bounded_in_bytes() {
    let limits = HttpLimits {
        max_pending_bytes: 4096,
        ..Default::default()
    };
    let mut many = Vec::new();
    for i in 0..40 {
        many.extend_from_slice(
            format!("GET /{i}/{} HTTP/1.1\r\nHost: h\r\n\r\n", "p".repeat(300)).as_bytes(),
        );
    }
    let (txs, c) = run_limits(&[Ev::Data(C, &many)], limits);
    assert_eq!(txs.len(), 40, "every request is reported, answered or not");
    assert!(c.pending_overflow > 0);
}

/// Mutated exchanges (bytes flipped, inserted, deleted) fed whole and in
/// random pieces: never a panic, and the same transactions either way.
#[test]
fn mutated_streams_parse_the_same_whatever_the_split() {
    let base_c: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\nCookie: PHPSESSID=abcdef0123456789\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHEAD /d HTTP/1.1\r\n\r\n";
    let base_s: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nSet-Cookie: sid=0123456789abcdefXYZ\r\n\r\nabcHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
    let mut next = crate::test_util::xorshift(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..10_000 {
        let mut streams = [base_c.to_vec(), base_s.to_vec()];
        for s in streams.iter_mut() {
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % s.len();
                match next() % 3 {
                    0 => s[at] = next() as u8,
                    1 => s.insert(at, b"\r\n: /0HTTP"[(next() % 10) as usize]),
                    _ => {
                        s.remove(at);
                    }
                }
            }
        }
        let gap = next() % 5 == 0;
        let script = [
            Ev::Data(C, &streams[0][..streams[0].len() / 2]),
            if gap { Ev::Gap(C, 7) } else { Ev::Data(C, b"") },
            Ev::Data(C, &streams[0][streams[0].len() / 2..]),
            Ev::Data(S, &streams[1]),
        ];
        let split = 1 + (next() % 13) as usize;
        let mid = next() % 2 == 0;
        let (whole, _) = run_with(&script, usize::MAX, HttpLimits::default(), mid);
        let (pieces, _) = run_with(&script, split, HttpLimits::default(), mid);
        let strip = |t: Vec<Transaction>| -> Vec<(Option<String>, Option<u16>)> {
            t.into_iter()
                .map(|t| (t.request.map(|r| r.target), t.response.map(|r| r.status)))
                .collect()
        };
        assert_eq!(
            strip(whole),
            strip(pieces),
            "split {split} mid {mid}: {:?} / {:?}",
            String::from_utf8_lossy(&streams[0]),
            String::from_utf8_lossy(&streams[1])
        );
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

#[test]
fn a_lost_request_on_keep_alive_does_not_shift_the_responses() {
    let script = [
        Ev::Data(C, b"GET /1 HTTP/1.1\r\nHost: h\r\nCookie: sid=a\r\n\r\n"),
        Ev::Data(S, OK),
        // The capture lost "GET /2", answered with a new cookie.
        Ev::Gap(C, 40),
        Ev::Data(
            S,
            b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=b\r\nContent-Length: 0\r\n\r\n",
        ),
        Ev::Data(C, b"GET /3 HTTP/1.1\r\nHost: h\r\nCookie: sid=b\r\n\r\n"),
        Ev::Data(S, OK),
    ];
    let (txs, c) = run(&script);
    assert_eq!(
        targets(&txs),
        [
            ("GET /1".into(), 200),
            (String::new(), 200),
            ("GET /3".into(), 200)
        ]
    );
    // The Set-Cookie is on the response whose request was lost, not lent
    // to /1 (which carried sid=a) nor to /3.
    assert!(txs[1].request.is_none());
    assert_eq!(txs[1].response.as_ref().unwrap().set_cookies[0].value, "b");
    assert_eq!(c.unpaired, 1);
}

#[test]
fn a_lost_response_leaves_its_request_unanswered() {
    let script = [
        Ev::Data(C, b"GET /1 HTTP/1.1\r\nHost: h\r\nCookie: sid=a\r\n\r\n"),
        Ev::Gap(S, 60),
        Ev::Data(C, b"GET /2 HTTP/1.1\r\nHost: h\r\nCookie: sid=b\r\n\r\n"),
        Ev::Data(
            S,
            b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=c\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let (txs, c) = run(&script);
    // The rotation to sid=c belongs to /2 (sid=b), never to /1 (sid=a).
    assert_eq!(
        targets(&txs),
        [("GET /1".into(), 0), ("GET /2".into(), 200)]
    );
    assert_eq!(c.unpaired, 1);
}

#[test]
fn a_pipelining_connection_stops_pairing_after_a_gap() {
    let script = [
        Ev::Data(
            C,
            b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        Ev::Data(S, OK),
        // /2's response was lost: FIFO would give /3's response to /2.
        Ev::Gap(S, 38),
        Ev::Data(C, b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, OK),
    ];
    let (txs, c) = run(&script);
    assert_eq!(
        targets(&txs),
        [
            ("GET /1".into(), 200),
            ("GET /3".into(), 0),
            (String::new(), 200),
            ("GET /2".into(), 0),
        ]
    );
    assert_eq!(c.unpaired, 3);
    // Without the gap, pipelining pairs in order.
    let (txs, c) = run(&[
        Ev::Data(
            C,
            b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        Ev::Data(S, OK),
        Ev::Data(S, OK),
    ]);
    assert_eq!(
        targets(&txs),
        [("GET /1".into(), 200), ("GET /2".into(), 200)]
    );
    assert_eq!(c.unpaired, 0);
}

#[test]
fn a_gap_in_a_chunked_request_body_costs_no_pairing() {
    let script = [
        Ev::Data(
            C,
            b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        ),
        // The rest of the body and its last chunk were lost.
        Ev::Gap(C, 12),
        Ev::Data(S, OK),
        Ev::Data(C, b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::Data(S, OK),
    ];
    let (txs, c) = run(&script);
    assert_eq!(
        targets(&txs),
        [("POST /up".into(), 200), ("GET /next".into(), 200)]
    );
    assert_eq!(c.unpaired, 0);
}

#[test]
fn header_names_are_read_whatever_their_case_and_length() {
    let mut buf = [0u8; NAME_BUF];
    assert_eq!(lower("Transfer-Encoding", &mut buf), "transfer-encoding");
    assert_eq!(lower("COOKIE", &mut buf), "cookie");
    assert_eq!(lower(&"x".repeat(NAME_BUF + 1), &mut buf), "");
    assert_eq!(lower(&"X".repeat(NAME_BUF), &mut buf), "x".repeat(NAME_BUF));
}
