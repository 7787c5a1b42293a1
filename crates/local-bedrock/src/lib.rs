//! A local Amazon Bedrock runtime endpoint that the real AWS SDKs accept: the four runtime
//! operations over HTTP/1.1 and h2c, event-stream frames, per-family chunk shapes, Bedrock's
//! errors and in-stream exceptions, fault injection, and pluggable engines that write the text.

pub mod activity;
mod converse;
pub mod engine;
pub mod engines;
pub mod error;
pub mod faults;
mod routes;
pub mod server;
mod stream;
pub mod wire;

pub use activity::Activity;
pub use engine::{Engine, EngineError, EngineEvent, GenerationRequest};
pub use engines::scripted::{ScriptedConfig, ScriptedEngine};
pub use error::BedrockError;
pub use faults::{Fault, FaultKind};
pub use server::{LocalBedrock, RunningServer};
