//! The per-packet common path (decode, flow lookup, in-order delivery)
//! allocates nothing: memory and time do not grow with packets. A counting
//! global allocator, in a test binary of its own so no other test's
//! allocations are counted.

use sessmap::analyze::{Analyzer, Options};
use sessmap::capture::writer::{ethernet_tcp, flags, Segment};
use sessmap::capture::{Frame, LinkType};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One measurement at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn in_order_packets_allocate_nothing() {
    allocations_in_steady_state(&Options::default(), 0);
}

/// With flow workers too: batches, their segment lists and fact lists go
/// back and forth and are reused (tiny batches, so that many make the trip
/// during the warm-up and the measured part).
#[test]
fn in_order_packets_allocate_nothing_with_threads() {
    // A thread's first wait at a channel it has not waited at yet sets up
    // its place in the wait list, once: the reader's at its two channels,
    // each worker's at its two, whenever timing first makes it wait there.
    allocations_in_steady_state(
        &Options {
            threads: 2,
            batch_segments: 16,
            ..Options::default()
        },
        6,
    );
}

/// `slack`: allocations allowed over the measured packets that are not per
/// packet (0 on one thread).
fn allocations_in_steady_state(options: &Options, slack: u64) {
    // Tests run in parallel threads of one process: one at a time here.
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let client = "10.9.0.1:40000".parse().unwrap();
    let server = "10.9.0.2:80".parse().unwrap();
    let body = [b'x'; 1400];
    let mut frames = Vec::new();
    let (mut cseq, mut sseq) = (1000u32, 9000u32);
    let seg = |src, dst, seq, ack, f, payload: &'static [u8]| {
        ethernet_tcp(&Segment {
            src,
            dst,
            seq,
            ack,
            flags: f,
            payload,
        })
    };
    frames.push(seg(client, server, cseq, 0, flags::SYN, b""));
    cseq += 1;
    frames.push(seg(
        server,
        client,
        sseq,
        cseq,
        flags::SYN | flags::ACK,
        b"",
    ));
    sseq += 1;
    frames.push(seg(
        client,
        server,
        cseq,
        sseq,
        flags::ACK,
        b"GET / HTTP/1.1\r\n\r\n",
    ));
    cseq += 18;
    let body: &'static [u8] = Box::leak(Box::new(body));
    for _ in 0..3000 {
        frames.push(seg(server, client, sseq, cseq, flags::ACK, body));
        sseq += 1400;
        frames.push(seg(client, server, cseq, sseq, flags::ACK, b""));
    }
    let mut analyzer = Analyzer::new(options).unwrap();
    let feed = |analyzer: &mut Analyzer, range: std::ops::Range<usize>| {
        for (i, data) in frames[range.clone()].iter().enumerate() {
            analyzer.frame(&Frame {
                // 10 µs apart: the whole exchange stays within one second.
                ts_ns: 1_700_000_000_000_000_000 + (range.start + i) as u64 * 10_000,
                linktype: LinkType::ETHERNET,
                data,
                orig_len: data.len() as u32,
                input: 0,
            });
        }
    };
    // Warm-up: the connection, its history and its retransmission tail
    // (and the batches' first trips).
    const WARM: usize = 1000;
    feed(&mut analyzer, 0..WARM);
    // (The first wait for the workers sets up the channels' wait lists.)
    analyzer.catch_up();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    feed(&mut analyzer, WARM..frames.len() - 200);
    analyzer.catch_up();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    feed(&mut analyzer, frames.len() - 200..frames.len());
    assert!(
        after - before <= slack,
        "{} allocations over {} packets",
        after - before,
        frames.len() - 200 - WARM
    );
    let report = analyzer.finish(Vec::new());
    assert_eq!(report.connections.len(), 1);
    assert_eq!(report.connections[0].bytes.server, 3000 * 1400);
}
