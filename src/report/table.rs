//! `--format table` (the default): a summary line, the sessions, the
//! connections (with the sessions each carried), then the per-host view.

use super::{wall_clock, ConnectionReport, HostReport, RenderOptions, Report, SessionReport};
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};
use std::fmt::Display;
use std::io::{self, Write};

/// Rules above and below the table and under the header; no row rules.
const PRESET: &str = "  ── ══      ──    ";

pub fn render(report: &Report, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style {
        colour: options.colour,
        width: options.width,
        limit: options.limit,
    };
    match span(report, options.local) {
        Some(span) => writeln!(out, "{}; {span}", super::summary(report))?,
        None => writeln!(out, "{}", super::summary(report))?,
    }
    let views = options.views;
    if views.sessions && !report.sessions.is_empty() {
        let rows = report
            .sessions
            .iter()
            .flat_map(|s| session_rows(s, options.local));
        section(
            out,
            style,
            "Sessions",
            &[
                Column::keep("id").right(),
                Column::keep("kind"),
                Column::text("server", 16, 12),
                Column::text("key", 24, 16),
                Column::drop("clients", 3),
                Column::keep("conns").right(),
                Column::text("connections", 20, 8).or_drop(1),
                Column::drop("reqs", 4).right(),
                Column::text("user", 12, 6).or_drop(6),
                Column::drop("start", 2),
                Column::drop("duration", 5).right(),
                Column::text("notes", 24, 8).or_drop(2),
            ],
            rows,
        )?;
    }
    if views.connections && !report.connections.is_empty() {
        let rows = report
            .connections
            .iter()
            .map(|c| connection_row(c, options.local));
        section(
            out,
            style,
            "Connections",
            &[
                Column::keep("id").right(),
                Column::keep("client"),
                Column::keep("server"),
                Column::drop("proto", 3),
                Column::drop("state", 5),
                Column::drop("start", 6),
                Column::drop("duration", 7).right(),
                Column::drop("pkts c/s", 9).right(),
                Column::drop("bytes c/s", 4).right(),
                Column::drop("missed", 8).right(),
                Column::drop("retrans", 10).right(),
                Column::text("sessions (requests)", 24, 10),
            ],
            rows,
        )?;
    }
    if views.findings && !report.findings.is_empty() {
        let rows = finding_rows(report).into_iter();
        section(
            out,
            style,
            "Findings",
            &[
                Column::keep("severity"),
                Column::keep("rule"),
                Column::keep("count").right(),
                Column::text("sessions", 12, 7).or_drop(2),
                Column::drop("connection", 3).right(),
                Column::text("message", 40, 16),
            ],
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
                Column::keep("address"),
                Column::keep("connections opened").right(),
                Column::keep("sessions").right(),
                Column::drop("connections served", 1).right(),
            ],
            rows,
        )?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Style {
    colour: bool,
    width: Option<u16>,
    limit: Option<usize>,
}

fn section(
    out: &mut dyn Write,
    style: Style,
    title: &str,
    columns: &[Column],
    rows: impl Iterator<Item = Row>,
) -> io::Result<()> {
    let mut rows: Vec<Row> = rows.collect();
    let more = style.limit.map_or(0, |n| rows.len().saturating_sub(n));
    rows.truncate(rows.len() - more);
    let shown = layout(columns, &rows, style.width);
    let mut table = Table::new();
    table.load_preset(PRESET);
    // Styling only when asked (a terminal without NO_COLOR). The layout
    // already fits the width: comfy-table never wraps (it would split
    // addresses, keys and numbers).
    if !style.colour {
        table.force_no_tty();
    }
    table.set_content_arrangement(ContentArrangement::Disabled);
    let header: Vec<Cell> = shown
        .iter()
        .map(|(i, _)| {
            let h = Cell::new(columns[*i].name);
            if style.colour {
                h.add_attribute(Attribute::Bold)
            } else {
                h
            }
        })
        .collect();
    table.set_header(header);
    for row in &rows {
        let cells: Vec<Cell> = shown
            .iter()
            .map(|(i, w)| {
                let (text, colour) = row.get(*i).cloned().unwrap_or_default();
                let cell = Cell::new(ellipsize(&text, *w));
                match colour {
                    Some(colour) => cell.fg(colour),
                    None => cell,
                }
            })
            .collect();
        table.add_row(cells);
    }
    for (at, (i, _)) in shown.iter().enumerate() {
        if columns[*i].right {
            if let Some(column) = table.column_mut(at) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    writeln!(out)?;
    if style.colour {
        writeln!(out, "\x1b[1m{title}\x1b[0m")?;
    } else {
        writeln!(out, "{title}")?;
    }
    writeln!(out, "{table}")?;
    if more > 0 {
        let rows = if more == 1 { "row" } else { "rows" };
        writeln!(
            out,
            " … {more} more {rows} (--limit); every row is in the other formats"
        )?;
    }
    Ok(())
}

/// Session ids named in an aggregated finding row before "…".
const FINDING_SESSIONS_NAMED: usize = 3;

/// The findings, one row per rule and server: a big capture raises the same
/// finding for thousands of sessions of one site, and one row with their
/// count says it. Rows keep the report's order (by first finding).
fn finding_rows(report: &Report) -> Vec<Row> {
    let server_of = |f: &super::Finding| -> String {
        f.session
            .and_then(|id| report.sessions.iter().find(|s| s.id == id))
            .map(|s| s.server.to_string())
            .or_else(|| {
                f.connection
                    .and_then(|id| report.connections.iter().find(|c| c.id == id))
                    .map(|c| c.server.to_string())
            })
            .unwrap_or_default()
    };
    // (rule, severity, server)
    type Group<'a> = (&'a str, &'a str, String);
    let mut groups: Vec<(Group<'_>, Vec<&super::Finding>)> = Vec::new();
    let mut index: std::collections::HashMap<Group<'_>, usize> = std::collections::HashMap::new();
    for f in &report.findings {
        let key = (f.rule, f.severity, server_of(f));
        match index.get(&key) {
            Some(&i) => groups[i].1.push(f),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![f]));
            }
        }
    }
    groups
        .into_iter()
        .map(|((rule, severity, _), fs)| {
            let colour = match severity {
                "error" => Color::Red,
                "warning" => Color::Yellow,
                _ => Color::Reset,
            };
            let mut sessions: Vec<String> = fs
                .iter()
                .filter_map(|f| f.session)
                .take(FINDING_SESSIONS_NAMED + 1)
                .map(|s| s.to_string())
                .collect();
            if sessions.len() > FINDING_SESSIONS_NAMED {
                sessions.truncate(FINDING_SESSIONS_NAMED);
                sessions.push("…".into());
            }
            let first = fs[0];
            let message = if fs.len() > 1 {
                format!("{} (and {} alike)", safe(&first.message), fs.len() - 1)
            } else {
                safe(&first.message)
            };
            vec![
                (severity.to_owned(), Some(colour)),
                cell(rule),
                cell(fs.len()),
                cell(sessions.join(", ")),
                cell(if fs.len() == 1 {
                    first.connection.map_or(String::new(), |c| c.to_string())
                } else {
                    String::new()
                }),
                cell(message),
            ]
        })
        .collect()
}

/// One cell: its text and, for severities, a colour.
type Text = (String, Option<Color>);
type Row = Vec<Text>;

fn cell(value: impl Display) -> Text {
    (value.to_string(), None)
}

/// How a column gives way when the table is wider than the terminal.
/// Addresses, keys of the map and numbers are never cut: a column either
/// shows whole or is dropped (`drop`: higher goes first; 0 never). Free
/// text is cut with an ellipsis: first down to `soft` characters, then,
/// once every droppable column is gone, down to `hard`.
#[derive(Clone, Copy)]
struct Column {
    name: &'static str,
    right: bool,
    drop: u8,
    cut: Option<(usize, usize)>,
}

impl Column {
    const fn keep(name: &'static str) -> Column {
        Column {
            name,
            right: false,
            drop: 0,
            cut: None,
        }
    }
    const fn drop(name: &'static str, rank: u8) -> Column {
        Column {
            drop: rank,
            ..Column::keep(name)
        }
    }
    const fn text(name: &'static str, soft: usize, hard: usize) -> Column {
        Column {
            cut: Some((soft, hard)),
            ..Column::keep(name)
        }
    }
    const fn or_drop(self, rank: u8) -> Column {
        Column { drop: rank, ..self }
    }
    const fn right(self) -> Column {
        Column {
            right: true,
            ..self
        }
    }
}

/// Characters a text takes on a terminal (escaped control characters are
/// plain ASCII by now).
fn width_of(text: &str) -> usize {
    text.chars().count()
}

/// `text` in at most `width` characters, cut with an ellipsis, at a space
/// when one is near (a word or a number is not cut in the middle).
fn ellipsize(text: &str, width: usize) -> String {
    if width_of(text) <= width {
        return text.to_owned();
    }
    let keep = width.saturating_sub(1);
    let mut out: String = text.chars().take(keep).collect();
    let next = text.chars().nth(keep);
    if next.is_some_and(|c| c != ' ') {
        if let Some(space) = out.rfind(' ').filter(|at| *at >= keep / 2) {
            out.truncate(space);
        }
    }
    out.push('…');
    out
}

/// The columns to show, with their widths, so that the table fits `width`
/// (the terminal's; `None`: the content's own). The rendered line is the
/// cell widths plus one space of padding each side and one between columns.
fn layout(columns: &[Column], rows: &[Row], width: Option<u16>) -> Vec<(usize, usize)> {
    let mut w: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|(t, _)| width_of(t))
                .chain(std::iter::once(width_of(col.name)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut shown = vec![true; columns.len()];
    let Some(target) = width.map(usize::from) else {
        return (0..columns.len()).map(|i| (i, w[i])).collect();
    };
    let total = |w: &[usize], shown: &[bool]| -> usize {
        let n = shown.iter().filter(|s| **s).count();
        w.iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|(w, _)| w)
            .sum::<usize>()
            + (3 * n).saturating_sub(1)
    };
    // The floor a text column may be cut to now: its name always fits.
    let floor = |i: usize, hard: bool| -> Option<usize> {
        columns[i]
            .cut
            .map(|(soft, h)| (if hard { h } else { soft }).max(width_of(columns[i].name)))
    };
    for phase in [false, true] {
        // Cut text down to its floor, the widest first.
        loop {
            let excess = total(&w, &shown).saturating_sub(target);
            if excess == 0 {
                break;
            }
            let widest = (0..columns.len())
                .filter(|i| shown[*i])
                .filter_map(|i| floor(i, phase).filter(|f| w[i] > *f).map(|f| (w[i] - f, i)))
                .max();
            let Some((room, i)) = widest else { break };
            w[i] -= room.min(excess);
        }
        if phase {
            break;
        }
        // Then drop the least useful columns.
        while total(&w, &shown) > target {
            let Some(i) = (0..columns.len())
                .filter(|i| shown[*i] && columns[*i].drop > 0)
                .max_by_key(|i| columns[*i].drop)
            else {
                break;
            };
            shown[i] = false;
        }
    }
    (0..columns.len())
        .filter(|i| shown[*i])
        .map(|i| (i, w[i]))
        .collect()
}

/// When the capture's connections ran, with the date (once: the rows give
/// the time of day) and the zone: `2026-11-28 10:09:24 to 10:09:26 UTC`.
fn span(report: &Report, local: bool) -> Option<String> {
    let start = report.connections.iter().map(|c| c.start).min()?;
    let end = report.connections.iter().map(|c| c.end).max()?;
    let (day_a, time_a, zone) = wall_clock(start, local);
    let (day_b, time_b, _) = wall_clock(end, local);
    let (time_a, time_b) = (time_a.get(..8)?, time_b.get(..8)?);
    Some(if day_a == day_b {
        format!("{day_a} {time_a} to {time_b} {zone}")
    } else {
        format!("{day_a} {time_a} to {day_b} {time_b} {zone}")
    })
}

/// Time of day with milliseconds: the date is the same for nearly every row
/// (the summary line says it, and the zone).
fn time_of_day(ns: u64, local: bool) -> String {
    wall_clock(ns, local).1
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
fn session_rows(s: &SessionReport, local: bool) -> Vec<Row> {
    let mut rows = vec![session_row(s, local)];
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
            cell(""),
            cell("  └"),
            cell(format!("conn {}", t.connection)),
            cell(safe(&what)),
            cell(format!("{} ({})", t.mode, t.setup)),
            cell(""),
            cell(""),
            cell(""),
            cell(""),
            cell(""),
            cell(""),
            cell(notes.join(", ")),
        ]);
    }
    rows
}

fn session_row(s: &SessionReport, local: bool) -> Row {
    let notes = super::session_notes(s);
    vec![
        cell(s.id),
        cell(s.kind),
        cell(safe(&s.server.to_string())),
        cell(safe(&s.key.to_string())),
        cell(s.clients.join(" ")),
        cell(s.connections.len()),
        cell(super::id_ranges(&s.connections)),
        cell(s.requests),
        cell(safe(
            &s.user.as_ref().map(|u| u.display()).unwrap_or_default(),
        )),
        cell(time_of_day(s.start, local)),
        cell(seconds(s.start, s.end)),
        cell(safe(&notes.join(", "))),
    ]
}

fn connection_row(c: &ConnectionReport, local: bool) -> Row {
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
    let mut proto = c.protocol_label().unwrap_or_else(|| "-".to_owned());
    // TLS: the version and how the handshake went (full, resumed by
    // session id or ticket, psk), and the server name with the sessions.
    let mut sessions = sessions;
    if let Some(t) = &c.tls {
        proto = match &t.version {
            Some(v) => format!("{} {}", v.to_ascii_lowercase(), t.handshake),
            None => format!("tls {}", t.handshake),
        };
        if let Some(note) = t.decryption_note() {
            proto = format!("{proto}, {note}");
        }
        if let Some(sni) = &t.sni {
            sessions = format!("{sessions}, sni {}", safe(&sni.display()))
                .trim_start_matches(", ")
                .to_owned();
        }
    }
    vec![
        cell(c.id),
        cell(c.client),
        cell(c.server),
        cell(proto),
        cell(c.state),
        cell(time_of_day(c.start, local)),
        cell(seconds(c.start, c.end)),
        cell(format!("{}/{}", c.packets.client, c.packets.server)),
        cell(format!(
            "{}/{}",
            human(c.bytes.client),
            human(c.bytes.server)
        )),
        cell(human(c.missed_bytes.client + c.missed_bytes.server)),
        cell(human(
            c.retransmitted_bytes.client + c.retransmitted_bytes.server,
        )),
        cell(sessions),
    ]
}

fn host_row(h: &HostReport) -> Row {
    vec![
        cell(&h.address),
        cell(h.connections),
        cell(h.sessions),
        cell(h.served),
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
    use crate::analyze::{analyze_files, Options};
    use crate::report::{RenderOptions, Views};

    /// The recorded captures at 80 and 120 columns: every line fits, and
    /// no address, session key or number is broken (each shows whole, or its
    /// column is gone).
    #[test]
    fn tables_fit_the_terminal_without_breaking_words() {
        for case in [
            "testdata/http-sessions/two-browsers/capture.pcap",
            "testdata/ftp/two-sessions/capture.pcap",
            "testdata/netns-http/capture.pcap",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(case);
            let report = analyze_files(&[path], &Options::default(), &mut |_| {}).unwrap();
            for width in [80u16, 120] {
                let options = RenderOptions {
                    views: Views {
                        sessions: true,
                        connections: true,
                        findings: true,
                        hosts: true,
                    },
                    colour: false,
                    width: Some(width),
                    limit: None,
                    local: false,
                };
                let mut out = Vec::new();
                super::render(&report, &options, &mut out).unwrap();
                let text = String::from_utf8(out).unwrap();
                let mut lines = text.lines();
                lines.next(); // the summary line is a sentence, not a table row
                for line in lines {
                    assert!(
                        line.chars().count() <= usize::from(width),
                        "{case} at {width}: {line:?}"
                    );
                }
                for c in &report.connections {
                    for ep in [c.client.to_string(), c.server.to_string()] {
                        assert!(text.contains(&ep), "{case} at {width}: {ep} cut");
                    }
                }
                for s in &report.sessions {
                    assert!(
                        text.contains(&s.key.to_string()),
                        "{case} at {width}: key cut"
                    );
                }
                assert!(
                    !text.contains("127.0\n"),
                    "{case} at {width}: address split"
                );
            }
        }
    }

    #[test]
    fn ids_as_ranges_and_cuts_at_spaces() {
        assert_eq!(super::super::id_ranges(&[5, 1, 2, 3, 9, 8]), "1-3, 5, 8-9");
        assert_eq!(super::super::id_ranges(&[]), "");
        assert_eq!(super::ellipsize("1-3, 5, 8-9, 12", 10), "1-3, 5,…");
        assert_eq!(super::ellipsize("short", 10), "short");
        assert_eq!(super::ellipsize("abcdefghijkl", 6), "abcde…");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            safe("alice\u{1b}]0;pwned\u{7}"),
            "alice\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(safe("shop.example"), "shop.example");
    }
}
