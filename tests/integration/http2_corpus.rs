//! HTTP/2 on the shared corpus, against keylog_http2_facts.json: Suricata's
//! eleven HTTP/2 tests (h2c by prior knowledge, with the server speaking
//! first, on odd ports; `Upgrade: h2c` taken mid-connection; CONTINUATION;
//! HPACK's dynamic table; cookies; DoH; gRPC behind CONNECT; an over-long
//! frame) and curl to Google over TLS 1.3 with h2.
//!
//! Facts checked per HTTP/2 stream, from tshark's per-stream fields
//! (`http2` in the facts file) read through the library's own parser
//! stack: `:method`, `:authority`, `:path`, `:status`, the cookie names and
//! the Set-Cookie names. Per connection, from the report: the HTTP version,
//! the request count; with a session cookie named, the sessions the
//! cookies make.

use crate::common::*;
use crate::corpus::corpus;
use serde_json::Value;
use sessmap::capture::Inputs;
use sessmap::decode::{Decoder, Endpoint};
use sessmap::flow::{At, ConnRecord, ConsumerFactory, FlowLimits, FlowTable};
use sessmap::proto::ftp::{FtpEvent, FtpSink};
use sessmap::proto::http::{HttpLimits, HttpSink, Transaction};
use sessmap::proto::tls::keylog::KeyStore;
use sessmap::proto::ConnParser;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Records every transaction with its connection id.
#[derive(Default)]
struct Recorder {
    keys: Option<Arc<KeyStore>>,
    txs: Vec<(u64, Transaction)>,
}

impl HttpSink for Recorder {
    fn transaction(&mut self, at: At, tx: Transaction) {
        self.txs.push((at.conn, tx));
    }
}

impl FtpSink for Recorder {
    fn ftp(&mut self, _at: At, _event: FtpEvent) {}
}

impl ConsumerFactory for Recorder {
    type Consumer = ConnParser;
    fn open(&mut self, _id: u64, _c: &Endpoint, _s: &Endpoint, handshake: bool) -> ConnParser {
        ConnParser::new(HttpLimits::default(), !handshake, self.keys.clone())
    }
    fn close(&mut self, _record: ConnRecord, _consumer: ConnParser) {}
}

/// Every transaction of a capture, by the same stack `analyze` runs.
fn transactions(path: &Path, keylog: Option<PathBuf>) -> Vec<(u64, Transaction)> {
    let mut inputs = Inputs::open(&[path.to_path_buf()]).unwrap();
    // Decryption Secrets Blocks before the first packet, as analyze uses them.
    let embedded = inputs.take_secrets();
    let keys = (keylog.is_some() || !embedded.is_empty()).then(|| {
        let store = KeyStore::open(&keylog.into_iter().collect::<Vec<_>>(), false).unwrap();
        for (source, text) in &embedded {
            store.add_embedded(source, text);
        }
        Arc::new(store)
    });
    let recorder = Recorder {
        keys,
        txs: Vec::new(),
    };
    let mut flows = FlowTable::new(FlowLimits::default(), recorder);
    let mut decoder = Decoder::default();
    while let Some(frame) = inputs.next_frame() {
        if let Some(seg) = decoder.decode(&frame) {
            flows.segment(&seg);
        }
    }
    flows.finish().0.txs
}

fn facts(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join("keylog_http2_facts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn entry<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter()
        .find(|e| e["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in the facts"))
}

fn names_of(pairs: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = pairs
        .iter()
        .filter_map(|c| Some(c.as_str()?.split('=').next()?.trim().to_owned()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A stream's request line and status, cookie names, Set-Cookie names.
type StreamFacts = (String, Vec<String>, Vec<String>);

/// One stream as tshark read it, and as sessmap did.
fn stream_line(method: &str, host: &str, path: &str, status: Option<&str>) -> String {
    format!("{method} {host} {path} -> {}", status.unwrap_or("none"))
}

/// Per-stream facts for every capture that has them.
#[test]
fn http2_streams_match_tshark() {
    let Some(root) = corpus() else { return };
    let all = facts(&root);
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in all.iter().filter(|e| e["http2"].is_object()) {
        let rel = e["path"].as_str().unwrap();
        let keylog = e["keylog"].as_str().map(|k| root.join(k));
        let txs = transactions(&root.join(rel), keylog);
        for (stream, conn) in e["http2"]["connections"].as_object().unwrap() {
            let id: u64 = stream.parse::<u64>().unwrap() + 1;
            let mut want: Vec<StreamFacts> = conn["streams"]
                .as_object()
                .unwrap()
                .values()
                .map(|s| {
                    // tshark gives the authority with its port; sessmap
                    // keeps the host.
                    let host = s["authority"].as_str().unwrap_or("");
                    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                    (
                        stream_line(
                            s["method"].as_str().unwrap_or(""),
                            host,
                            s["path"].as_str().unwrap_or(""),
                            s["status"].as_str(),
                        ),
                        names_of(s["cookie"].as_array().unwrap()),
                        names_of(s["set_cookie"].as_array().unwrap()),
                    )
                })
                .collect();
            let mut got: Vec<StreamFacts> = txs
                .iter()
                .filter(|(c, t)| *c == id && t.request.as_ref().is_some_and(|r| r.version == 2))
                .map(|(_, t)| {
                    let r = t.request.as_ref().unwrap();
                    let mut cookies: Vec<String> = r.cookies.iter().map(|c| c.0.clone()).collect();
                    cookies.sort();
                    cookies.dedup();
                    let status = t.response.as_ref().map(|r| r.status.to_string());
                    let mut set: Vec<String> = t
                        .response
                        .iter()
                        .flat_map(|r| r.set_cookies.iter().map(|c| c.name.clone()))
                        .collect();
                    set.sort();
                    set.dedup();
                    (
                        stream_line(
                            &r.method,
                            r.host.as_deref().unwrap_or(""),
                            &r.target,
                            status.as_deref(),
                        ),
                        cookies,
                        set,
                    )
                })
                .collect();
            want.sort();
            got.sort();
            checked += want.len();
            if got != want {
                failures.push(format!(
                    "{rel} connection {id}:\n  sessmap {got:?}\n  tshark  {want:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 49, "only {checked} HTTP/2 streams checked");
}

/// A connection's id, HTTP version and requests.
type ConnFacts = (u64, &'static str, u64);

/// Each Suricata HTTP/2 capture: connections, versions, requests.
#[test]
fn http2_connections_match_suricata_and_tshark() {
    let Some(root) = corpus() else { return };
    let all = facts(&root);
    // (capture, [(connection, version, requests)]): requests count the
    // HTTP/1.1 request of an upgrade or CONNECT too.
    let cases: &[(&str, &[ConnFacts])] = &[
        // Suricata http2-basic: six streams, the server's SETTINGS first.
        ("http2-keywords/input.pcap", &[(1, "2", 6)]),
        // Upgrade picked up with no SYN: /robots.txt upgraded, /humans.txt.
        ("http2-keywords2/input.pcap", &[(1, "2", 2)]),
        ("http2-continuation/input.pcap", &[(1, "2", 1)]),
        // Three connections upgrade, two stay HTTP/1.1.
        (
            "http2-range/http2-range.pcap",
            &[
                (1, "2", 1),
                (2, "1.1", 1),
                (3, "2", 1),
                (4, "1.1", 1),
                (5, "2", 1),
            ],
        ),
        ("http2-deflate/http2_deflate.pcap", &[(1, "2", 1)]),
        ("http2-compression-bug/input.pcap", &[(1, "2", 5)]),
        ("http2-bugfixes/input.pcap", &[(1, "2", 4)]),
        (
            "dns-over-http2-post/dns_over_https_POST.pcap",
            &[(1, "2", 34)],
        ),
        // gRPC through a CONNECT proxy, and direct.
        ("http2-errorcode/input.pcap", &[(1, "2", 2), (2, "2", 1)]),
        (
            "http2-authority-mismatch/authority_and_host_2.pcap",
            &[(1, "2", 1)],
        ),
        ("http2-long-frame/input.pcap", &[(1, "2", 2)]),
    ];
    let schema = crate::schema::validator();
    for (name, want) in cases {
        let e = entry(&all, name);
        let path = root.join(e["path"].as_str().unwrap());
        let r = analyze_json(&[path.to_str().unwrap()]);
        assert!(crate::schema::errors(&schema, &r).is_empty(), "{name}");
        let got: Vec<(u64, &str, u64)> = conns(&r)
            .iter()
            .map(|c| {
                (
                    c["id"].as_u64().unwrap(),
                    c["http_version"].as_str().unwrap_or("-"),
                    c["requests"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, *want, "{name}");
        let h2 = &r["stats"]["http2"];
        assert_eq!(h2["stopped_by_gap"], 0, "{name}");
        assert_eq!(h2["stopped_by_error"], 0, "{name}");
        assert_eq!(h2["hpack_errors"], 0, "{name}");
        assert!(r["warnings"].as_array().unwrap().is_empty(), "{name}");
    }
    // CONTINUATION and the over-long DATA frame are seen as such.
    let c = analyze_json(&[root
        .join(
            entry(&all, "http2-continuation/input.pcap")["path"]
                .as_str()
                .unwrap(),
        )
        .to_str()
        .unwrap()]);
    assert!(c["stats"]["http2"]["continuations"].as_u64().unwrap() >= 1);
    let l = analyze_json(&[root
        .join(
            entry(&all, "http2-long-frame/input.pcap")["path"]
                .as_str()
                .unwrap(),
        )
        .to_str()
        .unwrap()]);
    assert_eq!(l["stats"]["http2"]["frame_too_large"], 1);
}

/// Cookies over HTTP/2 make sessions like HTTP/1.1 ones: Google's NID
/// rotated on stream 3 and sent back on streams 5, 7 and 9 (one session of
/// five requests); YouTube's YSC on all four streams; curl's request to
/// Google over TLS 1.3, decrypted by key log or by the embedded secrets.
#[test]
fn http2_cookies_make_sessions() {
    let Some(root) = corpus() else { return };
    let all = facts(&root);
    let run = |name: &str, extra: &[&str]| {
        let e = entry(&all, name);
        let path = root.join(e["path"].as_str().unwrap());
        let mut args = vec![path.to_str().unwrap().to_owned()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        analyze_json(&args)
    };
    let r = run("http2-compression-bug/input.pcap", &["--cookie", "NID"]);
    let s = r["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["requests"], 5);
    assert_eq!(s[0]["aliases"].as_array().unwrap().len(), 1, "rotated once");
    assert_eq!(s[0]["server"], "google.com");
    let r = run("http2-bugfixes/input.pcap", &["--cookie", "YSC"]);
    let s = r["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["requests"], 4);
    assert_eq!(s[0]["server"], "youtube.com");
    // Without a session cookie named, these persistent cookies make none.
    assert!(run("http2-bugfixes/input.pcap", &[])["sessions"]
        .as_array()
        .unwrap()
        .is_empty());
    let keylog = root.join("snet/tests/pcap/data/decrypt_by_keylog/log.txt");
    let keyed = run(
        "tls1.3_curl_google.pcap",
        &["--keylog", keylog.to_str().unwrap(), "--cookie", "NID"],
    );
    let embedded = run("tls1.3_curl_google-dsb.pcapng", &["--cookie", "NID"]);
    for r in [&keyed, &embedded] {
        let c = &conns(r)[0];
        assert_eq!(c["tls"]["alpn"], "h2");
        assert_eq!(c["tls"]["inner"]["version"], "2");
        assert_eq!(c["http_version"], "2");
        assert_eq!(c["requests"], 1);
        let s = r["sessions"].as_array().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0]["transport"], "tls");
        assert_eq!(s[0]["server"], "google.com");
    }
}

/// Suricata's first five HTTP/2 tests, whose facts give no tshark stream
/// list: the requests and statuses they name, read by sessmap.
#[test]
fn http2_suricata_requests() {
    let Some(root) = corpus() else { return };
    let all = facts(&root);
    let lines = |name: &str| -> Vec<String> {
        let e = entry(&all, name);
        transactions(&root.join(e["path"].as_str().unwrap()), None)
            .into_iter()
            .map(|(c, t)| {
                let r = t.request.unwrap_or_default();
                let status = t.response.map(|r| r.status.to_string());
                format!(
                    "{c} v{} {}",
                    r.version,
                    stream_line(
                        &r.method,
                        r.host.as_deref().unwrap_or(""),
                        &r.target,
                        status.as_deref()
                    )
                )
            })
            .collect()
    };
    // http2-basic: stream 1, then five more, all 200.
    let basic = lines("http2-keywords/input.pcap");
    assert_eq!(basic.len(), 6, "{basic:?}");
    assert_eq!(
        basic[0],
        "1 v2 GET localhost /doc/manual/html/index.html -> 200"
    );
    assert!(basic.iter().all(|l| l.ends_with("-> 200")), "{basic:?}");
    // http2-upgrade: /robots.txt answered on stream 1 (the HTTP/1.1
    // request, answered in HTTP/2), then /humans.txt 404.
    assert_eq!(
        lines("http2-keywords2/input.pcap"),
        [
            "1 v1 GET nghttp2.org /robots.txt -> 200",
            "1 v2 GET nghttp2.org /humans.txt -> 404"
        ]
    );
    assert_eq!(
        lines("http2-continuation/input.pcap"),
        ["1 v2 GET 127.0.0.1 /tata -> 200"]
    );
    // Three upgrades answered 206 in HTTP/2, two HTTP/1.1 206s.
    let range = lines("http2-range/http2-range.pcap");
    assert_eq!(range.len(), 5, "{range:?}");
    assert!(
        range.iter().all(|l| l.ends_with("/eicar -> 206")),
        "{range:?}"
    );
    let deflate = lines("http2-deflate/http2_deflate.pcap");
    assert_eq!(deflate.len(), 1);
    assert!(deflate[0].ends_with(" / -> 200"), "{deflate:?}");
}
