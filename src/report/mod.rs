//! Report: one model ([`Report`]), one renderer per output format.
//! Renderers only write; they never decide anything about the capture.

mod csv;
mod html;
mod json;
mod junit;
mod markdown;
mod model;
mod ndjson;
mod redact;
pub mod rules;
mod table;
mod time;

pub use model::{
    lossless, Announcement, ConnSession, ConnectionReport, Finding, HostReport, Http2Stats,
    InnerProtocol, LiveStats, NoSession, PerSide, Report, SessionReport, Stats, StopReport, Text,
    TlsReport, TlsStats, Transfer, SCHEMA,
};
pub use redact::{KeyBuilder, Redactor};
pub use time::{rfc3339, wall_clock};

use std::collections::BTreeMap;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
    Markdown,
    Junit,
    Html,
}

/// Which parts of the table view to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Views {
    pub sessions: bool,
    pub connections: bool,
    pub findings: bool,
    pub hosts: bool,
}

impl Default for Views {
    /// The summary line, the sessions, the findings, then the hosts.
    fn default() -> Self {
        Views {
            sessions: true,
            connections: false,
            findings: true,
            hosts: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    pub views: Views,
    /// ANSI colour in the table (only for a terminal, never with NO_COLOR).
    pub colour: bool,
    /// Terminal width to fit the table to, when writing to a terminal.
    pub width: Option<u16>,
    /// Most rows per table (`--limit`); the rest are counted in one line.
    pub limit: Option<usize>,
    /// Table times in the local zone instead of UTC (`--local`).
    pub local: bool,
}

/// Writes `report` in `format`.
pub fn render(
    report: &Report,
    format: Format,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => table::render(report, options, out),
        Format::Json => json::render(report, out),
        Format::Ndjson => ndjson::render(report, out),
        Format::Csv => csv::render(report, out),
        Format::Markdown => markdown::render(report, out),
        Format::Junit => junit::render(report, out),
        Format::Html => html::render(report, out),
    }
}

/// The one-line summary: packets, connections by state, hosts, sessions by
/// kind, connections without a session, findings.
pub fn summary(report: &Report) -> String {
    let s = &report.stats;
    let mut states: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &report.connections {
        *states.entry(c.state).or_default() += 1;
    }
    let states: Vec<String> = states.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for x in &report.sessions {
        *kinds.entry(x.kind).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let skipped: u64 = s.skipped.values().sum();
    let mut line = format!(
        "{}, {}{}, {}, {}{}, {} without a session",
        count(s.packets, "packet", "packets"),
        count(report.connections.len() as u64, "connection", "connections"),
        paren(&states),
        count(report.hosts.len() as u64, "host", "hosts"),
        count(report.sessions.len() as u64, "session", "sessions"),
        paren(&kinds),
        count(s.connections_without_session, "connection", "connections"),
    );
    if skipped > 0 {
        line.push_str(&format!(
            ", {} without TCP",
            count(skipped, "frame", "frames")
        ));
    }
    if s.filtered > 0 {
        line.push_str(&format!(", {} filtered out", s.filtered));
    }
    if !report.findings.is_empty() {
        line.push_str(&format!(
            ", {}",
            count(report.findings.len() as u64, "finding", "findings")
        ));
    }
    line
}

/// The notes on a session, for the table and the HTML report: what a
/// reader should know that no column says. Plain text: each renderer
/// escapes it.
pub fn session_notes(s: &SessionReport) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(mechanism) = &s.opaque {
        notes.push(format!(
            "control encrypted ({}): data connections cannot be linked",
            mechanism
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
        notes.push(count(
            u.len() as u64,
            "announced data connection never seen",
            "announced data connections never seen",
        ));
    }
    if !s.aliases.is_empty() {
        notes.push(count(s.aliases.len() as u64, "alias", "aliases"));
    }
    if s.multiple_clients {
        notes.push("several clients".to_owned());
    }
    if s.ended {
        notes.push("ended".to_owned());
    }
    if s.gaps > 0 {
        notes.push(count(s.gaps, "capture gap", "capture gaps"));
    }
    notes
}

/// Connection ids as ranges: `1-3, 5, 8-9`.
pub fn id_ranges(ids: &[u64]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while sorted.get(j + 1).is_some_and(|n| *n == sorted[j] + 1) {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}-{}", sorted[i], sorted[j])
        } else {
            sorted[i].to_string()
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// "1 host", "2 hosts".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn paren(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", items.join(", "))
    }
}

/// Text escaped for XML and HTML content and attributes (the JUnit and
/// HTML reports). Tab, line feed and carriage return stay; other control
/// characters, which XML 1.0 cannot hold, become U+FFFD.
pub(crate) fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_escaping_covers_both_reports() {
        assert_eq!(
            super::escape_markup("a<b>&\"c'\t\n\r\u{1}\u{7f}\u{85}é"),
            "a&lt;b&gt;&amp;&quot;c&apos;\t\n\r\u{fffd}\u{fffd}\u{fffd}é"
        );
    }
}
