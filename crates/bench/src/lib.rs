//! bedrock-stream's benchmarks and load test, on loopback only, every loop bounded in count and
//! time. Three layers, each using only the ones before it:
//! - [`harness`]: the programs outside this process (this project's binaries, LiteLLM, Node.js,
//!   Python, llama.cpp), `/proc` readings, the HTTP and SDK clients;
//! - [`scenario`]: each measures one thing (`serve` alone, serve vs LiteLLM, Lambda cold start,
//!   the embedded model vs llama.cpp, binary sizes) and returns a plain serde report; two
//!   measurements are shared: a gateway under a checked load ([`scenario::load::LoadRun`]) and
//!   first content against a direct call ([`scenario::paired`]); [`scenario::all`] runs them all;
//! - [`render`]: reports in, `BENCHMARKS.md` and its SVG plots out.
//!
//! A new benchmark is a file in `scenario/` (config + report + `run`), a section in `render/`,
//! and a subcommand in `main.rs`.

/// A table row from anything printable: `row![a, b, c]`.
macro_rules! row {
    ($($cell:expr),* $(,)?) => { vec![$($cell.to_string()),*] };
}

pub mod harness;
pub mod render;
pub mod scenario;
pub mod stats;
