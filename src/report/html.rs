//! `--format html`: one self-contained page (no script, no network): the
//! summary, the sessions table, and an SVG timeline with one lane per
//! connection, grouped and coloured by session, FTP data connections under
//! their control connection, and the details in each lane's hover title.

use super::{rfc3339, ConnectionReport, Report};
use std::collections::BTreeSet;
use std::io::{self, Write};

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 150.0;
const LANE: f64 = 18.0;
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
         .lane rect{{stroke:#333;stroke-width:.5}}text{{font-size:11px;font-family:monospace}}</style>"
    )?;
    writeln!(out, "</head><body>")?;
    writeln!(out, "<h1>sessmap report</h1>")?;
    writeln!(
        out,
        "<p id=\"summary\">{}</p>",
        esc(&super::summary(report))
    )?;

    writeln!(out, "<h2>Sessions</h2>")?;
    writeln!(out, "<table id=\"sessions\"><tr><th>id</th><th>kind</th><th>server</th><th>key</th><th>clients</th><th>connections</th><th>requests</th><th>user</th><th>start</th></tr>")?;
    for s in &report.sessions {
        let conns: Vec<String> = s.connections.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "<tr class=\"session\" data-session=\"{}\"><td style=\"border-left:6px solid {}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.id,
            colour(Some(s.id)),
            s.id,
            s.kind,
            esc(&s.server),
            esc(&s.key),
            esc(&s.clients.join(" ")),
            conns.join(" "),
            s.requests,
            esc(&s.user.as_ref().map(|u| u.display()).unwrap_or_default()),
            rfc3339(s.start)
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
                esc(&f.message)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</body></html>")
}

/// The lanes in display order: each session's connections (an FTP
/// session's control first, then its data connections), then the
/// connections of no session. A connection of several sessions appears
/// under the first.
fn lanes(report: &Report) -> Vec<(&ConnectionReport, Option<u64>, bool)> {
    let by_id = |id: u64| report.connections.iter().find(|c| c.id == id);
    let mut shown: BTreeSet<u64> = BTreeSet::new();
    let mut out = Vec::new();
    for s in &report.sessions {
        let mut ids: Vec<u64> = s.connections.clone();
        if let Some(ctl) = s.control {
            ids.retain(|c| *c != ctl);
            ids.insert(0, ctl);
        }
        for id in ids {
            if shown.insert(id) {
                if let Some(c) = by_id(id) {
                    let data = s.control.is_some_and(|ctl| ctl != id);
                    out.push((c, Some(s.id), data));
                }
            }
        }
    }
    for c in &report.connections {
        if shown.insert(c.id) {
            out.push((c, None, false));
        }
    }
    out
}

fn timeline(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let lanes = lanes(report);
    writeln!(out, "<h2>Timeline</h2>")?;
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
        .max(t0 + 1);
    let span = (t1 - t0) as f64;
    let x = |t: u64| LABEL + (t.saturating_sub(t0)) as f64 / span * (WIDTH - LABEL - 10.0);
    let height = LANE * lanes.len() as f64 + 30.0;
    writeln!(
        out,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">"
    )?;
    writeln!(
        out,
        "<text x=\"{LABEL}\" y=\"12\">{}</text><text x=\"{}\" y=\"12\" text-anchor=\"end\">+{:.3}s</text>",
        esc(&rfc3339(t0)),
        WIDTH - 10.0,
        span / 1e9
    )?;
    for (i, (c, session, data)) in lanes.iter().enumerate() {
        let y = 20.0 + LANE * i as f64;
        let x0 = x(c.start);
        let w = (x(c.end) - x0).max(2.0);
        let indent = if *data { 14.0 } else { 0.0 };
        let sessions: Vec<String> = c
            .sessions
            .iter()
            .map(|s| format!("{} ({} requests)", s.id, s.requests))
            .collect();
        let title = format!(
            "connection {}: {} -> {}\nprotocol {}, state {}\nstart {}, {:.3} s\nbytes {} / {}\nsessions: {}",
            c.id,
            c.client,
            c.server,
            c.protocol
                .and_then(|p| serde_json::to_value(p).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "-".into()),
            c.state,
            rfc3339(c.start),
            c.duration,
            c.bytes.client,
            c.bytes.server,
            if sessions.is_empty() { "none".to_owned() } else { sessions.join(", ") }
        );
        writeln!(
            out,
            "<g class=\"lane\" data-connection=\"{}\" data-session=\"{}\"><title>{}</title><text x=\"{}\" y=\"{}\">{}conn {}</text><rect x=\"{x0:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/></g>",
            c.id,
            session.map_or(String::new(), |s| s.to_string()),
            esc(&title),
            4.0 + indent,
            y + 11.0,
            if *data { "└ " } else { "" },
            c.id,
            y + 2.0,
            LANE - 5.0,
            colour(*session)
        )?;
    }
    writeln!(out, "</svg>")
}

fn colour(session: Option<u64>) -> &'static str {
    match session {
        Some(id) => PALETTE[(id as usize).saturating_sub(1) % PALETTE.len()],
        None => NO_SESSION,
    }
}

/// Text escaped for HTML content and attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
