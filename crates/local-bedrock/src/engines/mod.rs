//! Engines that plug into the local endpoint.

pub mod model;
pub mod openai;
pub mod scripted;
