//! FTP sessions: control channels and the data connections they spawn.
//!
//! Facts arrive as the control parser finds them and are folded into one
//! record per control connection: login, expectations (announced data
//! connections), transfer commands with their replies. Linking happens at
//! the end, when every connection is known, so a data connection that the
//! capture shows before the reply announcing it (reordering between
//! interfaces) still links.
//!
//! A connection matches an expectation of control session C when it starts
//! within the expectation's window (from its announcement, less a slack for
//! reordering, to the session's next announcement or the expiry) and:
//! - passive (PASV, EPSV, LPSV): it goes from C's client address to the
//!   advertised port, at the advertised address or, when that differs from
//!   C's server (NAT), at C's server address;
//! - active (PORT, EPRT, LPRT): it comes from C's server address, from any
//!   port (not only 20), to the advertised port at the advertised address or
//!   C's client address.
//!
//! Each expectation takes the earliest matching connection not yet taken.

use crate::decode::Endpoint;
use crate::flow::At;
use crate::proto::ftp::address::Advertised;
use crate::proto::ftp::{ExpectKind, FtpEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// How long before its announcement a data connection may appear (capture
/// reordering between interfaces or files).
pub const SLACK_NS: u64 = 2_000_000_000;
/// How long an announced data connection is awaited.
const EXPIRY_NS: u64 = 300_000_000_000;
/// Announcements kept per control session (Zeek's cwd-navigation trace has
/// 688; a flood of PORT commands is bounded here).
pub const MAX_EXPECTATIONS: usize = 10_000;
/// Transfer commands kept per control session.
pub const MAX_TRANSFERS: usize = 10_000;

const TRANSFER_VERBS: &[&str] = &["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"];

#[derive(Debug, Clone)]
pub struct Expectation {
    pub ts_ns: u64,
    pub kind: ExpectKind,
    pub endpoint: Advertised,
}

#[derive(Debug, Clone)]
pub struct TransferCommand {
    pub ts_ns: u64,
    pub verb: String,
    pub argument: String,
    /// Replies to it, in order (1xx then the final one).
    pub replies: Vec<u16>,
    /// When the first 1xx came (the server opened or expects the data
    /// connection).
    pub started_ns: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Control {
    pub client: Option<Endpoint>,
    pub server: Option<Endpoint>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// 230 after PASS (or USER): true; 530: false.
    pub login: Option<bool>,
    pub expectations: Vec<Expectation>,
    pub malformed_expectations: u64,
    pub transfers: Vec<TransferCommand>,
    /// The security mechanism that made the channel opaque, if any.
    pub opaque: Option<String>,
    /// Whether USER/PASS went in cleartext.
    pub cleartext_credentials: bool,
    /// Announcements past `MAX_EXPECTATIONS` or `MAX_TRANSFERS`.
    pub dropped: u64,
    pub commands: u64,
}

/// A data connection linked to its control session.
#[derive(Debug, Clone)]
pub struct Link {
    pub control: u64,
    pub data: u64,
    pub kind: ExpectKind,
    pub command: Option<TransferCommand>,
}

/// A connection the correlator knows, for matching.
#[derive(Debug, Clone, Copy)]
pub struct ConnFacts {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub start_ns: u64,
}

#[derive(Debug, Default)]
pub struct FtpSessions {
    pub controls: BTreeMap<u64, Control>,
}

impl FtpSessions {
    pub fn event(&mut self, at: At, ends: Option<(Endpoint, Endpoint)>, event: FtpEvent) {
        let c = self.controls.entry(at.conn).or_default();
        if c.client.is_none() {
            if let Some((client, server)) = ends {
                c.client = Some(client);
                c.server = Some(server);
            }
        }
        match event {
            FtpEvent::Command { verb, arg } => {
                c.commands += 1;
                match verb.as_str() {
                    "USER" => c.user = Some(arg),
                    "PASS" => {
                        c.password = Some(arg);
                        if c.opaque.is_none() {
                            c.cleartext_credentials = true;
                        }
                    }
                    v if TRANSFER_VERBS.contains(&v) => {
                        if c.transfers.len() < MAX_TRANSFERS {
                            c.transfers.push(TransferCommand {
                                ts_ns: at.ts_ns,
                                verb,
                                argument: arg,
                                replies: Vec::new(),
                                started_ns: None,
                            });
                        } else {
                            c.dropped += 1;
                        }
                    }
                    _ => {}
                }
            }
            FtpEvent::Reply { code, to, .. } => {
                match (code, to.as_deref()) {
                    (230, _) => c.login = Some(true),
                    (530, Some("PASS" | "USER")) => c.login = Some(false),
                    _ => {}
                }
                if let Some(v) = to.as_deref() {
                    if TRANSFER_VERBS.contains(&v) {
                        if let Some(t) = c.transfers.iter_mut().rev().find(|t| t.verb == v) {
                            if t.replies.len() < 8 {
                                t.replies.push(code);
                            }
                            if code < 200 && t.started_ns.is_none() {
                                t.started_ns = Some(at.ts_ns);
                            }
                        }
                    }
                }
            }
            FtpEvent::Expect { kind, endpoint } => {
                if c.expectations.len() < MAX_EXPECTATIONS {
                    c.expectations.push(Expectation {
                        ts_ns: at.ts_ns,
                        kind,
                        endpoint,
                    });
                } else {
                    c.dropped += 1;
                }
            }
            FtpEvent::MalformedExpect { .. } => c.malformed_expectations += 1,
            FtpEvent::Opaque { mechanism } => c.opaque = Some(mechanism),
            FtpEvent::Clear => {}
        }
    }

    /// Links data connections to the expectations of the control channels
    /// in `controls` (the connections confirmed as FTP). `conns` must be
    /// sorted by start time, then id.
    pub fn link(
        &self,
        controls: &BTreeSet<u64>,
        conns: &[ConnFacts],
    ) -> (Vec<Link>, BTreeMap<u64, Vec<usize>>) {
        let mut taken: BTreeSet<u64> = BTreeSet::new();
        let mut links = Vec::new();
        // Per control session: indexes of its expectations never fulfilled.
        let mut unmatched: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (&id, c) in self.controls.iter().filter(|(id, _)| controls.contains(id)) {
            let (Some(cc), Some(cs)) = (c.client, c.server) else {
                continue;
            };
            for (i, e) in c.expectations.iter().enumerate() {
                let until = c
                    .expectations
                    .get(i + 1)
                    .map_or(e.ts_ns.saturating_add(EXPIRY_NS), |n| {
                        n.ts_ns.saturating_add(SLACK_NS)
                    })
                    .min(e.ts_ns.saturating_add(EXPIRY_NS));
                let from = e.ts_ns.saturating_sub(SLACK_NS);
                let found = conns.iter().find(|d| {
                    d.start_ns >= from
                        && d.start_ns <= until
                        && !controls.contains(&d.id)
                        && !taken.contains(&d.id)
                        && matches(e, cc.ip, cs.ip, d)
                });
                match found {
                    Some(d) => {
                        taken.insert(d.id);
                        let next_ts = c.expectations.get(i + 1).map_or(u64::MAX, |n| n.ts_ns);
                        let command = c
                            .transfers
                            .iter()
                            .find(|t| t.ts_ns >= e.ts_ns && t.ts_ns < next_ts)
                            .cloned();
                        links.push(Link {
                            control: id,
                            data: d.id,
                            kind: e.kind,
                            command,
                        });
                    }
                    None => unmatched.entry(id).or_default().push(i),
                }
            }
        }
        (links, unmatched)
    }
}

fn matches(e: &Expectation, control_client: IpAddr, control_server: IpAddr, d: &ConnFacts) -> bool {
    if d.server.port != e.endpoint.port {
        return false;
    }
    let at_advertised = |ip: IpAddr| e.endpoint.addr == Some(ip);
    if e.kind.passive() {
        d.client.ip == control_client
            && (at_advertised(d.server.ip) || d.server.ip == control_server)
    } else {
        d.client.ip == control_server
            && (at_advertised(d.server.ip) || d.server.ip == control_client)
    }
}

/// Whether a transfer command moves data from the client to the server.
pub fn is_upload(verb: &str) -> bool {
    matches!(verb, "STOR" | "STOU" | "APPE")
}

#[cfg(test)]
mod tests {
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
        }
    }

    /// A control session from 10.0.0.5 to 10.0.0.9:21 with the given
    /// announcements: (seconds, kind, advertised address, port).
    fn session(
        id: u64,
        client_port: u16,
        ann: &[(u64, ExpectKind, Option<&str>, u16)],
    ) -> FtpSessions {
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
                    arg: format!("f{ts}"),
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
        assert_eq!((cmd.verb.as_str(), cmd.argument.as_str()), ("RETR", "f10"));
    }
}
