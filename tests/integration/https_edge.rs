//! HTTPS edge cases that real stacks rarely produce, written with the
//! capture writer: TLS 1.3 connections whose records this test encrypts
//! itself (AES-128-GCM, RustCrypto; secrets written to a key log), carrying
//! HTTP/2.
//!
//! - connection 1 (alice): a server record split over 12 TCP segments and
//!   many records in one segment; a client KeyUpdate mid-connection; HPACK
//!   with a 256-byte table, so entries are evicted while the cookie entry
//!   is referenced by index; a header block in HEADERS + 2 CONTINUATION;
//!   the session cookie split over several `cookie` fields; padded HEADERS
//!   and DATA frames; TLS 1.3 record padding.
//! - connection 2 (alice again): her cookie, on a new connection.
//! - connection 3: the key log holds a wrong secret for it.
//! - connection 4 (bob): the capture lost a segment inside a server record:
//!   TLS resynchronises on the next record, HTTP/2 (HPACK) cannot and stops
//!   in that direction; bob's requests still make his session.
//! - connections 5 and 6: TLS 1.3 resumption: the NewSessionTicket of 5,
//!   decrypted, is the PSK identity 6 offers: linked, one `tls` session.

use crate::common::*;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use serde_json::Value;
use sessmap::capture::LinkType;
use sha2::Sha256;

/// HKDF-Expand-Label (RFC 8446 §7.1) with SHA-256.
fn expand_label(secret: &[u8], label: &str, len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push(full.len() as u8);
    info.extend(full.as_bytes());
    info.push(0);
    let hk = Hkdf::<Sha256>::from_prk(secret).unwrap();
    let mut out = vec![0; len];
    hk.expand(&info, &mut out).unwrap();
    out
}

/// One direction's record protection.
struct Dir {
    secret: Vec<u8>,
    seq: u64,
}

impl Dir {
    fn new(secret: [u8; 32]) -> Dir {
        Dir {
            secret: secret.to_vec(),
            seq: 0,
        }
    }

    /// A protected record of inner type `ty`, with `pad` zero bytes of
    /// TLS 1.3 padding.
    fn seal(&mut self, ty: u8, content: &[u8], pad: usize) -> Vec<u8> {
        let key = expand_label(&self.secret, "key", 16);
        let iv = expand_label(&self.secret, "iv", 12);
        let mut nonce = iv.clone();
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq += 1;
        let mut inner = content.to_vec();
        inner.push(ty);
        inner.extend(std::iter::repeat_n(0, pad));
        let len = (inner.len() + 16) as u16;
        let mut header = vec![23, 3, 3];
        header.extend(len.to_be_bytes());
        let cipher = Aes128Gcm::new_from_slice(&key).unwrap();
        let sealed = cipher
            .encrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &inner,
                    aad: &header,
                },
            )
            .unwrap();
        header.extend(sealed);
        header
    }

    /// KeyUpdate (RFC 8446 §4.6.3): the message under the old keys, then
    /// the next generation.
    fn key_update(&mut self) -> Vec<u8> {
        let r = self.seal(22, &[24, 0, 0, 1, 0], 0);
        self.secret = expand_label(&self.secret, "traffic upd", 32);
        self.seq = 0;
        r
    }
}

fn hs_message(ty: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut v = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    v.extend(body);
    v
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend((data.len() as u16).to_be_bytes());
    v.extend(data);
    v
}

fn plain_record(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 3, 1];
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend(payload);
    v
}

fn alpn_h2() -> Vec<u8> {
    ext(16, &[0, 3, 2, b'h', b'2'])
}

/// A TLS 1.3 connection with HTTP/2 inside: handshake done, application
/// keys in place; the key log lines for it.
struct H2Conn {
    talk: Talk,
    client: Dir,
    server: Dir,
    keylog: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl H2Conn {
    /// `n` makes the randoms and secrets; `wrong` writes wrong secrets
    /// for this client random to the key log.
    fn open(n: u8, client_port: u16, wrong: bool) -> H2Conn {
        H2Conn::open_psk(n, client_port, wrong, None)
    }

    /// As `open`; with `psk`, the ClientHello offers that ticket as its
    /// PSK identity and the server accepts it.
    fn open_psk(n: u8, client_port: u16, wrong: bool, psk: Option<&[u8]>) -> H2Conn {
        let mut talk = Talk::new(
            &format!("10.0.0.{n}:{client_port}"),
            "10.0.0.100:443",
            1000 * u32::from(n),
            7_000_000 * u32::from(n),
        );
        talk.handshake();
        let random = [n; 32];
        let secret = |k: u8| [n.wrapping_mul(16).wrapping_add(k); 32];
        let mut ch = vec![3, 3];
        ch.extend(random);
        ch.push(32);
        ch.extend([0xee; 32]);
        ch.extend([0, 2, 0x13, 0x01, 1, 0]);
        let mut exts = [
            ext(43, &[2, 3, 4]),
            ext(51, &[0, 4, 0, 0x1d, 0, 0]),
            alpn_h2(),
        ]
        .concat();
        if let Some(ticket) = psk {
            // psk_key_exchange_modes, then pre_shared_key (last): one
            // identity and its (unchecked) binder.
            exts.extend(ext(45, &[1, 1]));
            let mut id = (ticket.len() as u16).to_be_bytes().to_vec();
            id.extend(ticket);
            id.extend([0, 0, 0x10, 0]);
            let mut body = (id.len() as u16).to_be_bytes().to_vec();
            body.extend(id);
            body.extend([0, 33, 32]);
            body.extend([0xbb; 32]);
            exts.extend(ext(41, &body));
        }
        ch.extend((exts.len() as u16).to_be_bytes());
        ch.extend(exts);
        talk.send(true, &plain_record(22, &hs_message(1, &ch)));
        let mut sh = vec![3, 3];
        sh.extend([0x5a; 32]);
        sh.push(32);
        sh.extend([0xee; 32]);
        sh.extend([0x13, 0x01, 0]);
        let mut exts = [ext(43, &[3, 4]), ext(51, &[0, 0x1d, 0, 0])].concat();
        if psk.is_some() {
            exts.extend(ext(41, &[0, 0]));
        }
        sh.extend((exts.len() as u16).to_be_bytes());
        sh.extend(exts);
        let mut flight = plain_record(22, &hs_message(2, &sh));
        flight.extend([20, 3, 3, 0, 1, 1]);
        let mut shs = Dir::new(secret(1));
        let alpn = alpn_h2();
        let mut extensions = (alpn.len() as u16).to_be_bytes().to_vec();
        extensions.extend(alpn);
        let mut ee = hs_message(8, &extensions);
        ee.extend(hs_message(20, &[0x33; 32]));
        flight.extend(shs.seal(22, &ee, 0));
        talk.send(false, &flight);
        let mut chs = Dir::new(secret(2));
        let mut cflight = vec![20, 3, 3, 0, 1, 1];
        cflight.extend(chs.seal(22, &hs_message(20, &[0x44; 32]), 0));
        talk.send(true, &cflight);
        let client_app = secret(3);
        let logged = |k: u8| if wrong { [0xff; 32] } else { secret(k) };
        let r = hex(&random);
        let keylog = format!(
            "SERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
             CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
            hex(&logged(1)),
            hex(&logged(2)),
            hex(&logged(3)),
            hex(&logged(4)),
        );
        H2Conn {
            talk,
            client: Dir::new(client_app),
            server: Dir::new(secret(4)),
            keylog,
        }
    }

    /// Closes the connection and adds its frames and key log lines.
    fn finish(mut self, keylog: &mut String, frames: &mut Vec<(u64, Vec<u8>)>) {
        self.talk.close();
        keylog.push_str(&self.keylog);
        frames.extend(self.talk.frames);
    }

    /// One record of application data, in one segment.
    fn send(&mut self, from_client: bool, data: &[u8]) {
        let dir = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        let r = dir.seal(23, data, 0);
        self.talk.send(from_client, &r);
    }
}

// ---- HTTP/2 and HPACK, written by hand ----

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend(id.to_be_bytes());
        p.extend(v.to_be_bytes());
    }
    frame(4, 0, 0, &p)
}

fn string(b: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 127);
    b.push(s.len() as u8);
    b.extend(s.as_bytes());
}

/// A literal field; `indexing` adds it to the dynamic table.
fn lit(name: &str, value: &str, indexing: bool) -> Vec<u8> {
    let mut b = vec![if indexing { 0x40 } else { 0x00 }];
    string(&mut b, name);
    string(&mut b, value);
    b
}

/// A request block: GET, https, the path, `:authority`.
fn request(path: &str, fields: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0x82, 0x87];
    b.extend(lit(":path", path, false));
    b.extend(lit(":authority", "shop.example", false));
    b.extend(fields.concat());
    b
}

fn response(status: &str, fields: &[Vec<u8>]) -> Vec<u8> {
    let mut b = lit(":status", status, false);
    b.extend(fields.concat());
    b
}

/// The client's first flight: preface, empty SETTINGS, and a GET of `path`
/// on stream 1 carrying `PHPSESSID=cookie`.
fn first_flight(path: &str, cookie: &str) -> Vec<u8> {
    let mut h = PREFACE.to_vec();
    h.extend(settings(&[]));
    h.extend(frame(
        1,
        END_HEADERS | END_STREAM,
        1,
        &request(
            path,
            &[lit("cookie", &format!("PHPSESSID={cookie}"), false)],
        ),
    ));
    h
}

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

const ALICE: &str = "a1ice0123456789abcdef0123456789ab";
const BOB: &str = "b0b0123456789abcdef0123456789abcd";

fn build(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut frames = Vec::new();
    let mut keylog = String::new();

    // Connection 1: alice.
    let mut c = H2Conn::open(1, 40001, false);
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[(1, 256)]));
    // Stream 1: no cookie yet.
    hello.extend(frame(1, END_HEADERS | END_STREAM, 1, &request("/", &[])));
    c.send(true, &hello);
    // The server: a small table for the client's blocks, then the
    // response with its Set-Cookie, a 16 KiB DATA frame in one record over
    // 12 segments.
    let mut s = settings(&[(1, 256), (5, 16_384)]);
    s.extend(frame(4, 1, 0, &[]));
    s.extend(frame(
        1,
        END_HEADERS,
        1,
        &response(
            "200",
            &[lit(
                "set-cookie",
                &format!("PHPSESSID={ALICE}; Path=/; HttpOnly"),
                false,
            )],
        ),
    ));
    c.send(false, &s);
    let body = frame(0, END_STREAM, 1, &vec![b'x'; 16_000]);
    let record = c.server.seal(23, &body, 0);
    for chunk in record.chunks(1400) {
        c.talk.send(false, chunk);
    }
    // Stream 3: the cookie split over three fields, the session one
    // indexed; the block in HEADERS (padded) + 2 CONTINUATION. It starts
    // with the table size update to the 256 bytes the server allowed.
    let mut block = vec![0x3f, 0xe1, 0x01];
    block.extend(request(
        "/account",
        &[
            lit("cookie", "theme=dark", false),
            lit("cookie", &format!("PHPSESSID={ALICE}"), true),
            lit("cookie", "lang=en", false),
            lit("user-agent", &"u".repeat(100), true),
        ],
    ));
    let (a, rest) = block.split_at(12);
    let (b, d) = rest.split_at(20);
    let mut h = vec![4];
    h.extend(a);
    h.extend([0; 4]);
    let mut flight = frame(1, PADDED | END_STREAM, 3, &h);
    flight.extend(frame(9, 0, 3, b));
    flight.extend(frame(9, END_HEADERS, 3, d));
    c.send(true, &flight);
    // Many records in one segment: the response, a padded DATA frame, and
    // a record with TLS 1.3 padding.
    let mut seg = c
        .server
        .seal(23, &frame(1, END_HEADERS, 3, &response("200", &[])), 0);
    seg.extend(c.server.seal(
        23,
        &frame(0, PADDED | END_STREAM, 3, &[3, b'o', b'k', 0, 0, 0]),
        0,
    ));
    seg.extend(c.server.seal(23, &frame(8, 0, 0, &[0, 0, 1, 0]), 200));
    c.talk.send(false, &seg);
    // KeyUpdate from the client, then stream 5 under the new keys. The
    // client's table (256 bytes) holds, newest first, user-agent (62;
    // 32 + 10 + 100 = 142 bytes) and the cookie (63; 32 + 6 + 43 = 81):
    // stream 5 refers to the cookie, then adds x-trace (32 + 7 + 60 = 99),
    // which evicts the cookie.
    let ku = c.client.key_update();
    c.talk.send(true, &ku);
    let mut b5 = vec![0x82, 0x87];
    b5.extend(lit(":path", "/cart", false));
    b5.extend(lit(":authority", "shop.example", false));
    b5.push(0x80 | 63);
    b5.extend(lit("x-trace", &"t".repeat(60), true));
    c.send(true, &frame(1, END_HEADERS | END_STREAM, 5, &b5));
    c.send(
        false,
        &frame(1, END_HEADERS | END_STREAM, 5, &response("200", &[])),
    );
    // Stream 7: user-agent (now 63) and x-trace (62) by index, the cookie
    // again as a literal.
    let mut b7 = vec![0x82, 0x87];
    b7.extend(lit(":path", "/cart/add", false));
    b7.extend(lit(":authority", "shop.example", false));
    b7.extend([0x80 | 63, 0x80 | 62]);
    b7.extend(lit("cookie", &format!("PHPSESSID={ALICE}"), false));
    c.send(true, &frame(1, END_HEADERS | END_STREAM, 7, &b7));
    c.send(
        false,
        &frame(1, END_HEADERS | END_STREAM, 7, &response("201", &[])),
    );
    c.finish(&mut keylog, &mut frames);

    // Connection 2: alice's cookie on a new connection.
    let mut c = H2Conn::open(2, 40002, false);
    c.send(true, &first_flight("/orders", ALICE));
    let mut s = settings(&[]);
    s.extend(frame(1, END_HEADERS | END_STREAM, 1, &response("200", &[])));
    c.send(false, &s);
    c.finish(&mut keylog, &mut frames);

    // Connection 3: a wrong client secret in the key log.
    let mut c = H2Conn::open(3, 40003, true);
    c.send(true, &first_flight("/", BOB));
    c.finish(&mut keylog, &mut frames);

    // Connection 4: bob; a segment lost inside a server record.
    let mut c = H2Conn::open(4, 40004, false);
    c.send(true, &first_flight("/", BOB));
    let mut s = settings(&[]);
    s.extend(frame(1, END_HEADERS, 1, &response("200", &[])));
    s.extend(frame(0, END_STREAM, 1, &vec![b'y'; 3000]));
    let record = c.server.seal(23, &s, 0);
    let (first, rest) = record.split_at(1000);
    let (lost, last) = rest.split_at(1000);
    c.talk.send(false, first);
    c.talk.lose(false, lost);
    c.talk.send(false, last);
    c.send(
        true,
        &frame(
            1,
            END_HEADERS | END_STREAM,
            3,
            &request(
                "/profile",
                &[lit("cookie", &format!("PHPSESSID={BOB}"), false)],
            ),
        ),
    );
    c.send(
        false,
        &frame(1, END_HEADERS | END_STREAM, 3, &response("200", &[])),
    );
    c.finish(&mut keylog, &mut frames);

    // Connections 5 and 6: TLS 1.3 resumption. The server's
    // NewSessionTicket travels encrypted; decrypted, it links the later
    // connection that offers it as its PSK.
    let ticket = [0x7e; 48];
    let mut c = H2Conn::open(5, 40005, false);
    let mut nst = 7200u32.to_be_bytes().to_vec();
    nst.extend([1, 2, 3, 4, 1, 0]);
    nst.extend((ticket.len() as u16).to_be_bytes());
    nst.extend(ticket);
    nst.extend([0, 0]);
    let r = c.server.seal(22, &hs_message(4, &nst), 0);
    c.talk.send(false, &r);
    c.finish(&mut keylog, &mut frames);
    let c = H2Conn::open_psk(6, 40006, false, Some(&ticket));
    c.finish(&mut keylog, &mut frames);

    frames.sort_by_key(|f| f.0);
    let pcap = dir.join("https-edge.pcap");
    write_pcap(&pcap, LinkType::ETHERNET, &frames);
    let keys = dir.join("https-edge.keylog");
    std::fs::write(&keys, keylog).unwrap();
    (pcap, keys)
}

fn conn(r: &Value, id: u64) -> &Value {
    conns(r).iter().find(|c| c["id"] == id).unwrap()
}

#[test]
fn https_edge_cases_decrypt_and_make_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, keys) = build(dir.path());
    let r = analyze_json(&[pcap.to_str().unwrap(), "--keylog", keys.to_str().unwrap()]);
    let errors = crate::schema::errors(&crate::schema::validator(), &r);
    assert!(errors.is_empty(), "{errors:?}");

    // Connection 1: all four streams read, through the KeyUpdate, the
    // split record, CONTINUATION, padding and evictions.
    let c1 = conn(&r, 1);
    assert_eq!(c1["tls"]["decryption"], "decrypted", "{c1}");
    assert_eq!(c1["tls"]["alpn"], "h2");
    assert_eq!(c1["tls"]["cipher_suite"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(c1["http_version"], "2");
    assert_eq!(c1["requests"], 4);
    let c2 = conn(&r, 2);
    assert_eq!(c2["tls"]["decryption"], "decrypted");
    assert_eq!(c2["requests"], 1);
    // Connection 3: the wrong secret.
    let c3 = conn(&r, 3);
    assert_eq!(c3["tls"]["decryption"], "failed", "{c3}");
    assert_eq!(c3["requests"], 0);
    assert_eq!(c3["no_session"], "encrypted");
    // Connection 4: TLS resynchronised after the loss; HTTP/2 stopped on
    // the server's side; both of bob's requests were read.
    let c4 = conn(&r, 4);
    assert_eq!(c4["requests"], 2, "{c4}");
    assert_eq!(c4["missed_bytes"]["server"], 1000);

    let h2 = &r["stats"]["http2"];
    assert_eq!(h2["connections"], 3, "{h2}");
    assert_eq!(h2["continuations"], 2);
    assert_eq!(h2["padded_frames"], 2);
    assert!(h2["hpack_evictions"].as_u64().unwrap() >= 1, "{h2}");
    assert_eq!(h2["hpack_errors"], 0);
    assert_eq!(h2["stopped_by_gap"], 1);
    assert_eq!(h2["stopped_by_error"], 0);
    let tls = &r["stats"]["tls"];
    assert_eq!(tls["key_updates"], 1, "{tls}");
    assert_eq!(
        tls["decrypted"].as_u64().unwrap() + tls["partial"].as_u64().unwrap(),
        5
    );
    assert_eq!(tls["failed"], 1);
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w
        .as_str()
        .unwrap()
        .contains("HTTP/2 not read further in 1 direction")));

    // Sessions: alice over connections 1 and 2 (five requests: the
    // bootstrap and four with her cookie), bob on connection 4 (two).
    let sessions = r["sessions"].as_array().unwrap();
    let got: Vec<(Vec<u64>, u64, &str)> = sessions
        .iter()
        .filter(|s| s["kind"] == "http")
        .map(|s| {
            (
                s["connections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect(),
                s["requests"].as_u64().unwrap(),
                s["transport"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(vec![1, 2], 5, "tls"), (vec![4], 2, "tls")],
        "{sessions:?}"
    );
    // The cookie values never appear (redacted like cleartext ones).
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains(ALICE) && !text.contains(BOB));

    // TLS 1.3 resumption, linked through the decrypted ticket: one tls
    // session of connections 5 and 6.
    let c6 = conn(&r, 6);
    assert_eq!(c6["tls"]["handshake"], "psk", "{c6}");
    assert_eq!(c6["tls"]["resumes"], 5, "{c6}");
    let tls_sessions: Vec<&Value> = sessions.iter().filter(|s| s["kind"] == "tls").collect();
    assert_eq!(tls_sessions.len(), 1, "{sessions:?}");
    assert_eq!(tls_sessions[0]["connections"], serde_json::json!([5, 6]));

    // Extracting alice's session takes her connections' secrets along (a
    // Decryption Secrets Block): the export decrypts without --keylog, in
    // sessmap and in tshark, and holds no other connection's secrets.
    let alice = sessions
        .iter()
        .find(|s| s["connections"] == serde_json::json!([1, 2]))
        .unwrap();
    let out = dir.path().join("alice.pcapng");
    let x = sessmap(&[
        "extract",
        pcap.to_str().unwrap(),
        "--keylog",
        keys.to_str().unwrap(),
        "--session",
        &alice["id"].to_string(),
        "-w",
        out.to_str().unwrap(),
    ]);
    assert!(x.status.success(), "{}", stderr(&x));
    assert!(
        stderr(&x).contains("with the TLS secrets of 2 connections"),
        "{}",
        stderr(&x)
    );
    let again = analyze_json(&[out.to_str().unwrap()]);
    let s = again["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["requests"], 5);
    assert_eq!(s[0]["connections"], serde_json::json!([1, 2]));
    assert!(conns(&again)
        .iter()
        .all(|c| c["tls"]["decryption"] == "decrypted"));
    let bytes = std::fs::read(&out).unwrap();
    for other in [3u8, 4, 5, 6] {
        assert!(
            !bytes.windows(64).any(|w| w == hex(&[other; 32]).as_bytes()),
            "connection {other}'s client random is in the export"
        );
    }
    match std::process::Command::new("tshark")
        .args([
            "-r",
            out.to_str().unwrap(),
            "-Y",
            "http2.header",
            "-T",
            "fields",
            "-e",
            "http2.header.name",
        ])
        .output()
    {
        // tshark reads the embedded secrets and HPACK the same way.
        Ok(t) => {
            let text = String::from_utf8_lossy(&t.stdout);
            assert!(text.contains(":path") && text.contains("cookie"), "{text}");
        }
        Err(e) => assert!(
            std::env::var_os("CI").is_none(),
            "CI installs tshark, the oracle of this export: {e}"
        ),
    }

    // Without the key log: every connection encrypted, no session; the
    // PSK resumption is marked but cannot be linked.
    let bare = analyze_json(&[pcap.to_str().unwrap()]);
    assert!(bare["sessions"].as_array().unwrap().is_empty());
    assert!(conns(&bare).iter().all(|c| c["no_session"] == "encrypted"));
    assert_eq!(conn(&bare, 6)["tls"]["handshake"], "psk");
    assert_eq!(conn(&bare, 6)["tls"]["resumes"], Value::Null);
}
