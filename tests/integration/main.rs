//! One integration-test binary (shared helpers in `common`), driving the
//! `sessmap` binary on the captures in testdata/, on edge cases written with
//! the project's capture writer, and on the shared corpus.

mod bad_files;
mod common;
mod corpus;
mod edge_cases;
mod errors;
mod extract;
mod formats;
mod ftp_corpus;
mod ftp_sessions;
mod fuzz_regressions;
mod html_report;
mod http2_corpus;
mod http_corpus;
mod http_sessions;
mod https_edge;
mod https_sessions;
mod keylog_corpus;
mod live;
mod lossy;
mod lossy_edge;
mod real_captures;
mod schema;
mod threads;
mod tls_corpus;
mod tls_keylog;
