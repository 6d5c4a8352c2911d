//! `sessmap extract`: the packets of chosen sessions or connections, as a
//! capture an analyst can hand to Wireshark.
//!
//! The ids are those of the report of the same files and options: the files
//! are analyzed first, then read again, and every frame that belongs to one
//! of the chosen connections (its TCP endpoints, either way, within the
//! connection's first and last packet) is written, in capture order, with
//! its timestamp (nanoseconds) and original length. A session's FTP data
//! connections are among its connections, so they come along.
//!
//! The output is classic pcap when the inputs have one link type, else
//! pcapng (an interface per link type). With TLS key material (`--keylog`,
//! or secrets embedded in the inputs), the key log lines of the chosen TLS
//! connections (by their ClientHello randoms, nothing else) go into a
//! Decryption Secrets Block before the first packet, and the output is
//! pcapng: the export decrypts on its own, in sessmap and in Wireshark. A
//! resumed TLS 1.2 connection whose own random is not in the key log
//! decrypts with its issuing handshake's line, there when that connection is
//! chosen too. Of an IP datagram split into fragments, only the frame that
//! completed it is recognised.

use crate::analyze::{analyze_files, AnalyzeError, BpfFilter, Options};
use crate::capture::writer::{PcapWriter, PcapngWriter};
use crate::capture::{CaptureError, Inputs};
use crate::decode::{Decoder, Endpoint};
use crate::proto::tls::keylog::KeyStore;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What to extract: report ids.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub sessions: Vec<u64>,
    pub connections: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("no session {id} in the report of these files; the sessions: {valid}")]
    NoSession { id: u64, valid: String },
    #[error("no connection {id} in the report of these files; the connections: {valid}")]
    NoConnection { id: u64, valid: String },
    #[error("nothing to extract: give --session or --connection")]
    Empty,
    #[error("{path}: cannot write")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub connections: Vec<u64>,
    pub packets: u64,
    /// TLS connections whose secrets were embedded.
    pub secrets: u64,
}

/// The file being written.
enum Output {
    Pcap(PcapWriter<BufWriter<File>>),
    Pcapng(PcapngWriter<BufWriter<File>>),
}

/// One chosen connection: its endpoints and when it ran.
struct Target {
    a: Endpoint,
    b: Endpoint,
    start: u64,
    end: u64,
}

/// Ids as a short list for messages: `1-3, 5`, or `none`.
fn ranges(ids: Vec<u64>) -> String {
    match crate::report::id_ranges(&ids) {
        r if r.is_empty() => "none".into(),
        r => r,
    }
}

/// Writes the packets of `selection` from `paths` to `out`.
pub fn extract(
    paths: &[PathBuf],
    options: &Options,
    selection: &Selection,
    out: &Path,
) -> Result<Extracted, ExtractError> {
    if selection.sessions.is_empty() && selection.connections.is_empty() {
        return Err(ExtractError::Empty);
    }
    let report = analyze_files(paths, options, &mut |_| {})?;
    let mut chosen: BTreeSet<u64> = BTreeSet::new();
    for id in &selection.sessions {
        let Some(s) = report.sessions.iter().find(|s| s.id == *id) else {
            return Err(ExtractError::NoSession {
                id: *id,
                valid: ranges(report.sessions.iter().map(|s| s.id).collect()),
            });
        };
        chosen.extend(&s.connections);
    }
    for id in &selection.connections {
        if !report.connections.iter().any(|c| c.id == *id) {
            return Err(ExtractError::NoConnection {
                id: *id,
                valid: ranges(report.connections.iter().map(|c| c.id).collect()),
            });
        }
        chosen.insert(*id);
    }
    let targets: Vec<Target> = report
        .connections
        .iter()
        .filter(|c| chosen.contains(&c.id))
        .map(|c| Target {
            a: c.client,
            b: c.server,
            start: c.start,
            end: c.end,
        })
        .collect();

    let write_error = |source| ExtractError::Write {
        path: out.to_owned(),
        source,
    };
    let mut filter = options.filter.as_deref().map(BpfFilter::new).transpose()?;
    let mut inputs = Inputs::open(paths)?;
    let mut decoder = Decoder::new(options.fragments);
    // The chosen TLS connections' key log lines.
    let embedded = inputs.take_secrets();
    let mut keylog = String::new();
    let mut secrets = 0;
    if !options.keylogs.is_empty() || !embedded.is_empty() {
        let store = KeyStore::open(&options.keylogs, false).map_err(AnalyzeError::from)?;
        for (source, text) in &embedded {
            store.add_embedded(source, text);
        }
        for c in report.connections.iter().filter(|c| chosen.contains(&c.id)) {
            let random = c.tls.as_ref().and_then(|t| t.client_random);
            if let Some((random, s)) = random.and_then(|r| Some((r, store.secrets(&r)?))) {
                keylog.push_str(&s.nss_lines(&random));
                secrets += 1;
            }
        }
    }
    // One link type in all the inputs and no secrets: classic pcap; else
    // pcapng.
    let pcapng = !keylog.is_empty()
        || report
            .inputs
            .iter()
            .flat_map(|i| i.linktypes.iter())
            .collect::<BTreeSet<_>>()
            .len()
            > 1;
    let mut writer: Option<Output> = None;
    let mut packets = 0u64;
    while let Some(frame) = inputs.next_frame() {
        if filter.as_mut().is_some_and(|f| !f.matches(&frame)) {
            continue;
        }
        let Some(seg) = decoder.decode(&frame) else {
            continue;
        };
        let (src, dst, ts) = (seg.src, seg.dst, seg.ts_ns);
        let wanted = targets.iter().any(|t| {
            ((src == t.a && dst == t.b) || (src == t.b && dst == t.a))
                && (t.start..=t.end).contains(&ts)
        });
        if !wanted {
            continue;
        }
        if writer.is_none() {
            let file = BufWriter::new(File::create(out).map_err(write_error)?);
            writer = Some(if pcapng {
                let mut w = PcapngWriter::new(file).map_err(write_error)?;
                if !keylog.is_empty() {
                    w.tls_secrets(keylog.as_bytes()).map_err(write_error)?;
                }
                Output::Pcapng(w)
            } else {
                Output::Pcap(PcapWriter::new(file, frame.linktype, true).map_err(write_error)?)
            });
        }
        match writer.as_mut() {
            Some(Output::Pcap(w)) => w.write(frame.ts_ns, frame.data, frame.orig_len),
            Some(Output::Pcapng(w)) => {
                w.write(frame.linktype, frame.ts_ns, frame.data, frame.orig_len)
            }
            None => Ok(()),
        }
        .map_err(write_error)?;
        packets += 1;
    }
    match writer {
        Some(Output::Pcap(w)) => w.into_inner().flush().map_err(write_error)?,
        Some(Output::Pcapng(w)) => w.into_inner().flush().map_err(write_error)?,
        // Chosen connections always have packets; an empty pcap would still
        // name no link type.
        None => return Err(ExtractError::Empty),
    }
    Ok(Extracted {
        connections: chosen.into_iter().collect(),
        packets,
        secrets,
    })
}
