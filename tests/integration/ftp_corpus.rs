//! FTP on the shared corpus, against the facts INVENTORY.md states (Zeek's
//! ftp.log and conn.log baselines, suricata-verify's tests).

use crate::common::*;
use crate::corpus::{corpus, report};
use serde_json::Value;

fn conn<'a>(r: &'a Value, id: &Value) -> &'a Value {
    conns(r).iter().find(|c| c["id"] == *id).unwrap()
}

/// (data connection client, server, setup) per transfer, in id order.
fn transfers(r: &Value, s: &Value) -> Vec<(String, String, String)> {
    s["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let c = conn(r, &t["connection"]);
            (
                c["client"].as_str().unwrap().to_owned(),
                c["server"].as_str().unwrap().to_owned(),
                t["setup"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn zeek_ipv4_passive_and_active_from_ports_other_than_20() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "zeek/testing/btest/Traces/ftp/ipv4.pcap");
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["key"], "ftp-control:1");
    assert_eq!(s[0]["control"], 1);
    assert_eq!(s[0]["user"], "anonymous");
    assert_eq!(s[0]["login"], "success");
    assert_eq!(
        transfers(&r, s[0]),
        [
            (
                "141.142.220.235:37604".into(),
                "199.233.217.249:56666".into(),
                "PASV".into()
            ),
            (
                "141.142.220.235:59378".into(),
                "199.233.217.249:56667".into(),
                "PASV".into()
            ),
            (
                "199.233.217.249:61920".into(),
                "141.142.220.235:33582".into(),
                "PORT".into()
            ),
            (
                "199.233.217.249:61918".into(),
                "141.142.220.235:37835".into(),
                "PORT".into()
            ),
        ]
    );
    let cmds: Vec<&str> = s[0]["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["command"].as_str().unwrap())
        .collect();
    assert_eq!(cmds, ["LIST", "RETR", "LIST", "RETR"]);
    let modes: Vec<&str> = s[0]["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["passive", "passive", "active", "active"]);
    // Sizes from Zeek's conn.log: LIST 342 bytes, robots.txt 77 bytes.
    let bytes: Vec<u64> = s[0]["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(bytes, [342, 77, 342, 77]);
    assert!(conns(&r)[1..].iter().all(|c| c["protocol"] == "ftp-data"));
    assert_eq!(s[0]["unmatched"], serde_json::json!([]));
}

#[test]
fn zeek_ipv6_epsv_and_eprt() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "zeek/testing/btest/Traces/ftp/ipv6.pcap");
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 1);
    let setups: Vec<String> = transfers(&r, s[0]).into_iter().map(|t| t.2).collect();
    assert_eq!(setups, ["EPSV", "EPSV", "EPSV", "EPRT", "EPRT"]);
    assert_eq!(s[0]["connections"].as_array().unwrap().len(), 6);
    assert!(s[0]["server"]
        .as_str()
        .unwrap()
        .starts_with("[2001:470:4867:99::21]"));
}

/// suricata-verify firewall-116 (IPv4) and -117 (IPv6): two control
/// connections, each with 7 data connections: PASV or EPSV on the first,
/// PORT or EPRT on the second. The uploads carry text that reads like FTP
/// commands ("STOR payload for FTP data-command sequence"): they are data.
#[test]
fn suricata_all_data_commands_ipv4_and_ipv6() {
    let Some(root) = corpus() else { return };
    for (path, passive, active) in [
        (
            "suricata-verify/tests/firewall/ruletype-firewall-116-ftp-all-data-ipv4/input.pcap",
            "PASV",
            "PORT",
        ),
        (
            "suricata-verify/tests/firewall/ruletype-firewall-117-ftp-all-data-ipv6/input.pcap",
            "EPSV",
            "EPRT",
        ),
    ] {
        let (r, _) = report(&root, path);
        let s = ftp_sessions(&r);
        assert_eq!(s.len(), 2, "{path}");
        for (session, setup) in [(s[0], passive), (s[1], active)] {
            let t = transfers(&r, session);
            assert_eq!(t.len(), 7, "{path}");
            assert!(t.iter().all(|x| x.2 == setup), "{path}: {t:?}");
            let cmds: Vec<&str> = session["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["command"].as_str().unwrap())
                .collect();
            assert_eq!(
                cmds,
                ["STOR", "APPE", "STOU", "LIST", "NLST", "MLSD", "RETR"],
                "{path}"
            );
            let dirs: Vec<&str> = session["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["direction"].as_str().unwrap())
                .collect();
            assert_eq!(dirs[..3], ["upload"; 3]);
            assert_eq!(dirs[3..], ["download"; 4]);
        }
        assert_eq!(r["stats"]["connections"], 16);
        let linked: usize = s
            .iter()
            .map(|x| x["connections"].as_array().unwrap().len())
            .sum();
        assert_eq!(linked, 16, "{path}: every connection belongs to a session");
    }
}

#[test]
fn zeek_cwd_navigation_689_announcements_and_no_data_connection() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "zeek/testing/btest/Traces/ftp/cwd-navigation.pcap");
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 1);
    // 689 227 replies (tshark's count of announcements) for 688 PASV
    // commands seen: the capture lost one PASV (a client gap of 78 bytes).
    // Zeek's 688 leaves out the 227 that answers it, as it pairs replies by
    // order only; a 227 answers nothing but PASV, so sessmap keeps it.
    assert_eq!(s[0]["unmatched"].as_array().unwrap().len(), 689);
    assert_eq!(r["stats"]["ftp"]["expectations"], 689);
    assert_eq!(s[0]["transfers"], serde_json::json!([]));
    assert_eq!(s[0]["connections"], serde_json::json!([1]));
    // The 227 replies advertise 205.167.25.101 while the server is
    // 10.167.25.101 (NAT): listed as announced.
    assert!(s[0]["unmatched"][0]["endpoint"]
        .as_str()
        .unwrap()
        .starts_with("205.167.25.101:"));
}

#[test]
fn zeek_auth_tls_control_channel_is_opaque() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "zeek/testing/btest/Traces/ftp/ftp-auth-tls.pcap");
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["opaque"], "TLS");
    assert_eq!(s[0]["transfers"], serde_json::json!([]));
    // GridFTP on port 2811: AUTH GSSAPI, then protected commands.
    let (r, _) = report(&root, "zeek/testing/btest/Traces/globus-url-copy.pcap");
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["server"], "192.168.57.101:2811");
    assert_eq!(s[0]["opaque"], "GSSAPI");
}

#[test]
fn many_third_party_port_commands_are_one_bounce_finding() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(
        &root,
        "zeek/testing/btest/Traces/ftp/ftp-many-port-expected.pcap.gz",
    );
    let bounce: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "ftp-bounce")
        .collect();
    assert_eq!(bounce.len(), 1);
    assert!(bounce[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("500 active-mode announcements"));
    assert_eq!(
        ftp_sessions(&r)[0]["unmatched"].as_array().unwrap().len(),
        500
    );
}
