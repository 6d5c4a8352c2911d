//! `--format html`: one self-contained page (no script, no network): the
//! summary, the sessions table, and an SVG timeline with one lane per
//! connection, grouped and coloured by session, FTP data connections under
//! their control connection, and the details in each lane's hover title.

use super::{escape_markup, rfc3339, ConnectionReport, Report, SessionReport, Transfer};

/// `10:09:24.614`: the date is in the summary and on hover.
fn short_time(ns: u64) -> String {
    super::wall_clock(ns, false).1
}
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

/// The timeline's width, its label column, its right margin, the height of
/// the time axis, of a session's header, of a lane, and the gap after each
/// session (pixels).
const WIDTH: f64 = 1000.0;
const LABEL: f64 = 200.0;
const RIGHT: f64 = 12.0;
const AXIS: f64 = 40.0;
const HEADER: f64 = 20.0;
const LANE: f64 = 18.0;
const GAP: f64 = 6.0;
/// The width of a character of the 11px monospace font, a little generous.
const CHAR: f64 = 6.8;
const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#2f6db5",
];
const NO_SESSION: &str = "#bab0ac";

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(out, "<title>sessmap report</title>")?;
    writeln!(
        out,
        "<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}}th{{background:#eee}}\
         .note{{color:#555;font-size:13px}}\
         text{{font-size:11px;font-family:monospace;fill:#222}}.head{{font-weight:bold}}.tick{{fill:#555}}\
         .grid{{stroke:#ddd;stroke-width:1}}.band{{fill-opacity:.1}}.track{{stroke:#bbb;stroke-width:.5;stroke-dasharray:2 3}}\
         .lane rect{{stroke:#333;stroke-width:.5}}.lane:hover text{{font-weight:bold}}.lane:hover .track{{stroke:#555}}</style>"
    )?;
    writeln!(out, "</head><body>")?;
    writeln!(out, "<h1>sessmap report</h1>")?;
    writeln!(
        out,
        "<p id=\"summary\">{}</p>",
        escape_markup(&super::summary(report))
    )?;

    writeln!(out, "<h2>Sessions</h2>")?;
    writeln!(out, "<table id=\"sessions\"><tr><th>id</th><th>kind</th><th>server</th><th>key</th><th>clients</th><th>connections</th><th>requests</th><th>user</th><th>start</th><th>duration</th><th>notes</th></tr>")?;
    for s in &report.sessions {
        let conns: Vec<String> = s.connections.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "<tr class=\"session\" data-session=\"{}\"><td style=\"border-left:6px solid {}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{:.3} s</td><td>{}</td></tr>",
            s.id,
            colour(Some(s.id)),
            s.id,
            s.kind,
            escape_markup(&s.server.to_string()),
            escape_markup(&s.key.to_string()),
            escape_markup(&s.clients.join(" ")),
            conns.join(" "),
            s.requests,
            escape_markup(&s.user.as_ref().map(|u| u.display()).unwrap_or_default()),
            rfc3339(s.start),
            short_time(s.start),
            s.end.saturating_sub(s.start) as f64 / 1e9,
            escape_markup(&super::session_notes(s).join(", "))
        )?;
    }
    writeln!(out, "</table>")?;

    timeline(report, out)?;

    if !report.findings.is_empty() {
        writeln!(out, "<h2>Findings</h2><table id=\"findings\"><tr><th>severity</th><th>rule</th><th>session</th><th>connection</th><th>message</th></tr>")?;
        for f in &report.findings {
            writeln!(
                out,
                "<tr class=\"finding\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                f.severity,
                f.rule,
                f.session.map_or(String::new(), |s| s.to_string()),
                f.connection.map_or(String::new(), |c| c.to_string()),
                escape_markup(&f.message)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</body></html>")
}

/// One lane of the timeline: a connection, whether it is an FTP data
/// connection (drawn indented under its control connection), and its FTP
/// transfer when it has one.
struct Lane<'a> {
    conn: &'a ConnectionReport,
    data: bool,
    transfer: Option<&'a Transfer>,
}

/// The lanes of one session (or of no session, last).
struct Group<'a> {
    session: Option<&'a SessionReport>,
    lanes: Vec<Lane<'a>>,
}

/// The lanes in display order, by session: each session's connections (an
/// FTP session's control first, then its data connections), then the
/// connections of no session. A connection of several sessions is drawn
/// once, under its first session.
fn groups(report: &Report) -> Vec<Group<'_>> {
    let index: HashMap<u64, &ConnectionReport> =
        report.connections.iter().map(|c| (c.id, c)).collect();
    let known: HashSet<u64> = report.sessions.iter().map(|s| s.id).collect();
    let owner = |c: &ConnectionReport| {
        c.sessions
            .iter()
            .map(|s| s.id)
            .find(|id| known.contains(id))
    };
    let mut shown: HashSet<u64> = HashSet::new();
    let mut out = Vec::new();
    for s in &report.sessions {
        let mut ids: Vec<u64> = s.connections.clone();
        if let Some(ctl) = s.control {
            ids.retain(|c| *c != ctl);
            ids.insert(0, ctl);
        }
        let transfers: HashMap<u64, &Transfer> = s
            .transfers
            .iter()
            .flatten()
            .map(|t| (t.connection, t))
            .collect();
        let mut lanes = Vec::new();
        for id in ids {
            let Some(&c) = index.get(&id) else { continue };
            if owner(c).is_some_and(|o| o != s.id) || !shown.insert(id) {
                continue;
            }
            lanes.push(Lane {
                conn: c,
                data: s.control.is_some_and(|ctl| ctl != id),
                transfer: transfers.get(&id).copied(),
            });
        }
        if !lanes.is_empty() {
            out.push(Group {
                session: Some(s),
                lanes,
            });
        }
    }
    let rest: Vec<Lane<'_>> = report
        .connections
        .iter()
        .filter(|c| shown.insert(c.id))
        .map(|conn| Lane {
            conn,
            data: false,
            transfer: None,
        })
        .collect();
    if !rest.is_empty() {
        out.push(Group {
            session: None,
            lanes: rest,
        });
    }
    out
}

fn timeline(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let groups = groups(report);
    writeln!(out, "<h2>Timeline</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">One lane per connection, grouped and coloured by session; \
         FTP data connections are indented under their control connection. \
         Hover over a lane for its details.</p>"
    )?;
    let t0 = report
        .connections
        .iter()
        .map(|c| c.start)
        .min()
        .unwrap_or(0);
    let t1 = report
        .connections
        .iter()
        .map(|c| c.end)
        .max()
        .unwrap_or(t0)
        .max(t0);
    // At least 1 ns: a capture whose clock stood still (or at its end).
    let span = (t1 - t0).max(1) as f64;
    let plot = WIDTH - LABEL - RIGHT;
    let x = |t: u64| LABEL + (t.saturating_sub(t0)) as f64 / span * plot;
    let lanes: usize = groups.iter().map(|g| g.lanes.len()).sum();
    let height = AXIS + (HEADER + GAP) * groups.len() as f64 + LANE * lanes as f64;
    writeln!(
        out,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">"
    )?;

    // The time axis: the start and the span on the first row, ticks at
    // round offsets on the second; their grid lines are drawn in each
    // session's lanes, not across the sessions' headers.
    writeln!(
        out,
        "<text x=\"{LABEL}\" y=\"12\">{}</text><text x=\"{}\" y=\"12\" text-anchor=\"end\">span {}</text>",
        escape_markup(&rfc3339(t0)),
        WIDTH - RIGHT,
        seconds(span / 1e9, decimals(span / 1e9 / 1000.0))
    )?;
    let (step, places) = tick_step(span / 1e9);
    let mut ticks = Vec::new();
    for k in 0u32.. {
        let offset = f64::from(k) * step;
        if offset * 1e9 > span * (1.0 + 1e-9) {
            break;
        }
        let px = LABEL + offset * 1e9 / span * plot;
        let anchor = if k == 0 {
            "start"
        } else if px > WIDTH - RIGHT - 40.0 {
            "end"
        } else {
            "middle"
        };
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{px:.1}\" y1=\"{}\" x2=\"{px:.1}\" y2=\"{AXIS}\"/><text class=\"tick\" x=\"{px:.1}\" y=\"{}\" text-anchor=\"{anchor}\">+{}</text>",
            AXIS - 8.0,
            AXIS - 11.0,
            seconds(offset, places)
        )?;
        ticks.push(px);
    }

    let mut y = AXIS;
    for g in &groups {
        let sid = g.session.map(|s| s.id);
        let fill = colour(sid);
        let h = HEADER + LANE * g.lanes.len() as f64;
        let head = match g.session {
            Some(s) => {
                let mut head = format!("session {} · {} · {} · {}", s.id, s.kind, s.server, s.key);
                if let Some(user) = &s.user {
                    head.push_str(&format!(" · user {}", user.display()));
                }
                head.push_str(&format!(
                    " · {} · {} request{}",
                    count(g.lanes.len(), "connection"),
                    s.requests,
                    if s.requests == 1 { "" } else { "s" }
                ));
                head
            }
            None => format!("no session · {}", count(g.lanes.len(), "connection")),
        };
        writeln!(
            out,
            "<g class=\"group\" data-session=\"{}\"><rect class=\"band\" x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"{h}\" fill=\"{fill}\"/><rect x=\"0\" y=\"{y}\" width=\"4\" height=\"{h}\" fill=\"{fill}\"/><text class=\"head\" x=\"10\" y=\"{}\">{}</text></g>",
            sid.map_or(String::new(), |s| s.to_string()),
            y + 14.0,
            escape_markup(&fit(&head, WIDTH - 20.0))
        )?;
        y += HEADER;
        for px in &ticks {
            writeln!(
                out,
                "<line class=\"grid\" x1=\"{px:.1}\" y1=\"{y}\" x2=\"{px:.1}\" y2=\"{}\"/>",
                y + LANE * g.lanes.len() as f64
            )?;
        }
        for lane in &g.lanes {
            write_lane(out, lane, sid, y, &x)?;
            y += LANE;
        }
        y += GAP;
    }
    writeln!(out, "</svg>")
}

fn write_lane(
    out: &mut dyn Write,
    lane: &Lane<'_>,
    session: Option<u64>,
    y: f64,
    x: &dyn Fn(u64) -> f64,
) -> io::Result<()> {
    let c = lane.conn;
    let x0 = x(c.start);
    let w = (x(c.end) - x0).max(3.0);
    let indent = if lane.data { 22.0 } else { 10.0 };
    let protocol = c.protocol_label();
    let mut label = format!("{}conn {}", if lane.data { "└ " } else { "" }, c.id);
    if let Some(p) = &protocol {
        label.push(' ');
        label.push_str(p);
    }
    if let Some(cmd) = lane.transfer.and_then(|t| t.command.as_deref()) {
        label.push(' ');
        label.push_str(cmd);
    }
    let sessions: Vec<String> = c
        .sessions
        .iter()
        .map(|s| {
            format!(
                "{} ({})",
                s.id,
                super::count(s.requests, "request", "requests")
            )
        })
        .collect();
    let mut title = format!(
        "connection {}: {} -> {}\nprotocol {}{}, state {}\nstart {}, {:.3} s\nbytes {} / {}\nsessions: {}",
        c.id,
        c.client,
        c.server,
        protocol.as_deref().unwrap_or("-"),
        c.tls.as_ref().map_or(String::new(), |t| format!(
            " ({}{}{}{})",
            t.version.as_deref().unwrap_or("version unknown"),
            format_args!(", {}", t.handshake),
            t.decryption_note()
                .map_or(String::new(), |n| format!(", {n}")),
            t.sni
                .as_ref()
                .map_or(String::new(), |sni| format!(", SNI {}", sni.display()))
        )),
        c.state,
        rfc3339(c.start),
        c.duration,
        c.bytes.client,
        c.bytes.server,
        if sessions.is_empty() {
            c.no_session
                .map_or_else(|| "none".to_owned(), |n| format!("none ({})", n.describe()))
        } else {
            sessions.join(", ")
        }
    );
    if let Some(t) = lane.transfer {
        let mut what = t.command.clone().unwrap_or_else(|| "transfer".into());
        if let Some(arg) = t
            .argument
            .as_ref()
            .map(|a| a.display())
            .filter(|a| !a.is_empty())
        {
            what.push(' ');
            what.push_str(&arg);
        }
        title.push_str(&format!(
            "\nFTP data: {what}, {}{} {} ({}), {} bytes{}",
            t.direction.unwrap_or(""),
            if t.direction.is_some() { "," } else { "" },
            t.mode,
            t.setup,
            t.bytes,
            t.reply.map_or(String::new(), |r| format!(", reply {r}"))
        ));
    }
    writeln!(
        out,
        "<g class=\"lane\" data-connection=\"{}\" data-session=\"{}\"><title>{}</title><text x=\"{indent}\" y=\"{}\">{}</text><line class=\"track\" x1=\"{LABEL}\" y1=\"{mid}\" x2=\"{}\" y2=\"{mid}\"/><rect x=\"{x0:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" rx=\"2\" fill=\"{}\"/></g>",
        c.id,
        session.map_or(String::new(), |s| s.to_string()),
        escape_markup(&title),
        y + 12.5,
        escape_markup(&fit(&label, LABEL - indent - 8.0)),
        WIDTH - RIGHT,
        y + 3.0,
        LANE - 6.0,
        colour(session),
        mid = y + LANE / 2.0,
    )
}

/// A round tick step (1, 2 or 5 times a power of ten seconds) giving at
/// most about eight ticks over `span` seconds, and the decimals it needs.
fn tick_step(span: f64) -> (f64, usize) {
    let raw = (span / 8.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    (step, decimals(step))
}

/// Decimals needed to show multiples of `step` seconds.
fn decimals(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        ((-step.log10()).ceil().max(0.0) as usize).min(9)
    }
}

fn seconds(s: f64, places: usize) -> String {
    format!("{s:.places$} s")
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Text cut to fit `width` pixels of the monospace font, marked with `…`.
fn fit(text: &str, width: f64) -> String {
    let max = (width / CHAR).floor().max(1.0) as usize;
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn colour(session: Option<u64>) -> &'static str {
    match session {
        Some(id) => PALETTE[(id as usize).saturating_sub(1) % PALETTE.len()],
        None => NO_SESSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(1.707), (0.5, 1));
        assert_eq!(tick_step(0.02446).1, 3);
        assert!((tick_step(0.02446).0 - 0.005).abs() < 1e-12);
        assert_eq!(tick_step(600.0), (100.0, 0));
        // A span of one nanosecond still gives a positive step.
        assert!(tick_step(1e-9).0 > 0.0);
    }

    #[test]
    fn labels_are_cut_to_fit() {
        assert_eq!(fit("conn 7 http", 200.0), "conn 7 http");
        let cut = fit(&"x".repeat(100), 10.0 * CHAR);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}
