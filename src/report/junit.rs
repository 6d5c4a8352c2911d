//! `--format junit`: one testsuite per finding rule, each finding a failed
//! testcase; a rule without findings is one passing testcase. Jenkins and
//! GitLab read it as test results.

use super::rules::RULES;
use super::{escape_markup, Report};
use std::io::{self, Write};

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let failures = report.findings.len();
    let tests: usize = RULES
        .iter()
        .map(|r| {
            report
                .findings
                .iter()
                .filter(|f| f.rule == r.id)
                .count()
                .max(1)
        })
        .sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="sessmap" tests="{tests}" failures="{failures}">"#
    )?;
    for rule in RULES {
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == rule.id)
            .collect();
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}">"#,
            escape_markup(rule.id),
            found.len().max(1),
            found.len()
        )?;
        if found.is_empty() {
            writeln!(
                out,
                r#"    <testcase classname="sessmap.{0}" name="{0}: no finding"/>"#,
                escape_markup(rule.id)
            )?;
        }
        for (i, f) in found.iter().enumerate() {
            let what = match (f.session, f.connection) {
                (Some(s), Some(c)) => format!("session {s}, connection {c}"),
                (Some(s), None) => format!("session {s}"),
                (None, Some(c)) => format!("connection {c}"),
                (None, None) => format!("#{}", i + 1),
            };
            writeln!(
                out,
                r#"    <testcase classname="sessmap.{}" name="{}">"#,
                escape_markup(rule.id),
                escape_markup(&what)
            )?;
            writeln!(
                out,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                escape_markup(f.severity),
                escape_markup(&f.message),
                escape_markup(rule.reason)
            )?;
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}
