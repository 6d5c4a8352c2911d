//! `--format table` (the default): a summary line, then the connections.

use super::{ConnectionReport, Report};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Rules above and below the table and under the header; no row rules.
const PRESET: &str = "  ── ══      ──    ";

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", summary(report))?;
    if report.connections.is_empty() {
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_preset(PRESET)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "id",
            "client",
            "server",
            "state",
            "start",
            "duration",
            "pkts c/s",
            "bytes c/s",
            "missed",
            "retrans",
        ]);
    for c in &report.connections {
        table.add_row(row(c));
    }
    for col in [0, 5, 6, 7, 8, 9] {
        if let Some(column) = table.column_mut(col) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out)?;
    writeln!(out, "{table}")
}

fn summary(report: &Report) -> String {
    let s = &report.stats;
    let mut states: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &report.connections {
        *states.entry(c.state).or_default() += 1;
    }
    let states: Vec<String> = states.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let skipped: u64 = s.skipped.values().sum();
    let mut line = format!(
        "{} packets, {} TCP segments, {} connections{}, {} hosts",
        s.packets,
        s.tcp_segments,
        report.connections.len(),
        if states.is_empty() {
            String::new()
        } else {
            format!(" ({})", states.join(", "))
        },
        report.hosts.len(),
    );
    if skipped > 0 {
        line.push_str(&format!(", {skipped} frames without TCP"));
    }
    if s.filtered > 0 {
        line.push_str(&format!(", {} filtered out", s.filtered));
    }
    line
}

fn row(c: &ConnectionReport) -> Vec<Cell> {
    // Only the time of day: the date is the same for nearly every row.
    let start = super::rfc3339(c.start);
    let start = start.get(11..23).unwrap_or(&start);
    vec![
        Cell::new(c.id),
        Cell::new(c.client),
        Cell::new(c.server),
        Cell::new(c.state),
        Cell::new(start),
        Cell::new(format!("{:.3}s", c.duration)),
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
