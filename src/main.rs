//! The `sessmap` command: parses the command line, runs the library's
//! pipeline, writes the report and picks the exit code: 0 ok, 1 a
//! `--fail-on` threshold or an assertion was met, 2 usage or input error.
//! Nothing else lives here.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sessmap::analyze::{analyze_files, Analyzer, Options};
use sessmap::capture::{InputFormat, InputSummary, LiveOptions, LiveProgress};
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
    /// Capture live from an interface until Ctrl-C, SIGTERM, --duration or
    /// --count, then report.
    Live(LiveArgs),
    /// Write the packets of sessions or connections to a capture file, to
    /// open in Wireshark: every connection of each session (FTP data
    /// connections too), in capture order.
    Extract(ExtractArgs),
    /// List the capture interfaces and their addresses.
    Interfaces,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): sessmap(1), or one subcommand's.
    Man {
        /// The subcommand whose page to print (analyze, live, interfaces,
        /// completions, man).
        #[arg(value_name = "SUBCOMMAND")]
        page: Option<String>,
        /// Write every page (sessmap.1, sessmap-analyze.1, …) into DIR
        /// instead.
        #[arg(long, value_name = "DIR", conflicts_with = "page")]
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
#[command(after_help = "A filter goes after -f, as one argument: \
    sessmap analyze cap.pcap -f 'tcp port 80'. A trailing expression as tcpdump takes it \
    (cap.pcap tcp port 80) is refused with that hint: its words could be file names.")]
struct AnalyzeArgs {
    /// Capture files, merged by timestamp; '-' reads standard input.
    #[arg(value_name = "FILE", required_unless_present = "read")]
    files: Vec<PathBuf>,
    /// A capture file, as tcpdump's -r (repeatable; the same as FILE).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,
    /// Only analyze frames matching this BPF expression (tcpdump syntax).
    #[arg(
        short = 'f',
        long = "filter",
        visible_alias = "bpf",
        value_name = "BPF"
    )]
    filter: Option<String>,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(clap::Args)]
#[command(
    after_help = "The ids are those of `sessmap analyze` on the same files with the same \
    options (--filter, --cookie, --url-param, --idle-timeout): give them all again."
)]
struct ExtractArgs {
    /// Capture files, merged by timestamp; '-' is not allowed (they are
    /// read twice).
    #[arg(value_name = "FILE", required_unless_present = "read")]
    files: Vec<PathBuf>,
    /// A capture file, as tcpdump's -r (repeatable; the same as FILE).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,
    /// A session id of the report (repeatable).
    #[arg(long = "session", value_name = "ID")]
    sessions: Vec<u64>,
    /// A connection id of the report (repeatable).
    #[arg(long = "connection", value_name = "ID")]
    connections: Vec<u64>,
    /// The capture file to write: pcap (nanosecond timestamps), or pcapng
    /// when the inputs have several link types or TLS secrets go with it.
    #[arg(short = 'w', long = "write", value_name = "FILE", required = true)]
    write: PathBuf,
    /// A TLS key log, as for analyze (repeatable): the report's ids depend
    /// on what decrypts. The chosen TLS connections' key log lines (theirs
    /// only) are embedded in the export as a pcapng Decryption Secrets
    /// Block, so that it decrypts on its own (in Wireshark too); so are
    /// those of secrets embedded in the inputs.
    #[arg(long = "keylog", value_name = "FILE")]
    keylogs: Vec<PathBuf>,
    /// Only frames matching this BPF expression, as for analyze.
    #[arg(
        short = 'f',
        long = "filter",
        visible_alias = "bpf",
        value_name = "BPF"
    )]
    filter: Option<String>,
    /// Also treat this cookie name as a session cookie (repeatable).
    #[arg(long = "cookie", value_name = "NAME")]
    cookies: Vec<String>,
    /// Also treat this URL parameter as a session id (repeatable).
    #[arg(long = "url-param", value_name = "NAME")]
    url_params: Vec<String>,
    /// As for analyze.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    idle_timeout: std::time::Duration,
    /// As for analyze.
    #[arg(long, short = 'j', value_name = "N", env = "SESSMAP_THREADS", value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: Option<u64>,
}

#[derive(clap::Args)]
struct LiveArgs {
    /// The interface to capture on (see `sessmap interfaces`).
    #[arg(short, long, value_name = "IFACE")]
    interface: String,
    /// Capture only frames matching this BPF expression (tcpdump syntax).
    #[arg(
        short = 'f',
        long = "filter",
        visible_alias = "bpf",
        value_name = "BPF"
    )]
    filter: Option<String>,
    /// Stop after this long (e.g. 30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Also write the packets to this pcap file.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    /// Bytes captured per packet.
    #[arg(long, value_name = "N", default_value_t = 262_144)]
    snaplen: i32,
    /// Do not put the interface into promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// How often the status on stderr is refreshed.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    interval: std::time::Duration,
    /// No status on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    report: ReportArgs,
}

/// What to do with the report, for `analyze` and `live` alike.
#[derive(clap::Args)]
struct ReportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Table views to show (the summary line is always there) [default:
    /// sessions,findings,hosts].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "VIEW")]
    view: Vec<ViewArg>,
    /// Table times in the local time zone (TZ or the system's), as tcpdump
    /// prints them, instead of UTC. JSON and the other formats stay UTC.
    #[arg(long)]
    local: bool,
    /// Most rows per table; the rest are counted in one line.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Also treat this cookie name as a session cookie (repeatable).
    #[arg(long = "cookie", value_name = "NAME")]
    cookies: Vec<String>,
    /// Also treat this URL parameter as a session id (repeatable).
    #[arg(long = "url-param", value_name = "NAME")]
    url_params: Vec<String>,
    /// A TLS key log (SSLKEYLOGFILE, NSS format) to decrypt TLS with
    /// (repeatable). Secrets embedded in pcapng inputs (Decryption Secrets
    /// Blocks) are read without it. Key material never appears in output.
    #[arg(long = "keylog", value_name = "FILE")]
    keylogs: Vec<PathBuf>,
    /// Show session ids, tokens and passwords instead of their fingerprints.
    #[arg(long)]
    show_secrets: bool,
    /// Fingerprint secrets with the key in FILE (HMAC-SHA256), so that the
    /// same value has the same fingerprint in every report made with it
    /// [default: a key derived from the capture, stable for the same input
    /// only].
    #[arg(long, value_name = "FILE", env = "SESSMAP_FINGERPRINT_KEY")]
    fingerprint_key: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<LevelArg>,
    /// Exit 1 unless exactly N sessions were found.
    #[arg(long, value_name = "N")]
    expect_sessions: Option<u64>,
    /// Exit 1 when more than N connections with payload belong to no session.
    #[arg(long, value_name = "N")]
    max_unassigned: Option<u64>,
    /// Capture time without a packet after which a connection is over
    /// (e.g. 300, 90s, 5m, 1h; a plain number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    idle_timeout: std::time::Duration,
    /// Flow worker threads [default: the available cores]. The report is
    /// the same for every count, except when the connection table's bound
    /// or the out-of-order memory bound trips (each worker has its share of
    /// them; stats.limits says when). With key material (--keylog, secrets
    /// embedded in the capture) the analysis runs on one thread.
    #[arg(long, short = 'j', value_name = "N", env = "SESSMAP_THREADS", value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: Option<u64>,
}

/// `30s`, `500ms`, `5m`, `1h`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 30s, 5m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
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
    Findings,
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
        Command::Live(args) => live(args),
        Command::Extract(args) => extract(args),
        Command::Interfaces => {
            let mut out = io::stdout().lock();
            for (name, addrs) in sessmap::capture::interfaces()? {
                writeln!(out, "{name}\t{}", addrs.join(" "))?;
            }
            Ok(Outcome::Ok)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sessmap", &mut io::stdout());
            Ok(Outcome::Ok)
        }
        Command::Man { page, dir } => man(page.as_deref(), dir.as_deref()),
    }
}

/// EXIT STATUS, common to every page.
const MAN_EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
The report was produced. This includes a capture cut short (reported up to where it was cut, with a warning) and a capture that lost packets (a capture\-loss finding).
.TP
\fB1\fR
A \fB\-\-fail\-on\fR threshold, \fB\-\-expect\-sessions\fR or \fB\-\-max\-unassigned\fR was met; each prints one line on standard error.
.TP
\fB2\fR
A usage or input error: a missing or unreadable file, a file that is not a capture or holds no packets, an unsupported link type, a bad filter, an unreadable fingerprint key. The message names the file and the problem.
"#;

/// EXAMPLES per page (`None`: the top-level page).
fn man_examples(page: Option<&str>) -> &'static str {
    match page {
        Some("live") => {
            r#".SH EXAMPLES
.TP
\fBsessmap live \-i eth0 \-f 'tcp port 80 or tcp port 21' \-\-duration 5m \-w out.pcap\fR
Capture for five minutes, keep the packets, then report.
.TP
\fBsessmap live \-i any \-\-format json \-o report.json\fR
Capture until Ctrl\-C; the JSON report goes to a file.
"#
        }
        Some("extract") => {
            r#".SH EXAMPLES
.TP
\fBsessmap analyze day.pcap\fR, then \fBsessmap extract \-\-session 3 \-w session3.pcap day.pcap\fR
Every packet of session 3 (its FTP data connections too), to open in Wireshark.
.TP
\fBsessmap extract \-f 'tcp port 80' \-\-session 2 \-\-connection 17 \-w out.pcap a.pcap b.pcap\fR
With the options the report was made with, so the ids are the same.
"#
        }
        Some("interfaces") => {
            r#".SH EXAMPLES
.TP
\fBsessmap interfaces\fR
One line per interface: its name, then its addresses.
"#
        }
        Some("completions") => {
            r#".SH EXAMPLES
.TP
\fBsessmap completions bash > /etc/bash_completion.d/sessmap\fR
Install bash completions.
"#
        }
        Some("man") => {
            r#".SH EXAMPLES
.TP
\fBsessmap man \-\-dir /usr/local/share/man/man1\fR
Install every page.
.TP
\fBsessmap man analyze | man \-l \-\fR
Read the page of analyze.
"#
        }
        _ => {
            r#".SH EXAMPLES
.TP
\fBsessmap analyze capture.pcap\fR
The sessions, the findings and the hosts, as a table.
.TP
\fBsessmap analyze \-r a.pcap \-r b.pcapng.gz \-f 'tcp port 80' \-\-view all\fR
Two captures merged by time, filtered as tcpdump would (the filter is one argument after \-f; a trailing expression is refused), with the connections too.
.TP
\fBsessmap analyze \-\-format json capture.pcap | jq '.sessions[] | {id, key, connections}'\fR
Which connections belong to which session, for a script.
.TP
\fBsessmap analyze \-\-fail\-on error \-\-expect\-sessions 2 \-\-format junit \-o report.xml test.pcap\fR
A CI gate: exit 1 on an error finding or unless exactly two sessions were found.
.TP
\fBSESSMAP_FINGERPRINT_KEY=team.key sessmap analyze \-\-format csv day1.pcap\fR
Fingerprints that match those of other reports made with the same key.
"#
        }
    }
}

/// `sessmap man`: sessmap(1) or a subcommand's page, with EXIT STATUS and
/// EXAMPLES; `--dir` writes them all.
fn man(page: Option<&str>, dir: Option<&std::path::Path>) -> anyhow::Result<Outcome> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let names: Vec<String> = top
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let render = |name: Option<&str>, out: &mut dyn Write| -> anyhow::Result<()> {
        let cmd = match name {
            None => top.clone(),
            Some(n) => top.find_subcommand(n).cloned().ok_or_else(|| {
                anyhow::anyhow!("no man page {n:?}; the pages: {}", names.join(", "))
            })?,
        };
        let has_args = cmd.get_arguments().any(|a| !a.is_hide_set());
        let has_subcommands = cmd.get_subcommands().next().is_some();
        let has_version = cmd.get_version().is_some();
        let m = clap_mangen::Man::new(cmd);
        m.render_title(out)?;
        m.render_name_section(out)?;
        m.render_synopsis_section(out)?;
        m.render_description_section(out)?;
        if has_args {
            m.render_options_section(out)?;
        }
        if has_subcommands {
            m.render_subcommands_section(out)?;
        }
        out.write_all(MAN_EXIT_STATUS.as_bytes())?;
        out.write_all(man_examples(name).as_bytes())?;
        let see: Vec<String> = std::iter::once("sessmap".to_owned())
            .chain(names.iter().map(|n| format!(r"sessmap\-{n}")))
            .filter(|p| name.map_or(p != "sessmap", |n| *p != format!(r"sessmap\-{n}")))
            .map(|p| format!(r"\fB{p}\fR(1)"))
            .collect();
        writeln!(
            out,
            r#".SH "SEE ALSO"{}{}, \fBtcpdump\fR(8)"#,
            "\n",
            see.join(", ")
        )?;
        if has_version {
            m.render_version_section(out)?;
        }
        Ok(())
    };
    match dir {
        Some(dir) => {
            for name in std::iter::once(None).chain(names.iter().map(|n| Some(n.as_str()))) {
                let file = dir.join(match name {
                    None => "sessmap.1".to_owned(),
                    Some(n) => format!("sessmap-{n}.1"),
                });
                let mut out = std::fs::File::create(&file)
                    .with_context(|| format!("{}: cannot write", file.display()))?;
                render(name, &mut out)?;
            }
        }
        None => render(page, &mut io::stdout().lock())?,
    }
    Ok(Outcome::Ok)
}

fn options(report: &ReportArgs, filter: Option<String>) -> anyhow::Result<Options> {
    let fingerprint_key = match &report.fingerprint_key {
        None => None,
        Some(path) => {
            let key = std::fs::read(path)
                .with_context(|| format!("{}: cannot read the fingerprint key", path.display()))?;
            if key.is_empty() {
                anyhow::bail!("{}: the fingerprint key file is empty", path.display());
            }
            Some(key)
        }
    };
    let mut options = Options {
        filter,
        fingerprint_key,
        ..Options::default()
    };
    options.flows.idle_timeout_ns =
        u64::try_from(report.idle_timeout.as_nanos()).unwrap_or(u64::MAX);
    options.correlate.sessions.cookies = report.cookies.clone();
    options.correlate.sessions.url_params = report.url_params.clone();
    options.show_secrets = report.show_secrets;
    options.keylogs = report.keylogs.clone();
    options.threads = threads(report.threads);
    Ok(options)
}

/// `--threads`, or the cores this process may use.
fn threads(given: Option<u64>) -> usize {
    match given {
        Some(n) => usize::try_from(n).unwrap_or(1),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Words that start or join a tcpdump filter expression.
const BPF_WORDS: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip",
    "ip6",
    "arp",
    "port",
    "portrange",
    "host",
    "net",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "vlan",
    "ether",
    "proto",
    "less",
    "greater",
    "&&",
    "||",
    "!",
];

/// A trailing filter expression, as tcpdump takes it, among the files: the
/// first argument that names no file and reads as filter words.
fn trailing_filter(files: &[PathBuf]) -> Option<String> {
    let at = files.iter().position(|f| {
        let s = f.to_string_lossy();
        !f.exists() && BPF_WORDS.contains(&s.to_ascii_lowercase().as_str())
    })?;
    let words: Vec<String> = files[at..]
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    Some(words.join(" "))
}

fn analyze(mut args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    if let Some(expr) = trailing_filter(&args.files) {
        anyhow::bail!(
            "{expr:?} looks like a filter expression, not files: give it with -f, as one \
             argument (sessmap analyze FILE -f '{expr}')"
        );
    }
    args.files.append(&mut args.read);
    let options = options(&args.report, args.filter)?;
    let progress = progress_bar(&args.files);
    let report = analyze_files(&args.files, &options, &mut |done| {
        if let Some(bar) = &progress {
            bar.set_position(done);
        }
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    emit(&report, &args.report)
}

fn extract(mut args: ExtractArgs) -> anyhow::Result<Outcome> {
    args.files.append(&mut args.read);
    if args.files.iter().any(|f| f.as_os_str() == "-") {
        anyhow::bail!("extract reads its inputs twice: standard input cannot be one of them");
    }
    let mut options = Options {
        filter: args.filter,
        ..Options::default()
    };
    options.flows.idle_timeout_ns = u64::try_from(args.idle_timeout.as_nanos()).unwrap_or(u64::MAX);
    options.correlate.sessions.cookies = args.cookies;
    options.correlate.sessions.url_params = args.url_params;
    options.keylogs = args.keylogs;
    options.threads = threads(args.threads);
    let selection = sessmap::extract::Selection {
        sessions: args.sessions,
        connections: args.connections,
    };
    let done = sessmap::extract::extract(&args.files, &options, &selection, &args.write)?;
    eprintln!(
        "sessmap: wrote {} of {} to {}{}",
        if done.packets == 1 {
            "1 packet".to_owned()
        } else {
            format!("{} packets", done.packets)
        },
        if done.connections.len() == 1 {
            "1 connection".to_owned()
        } else {
            format!("{} connections", done.connections.len())
        },
        args.write.display(),
        match done.secrets {
            0 => String::new(),
            1 => ", with the TLS secrets of 1 connection".to_owned(),
            n => format!(", with the TLS secrets of {n} connections"),
        }
    );
    Ok(Outcome::Ok)
}

fn live(args: LiveArgs) -> anyhow::Result<Outcome> {
    // The BPF filter goes to libpcap itself; the analyzer sees what passed.
    let mut options = options(&args.report, None)?;
    // A browser appends to its key log while the capture runs.
    options.keylogs_grow = true;
    let mut analyzer = Analyzer::new(&options)?;
    let live = LiveOptions {
        interface: args.interface.clone(),
        filter: args.filter.clone(),
        snaplen: args.snaplen,
        promisc: !args.no_promisc,
        duration: args.duration,
        count: args.count,
        write: args.write.clone(),
        interval: args.interval,
    };
    let terminal = io::stderr().is_terminal();
    let mut shown_lines = 0usize;
    let mut status = |analyzer: &mut Analyzer, p: &LiveProgress| {
        if args.quiet {
            return;
        }
        analyzer.catch_up();
        let (packets, connections, tally) = analyzer.progress();
        let line = format!(
            "{:.1}s  {packets} packets  {} dropped  {connections} connections  sessions: {} http, {} ftp",
            p.elapsed.as_secs_f64(),
            p.stats.dropped + p.stats.interface_dropped,
            tally.http,
            tally.ftp
        );
        let mut err = io::stderr().lock();
        if terminal {
            // Redraw the view in place: the status line and the newest
            // sessions.
            if shown_lines > 0 {
                let _ = write!(err, "\x1b[{shown_lines}A");
            }
            let _ = writeln!(err, "\x1b[2K{line}");
            for s in &tally.newest {
                let _ = writeln!(err, "\x1b[2K  new session: {}", s.escape_debug());
            }
            shown_lines = 1 + tally.newest.len();
        } else {
            let _ = writeln!(err, "sessmap: {line}");
        }
    };
    let analyzer_cell = std::cell::RefCell::new(&mut analyzer);
    let stats = sessmap::capture::capture_live(
        &live,
        |frame| analyzer_cell.borrow_mut().frame(frame),
        |p| status(&mut analyzer_cell.borrow_mut(), p),
    )?;
    let summary = InputSummary {
        path: format!("live:{}", args.interface),
        format: InputFormat::Pcap,
        compressed: false,
        linktypes: Default::default(),
        packets: analyzer.progress().0,
        warning: None,
        problem: None,
        notes: Vec::new(),
    };
    let report = analyzer.finish_with(vec![summary], Some(stats));
    emit(&report, &args.report)
}

/// Renders the report and applies the CI gates.
fn emit(report: &Report, args: &ReportArgs) -> anyhow::Result<Outcome> {
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
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        local: args.local,
        ..RenderOptions::default()
    };
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create output file", path.display()))?;
            let mut out = io::BufWriter::new(file);
            render(report, format, &render_options, &mut out)
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
            render(report, format, &render_options, &mut out).and_then(|()| out.flush())?;
        }
    }
    Ok(gates(
        report,
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
            eprintln!(
                "sessmap: --expect-sessions: expected {}, found {got}",
                sessmap::report::count(want, "session", "sessions")
            );
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
                "sessmap: --max-unassigned: {} with payload {} to no session (at most {max} allowed)",
                sessmap::report::count(unassigned, "connection", "connections"),
                if unassigned == 1 { "belongs" } else { "belong" }
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
        findings: all || asked.contains(&ViewArg::Findings),
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
