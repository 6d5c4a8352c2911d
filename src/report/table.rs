//! `--format table` (the default): a summary line, the sessions, the
//! connections (with the sessions each carried), then the per-host view.

use super::{rfc3339, ConnectionReport, HostReport, RenderOptions, Report, SessionReport};
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};
use std::io::{self, Write};

/// Rules above and below the table and under the header; no row rules.
const PRESET: &str = "  ── ══      ──    ";

pub fn render(report: &Report, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style {
        colour: options.colour,
        width: options.width,
    };
    writeln!(out, "{}", super::summary(report))?;
    let views = options.views;
    if views.sessions && !report.sessions.is_empty() {
        let rows = report.sessions.iter().flat_map(session_rows);
        section(
            out,
            style,
            "Sessions",
            &[
                "id", "kind", "server", "key", "clients", "conns", "reqs", "user", "start",
                "duration", "notes",
            ],
            &[0, 5, 6, 9],
            rows,
        )?;
    }
    if views.connections && !report.connections.is_empty() {
        let rows = report.connections.iter().map(connection_row);
        section(
            out,
            style,
            "Connections",
            &[
                "id",
                "client",
                "server",
                "proto",
                "state",
                "start",
                "duration",
                "pkts c/s",
                "bytes c/s",
                "missed",
                "retrans",
                "sessions (requests)",
            ],
            &[0, 6, 7, 8, 9, 10],
            rows,
        )?;
    }
    if !report.findings.is_empty() {
        let rows = report.findings.iter().map(|f| {
            let colour = match f.severity {
                "error" => Color::Red,
                "warning" => Color::Yellow,
                _ => Color::Reset,
            };
            vec![
                Cell::new(f.severity).fg(colour),
                Cell::new(f.rule),
                Cell::new(f.session.map_or(String::new(), |s| s.to_string())),
                Cell::new(f.connection.map_or(String::new(), |c| c.to_string())),
                Cell::new(safe(&f.message)),
            ]
        });
        section(
            out,
            style,
            "Findings",
            &["severity", "rule", "session", "connection", "message"],
            &[2, 3],
            rows,
        )?;
    }
    if views.hosts && !report.hosts.is_empty() {
        let rows = report.hosts.iter().map(host_row);
        section(
            out,
            style,
            "Hosts",
            &[
                "address",
                "connections opened",
                "sessions",
                "connections served",
            ],
            &[1, 2, 3],
            rows,
        )?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Style {
    colour: bool,
    width: Option<u16>,
}

fn section(
    out: &mut dyn Write,
    style: Style,
    title: &str,
    header: &[&str],
    right: &[usize],
    rows: impl Iterator<Item = Vec<Cell>>,
) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(PRESET);
    // Styling only when asked (a terminal without NO_COLOR); the width of
    // the terminal when there is one, else the content's own.
    if !style.colour {
        table.force_no_tty();
    }
    match style.width {
        Some(w) => {
            table
                .set_width(w)
                .set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    let header: Vec<Cell> = header
        .iter()
        .map(|h| {
            if style.colour {
                Cell::new(h).add_attribute(Attribute::Bold)
            } else {
                Cell::new(h)
            }
        })
        .collect();
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for col in right {
        if let Some(column) = table.column_mut(*col) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out)?;
    if style.colour {
        writeln!(out, "\x1b[1m{title}\x1b[0m")?;
    } else {
        writeln!(out, "{title}")?;
    }
    writeln!(out, "{table}")
}

/// Time of day with milliseconds: the date is the same for nearly every row.
fn time_of_day(ns: u64) -> String {
    let t = rfc3339(ns);
    t.get(11..23).map(str::to_owned).unwrap_or(t)
}

fn seconds(start: u64, end: u64) -> String {
    format!("{:.3}s", end.saturating_sub(start) as f64 / 1e9)
}

/// Untrusted text (hosts, cookie names, user names come from the capture)
/// with control characters escaped, so a capture cannot drive the terminal.
fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A session's row, then (FTP) one indented row per data connection.
fn session_rows(s: &SessionReport) -> Vec<Vec<Cell>> {
    let mut rows = vec![session_row(s)];
    for t in s.transfers.iter().flatten() {
        let what = match (&t.command, &t.argument) {
            (Some(c), Some(a)) if !a.0.is_empty() => format!("{c} {}", a.display()),
            (Some(c), _) => c.clone(),
            _ => "(no transfer command seen)".to_owned(),
        };
        let mut notes = vec![format!("{} B", human(t.bytes))];
        notes.extend(t.direction.map(str::to_owned));
        notes.extend(t.reply.map(|r| format!("reply {r}")));
        rows.push(vec![
            Cell::new(""),
            Cell::new("  └"),
            Cell::new(format!("conn {}", t.connection)),
            Cell::new(safe(&what)),
            Cell::new(format!("{} ({})", t.mode, t.setup)),
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
            Cell::new(notes.join(", ")),
        ]);
    }
    rows
}

fn session_row(s: &SessionReport) -> Vec<Cell> {
    let mut notes = Vec::new();
    if let Some(mechanism) = &s.opaque {
        notes.push(format!(
            "control encrypted ({}): data connections cannot be linked",
            safe(mechanism)
        ));
    }
    if s.login == Some("failure") {
        notes.push("login failed".to_owned());
    }
    match s.original {
        Some(Some(c)) => notes.push(format!("full handshake on connection {c}")),
        Some(None) => notes.push("full handshake before the capture".to_owned()),
        None => {}
    }
    if let Some(u) = s.unmatched.as_ref().filter(|u| !u.is_empty()) {
        notes.push(super::count(
            u.len() as u64,
            "announced data connection never seen",
            "announced data connections never seen",
        ));
    }
    if !s.aliases.is_empty() {
        notes.push(super::count(s.aliases.len() as u64, "alias", "aliases"));
    }
    if s.multiple_clients {
        notes.push("several clients".to_owned());
    }
    if s.ended {
        notes.push("ended".to_owned());
    }
    if s.gaps > 0 {
        notes.push(super::count(s.gaps, "capture gap", "capture gaps"));
    }
    vec![
        Cell::new(s.id),
        Cell::new(s.kind),
        Cell::new(safe(&s.server.to_string())),
        Cell::new(safe(&s.key.to_string())),
        Cell::new(s.clients.join(" ")),
        Cell::new(s.connections.len()),
        Cell::new(s.requests),
        Cell::new(safe(
            &s.user.as_ref().map(|u| u.display()).unwrap_or_default(),
        )),
        Cell::new(time_of_day(s.start)),
        Cell::new(seconds(s.start, s.end)),
        Cell::new(notes.join(", ")),
    ]
}

fn connection_row(c: &ConnectionReport) -> Vec<Cell> {
    let sessions = if c.sessions.is_empty() {
        c.no_session
            .map_or(String::new(), |r| format!("- {}", r.describe()))
    } else {
        c.sessions
            .iter()
            .map(|s| format!("{} ({})", s.id, s.requests))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let proto = match c.protocol {
        Some(p) => serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        None => "-".to_owned(),
    };
    vec![
        Cell::new(c.id),
        Cell::new(c.client),
        Cell::new(c.server),
        Cell::new(proto),
        Cell::new(c.state),
        Cell::new(time_of_day(c.start)),
        Cell::new(seconds(c.start, c.end)),
        Cell::new(format!("{}/{}", c.packets.client, c.packets.server)),
        Cell::new(format!(
            "{}/{}",
            human(c.bytes.client),
            human(c.bytes.server)
        )),
        Cell::new(human(c.missed_bytes.client + c.missed_bytes.server)),
        Cell::new(human(
            c.retransmitted_bytes.client + c.retransmitted_bytes.server,
        )),
        Cell::new(sessions),
    ]
}

fn host_row(h: &HostReport) -> Vec<Cell> {
    vec![
        Cell::new(&h.address),
        Cell::new(h.connections),
        Cell::new(h.sessions),
        Cell::new(h.served),
    ]
}

fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if n < 10_000 {
        return n.to_string();
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            safe("alice\u{1b}]0;pwned\u{7}"),
            "alice\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(safe("shop.example"), "shop.example");
    }
}
