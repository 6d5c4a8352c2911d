//! Report: one model ([`Report`]), one renderer per output format.
//! Renderers only write; they never decide anything about the capture.

mod json;
mod model;
mod redact;
mod table;
mod time;

pub use model::{
    Announcement, ConnSession, ConnectionReport, Finding, HostReport, NoSession, PerSide, Report,
    SessionReport, Stats, Transfer, SCHEMA,
};
pub use redact::{KeyBuilder, Redactor};
pub use time::rfc3339;

use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Writes `report` in `format`.
pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => table::render(report, out),
        Format::Json => json::render(report, out),
    }
}
