//! Shared test support: the Runtime API emulator and a streaming test router.
// Test scaffolding: failing loudly is the point (clippy only exempts `#[test]` bodies).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The emulator lives in its own crate (`crates/lambda-emulator`), shared with the benchmark.
pub use lambda_emulator as emulator;
pub mod jitter;
pub mod router;
