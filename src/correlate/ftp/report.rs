//! FTP facts into sessions: each confirmed control channel with its data
//! connections (announced, or inferred after capture loss), and the FTP
//! findings (cleartext credentials, bounce, unlinked data connections).

use super::{is_upload, ConnFacts, Control, FtpSessions, Link, SLACK_NS};
use crate::correlate::{Built, Draft};
use crate::decode::Endpoint;
use crate::flow::RoleSource;
use crate::proto::Protocol;
use crate::report::{
    Announcement, ConnectionReport, Finding, NoSession, Redactor, SessionReport, Text, Transfer,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// FTP sessions, their data connections, and the FTP findings; with the
/// number of facts not kept (memory bound).
pub(crate) fn build(
    ftp: FtpSessions,
    connections: &mut [ConnectionReport],
    redact: &Redactor,
) -> (Built, u64) {
    let mut out = Built::default();
    // No FTP control channel at all: nothing to link or flag (and no pass
    // over every connection of a capture that has no FTP).
    if ftp.controls.is_empty() {
        return (out, 0);
    }
    // Only control channels the parser confirmed as FTP (commands one
    // way, replies the other) make sessions.
    let control_ids: BTreeSet<u64> = connections
        .iter()
        .filter(|c| c.protocol == Some(Protocol::Ftp) && ftp.controls.contains_key(&c.id))
        .map(|c| c.id)
        .collect();
    let mut facts: Vec<ConnFacts> = connections
        .iter()
        .filter(|c| !control_ids.contains(&c.id))
        .map(|c| ConnFacts {
            id: c.id,
            client: c.client,
            server: c.server,
            start_ns: c.start,
            roles_guessed: c.roles == RoleSource::Port,
        })
        .collect();
    facts.sort_by_key(|f| (f.start_ns, f.id));
    let (mut links, unmatched) = ftp.link(&control_ids, &facts);
    let by_id: HashMap<u64, usize> = connections
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    // Announcements the capture lost: on control connections with gaps,
    // link the rest by evidence.
    let lossy: BTreeSet<u64> = control_ids
        .iter()
        .copied()
        .filter(|id| by_id.get(id).is_some_and(|i| connections[*i].gaps > 0))
        .collect();
    let announced: BTreeSet<u64> = links.iter().map(|l| l.data).collect();
    let candidates: Vec<ConnFacts> = facts
        .iter()
        .filter(|f| {
            !announced.contains(&f.id)
                && by_id.get(&f.id).is_some_and(|i| {
                    matches!(connections[*i].protocol, None | Some(Protocol::Unknown))
                })
        })
        .copied()
        .collect();
    let (inferred, ambiguous) = ftp.infer(&lossy, &candidates, &links);
    links.extend(inferred);
    links.sort_by_key(|l| (l.control, l.data));
    let mut links_of: BTreeMap<u64, Vec<&Link>> = BTreeMap::new();
    for l in &links {
        links_of.entry(l.control).or_default().push(l);
    }
    let linked: BTreeSet<u64> = links.iter().map(|l| l.data).collect();
    // Connections between two hosts, for the unlinked-data search.
    let mut between: HashMap<(IpAddr, IpAddr), Vec<&ConnFacts>> = HashMap::new();
    for f in &facts {
        let key = if f.client.ip <= f.server.ip {
            (f.client.ip, f.server.ip)
        } else {
            (f.server.ip, f.client.ip)
        };
        between.entry(key).or_default().push(f);
    }
    let mut flagged: BTreeSet<u64> = BTreeSet::new();
    for a in &ambiguous {
        flagged.insert(a.data);
        if let Some(di) = by_id.get(&a.data).copied() {
            connections[di].no_session = Some(NoSession::FtpUnlinked);
        }
        let names: Vec<String> = a
            .controls
            .iter()
            .map(|c| format!("connection {c}"))
            .collect();
        out.findings.push(Finding {
            rule: "ftp-unlinked-data",
            severity: "warning",
            session: None,
            connection: Some(a.data),
            message: format!(
                "connection {} may be a data connection whose announcement the capture lost, \
                     but the control sessions on {} could each have opened it: not linked",
                a.data,
                names.join(" and ")
            ),
        });
    }
    let dropped = ftp.controls.values().map(|c| c.dropped).sum();
    for (&control, c) in ftp
        .controls
        .iter()
        .filter(|(id, _)| control_ids.contains(id))
    {
        let Some(ci) = by_id.get(&control).copied() else {
            continue;
        };
        let (ctl_client, ctl_server, ctl_start) = (
            connections[ci].client,
            connections[ci].server,
            connections[ci].start,
        );
        let mut per_conn: BTreeMap<u64, u64> = BTreeMap::from([(control, c.commands)]);
        let mut end = connections[ci].end;
        let mut transfers = Vec::new();
        for l in links_of.get(&control).into_iter().flatten() {
            let Some(di) = by_id.get(&l.data).copied() else {
                continue;
            };
            let d = &mut connections[di];
            d.protocol = Some(Protocol::FtpData);
            end = end.max(d.end);
            per_conn.insert(l.data, 1);
            transfers.push(transfer(l, d));
        }
        let announced = |i: &usize| {
            c.expectations.get(*i).map(|e| Announcement {
                setup: e.kind.to_string(),
                endpoint: match e.endpoint.addr {
                    Some(ip) => Endpoint {
                        ip,
                        port: e.endpoint.port,
                    }
                    .to_string(),
                    None => format!(":{}", e.endpoint.port),
                },
                at: e.ts_ns,
            })
        };
        let unmatched: Vec<Announcement> = unmatched
            .get(&control)
            .map_or(Vec::new(), |v| v.iter().filter_map(announced).collect());
        let mut own = Vec::new();
        let mut push = |f: Finding| own.push(f);
        // Cleartext credentials (a guest login's "password" is an email
        // address by convention: not a secret).
        let guest = c.user.as_deref().is_some_and(|u| {
            u.eq_ignore_ascii_case(b"anonymous") || u.eq_ignore_ascii_case(b"ftp")
        });
        if c.cleartext_credentials && !guest {
            let pass = c.password.as_deref().map_or("-".to_owned(), |p| {
                redact.value(&String::from_utf8_lossy(p))
            });
            push(Finding {
                rule: "cleartext-credentials",
                severity: "error",
                session: None,
                connection: Some(control),
                message: format!(
                    "FTP USER {} and PASS {pass} sent in cleartext on connection {control}",
                    c.user
                        .as_deref()
                        .map_or("-".into(), |u| Text(u.to_vec()).display())
                ),
            });
        }
        if let Some(f) = bounce(c, ctl_client.ip, control) {
            push(f);
        }
        // A transfer the server started (1xx) whose data connection
        // matched no announcement: look for the connection itself.
        let linked_cmds: BTreeSet<u64> = links_of
            .get(&control)
            .into_iter()
            .flatten()
            .filter_map(|l| l.command.as_ref().map(|t| t.ts_ns))
            .collect();
        let key = if ctl_client.ip <= ctl_server.ip {
            (ctl_client.ip, ctl_server.ip)
        } else {
            (ctl_server.ip, ctl_client.ip)
        };
        for t in &c.transfers {
            let Some(started) = t.started_ns else {
                continue;
            };
            if linked_cmds.contains(&t.ts_ns) {
                continue;
            }
            let candidate = between.get(&key).into_iter().flatten().find(|f| {
                f.start_ns + SLACK_NS >= started
                    && f.start_ns <= started + UNLINKED_WINDOW_NS
                    && f.id != control
                    && !linked.contains(&f.id)
                    && !control_ids.contains(&f.id)
                    && !flagged.contains(&f.id)
                    && by_id.get(&f.id).is_some_and(|i| {
                        matches!(connections[*i].protocol, None | Some(Protocol::Unknown))
                    })
            });
            if let Some(f) = candidate {
                flagged.insert(f.id);
                if let Some(di) = by_id.get(&f.id).copied() {
                    connections[di].no_session = Some(NoSession::FtpUnlinked);
                }
                push(Finding {
                    rule: "ftp-unlinked-data",
                    severity: "warning",
                    session: None,
                    connection: Some(f.id),
                    message: format!(
                        "connection {} followed the {} reply to {} {} but matches no announced data connection",
                        f.id,
                        t.replies.first().copied().unwrap_or(150),
                        t.verb,
                        Text(t.argument.clone()).display()
                    ),
                });
            }
        }
        out.sessions.push(Draft {
            report: SessionReport {
                id: 0,
                kind: "ftp",
                server: ctl_server.to_string().into(),
                key: format!("ftp-control:{control}").into(),
                aliases: Vec::new(),
                clients: vec![ctl_client.ip.to_string()],
                user: c.user.clone().map(Text),
                start: ctl_start,
                end,
                connections: per_conn.keys().copied().collect(),
                // Commands on the control connection plus one per data
                // connection, as the connections' own counts add up.
                requests: per_conn.values().sum(),
                multiple_clients: false,
                ended: false,
                control: Some(control),
                login: c.login.map(|ok| if ok { "success" } else { "failure" }),
                transfers: Some(transfers),
                unmatched: Some(unmatched),
                opaque: c.opaque.clone(),
                ..Default::default()
            },
            per_conn,
            findings: own,
        });
    }
    (out, dropped)
}

/// One linked data connection as the report shows it.
fn transfer(l: &Link, d: &ConnectionReport) -> Transfer {
    let passive = l.kind.passive();
    // In passive mode the FTP client opened the data connection.
    let (from_client, from_server) = if passive {
        (d.bytes.client, d.bytes.server)
    } else {
        (d.bytes.server, d.bytes.client)
    };
    let verb = l.command.as_ref().map(|t| t.verb.clone());
    let upload = verb.as_deref().map(is_upload);
    Transfer {
        connection: l.data,
        command: verb,
        argument: l.command.as_ref().map(|t| Text(t.argument.clone())),
        direction: upload.map(|u| if u { "upload" } else { "download" }),
        mode: if passive { "passive" } else { "active" },
        setup: if l.inferred.is_some() {
            "inferred".into()
        } else {
            l.kind.to_string()
        },
        inferred: l.inferred.clone(),
        extended: l.kind.extended(),
        bytes: match upload {
            Some(true) => from_client,
            Some(false) => from_server,
            None => from_client + from_server,
        },
        reply: l
            .command
            .as_ref()
            .and_then(|t| t.replies.iter().copied().find(|r| *r >= 200)),
    }
}

/// FTP bounce: active-mode announcements that point elsewhere than the
/// control client and that the server did not refuse. One finding per
/// session. A private target from a public client is most likely a client
/// behind NAT without an FTP helper: a warning, not an error.
fn bounce(c: &Control, client: IpAddr, control: u64) -> Option<Finding> {
    let targets: Vec<Endpoint> = c
        .expectations
        .iter()
        .filter(|e| !e.kind.passive() && e.accepted != Some(false))
        .filter_map(|e| {
            e.endpoint.addr.map(|ip| Endpoint {
                ip,
                port: e.endpoint.port,
            })
        })
        .filter(|ep| ep.ip != client)
        .collect();
    let first = *targets.first()?;
    let hosts: BTreeSet<IpAddr> = targets.iter().map(|e| e.ip).collect();
    let nat = hosts.iter().all(|ip| is_private(*ip)) && !is_private(client);
    Some(Finding {
        rule: "ftp-bounce",
        severity: if nat { "warning" } else { "error" },
        session: None,
        connection: Some(control),
        message: format!(
            "{} active-mode announcement{} (PORT/EPRT/LPRT) ask the server to connect to {} address{} other than the control client {client} (first: {first}): {}",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            hosts.len(),
            if hosts.len() == 1 { "" } else { "es" },
            if nat { "probably a client behind NAT" } else { "FTP bounce" },
        ),
    })
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// How long after a 150 reply an unannounced data connection is looked for.
const UNLINKED_WINDOW_NS: u64 = 30_000_000_000;
