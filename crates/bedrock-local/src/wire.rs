//! The `application/vnd.amazon.eventstream` frames Bedrock streams: `chunk` events whose payload
//! is `{"bytes": base64(json), "p": padding}`, typed Converse events, and exception frames.
//! Frames are built with `aws-smithy-eventstream`, the codec the AWS SDKs use to read them.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use crate::error::BedrockError;

pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

const PADDING_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Bedrock pads payloads with a run of letters so that frame sizes do not reveal token lengths.
pub fn padding(seed: usize) -> &'static str {
    let len = 1 + (seed.wrapping_mul(7919) % 40);
    std::str::from_utf8(&PADDING_ALPHABET[..len]).unwrap_or("a")
}

fn encode(message: &Message) -> Bytes {
    let mut buf = Vec::with_capacity(message.payload().len() + 128);
    // Writing to a Vec only fails for frames over the format's 16 MiB limit; our payloads are
    // small JSON documents, and an empty frame is still a decodable error for the client.
    if write_message_to(message, &mut buf).is_err() {
        buf.clear();
    }
    Bytes::from(buf)
}

fn header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_string().into()))
}

/// A `chunk` event carrying one model chunk (the family's JSON).
pub fn chunk_frame(chunk: &Value, seq: usize) -> Bytes {
    let json = serde_json::to_vec(chunk).unwrap_or_default();
    let payload = serde_json::json!({
        "bytes": base64::engine::general_purpose::STANDARD.encode(json),
        "p": padding(seq),
    });
    event_frame("chunk", payload)
}

/// A typed event (`messageStart`, `contentBlockDelta`, … or `chunk`).
pub fn event_frame(event_type: &str, payload: Value) -> Bytes {
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let message = Message::new(body)
        .add_header(header(":event-type", event_type))
        .add_header(header(":content-type", "application/json"))
        .add_header(header(":message-type", "event"));
    encode(&message)
}

/// A Converse event: its members plus padding.
pub fn converse_event_frame(event_type: &str, mut members: Value, seq: usize) -> Bytes {
    if let Value::Object(map) = &mut members {
        map.insert("p".into(), Value::String(padding(seq).to_string()));
    }
    event_frame(event_type, members)
}

/// An in-stream exception (`:message-type exception`).
pub fn exception_frame(error: &BedrockError) -> Bytes {
    let body = serde_json::to_vec(&error.payload()).unwrap_or_default();
    let message = Message::new(body)
        .add_header(header(":exception-type", error.stream_name()))
        .add_header(header(":content-type", "application/json"))
        .add_header(header(":message-type", "exception"));
    encode(&message)
}

/// Flips a bit of the message CRC (the frame's last four bytes): a `bad-crc` fault.
pub fn corrupt_crc(frame: &Bytes) -> Bytes {
    let mut v = frame.to_vec();
    if let Some(last) = v.last_mut() {
        *last ^= 0x5a;
    }
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8], step: usize) -> Result<Vec<Message>, String> {
        let mut decoder = MessageFrameDecoder::new();
        let mut out = Vec::new();
        let mut buf = bytes::BytesMut::new();
        for piece in bytes.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let DecodedFrame::Complete(m) =
                decoder.decode_frame(&mut buf).map_err(|e| e.to_string())?
            {
                out.push(m);
            }
        }
        if !buf.is_empty() {
            return Err(format!("{} trailing bytes", buf.len()));
        }
        Ok(out)
    }

    fn header_str<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
    }

    proptest! {
        #[test]
        fn chunk_frames_round_trip(text in ".{0,300}", seq in 0usize..1000, step in 1usize..64) {
            let chunk = serde_json::json!({"completion": text, "stop_reason": null});
            let frame = chunk_frame(&chunk, seq);
            let messages = decode_all(&frame, step).unwrap();
            prop_assert_eq!(messages.len(), 1);
            let m = &messages[0];
            prop_assert_eq!(header_str(m, ":event-type"), Some("chunk"));
            prop_assert_eq!(header_str(m, ":message-type"), Some("event"));
            let payload: Value = serde_json::from_slice(m.payload()).unwrap();
            let inner = base64::engine::general_purpose::STANDARD
                .decode(payload["bytes"].as_str().unwrap()).unwrap();
            let back: Value = serde_json::from_slice(&inner).unwrap();
            prop_assert_eq!(back, chunk);
        }

        #[test]
        fn corrupted_frames_are_rejected_not_panics(
            text in ".{0,100}", flip in 0usize..10_000, bit in 0u8..8, cut in 0usize..10_000
        ) {
            let frame = chunk_frame(&serde_json::json!({"t": text}), 1);
            let mut bad = frame.to_vec();
            let i = flip % bad.len();
            bad[i] ^= 1 << bit;
            // Any single bit flip breaks a CRC or a length: the decoder must say so.
            prop_assert!(decode_all(&bad, 7).is_err());
            // A cut frame never decodes to a message.
            let cut = cut % frame.len();
            let r = decode_all(&frame[..cut], 5);
            prop_assert!(r.is_err() || r.unwrap().is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_all(&bytes, 3);
        }
    }

    #[test]
    fn exception_frames_carry_the_type() {
        let f = exception_frame(&BedrockError::Throttling("slow down".into()));
        let m = &decode_all(&f, 1000).unwrap()[0];
        assert_eq!(header_str(m, ":message-type"), Some("exception"));
        assert_eq!(
            header_str(m, ":exception-type"),
            Some("throttlingException")
        );
        assert!(decode_all(&corrupt_crc(&f), 1000).is_err());
    }
}
