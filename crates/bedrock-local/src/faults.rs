//! Fault injection: `POST /_emulator/faults {"kind": K, "count": N}` makes the next N model
//! calls fail that way, so clients are tested unchanged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::BedrockError;

/// The ways a model call can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// 429 ThrottlingException before the stream.
    Throttle,
    /// 400 ValidationException before the stream.
    Validation,
    /// 500 InternalServerException before the stream.
    Internal,
    /// 408 ModelTimeoutException before the stream.
    ModelTimeout,
    /// 503 ServiceUnavailableException before the stream.
    ServiceUnavailable,
    /// 429 ModelNotReadyException before the stream.
    ModelNotReady,
    /// 403 AccessDeniedException before the stream.
    AccessDenied,
    /// 424 ModelErrorException before the stream.
    ModelError,
    /// Some chunks, then an exception frame (`exception`, default modelStreamErrorException).
    Midstream,
    /// Some chunks, then silence with the connection held open.
    Stall,
    /// A frame whose message CRC is wrong.
    BadCrc,
    /// The body ends in the middle of a frame.
    Truncate,
}

/// One queued fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    /// For `midstream`: which in-stream exception to send (`throttlingException`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// For stream faults: how many frames go out before the fault (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u32>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// The error a pre-stream fault turns into; `None` for faults that act inside the stream.
    pub fn pre_stream_error(&self) -> Option<BedrockError> {
        let msg = |what: &str| format!("{what} (injected by local-bedrock)");
        Some(match self.kind {
            FaultKind::Throttle => {
                BedrockError::Throttling(msg("Too many requests, please wait before trying again."))
            }
            FaultKind::Validation => BedrockError::Validation(msg("Malformed input request")),
            FaultKind::Internal => {
                BedrockError::Internal(msg("The server encountered an internal error"))
            }
            FaultKind::ModelTimeout => {
                BedrockError::ModelTimeout(msg("Model has timed out in processing the request"))
            }
            FaultKind::ServiceUnavailable => {
                BedrockError::ServiceUnavailable(msg("Service unavailable"))
            }
            FaultKind::ModelNotReady => {
                BedrockError::ModelNotReady(msg("Model is not ready to serve inference requests"))
            }
            FaultKind::AccessDenied => BedrockError::AccessDenied(msg(
                "You don't have access to the model with the specified model ID.",
            )),
            FaultKind::ModelError => BedrockError::ModelError(msg("The model returned an error")),
            FaultKind::Midstream | FaultKind::Stall | FaultKind::BadCrc | FaultKind::Truncate => {
                return None
            }
        })
    }

    /// The exception a `midstream` fault sends.
    pub fn midstream_error(&self) -> BedrockError {
        let m = "An error occurred while streaming the response (injected by local-bedrock)"
            .to_string();
        match self.exception.as_deref() {
            Some("throttlingException") => BedrockError::Throttling(m),
            Some("validationException") => BedrockError::Validation(m),
            Some("internalServerException") => BedrockError::Internal(m),
            Some("modelTimeoutException") => BedrockError::ModelTimeout(m),
            Some("serviceUnavailableException") => BedrockError::ServiceUnavailable(m),
            _ => BedrockError::ModelStreamError(m),
        }
    }

    pub fn frames_before(&self) -> usize {
        self.after.unwrap_or(2) as usize
    }
}

/// The queue of pending faults, shared by all requests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    queue: Arc<Mutex<VecDeque<Fault>>>,
}

impl Faults {
    pub fn push(&self, fault: Fault) {
        if fault.count == 0 {
            return;
        }
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(fault);
        }
    }

    /// Takes the fault for the next model call, if any.
    pub fn take(&self) -> Option<Fault> {
        let mut q = self.queue.lock().ok()?;
        let front = q.front_mut()?;
        let fault = front.clone();
        front.count -= 1;
        if front.count == 0 {
            q.pop_front();
        }
        Some(Fault { count: 1, ..fault })
    }

    pub fn pending(&self) -> Vec<Fault> {
        self.queue
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_in_order() {
        let f = Faults::default();
        f.push(Fault {
            kind: FaultKind::Throttle,
            count: 2,
            exception: None,
            after: None,
        });
        f.push(Fault {
            kind: FaultKind::Stall,
            count: 1,
            exception: None,
            after: None,
        });
        assert_eq!(f.take().map(|x| x.kind), Some(FaultKind::Throttle));
        assert_eq!(f.take().map(|x| x.kind), Some(FaultKind::Throttle));
        assert_eq!(f.take().map(|x| x.kind), Some(FaultKind::Stall));
        assert_eq!(f.take(), None);
        let parsed: Fault = serde_json::from_str(r#"{"kind":"model-timeout","count":3}"#).unwrap();
        assert_eq!(parsed.kind, FaultKind::ModelTimeout);
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"nope"}"#).is_err());
    }
}
