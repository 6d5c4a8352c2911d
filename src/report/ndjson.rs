//! `--format ndjson`: the report as one JSON record per line, each with a
//! `"type"` (input, stats, connection, session, host, finding), for
//! pipelines and query engines (DuckDB `read_json_auto`, jq, sqlite's JSON
//! functions).

use super::Report;
use serde::Serialize;
use std::io::{self, Write};

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for i in &report.inputs {
        record(out, "input", i)?;
    }
    record(out, "stats", &report.stats)?;
    for c in &report.connections {
        record(out, "connection", c)?;
    }
    for s in &report.sessions {
        record(out, "session", s)?;
    }
    for h in &report.hosts {
        record(out, "host", h)?;
    }
    for f in &report.findings {
        record(out, "finding", f)?;
    }
    Ok(())
}

/// `{"type": KIND, …the item's fields}` on one line.
fn record<T: Serialize>(out: &mut dyn Write, kind: &str, item: &T) -> io::Result<()> {
    let body = serde_json::to_string(item).map_err(io::Error::other)?;
    let rest = body.strip_prefix('{').unwrap_or("}");
    let sep = if rest == "}" { "" } else { "," };
    writeln!(out, "{{\"type\":\"{kind}\"{sep}{rest}")
}
