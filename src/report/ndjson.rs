//! `--format ndjson`: the report as one JSON record per line, each with a
//! `"type"` (input, stats, connection, session, host, finding), for
//! pipelines and query engines (DuckDB `read_json_auto`, jq, sqlite's JSON
//! functions).

use super::Report;
use serde::Serialize;
use std::io::{self, Write};

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut out = Records {
        out: io::BufWriter::with_capacity(64 * 1024, out),
        body: Vec::new(),
    };
    let out = &mut out;
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
    out.out.flush()
}

/// The output and one record's body, reused from record to record.
struct Records<'a> {
    out: io::BufWriter<&'a mut dyn Write>,
    body: Vec<u8>,
}

/// `{"type": KIND, …the item's fields}` on one line.
fn record<T: Serialize>(out: &mut Records, kind: &str, item: &T) -> io::Result<()> {
    out.body.clear();
    serde_json::to_writer(&mut out.body, item).map_err(io::Error::other)?;
    let rest = out.body.strip_prefix(b"{").unwrap_or(b"}");
    let w = &mut out.out;
    w.write_all(b"{\"type\":\"")?;
    w.write_all(kind.as_bytes())?;
    w.write_all(b"\"")?;
    if rest != b"}" {
        w.write_all(b",")?;
    }
    w.write_all(rest)?;
    w.write_all(b"\n")
}
