//! Session rules on transactions written out by hand: each test is a short
//! browsing history and the sessions it must give.

use super::*;
use crate::proto::http::{parse_set_cookie_for_tests as set, Request, Response};

const ALICE: &str = "10.0.0.5";
const BOB: &str = "10.0.0.6";
const SERVER: &str = "10.0.0.9";
const TOKEN_A: &str = "5f2b9c0e7a1d4b3f8e6c2a9d0b1e7f3c";
const TOKEN_B: &str = "9a8b7c6d5e4f30211f2e3d4c5b6a7988";

struct History {
    sessions: HttpSessions,
    ts: u64,
}

impl History {
    fn new(config: SessionConfig) -> Self {
        History {
            sessions: HttpSessions::new(config),
            ts: 0,
        }
    }

    /// One request on connection `conn` from `client` to `host`, carrying
    /// `cookies`, answered with `set_cookies` (Set-Cookie header values).
    fn tx(
        &mut self,
        conn: u64,
        client: &str,
        host: &str,
        target: &str,
        cookies: &[(&str, &str)],
        set_cookies: &[&str],
    ) {
        self.ts += 1_000_000_000;
        let request = Request {
            ts_ns: self.ts,
            method: "GET".into(),
            target: target.into(),
            version: 1,
            host: Some(host.into()),
            cookies: cookies
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            auth: None,
            url_params: {
                let mut p = Vec::new();
                crate::proto::http::url_params_for_tests(target, &mut p);
                p
            },
        };
        let response = Response {
            ts_ns: self.ts,
            status: 200,
            set_cookies: set_cookies.iter().filter_map(|c| set(c)).collect(),
            location_params: Vec::new(),
        };
        let tx = Transaction {
            request: Some(request),
            response: Some(response),
            host_hint: None,
        };
        self.sessions
            .add(conn, client.parse().unwrap(), SERVER.parse().unwrap(), tx);
    }

    fn finish(self) -> Vec<Session> {
        self.sessions.finish()
    }

    /// A response alone (its request not captured, or sent earlier) that
    /// redirects with `location_params`.
    fn redirect(
        &mut self,
        conn: u64,
        client: &str,
        host: &str,
        location: &str,
        set_cookies: &[&str],
    ) {
        self.ts += 1_000_000_000;
        let mut location_params = Vec::new();
        crate::proto::http::url_params_for_tests(location, &mut location_params);
        let tx = Transaction {
            request: Some(Request {
                ts_ns: self.ts,
                method: "GET".into(),
                target: "/".into(),
                version: 1,
                host: Some(host.into()),
                ..Default::default()
            }),
            response: Some(Response {
                ts_ns: self.ts,
                status: 302,
                set_cookies: set_cookies.iter().filter_map(|c| set(c)).collect(),
                location_params,
            }),
            host_hint: None,
        };
        self.sessions
            .add(conn, client.parse().unwrap(), SERVER.parse().unwrap(), tx);
    }
}

fn conns(s: &Session) -> Vec<u64> {
    s.connections.keys().copied().collect()
}

#[test]
fn bootstrap_rotation_and_logout() {
    let mut h = History::new(SessionConfig::default());
    h.tx(
        1,
        ALICE,
        "shop.example",
        "/",
        &[],
        &[&format!("PHPSESSID={TOKEN_A}; path=/")],
    );
    h.tx(
        2,
        ALICE,
        "shop.example",
        "/login",
        &[("PHPSESSID", TOKEN_A)],
        &[&format!("PHPSESSID={TOKEN_B}")],
    );
    h.tx(
        2,
        ALICE,
        "shop.example",
        "/account",
        &[("PHPSESSID", TOKEN_B)],
        &[],
    );
    h.tx(
        3,
        ALICE,
        "shop.example",
        "/logout",
        &[("PHPSESSID", TOKEN_B)],
        &["PHPSESSID=deleted; Max-Age=0"],
    );
    let s = h.finish();
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].values,
        [
            ("PHPSESSID".into(), TOKEN_A.into()),
            ("PHPSESSID".into(), TOKEN_B.into())
        ]
    );
    assert_eq!(conns(&s[0]), [1, 2, 3]);
    assert_eq!(s[0].requests, 4);
    assert!(s[0].ended);
    assert_eq!(s[0].site, "shop.example");
}

#[test]
fn domain_attribute_covers_subdomains_and_unrelated_sites_stay_apart() {
    let mut h = History::new(SessionConfig::default());
    h.tx(
        1,
        ALICE,
        "www.example.com",
        "/",
        &[],
        &[&format!("sid={TOKEN_A}; Domain=.example.com")],
    );
    h.tx(
        2,
        ALICE,
        "st.example.com",
        "/a.css",
        &[("sid", TOKEN_A)],
        &[],
    );
    h.tx(
        3,
        ALICE,
        "cdn.example.com",
        "/b.js",
        &[("sid", TOKEN_A)],
        &[],
    );
    // The same name and value on an unrelated site.
    h.tx(4, ALICE, "other.org", "/", &[("sid", TOKEN_A)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].site, "example.com");
    assert_eq!(conns(&s[0]), [1, 2, 3]);
    assert_eq!(s[1].site, "other.org");
    assert_eq!(conns(&s[1]), [4]);
}

#[test]
fn a_host_only_cookie_belongs_to_the_host_that_set_it() {
    let mut h = History::new(SessionConfig::default());
    h.tx(
        1,
        ALICE,
        "a.example.com",
        "/",
        &[],
        &[&format!("PHPSESSID={TOKEN_A}")],
    );
    h.tx(
        2,
        ALICE,
        "a.example.com",
        "/x",
        &[("PHPSESSID", TOKEN_A)],
        &[],
    );
    // Seen only in requests: scoped to the registrable domain.
    h.tx(3, BOB, "b.example.com", "/", &[("PHPSESSID", TOKEN_B)], &[]);
    h.tx(4, BOB, "c.example.com", "/", &[("PHPSESSID", TOKEN_B)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].site.as_str(), conns(&s[0])),
        ("a.example.com", vec![1, 2])
    );
    assert_eq!(
        (s[1].site.as_str(), conns(&s[1])),
        ("example.com", vec![3, 4])
    );
}

#[test]
fn two_clients_of_one_session_are_one_session_with_both_clients() {
    let mut h = History::new(SessionConfig::default());
    h.tx(1, ALICE, "app.test", "/", &[("JSESSIONID", TOKEN_A)], &[]);
    h.tx(2, BOB, "app.test", "/", &[("JSESSIONID", TOKEN_A)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 1);
    let clients: Vec<String> = s[0].clients.iter().map(ToString::to_string).collect();
    assert_eq!(clients, [ALICE, BOB]);
}

#[test]
fn values_that_are_not_ids_join_nothing() {
    let mut h = History::new(SessionConfig::default());
    // A constant every visitor sends, rotated at login: not one session of
    // all users.
    for (i, (client, token)) in [
        (ALICE, TOKEN_A),
        (BOB, TOKEN_B),
        ("10.0.0.7", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    ]
    .iter()
    .enumerate()
    {
        h.tx(
            i as u64 + 1,
            client,
            "app.test",
            "/login",
            &[("session", "guest")],
            &[&format!("session={token}")],
        );
    }
    // A short URL value two browsers share.
    h.tx(
        10,
        ALICE,
        "app.test",
        "/products?sid=1",
        &[("PHPSESSID", TOKEN_A)],
        &[],
    );
    h.tx(
        11,
        BOB,
        "app.test",
        "/products?sid=1",
        &[("PHPSESSID", TOKEN_B)],
        &[],
    );
    let s = h.finish();
    // Three logged-in sessions (session=…), and two PHPSESSID sessions.
    assert_eq!(s.len(), 5, "{s:#?}");
    assert!(s.iter().all(|x| x.clients.len() == 1));
}

#[test]
fn a_load_balancer_cookie_shared_by_two_sessions_is_not_a_session() {
    let mut h = History::new(SessionConfig::default());
    let lb = "pool-a.node3.f00dfeed";
    h.tx(
        1,
        ALICE,
        "app.test",
        "/",
        &[("PHPSESSID", TOKEN_A)],
        &[&format!("BIGipServerpool={lb}")],
    );
    h.tx(
        2,
        ALICE,
        "app.test",
        "/",
        &[("PHPSESSID", TOKEN_A), ("BIGipServerpool", lb)],
        &[],
    );
    h.tx(
        3,
        ALICE,
        "app.test",
        "/",
        &[("PHPSESSID", TOKEN_B), ("BIGipServerpool", lb)],
        &[],
    );
    let s = h.finish();
    assert_eq!(s.len(), 2, "{s:#?}");
    assert!(s.iter().all(|x| x.values.len() == 1));
}

#[test]
fn a_response_that_sets_a_cookie_and_a_url_id_starts_one_session() {
    let mut h = History::new(SessionConfig::default());
    h.redirect(
        1,
        ALICE,
        "app.test",
        &format!("/app/;jsessionid={TOKEN_A}"),
        &[&format!("JSESSIONID={TOKEN_A}; Path=/app")],
    );
    h.tx(
        1,
        ALICE,
        "app.test",
        &format!("/app/;jsessionid={TOKEN_A}"),
        &[],
        &[],
    );
    let s = h.finish();
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0].requests, 2);
}

#[test]
fn a_domain_that_does_not_cover_the_host_is_ignored() {
    let mut h = History::new(SessionConfig::default());
    // A backend behind a proxy sets Domain=example.com on host 10.1.2.3.
    h.tx(
        1,
        ALICE,
        "10.1.2.3",
        "/",
        &[],
        &[&format!("JSESSIONID={TOKEN_A}; Domain=example.com")],
    );
    h.tx(2, ALICE, "10.1.2.3", "/x", &[("JSESSIONID", TOKEN_A)], &[]);
    // A public suffix as Domain covers nothing.
    h.tx(
        3,
        BOB,
        "a.co.uk",
        "/",
        &[],
        &[&format!("JSESSIONID={TOKEN_B}; Domain=co.uk")],
    );
    h.tx(4, BOB, "b.co.uk", "/", &[("JSESSIONID", TOKEN_B)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 3, "{s:#?}");
    assert_eq!((s[0].site.as_str(), conns(&s[0])), ("10.1.2.3", vec![1, 2]));
    assert_eq!((s[1].site.as_str(), conns(&s[1])), ("a.co.uk", vec![3]));
    assert_eq!((s[2].site.as_str(), conns(&s[2])), ("b.co.uk", vec![4]));
}

#[test]
fn a_url_id_handed_out_by_a_redirect_starts_the_session() {
    let mut h = History::new(SessionConfig::default());
    h.redirect(
        1,
        ALICE,
        "app.test",
        &format!("/app;jsessionid={TOKEN_A}/home"),
        &[],
    );
    h.tx(
        1,
        ALICE,
        "app.test",
        &format!("/app;jsessionid={TOKEN_A}/home"),
        &[],
        &[],
    );
    h.tx(
        2,
        ALICE,
        "app.test",
        &format!("/app;jsessionid={TOKEN_A}/x"),
        &[],
        &[],
    );
    let s = h.finish();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].connections, BTreeMap::from([(1, 2), (2, 1)]));
}

#[test]
fn ended_means_deleted_and_not_used_again() {
    let mut h = History::new(SessionConfig::default());
    // Deleted, then used again: not ended.
    h.tx(
        1,
        ALICE,
        "app.test",
        "/logout",
        &[("PHPSESSID", TOKEN_A)],
        &["PHPSESSID=; Max-Age=0"],
    );
    h.tx(
        2,
        ALICE,
        "app.test",
        "/again",
        &[("PHPSESSID", TOKEN_A)],
        &[],
    );
    // Deleted and replaced in one response: a rotation, not an end.
    h.tx(
        3,
        BOB,
        "app.test",
        "/login",
        &[("PHPSESSID", TOKEN_B)],
        &[
            "PHPSESSID=; Max-Age=0",
            "PHPSESSID=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ],
    );
    let s = h.finish();
    assert_eq!(s.len(), 2, "{s:#?}");
    assert!(!s[0].ended && !s[1].ended);
    assert_eq!(s[1].values.len(), 2);
}

#[test]
fn the_token_heuristic_and_what_it_rejects() {
    let mut h = History::new(SessionConfig::default());
    // A session cookie (no expiry) with a random value: a session.
    h.tx(
        1,
        ALICE,
        "app.test",
        "/",
        &[],
        &[&format!("tok={TOKEN_A}; HttpOnly")],
    );
    h.tx(2, ALICE, "app.test", "/x", &[("tok", TOKEN_A)], &[]);
    // Long-lived: never a session, however random.
    h.tx(
        3,
        ALICE,
        "app.test",
        "/",
        &[],
        &[&format!("tracker={TOKEN_B}; Max-Age=63072000")],
    );
    h.tx(4, ALICE, "app.test", "/y", &[("tracker", TOKEN_B)], &[]);
    // Low entropy: never a session.
    h.tx(
        5,
        ALICE,
        "app.test",
        "/",
        &[("lang", "en"), ("theme", "dark")],
        &["lang=en", "theme=dark"],
    );
    let s = h.finish();
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0].values, [("tok".into(), TOKEN_A.into())]);
    assert_eq!(conns(&s[0]), [1, 2]);
}

#[test]
fn a_random_value_shared_by_many_clients_is_no_session() {
    let mut h = History::new(SessionConfig::default());
    let shared = "c0ffee00deadbeef0123456789abcdef";
    h.tx(
        1,
        "10.0.0.1",
        "app.test",
        "/",
        &[],
        &[&format!("build={shared}")],
    );
    for (i, client) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        h.tx(
            2 + i as u64,
            client,
            "app.test",
            "/",
            &[("build", shared)],
            &[],
        );
    }
    assert!(h.finish().is_empty());
}

#[test]
fn cookie_and_url_parameter_names_from_the_command_line() {
    let config = SessionConfig {
        cookies: vec!["ticket".into()],
        url_params: vec!["token".into()],
    };
    let mut h = History::new(config);
    h.tx(1, ALICE, "app.test", "/", &[("ticket", "abc")], &[]);
    h.tx(2, ALICE, "app.test", "/x", &[("ticket", "abc")], &[]);
    h.tx(3, BOB, "app.test", "/page?token=xyz12345", &[], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].values, [("ticket".into(), "abc".into())]);
    assert_eq!(s[1].values, [("url:token".into(), "xyz12345".into())]);
    // Without the flags neither is a session.
    let mut h = History::new(SessionConfig::default());
    h.tx(1, ALICE, "app.test", "/", &[("ticket", "abc")], &[]);
    h.tx(3, BOB, "app.test", "/page?token=xyz12345", &[], &[]);
    assert!(h.finish().is_empty());
}

#[test]
fn url_and_cookie_ids_sent_together_are_one_session() {
    let mut h = History::new(SessionConfig::default());
    h.tx(
        1,
        ALICE,
        "app.test",
        &format!("/app;jsessionid={TOKEN_A}/home"),
        &[],
        &[],
    );
    h.tx(
        2,
        ALICE,
        "app.test",
        &format!("/app;jsessionid={TOKEN_A}/x"),
        &[("JSESSIONID", TOKEN_A)],
        &[],
    );
    h.tx(3, ALICE, "app.test", "/y", &[("JSESSIONID", TOKEN_A)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 1);
    assert_eq!(conns(&s[0]), [1, 2, 3]);
    assert_eq!(s[0].values.len(), 2);
}

#[test]
fn one_connection_two_sessions() {
    let mut h = History::new(SessionConfig::default());
    h.tx(7, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    h.tx(7, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_B)], &[]);
    h.tx(7, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_B)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].connections, BTreeMap::from([(7, 1)]));
    assert_eq!(s[1].connections, BTreeMap::from([(7, 2)]));
}

#[test]
fn random_looking_values() {
    assert!(looks_random(TOKEN_A));
    assert!(looks_random("s%3AkP2xV9qL0mZ8.rT5yW1nB6cH4"));
    assert!(!looks_random("en"));
    assert!(!looks_random("1700000000000000000"));
    assert!(!looks_random("aaaaaaaaaaaaaaaaaaaaaaaa"));
}

#[test]
fn domain_matching_and_registrable_domains() {
    assert!(domain_match("st.example.com", "example.com"));
    assert!(domain_match("example.com", "example.com"));
    assert!(!domain_match("badexample.com", "example.com"));
    assert!(!domain_match("10.0.0.1", "0.0.1"));
    assert_eq!(registrable("www.shop.example.co.uk"), "example.co.uk");
    assert_eq!(registrable("127.0.0.1"), "127.0.0.1");
    assert_eq!(registrable("localhost"), "localhost");
}

#[test]
fn well_known_names() {
    let c = SessionConfig {
        cookies: vec!["MYAPP".into()],
        url_params: vec![],
    };
    for n in [
        "PHPSESSID",
        "JSESSIONID",
        "ASP.NET_SessionId",
        "ASPSESSIONIDQQGGQGPG",
        "sid",
        "myapp",
        "SESS0123456789abcdef0123456789abcdef",
        "connect.sid",
        "laravel_session",
    ] {
        assert!(c.is_candidate(n), "{n}");
    }
    for n in [
        "lang",
        "theme",
        "_ga",
        "session_theme",
        "sessionless",
        "SESSxyz",
    ] {
        assert!(!c.is_candidate(n), "{n}");
    }
}

#[test]
fn repeated_requests_are_one_record_per_shape() {
    let mut h = History::new(SessionConfig::default());
    h.tx(
        1,
        ALICE,
        "app.test",
        "/login",
        &[],
        &[&format!("PHPSESSID={TOKEN_A}")],
    );
    for i in 0..10_000u64 {
        let conn = 2 + i % 3;
        h.tx(
            conn,
            ALICE,
            "app.test",
            "/page",
            &[("PHPSESSID", TOKEN_A)],
            &[],
        );
    }
    // The login and one shape for all 10 000 requests, whatever the
    // connection: memory follows sessions, not requests.
    assert_eq!(h.sessions.txs.len(), 2);
    let s = h.finish();
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].connections,
        BTreeMap::from([(1, 1), (2, 3334), (3, 3333), (4, 3333)])
    );
    // The summary keeps the span: the last request, 10 000 s after login.
    assert_eq!(s[0].end_ns - s[0].start_ns, 10_000 * 1_000_000_000);
}

#[test]
fn a_shape_starts_at_its_earliest_request_whatever_the_answer_order() {
    let mut h = History::new(SessionConfig::default());
    // Connection 2's request (t = 5 s) is answered before connection 1's
    // (t = 3 s): transactions arrive out of request order.
    h.ts = 4_000_000_000;
    h.tx(2, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    h.ts = 2_000_000_000;
    h.tx(1, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    let s = h.finish();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].start_ns, 3_000_000_000);
    assert_eq!(s[0].end_ns, 5_000_000_000);
    assert_eq!(s[0].connections, BTreeMap::from([(1, 1), (2, 1)]));
}

#[test]
fn past_the_record_cap_repeats_still_count_and_new_records_are_dropped() {
    let mut h = History::new(SessionConfig::default());
    h.sessions.max_facts = 2;
    h.tx(1, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    h.tx(2, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    // The cap is reached: a new connection for the kept shape and a new
    // shape are dropped and counted; repeats on kept connections count.
    h.tx(3, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    h.tx(1, BOB, "app.test", "/", &[("PHPSESSID", TOKEN_B)], &[]);
    h.tx(1, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    h.tx(2, ALICE, "app.test", "/", &[("PHPSESSID", TOKEN_A)], &[]);
    assert_eq!(h.sessions.dropped, 2);
    let s = h.finish();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].connections, BTreeMap::from([(1, 2), (2, 2)]));
}
