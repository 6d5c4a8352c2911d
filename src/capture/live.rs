//! Live capture from a network interface with libpcap, stopped cleanly by
//! Ctrl-C, SIGTERM, a duration or a packet count. Stopping uses
//! pcap_breakloop from a watcher thread, which wakes a blocked read even
//! when no packet arrives (a read timeout alone does not on Linux).

use super::{Frame, LinkType};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    pub filter: Option<String>,
    pub snaplen: i32,
    pub promisc: bool,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    /// Also write every packet to this pcap file.
    pub write: Option<PathBuf>,
    /// How often the status callback runs.
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{interface}: permission denied: capturing needs root or the CAP_NET_RAW capability ({message})")]
    Permission { interface: String, message: String },
    #[error("{interface}: no such interface; available: {available}")]
    NoSuchInterface {
        interface: String,
        available: String,
    },
    #[error("invalid filter {expr:?}: {message}")]
    Filter { expr: String, message: String },
    #[error("{interface}: {message}")]
    Capture { interface: String, message: String },
    #[error("{path}: cannot write capture: {message}")]
    Write { path: PathBuf, message: String },
}

/// libpcap's counts for a live capture (pcap_stats).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the kernel handed libpcap, before the user's filter on some
    /// systems (Linux's `lo` counts each packet as sent and as received).
    pub interface_received: u64,
    /// Dropped by the kernel because the buffer was full.
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub interface_dropped: u64,
}

/// What the status callback sees.
#[derive(Debug, Clone, Copy)]
pub struct LiveProgress {
    pub elapsed: Duration,
    pub stats: LiveStats,
}

/// The capture devices with their addresses, one line each.
pub fn interfaces() -> Result<Vec<(String, Vec<String>)>, LiveError> {
    let list = pcap::Device::list().map_err(|e| LiveError::Capture {
        interface: "-".into(),
        message: e.to_string(),
    })?;
    Ok(list
        .into_iter()
        .map(|d| {
            let addrs = d.addresses.iter().map(|a| a.addr.to_string()).collect();
            (d.name, addrs)
        })
        .collect())
}

fn available() -> String {
    interfaces()
        .map(|l| l.into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "(cannot list)".into())
}

/// Captures until stopped, handing each frame to `frame` and calling
/// `status` every `interval`; returns libpcap's counts.
pub fn capture(
    options: &LiveOptions,
    mut frame: impl FnMut(&Frame<'_>),
    mut status: impl FnMut(&LiveProgress),
) -> Result<LiveStats, LiveError> {
    let iface = options.interface.clone();
    let known = pcap::Device::list()
        .map(|l| l.iter().any(|d| d.name == iface))
        .unwrap_or(true);
    if !known {
        return Err(LiveError::NoSuchInterface {
            interface: iface,
            available: available(),
        });
    }
    let inactive = pcap::Capture::from_device(iface.as_str())
        .map_err(|e| LiveError::Capture {
            interface: iface.clone(),
            message: e.to_string(),
        })?
        .promisc(options.promisc)
        .snaplen(options.snaplen)
        .timeout(200)
        .immediate_mode(true);
    let mut cap = inactive.open().map_err(|e| {
        let message = e.to_string();
        if message.contains("ermission") || message.contains("not permitted") {
            LiveError::Permission {
                interface: iface.clone(),
                message,
            }
        } else if message.contains("No such device") || message.contains("doesn't exist") {
            LiveError::NoSuchInterface {
                interface: iface.clone(),
                available: available(),
            }
        } else {
            LiveError::Capture {
                interface: iface.clone(),
                message,
            }
        }
    })?;
    if let Some(expr) = &options.filter {
        cap.filter(expr, true).map_err(|e| LiveError::Filter {
            expr: expr.clone(),
            message: e.to_string(),
        })?;
    }
    let linktype = LinkType(cap.get_datalink().0 as u32);
    let mut save = match &options.write {
        Some(path) => Some(cap.savefile(path).map_err(|e| LiveError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?),
        None => None,
    };

    // The watcher: signals and the duration break the read loop.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let breaker = cap.breakloop_handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| LiveError::Capture {
        interface: iface.clone(),
        message: e.to_string(),
    })?;
    let signal_handle = signals.handle();
    let started = Instant::now();
    let watcher = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        let duration = options.duration;
        let interval = options.interval;
        std::thread::spawn(move || {
            let mut next_tick = started + interval;
            while !done.load(Ordering::SeqCst) {
                let signalled = signals.pending().next().is_some();
                let expired = duration.is_some_and(|d| started.elapsed() >= d);
                if Instant::now() >= next_tick {
                    // Wake an idle read so the status still refreshes.
                    next_tick += interval;
                    breaker.breakloop();
                }
                if signalled || expired {
                    stop.store(true, Ordering::SeqCst);
                    breaker.breakloop();
                    // A packet stream can race the first break: keep breaking
                    // until the loop has seen it.
                    while !done.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                        breaker.breakloop();
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let mut seen = 0u64;
    let mut next_status = started + options.interval;
    let mut failure = None;
    while !stop.load(Ordering::SeqCst) {
        match cap.next_packet() {
            Ok(p) => {
                let ts = p.header.ts;
                let ts_ns = (ts.tv_sec.max(0) as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add((ts.tv_usec.max(0) as u64).saturating_mul(1_000));
                if let Some(s) = save.as_mut() {
                    s.write(&p);
                }
                frame(&Frame {
                    ts_ns,
                    linktype,
                    data: p.data,
                    orig_len: p.header.len,
                    input: 0,
                });
                seen += 1;
                if options.count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
            // A timeout, or the watcher waking us for the status (a stop
            // is seen at the top of the loop).
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {}
            Err(e) => {
                failure = Some(LiveError::Capture {
                    interface: iface.clone(),
                    message: e.to_string(),
                });
                break;
            }
        }
        if Instant::now() >= next_status {
            next_status += options.interval;
            let stats = counts(&mut cap);
            status(&LiveProgress {
                elapsed: started.elapsed(),
                stats,
            });
        }
    }
    done.store(true, Ordering::SeqCst);
    signal_handle.close();
    let _ = watcher.join();
    if let Some(mut s) = save {
        let _ = s.flush();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(counts(&mut cap))
}

fn counts(cap: &mut pcap::Capture<pcap::Active>) -> LiveStats {
    cap.stats()
        .map(|s| LiveStats {
            interface_received: u64::from(s.received),
            dropped: u64::from(s.dropped),
            interface_dropped: u64::from(s.if_dropped),
        })
        .unwrap_or_default()
}
