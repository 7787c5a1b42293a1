//! bedrock-stream's benchmarks and load test, on loopback only, every loop bounded in count and
//! time: `load` (throughput with faults, every byte checked), `latency` (first byte and per-chunk
//! delay added by `serve`), `startup` (ready time, memory at 1/100/1,000 streams), `all`,
//! which writes `BENCHMARKS.md` (and saves the raw results), and `render`, which writes it again
//! from the saved results.

pub mod cases;
pub mod client;
pub mod coldstart;
pub mod gateways;
pub mod latency;
pub mod load;
pub mod model;
pub mod procs;
pub mod report;
pub mod run;
pub mod sizes;
pub mod startup;
pub mod stats;
pub mod svg;
pub mod tap;
