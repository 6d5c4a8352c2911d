//! `--format csv`: one row per connection–session pair (a connection with
//! no session is one row with empty session columns), for spreadsheets.

use super::{rfc3339, Report};
use std::io::{self, Write};

const HEADER: &[&str] = &[
    "connection",
    "client",
    "server",
    "protocol",
    "state",
    "start",
    "end",
    "duration",
    "packets_client",
    "packets_server",
    "bytes_client",
    "bytes_server",
    "missed_bytes",
    "session",
    "session_kind",
    "session_key",
    "session_server",
    "requests",
    "no_session",
];

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    row(out, HEADER.iter().map(|h| h.to_string()))?;
    for c in &report.connections {
        let base = vec![
            c.id.to_string(),
            c.client.to_string(),
            c.server.to_string(),
            c.protocol
                .and_then(|p| serde_json::to_value(p).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            c.state.to_owned(),
            rfc3339(c.start),
            rfc3339(c.end),
            format!("{:.6}", c.duration),
            c.packets.client.to_string(),
            c.packets.server.to_string(),
            c.bytes.client.to_string(),
            c.bytes.server.to_string(),
            (c.missed_bytes.client + c.missed_bytes.server).to_string(),
        ];
        if c.sessions.is_empty() {
            let reason = c
                .no_session
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut r = base.clone();
            r.extend(["", "", "", "", ""].map(str::to_owned));
            r.push(reason);
            row(out, r.into_iter())?;
        }
        for link in &c.sessions {
            let s = report.sessions.iter().find(|s| s.id == link.id);
            let mut r = base.clone();
            r.push(link.id.to_string());
            r.push(s.map_or(String::new(), |s| s.kind.to_owned()));
            r.push(s.map_or(String::new(), |s| s.key.to_string()));
            r.push(s.map_or(String::new(), |s| s.server.to_string()));
            r.push(link.requests.to_string());
            r.push(String::new());
            row(out, r.into_iter())?;
        }
    }
    Ok(())
}

fn row(out: &mut dyn Write, cells: impl Iterator<Item = String>) -> io::Result<()> {
    let cells: Vec<String> = cells.map(|c| field(&c)).collect();
    writeln!(out, "{}", cells.join(","))
}

/// RFC 4180 quoting, and a leading quote on text a spreadsheet would run
/// as a formula (`=`, `+`, `-`, `@` from a capture are untrusted).
fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '@'])
        || (text.starts_with('-') && text.parse::<f64>().is_err())
    {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn quoting_and_formula_guard() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-12.5"), "-12.5");
    }
}
