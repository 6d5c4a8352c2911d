//! `--format json`: the report as one JSON object (the stable contract).

use super::Report;
use std::io::{self, Write};

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    // The serializer writes token by token: through a buffer of its own
    // type those writes are copies, not calls through `dyn Write`.
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    // Keep the I/O error's kind: a closed pipe must stay a closed pipe.
    serde_json::to_writer_pretty(&mut out, report).map_err(|e| match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e),
        None => io::Error::other(e),
    })?;
    out.write_all(b"\n")?;
    out.flush()
}
