//! The `sessmap` command: parses the command line, runs the library's
//! pipeline, writes the report and picks the exit code: 0 ok, 1 a
//! `--fail-on` threshold or an assertion was met, 2 usage or input error.
//! Nothing else lives here.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sessmap::analyze::{analyze_files, Options};
use sessmap::report::rules::severity_rank;
use sessmap::report::{render, Format, RenderOptions, Report, Views};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sessmap",
    version,
    about = "Which TCP connections belong to which application session?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze capture files (pcap or pcapng, optionally gzip-compressed).
    Analyze(AnalyzeArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// Capture files, merged by timestamp; '-' reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Table views to show (the summary line is always there).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "VIEW")]
    view: Vec<ViewArg>,
    /// Only analyze frames matching this BPF expression (tcpdump syntax).
    #[arg(long, value_name = "BPF")]
    filter: Option<String>,
    /// Also treat this cookie name as a session cookie (repeatable).
    #[arg(long = "cookie", value_name = "NAME")]
    cookies: Vec<String>,
    /// Also treat this URL parameter as a session id (repeatable).
    #[arg(long = "url-param", value_name = "NAME")]
    url_params: Vec<String>,
    /// Show session ids, tokens and passwords instead of their fingerprints.
    #[arg(long)]
    show_secrets: bool,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<LevelArg>,
    /// Exit 1 unless exactly N sessions were found.
    #[arg(long, value_name = "N")]
    expect_sessions: Option<u64>,
    /// Exit 1 when more than N connections with payload belong to no session.
    #[arg(long, value_name = "N")]
    max_unassigned: Option<u64>,
    /// Seconds of capture time without a packet after which a connection is over.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Ndjson,
    Csv,
    Markdown,
    Junit,
    Html,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ViewArg {
    Sessions,
    Connections,
    Hosts,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum LevelArg {
    Info,
    Warning,
    Error,
}

/// What a finished run reports through the exit code.
enum Outcome {
    Ok,
    /// A threshold or an assertion failed (reasons already printed).
    Failed,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            // A closed pipe (`sessmap ... | head`) is not a failure.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("sessmap: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sessmap", &mut io::stdout());
            Ok(Outcome::Ok)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
            Ok(Outcome::Ok)
        }
    }
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let mut options = Options {
        filter: args.filter,
        ..Options::default()
    };
    options.flows.idle_timeout_ns = args.idle_timeout.saturating_mul(1_000_000_000);
    options.correlate.sessions.cookies = args.cookies;
    options.correlate.sessions.url_params = args.url_params;
    options.show_secrets = args.show_secrets;
    let progress = progress_bar(&args.files);
    let report = analyze_files(&args.files, &options, &mut |done| {
        if let Some(bar) = &progress {
            bar.set_position(done);
        }
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    for warning in &report.warnings {
        eprintln!("sessmap: warning: {warning}");
    }
    let format = match args.format {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Ndjson => Format::Ndjson,
        FormatArg::Csv => Format::Csv,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Junit => Format::Junit,
        FormatArg::Html => Format::Html,
    };
    let mut render_options = RenderOptions {
        views: views(&args.view),
        ..RenderOptions::default()
    };
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create output file", path.display()))?;
            let mut out = io::BufWriter::new(file);
            render(&report, format, &render_options, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("{}: cannot write report", path.display()))?;
        }
        None => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                render_options.colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
                render_options.width = terminal_width();
            }
            let mut out = io::BufWriter::new(stdout.lock());
            render(&report, format, &render_options, &mut out).and_then(|()| out.flush())?;
        }
    }
    Ok(gates(
        &report,
        args.fail_on,
        args.expect_sessions,
        args.max_unassigned,
    ))
}

/// The CI gates: a one-line reason on stderr for each that fails.
fn gates(
    report: &Report,
    fail_on: Option<LevelArg>,
    expect: Option<u64>,
    max_unassigned: Option<u64>,
) -> Outcome {
    let mut failed = false;
    if let Some(level) = fail_on {
        let threshold = match level {
            LevelArg::Info => 0,
            LevelArg::Warning => 1,
            LevelArg::Error => 2,
        };
        let hits: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| severity_rank(f.severity) >= threshold)
            .map(|f| f.rule)
            .collect();
        if !hits.is_empty() {
            let mut rules = hits.clone();
            rules.sort_unstable();
            rules.dedup();
            eprintln!(
                "sessmap: --fail-on: {} finding{} at or above the threshold ({})",
                hits.len(),
                if hits.len() == 1 { "" } else { "s" },
                rules.join(", ")
            );
            failed = true;
        }
    }
    if let Some(want) = expect {
        let got = report.sessions.len() as u64;
        if got != want {
            eprintln!("sessmap: --expect-sessions: expected {want} sessions, found {got}");
            failed = true;
        }
    }
    if let Some(max) = max_unassigned {
        let unassigned = report
            .connections
            .iter()
            .filter(|c| c.sessions.is_empty() && c.bytes.client + c.bytes.server > 0)
            .count() as u64;
        if unassigned > max {
            eprintln!(
                "sessmap: --max-unassigned: {unassigned} connections with payload belong to no session (at most {max} allowed)"
            );
            failed = true;
        }
    }
    if failed {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

fn views(asked: &[ViewArg]) -> Views {
    if asked.is_empty() {
        return Views::default();
    }
    let all = asked.contains(&ViewArg::All);
    Views {
        sessions: all || asked.contains(&ViewArg::Sessions),
        connections: all || asked.contains(&ViewArg::Connections),
        hosts: all || asked.contains(&ViewArg::Hosts),
    }
}

/// A progress bar over the input bytes, only when stderr is a terminal and
/// the inputs are plain files of known size.
fn progress_bar(files: &[PathBuf]) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    if total < 64 << 20 {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .ok()?,
    );
    Some(bar)
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| comfy_width().filter(|w| *w > 0))
}

/// The terminal's width as comfy-table sees it.
fn comfy_width() -> Option<u16> {
    let t = comfy_table::Table::new();
    t.width()
}
