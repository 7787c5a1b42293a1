//! A local Amazon Bedrock runtime endpoint that the real AWS SDKs accept: the four runtime
//! operations over HTTP/1.1 and h2c, event-stream frames, per-family chunk shapes, Bedrock's
//! errors and in-stream exceptions, request validation as Bedrock validates (model ids, tool use,
//! images, documents, reasoning), fault injection, and pluggable engines that write the answer.

pub mod activity;
mod answer;
mod converse;
pub mod engine;
pub mod engines;
pub mod error;
pub mod faults;
pub mod media;
mod models;
mod routes;
pub mod server;
mod state;
mod stream;
mod validate;
pub mod wire;

pub use activity::Activity;
pub use engine::{CachePoint, Engine, EngineError, EngineEvent, GenerationRequest};
pub use engines::scripted::{ScriptedConfig, ScriptedEngine};
pub use error::BedrockError;
pub use faults::{Fault, FaultKind};
pub use server::{LocalBedrock, RunningServer};
