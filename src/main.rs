//! The `sessmap` command: parses the command line, runs the library's
//! pipeline, writes the report and picks the exit code (0 ok, 2 usage or
//! input error). Nothing else lives here.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sessmap::analyze::{analyze_files, Options};
use sessmap::report::{render, Format};
use std::io::{self, Write};
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
    /// Only analyze frames matching this BPF expression (tcpdump syntax).
    #[arg(long, value_name = "BPF")]
    filter: Option<String>,
    /// Also treat this cookie name as a session cookie (repeatable).
    #[arg(long = "cookie", value_name = "NAME")]
    cookies: Vec<String>,
    /// Also treat this URL parameter as a session id (repeatable).
    #[arg(long = "url-param", value_name = "NAME")]
    url_params: Vec<String>,
    /// Show session ids and tokens instead of their fingerprints.
    #[arg(long)]
    show_secrets: bool,
    /// Seconds of capture time without a packet after which a connection is over.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
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
        Ok(()) => ExitCode::SUCCESS,
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
    }
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    let mut options = Options {
        filter: args.filter,
        ..Options::default()
    };
    options.flows.idle_timeout_ns = args.idle_timeout.saturating_mul(1_000_000_000);
    options.correlate.sessions.cookies = args.cookies;
    options.correlate.sessions.url_params = args.url_params;
    options.show_secrets = args.show_secrets;
    let report = analyze_files(&args.files, &options)?;
    for warning in &report.warnings {
        eprintln!("sessmap: warning: {warning}");
    }
    let format = match args.format {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
    };
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create output file", path.display()))?;
            let mut out = io::BufWriter::new(file);
            render(&report, format, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("{}: cannot write report", path.display()))?;
        }
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            render(&report, format, &mut out).and_then(|()| out.flush())?;
        }
    }
    Ok(())
}
