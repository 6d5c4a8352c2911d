//! `--format markdown`: the summary, the sessions and the findings, for a
//! CI job summary or a pull request comment.

use super::{rfc3339, Report};
use std::io::{self, Write};

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# sessmap report\n")?;
    writeln!(out, "{}\n", super::summary(report))?;
    writeln!(out, "## Sessions\n")?;
    if report.sessions.is_empty() {
        writeln!(out, "No sessions.\n")?;
    } else {
        writeln!(
            out,
            "| id | kind | server | key | clients | connections | requests | user | start |"
        )?;
        writeln!(out, "|---:|---|---|---|---|---|---:|---|---|")?;
        for s in &report.sessions {
            let conns: Vec<String> = s.connections.iter().map(u64::to_string).collect();
            writeln!(
                out,
                "| {} | {} | {} | `{}` | {} | {} | {} | {} | {} |",
                s.id,
                s.kind,
                cell(&s.server.to_string()),
                cell(&s.key.to_string()).replace('`', "'"),
                cell(&s.clients.join(" ")),
                conns.join(" "),
                s.requests,
                cell(&s.user.as_ref().map(|u| u.display()).unwrap_or_default()),
                rfc3339(s.start)
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "## Findings\n")?;
    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
    } else {
        writeln!(out, "| severity | rule | session | connection | message |")?;
        writeln!(out, "|---|---|---:|---:|---|")?;
        for f in &report.findings {
            writeln!(
                out,
                "| {} | `{}` | {} | {} | {} |",
                f.severity,
                f.rule,
                f.session.map_or(String::new(), |s| s.to_string()),
                f.connection.map_or(String::new(), |c| c.to_string()),
                cell(&f.message)
            )?;
        }
    }
    if !report.warnings.is_empty() {
        writeln!(out, "\n## Warnings\n")?;
        for w in &report.warnings {
            writeln!(out, "- {}", cell(w))?;
        }
    }
    Ok(())
}

/// Text for a table cell: pipes escaped, line breaks and control
/// characters flattened.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    #[test]
    fn pipes_are_escaped() {
        assert_eq!(super::cell("a|b\nc"), "a\\|b c");
    }
}
