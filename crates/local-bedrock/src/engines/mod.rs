//! Engines that plug into the local endpoint.

pub mod openai;
pub mod scripted;
