//! The pipeline, wired: frames → decode → flow → proto → correlate → report.
//! `main` and the tests drive it through [`Analyzer`] or [`analyze_files`].

use crate::capture::{CaptureError, Frame, InputSummary, Inputs, LinkType};
use crate::correlate::{CorrelateConfig, Correlator};
use crate::decode::{Decoder, FragLimits};
use crate::flow::{FlowLimits, FlowTable};
use crate::proto::tls::keylog::KeyStore;
use crate::report::{
    ConnectionReport, Finding, KeyBuilder, LiveStats, Redactor, Report, SessionReport, Stats,
    SCHEMA,
};
use crate::shard::Sharded;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A BPF expression (tcpdump syntax) applied to every frame.
    pub filter: Option<String>,
    pub fragments: FragLimits,
    pub flows: FlowLimits,
    pub correlate: CorrelateConfig,
    /// Show session ids and tokens instead of their fingerprints.
    pub show_secrets: bool,
    /// The fingerprint key (`--fingerprint-key`); `None`: derived from the
    /// capture's first bytes.
    pub fingerprint_key: Option<Vec<u8>>,
    /// TLS key log files (`--keylog`).
    pub keylogs: Vec<PathBuf>,
    /// The key log files may grow while the capture runs (live): read them
    /// again for client randoms not found yet.
    pub keylogs_grow: bool,
    /// Flow worker threads (`--threads`); 0 or 1: all on the reading
    /// thread. The report is the same for every count.
    pub threads: usize,
    /// Segments per batch dealt to the workers; 0 for the default. Only
    /// tests change it, to cut batches at every place.
    #[doc(hidden)]
    pub batch_segments: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("invalid --filter expression {expr:?}: {message}")]
    Filter { expr: String, message: String },
    #[error("{path}: {}", match why { Some(w) => format!("no packet could be read: {w}"), None => "no packets in this capture".to_owned() })]
    NoPackets { path: String, why: Option<String> },
    #[error(transparent)]
    KeyLog(#[from] crate::proto::tls::keylog::KeyLogError),
}

/// `--filter` compiled by libpcap, once per link type.
pub(crate) struct BpfFilter {
    expr: String,
    programs: HashMap<LinkType, Option<pcap::BpfProgram>>,
    failures: Vec<String>,
}

impl BpfFilter {
    /// Compiles `expr`, checking its syntax against Ethernet.
    pub(crate) fn new(expr: &str) -> Result<BpfFilter, AnalyzeError> {
        let mut programs = HashMap::new();
        let program = BpfFilter::compile(expr, LinkType::ETHERNET).map_err(|message| {
            AnalyzeError::Filter {
                expr: expr.to_owned(),
                message,
            }
        })?;
        programs.insert(LinkType::ETHERNET, Some(program));
        Ok(BpfFilter {
            expr: expr.to_owned(),
            programs,
            failures: Vec::new(),
        })
    }

    fn compile(expr: &str, linktype: LinkType) -> Result<pcap::BpfProgram, String> {
        let dead =
            pcap::Capture::dead(pcap::Linktype(linktype.0 as i32)).map_err(|e| e.to_string())?;
        dead.compile(expr, true).map_err(|e| e.to_string())
    }

    pub(crate) fn matches(&mut self, frame: &Frame<'_>) -> bool {
        let expr = &self.expr;
        let failures = &mut self.failures;
        let program = self.programs.entry(frame.linktype).or_insert_with(|| {
            match Self::compile(expr, frame.linktype) {
                Ok(p) => Some(p),
                Err(e) => {
                    failures.push(format!(
                        "--filter {expr:?} does not apply to link type {}: {e}; its frames are filtered out",
                        frame.linktype
                    ));
                    None
                }
            }
        });
        program.as_ref().is_some_and(|p| p.filter(frame.data))
    }
}

/// Where segments go: one flow table on this thread, or worker threads.
/// (One per analyzer: the size difference does not matter.)
#[allow(clippy::large_enum_variant)]
enum Flows {
    One(FlowTable<Correlator>),
    Sharded(Box<Sharded>),
}

pub struct Analyzer {
    decoder: Decoder,
    flows: Flows,
    filter: Option<BpfFilter>,
    packets: u64,
    filtered: u64,
    linktypes: Vec<(LinkType, u64)>,
    key: KeyBuilder,
    fingerprint_key: Option<Vec<u8>>,
    show_secrets: bool,
    /// TLS key material, when any was given or embedded.
    keys: Option<Arc<KeyStore>>,
    /// Embedded secrets that came after connections had opened without a
    /// key store: not used.
    late_secrets: Vec<String>,
}

impl Analyzer {
    /// Checks the filter's syntax up front (against Ethernet) so a typo is a
    /// usage error, not an empty report.
    pub fn new(options: &Options) -> Result<Analyzer, AnalyzeError> {
        Analyzer::with_secrets(options, Vec::new())
    }

    /// As [`new`](Self::new), with TLS key log text embedded in the inputs
    /// (pcapng Decryption Secrets Blocks), by input name.
    pub fn with_secrets(
        options: &Options,
        embedded: Vec<(String, Vec<u8>)>,
    ) -> Result<Analyzer, AnalyzeError> {
        let filter = options.filter.as_deref().map(BpfFilter::new).transpose()?;
        let keys = if options.keylogs.is_empty() && embedded.is_empty() {
            None
        } else {
            let store = KeyStore::open(&options.keylogs, options.keylogs_grow)?;
            for (source, text) in &embedded {
                store.add_embedded(&format!("{source} (embedded secrets)"), text);
            }
            Some(Arc::new(store))
        };
        let mut correlate = options.correlate.clone();
        correlate.keys = keys.clone();
        // With key material, TLS 1.2 resumption shares master secrets
        // between connections through the key store, in the order their
        // handshakes are read: workers would read them in another order.
        // Until those lookups travel with the facts, decryption stays on one
        // thread.
        let flows = if options.threads > 1 && keys.is_none() {
            Flows::Sharded(Box::new(Sharded::new(
                options.threads,
                options.batch_segments,
                options.flows,
                Correlator::new(correlate.clone()),
                correlate,
            )))
        } else {
            Flows::One(FlowTable::new(options.flows, Correlator::new(correlate)))
        };
        Ok(Analyzer {
            keys,
            late_secrets: Vec::new(),
            decoder: Decoder::new(options.fragments),
            flows,
            filter,
            packets: 0,
            filtered: 0,
            linktypes: Vec::new(),
            key: KeyBuilder::default(),
            show_secrets: options.show_secrets,
            fingerprint_key: options.fingerprint_key.clone(),
        })
    }

    pub fn frame(&mut self, frame: &Frame<'_>) {
        self.packets += 1;
        match self
            .linktypes
            .iter_mut()
            .find(|(l, _)| *l == frame.linktype)
        {
            Some((_, n)) => *n += 1,
            None => self.linktypes.push((frame.linktype, 1)),
        }
        if let Some(filter) = self.filter.as_mut() {
            if !filter.matches(frame) {
                self.filtered += 1;
                return;
            }
        }
        self.key.feed(frame.data);
        if let Some(seg) = self.decoder.decode(frame) {
            match &mut self.flows {
                Flows::One(table) => table.segment(&seg),
                Flows::Sharded(workers) => workers.segment(&seg),
            }
        }
    }

    /// Whether flow worker threads read the frames, a little behind.
    pub fn has_workers(&self) -> bool {
        matches!(self.flows, Flows::Sharded(_))
    }

    /// The memory maps of mapped inputs, whose frames' bytes stay readable:
    /// the streams point at delivered bytes in them instead of copying
    /// them, and flow workers read payloads in place.
    pub fn share_maps(&mut self, maps: Vec<Arc<memmap2::Mmap>>) {
        match &mut self.flows {
            Flows::One(table) => table.share_maps(maps),
            Flows::Sharded(workers) => workers.share(maps),
        }
    }

    /// TLS key log text found in an input after the first packet.
    pub fn add_secrets(&mut self, source: &str, text: &[u8]) {
        // The workers must not see these keys before the packets that come
        // before them in the capture are done, as one thread would not.
        self.catch_up();
        match &self.keys {
            Some(store) => store.add_embedded(&format!("{source} (embedded secrets)"), text),
            None => self.late_secrets.push(source.to_owned()),
        }
    }

    /// Ends every connection and builds the report.
    pub fn finish(self, inputs: Vec<InputSummary>) -> Report {
        self.finish_with(inputs, None)
    }

    /// Live-capture counters so far: packets, connections opened, and the
    /// session tally.
    /// Call [`catch_up`](Self::catch_up) first for counts that include
    /// the last packets.
    pub fn progress(&self) -> (u64, u64, crate::correlate::LiveTally) {
        match &self.flows {
            Flows::One(table) => (
                self.packets,
                table.connections_opened(),
                table.factory().live_tally(),
            ),
            Flows::Sharded(workers) => (
                self.packets,
                workers.connections_opened(),
                workers.correlator().live_tally(),
            ),
        }
    }

    /// Waits for the worker threads to be done with every packet given so
    /// far (a live view about to show counts).
    pub fn catch_up(&mut self) {
        if let Flows::Sharded(workers) = &mut self.flows {
            workers.sync();
        }
    }

    /// Ends every connection and builds the report, with libpcap's counts
    /// for a live capture.
    pub fn finish_with(mut self, inputs: Vec<InputSummary>, live: Option<LiveStats>) -> Report {
        self.decoder.finish();
        let (mut correlator, flow_stats) = match self.flows {
            Flows::One(table) => table.finish(),
            Flows::Sharded(workers) => workers.finish(),
        };
        let derived = self.key.key();
        let key = self.fingerprint_key.as_deref().unwrap_or(&derived);
        let redact = Redactor::new(key, self.show_secrets);
        let map = correlator.finish(&redact);
        let decode = self.decoder.stats();
        let mut warnings: Vec<String> = inputs
            .iter()
            .flat_map(|i| i.warning.iter().chain(&i.notes).cloned())
            .collect();
        if let Some(f) = &self.filter {
            warnings.extend(f.failures.iter().cloned());
        }
        let mut limits = std::collections::BTreeMap::new();
        for (name, n) in [
            ("fragment_memory", decode.fragments.dropped_limit),
            ("reassembly_buffer", correlator.reassembly_overflows),
            ("connection_table", flow_stats.table_full_evictions),
            (
                "http_header_bytes",
                correlator.http_counters.header_too_large,
            ),
            (
                "http_header_count",
                correlator.http_counters.too_many_headers,
            ),
            ("http_line_length", correlator.http_counters.line_too_long),
            (
                "http_pending_requests",
                correlator.http_counters.pending_overflow,
            ),
            ("reassembly_memory", flow_stats.memory_flushes),
            (
                "http2_header_block",
                correlator.http2.counters.header_block_too_large,
            ),
            (
                "http2_header_list",
                correlator.http2.counters.header_list_too_large,
            ),
            ("http2_streams", correlator.http2.counters.stream_overflow),
            ("hpack_table", correlator.http2.counters.hpack_table_capped),
        ] {
            if n > 0 {
                limits.insert(name, n);
            }
        }
        if let Some(store) = &self.keys {
            let c = store.counters();
            for line in store.malformed() {
                warnings.push(format!("{line}: key log line ignored"));
            }
            if c.malformed > store.malformed().len() as u64 {
                warnings.push(format!(
                    "{} more malformed key log lines ignored",
                    c.malformed - store.malformed().len() as u64
                ));
            }
            if c.over_limit > 0 {
                limits.insert("keylog_size", c.over_limit);
            }
            let t = &correlator.tls_stats.counters;
            if t.record_too_long > 0 {
                limits.insert("tls_record_length", t.record_too_long);
            }
            if t.pending_overflow > 0 {
                limits.insert("tls_pending_records", t.pending_overflow);
            }
        }
        for source in &self.late_secrets {
            warnings.push(format!(
                "{source}: TLS secrets embedded after the first packets, with no --keylog given: not used (give the key log with --keylog)"
            ));
        }
        let h2 = &correlator.http2.counters;
        if h2.stopped_by_gap + h2.stopped_by_error > 0 {
            let n = h2.stopped_by_gap + h2.stopped_by_error;
            warnings.push(format!(
                "HTTP/2 not read further in {n} direction{} ({} after a capture gap, {} after a broken header block or frame): HPACK cannot resynchronise",
                if n == 1 { "" } else { "s" },
                h2.stopped_by_gap,
                h2.stopped_by_error
            ));
        }
        if correlator.stream_contract_violations > 0 {
            warnings.push(format!(
                "internal: {} connections delivered bytes out of order to their parser",
                correlator.stream_contract_violations
            ));
        }
        if correlator.out_of_window > 0 {
            warnings.push(format!(
                "{} TCP segments lay far outside their connection's stream and were ignored",
                correlator.out_of_window
            ));
        }
        let stats = Stats {
            packets: self.packets,
            live,
            linktypes: self
                .linktypes
                .iter()
                .map(|(l, n)| (l.to_string(), *n))
                .collect(),
            filtered: self.filtered,
            tcp_segments: decode.tcp_segments,
            tcp_payload_truncated: decode.tcp_payload_truncated,
            skipped: decode.skipped,
            fragments: decode.fragments,
            connections: flow_stats.connections,
            sessions: map.sessions.len() as u64,
            connections_without_session: map
                .connections
                .iter()
                .filter(|c| c.sessions.is_empty())
                .count() as u64,
            http: correlator.http_counters,
            http2: (correlator.http2.connections > 0).then_some(correlator.http2),
            tls: self.keys.as_ref().map(|store| {
                let mut t = correlator.tls_stats.clone();
                t.keylog = store.counters();
                t
            }),
            ftp: correlator.ftp_counters,
            peak_open_connections: flow_stats.peak_open,
            idle_timeouts: flow_stats.idle_timeouts,
            limits,
            truncated_inputs: inputs.iter().filter(|i| i.warning.is_some()).count() as u64,
        };
        let mut findings = map.findings;
        if let Some(f) = incomplete(&stats) {
            findings.insert(0, f);
        }
        if let Some(f) = loss(&map.connections, &map.sessions) {
            findings.insert(0, f);
        }
        Report {
            schema: SCHEMA,
            inputs,
            stats,
            connections: map.connections,
            sessions: map.sessions,
            hosts: map.hosts,
            findings,
            warnings,
        }
    }
}

/// Session ids named in a `capture-loss` message before "…".
const LOSS_SESSIONS_NAMED: usize = 20;

/// `capture-loss`: the share of payload bytes the capture missed, and the
/// sessions whose connections had gaps (the uncertain parts of the map).
fn loss(connections: &[ConnectionReport], sessions: &[SessionReport]) -> Option<Finding> {
    let (mut missed, mut total, mut gappy) = (0u64, 0u64, 0u64);
    for c in connections {
        let m = c.missed_bytes.client + c.missed_bytes.server;
        missed += m;
        total += m + c.bytes.client + c.bytes.server;
        gappy += u64::from(m > 0 || c.gaps > 0);
    }
    if gappy == 0 {
        return None;
    }
    let touched: Vec<u64> = sessions
        .iter()
        .filter(|s| s.gaps > 0)
        .map(|s| s.id)
        .collect();
    let mut named: Vec<String> = touched
        .iter()
        .take(LOSS_SESSIONS_NAMED)
        .map(u64::to_string)
        .collect();
    if touched.len() > LOSS_SESSIONS_NAMED {
        named.push("…".into());
    }
    let share = if total == 0 {
        0.0
    } else {
        missed as f64 * 100.0 / total as f64
    };
    let sessions_part = if touched.is_empty() {
        "no session touched".to_owned()
    } else {
        format!(
            "{} of {} touched ({}): their requests and links may be incomplete",
            crate::report::count(touched.len() as u64, "session", "sessions"),
            sessions.len(),
            named.join(", ")
        )
    };
    Some(Finding {
        rule: "capture-loss",
        severity: "warning",
        session: None,
        connection: None,
        message: format!(
            "the capture missed {missed} of {total} payload bytes ({share:.2} %) in {}; {sessions_part}",
            crate::report::count(gappy, "connection", "connections"),
        ),
    })
}

/// `capture-incomplete`: the capture lost data other than gaps (drops,
/// truncated inputs, limits), so the map may be wrong.
fn incomplete(stats: &Stats) -> Option<Finding> {
    let mut why = Vec::new();
    if let Some(live) = stats.live.filter(|l| l.dropped + l.interface_dropped > 0) {
        why.push(format!(
            "{} dropped by the kernel, {} by the interface",
            crate::report::count(live.dropped, "packet", "packets"),
            live.interface_dropped
        ));
    }
    if stats.truncated_inputs > 0 {
        why.push(format!("{} input(s) cut short", stats.truncated_inputs));
    }
    if !stats.limits.is_empty() {
        let limits: Vec<String> = stats
            .limits
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        why.push(format!("limits tripped: {}", limits.join(", ")));
    }
    (!why.is_empty()).then(|| Finding {
        rule: "capture-incomplete",
        severity: "warning",
        session: None,
        connection: None,
        message: format!(
            "the capture is incomplete: {}; sessions and links may be missing",
            why.join("; ")
        ),
    })
}

/// Reads every input (merged by timestamp) through the pipeline. `progress`
/// hears the input bytes read so far, now and then.
pub fn analyze_files(
    paths: &[PathBuf],
    options: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, AnalyzeError> {
    let mut inputs = Inputs::open(paths)?;
    // Secrets embedded before the first packet (editcap puts them there).
    let mut analyzer = Analyzer::with_secrets(options, inputs.take_secrets())?;
    let trailed = analyzer.has_workers();
    analyzer.share_maps(inputs.share_maps(trailed));
    let mut n = 0u32;
    loop {
        if inputs.has_secrets() {
            for (source, text) in inputs.take_secrets() {
                analyzer.add_secrets(&source, &text);
            }
        }
        let Some(frame) = inputs.next_frame() else {
            break;
        };
        analyzer.frame(&frame);
        n = n.wrapping_add(1);
        if n % 65_536 == 0 {
            progress(inputs.consumed());
        }
    }
    let summaries = inputs.summaries();
    // A file that yields no packet at all is not a capture to report on.
    if let Some(empty) = summaries.iter().find(|s| s.packets == 0) {
        return Err(AnalyzeError::NoPackets {
            path: crate::capture::shown(std::path::Path::new(&empty.path))
                .display()
                .to_string(),
            why: empty.problem.clone(),
        });
    }
    Ok(analyzer.finish(summaries))
}
