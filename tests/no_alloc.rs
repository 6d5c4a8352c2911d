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

#[test]
fn in_order_packets_allocate_nothing() {
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
    let mut analyzer = Analyzer::new(&Options::default()).unwrap();
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
    // Warm-up: the connection, its history and its retransmission tail.
    feed(&mut analyzer, 0..100);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    feed(&mut analyzer, 100..frames.len());
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "allocations over {} packets",
        frames.len() - 100
    );
    let report = analyzer.finish(Vec::new());
    assert_eq!(report.connections.len(), 1);
    assert_eq!(report.connections[0].bytes.server, 3000 * 1400);
}
