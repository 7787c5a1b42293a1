//! Upstream decoders: a Bedrock event stream of either operation → typed [`OutEvent`]s and the
//! answer's [`Summary`]. InvokeModel chunks are read by their family's decoder; ConverseStream
//! events by [`converse`].

mod converse;
mod invoke;
mod trace;

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, ResponseStream};
use bedrock_families::{ChunkDecoder, Family};

use crate::bedrock::{converse_stream_code, from_stream, invoke_stream_code};
use crate::error::AppError;
use crate::format::{OutEvent, Summary};

pub(crate) use converse::converse_response;
pub(crate) use invoke::decode_invoke_chunk;

/// An upstream Bedrock stream of either operation.
pub(crate) enum Upstream {
    Invoke {
        rx: EventReceiver<ResponseStream, ResponseStreamError>,
        /// The family's stream decoder (from the request's family); `None` until the family
        /// is sniffed from the first chunk.
        decoder: Option<ChunkDecoder>,
    },
    Converse {
        rx: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
    },
}

impl Upstream {
    pub(crate) fn invoke(
        rx: EventReceiver<ResponseStream, ResponseStreamError>,
        family: Option<Family>,
    ) -> Self {
        Upstream::Invoke {
            rx,
            decoder: family.map(ChunkDecoder::new),
        }
    }

    pub(crate) fn converse(
        rx: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
    ) -> Self {
        Upstream::Converse { rx }
    }

    /// Reads the next upstream event: what it says about the answer goes into `out` and
    /// `summary`. `Ok(true)` when the stream has ended.
    pub(crate) async fn next(
        &mut self,
        summary: &mut Summary,
        out: &mut VecDeque<OutEvent>,
    ) -> Result<bool, AppError> {
        match self {
            Upstream::Invoke { rx, decoder } => match rx.recv().await {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let bytes = part.bytes().map(|b| b.as_ref()).unwrap_or_default();
                    decode_invoke_chunk(bytes, decoder, summary, out);
                    Ok(false)
                }
                Ok(Some(_)) => Ok(false),
                Ok(None) => Ok(true),
                Err(e) => Err(from_stream(&e, invoke_stream_code)),
            },
            Upstream::Converse { rx } => match rx.recv().await {
                Ok(Some(event)) => {
                    converse::decode_event(event, summary, out);
                    Ok(false)
                }
                Ok(None) => Ok(true),
                Err(e) => Err(from_stream(&e, converse_stream_code)),
            },
        }
    }
}
