//! Reading a whole InvokeModelWithResponseStream answer, chunk after chunk: the families whose
//! chunks only make sense in sequence (Nova's one block per text piece, OpenAI's tool-call
//! indexes, gpt-oss reasoning inside `<reasoning>` tags) keep their state here, and every
//! family's blocks come out numbered as Converse numbers them.

use serde_json::Value;

use crate::{
    anthropic, anthropic_messages, cohere, llama, mistral, nova, openai, titan, BlockEvent,
    BlockStart, ChunkInfo, Family, INVOCATION_METRICS_KEY,
};

/// Reads the chunks of one streamed answer, in order.
#[derive(Debug, Clone)]
pub struct ChunkDecoder {
    family: Family,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Stateless,
    Nova(nova::StreamState),
    Chat(openai::StreamState),
    CohereChat(cohere::StreamState),
}

impl ChunkDecoder {
    pub fn new(family: Family) -> ChunkDecoder {
        let state = match family {
            Family::Nova => State::Nova(nova::StreamState::default()),
            // Mistral Large 2402 answers text bodies with `outputs` and chat bodies with
            // `choices`: the chunk says which.
            Family::OpenAiChat | Family::MistralChat | Family::Mistral => {
                State::Chat(openai::StreamState::default())
            }
            Family::CohereChat => State::CohereChat(cohere::StreamState::default()),
            _ => State::Stateless,
        };
        ChunkDecoder { family, state }
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Reads the next chunk of the stream.
    pub fn decode(&mut self, chunk: &Value) -> ChunkInfo {
        let mut info = match (&mut self.state, self.family) {
            (State::Nova(s), _) => s.decode(chunk),
            (State::Chat(_), Family::Mistral) if chunk.get("outputs").is_some() => {
                mistral::decode_text_chunk(chunk)
            }
            (State::Chat(s), _) => s.decode(chunk),
            (State::CohereChat(s), _) => s.decode(chunk),
            (State::Stateless, Family::AnthropicText) => anthropic::decode_text_chunk(chunk),
            (State::Stateless, Family::AnthropicMessages) => {
                anthropic_messages::decode_chunk(chunk)
            }
            (State::Stateless, Family::Titan) => titan::decode_chunk(chunk),
            (State::Stateless, Family::Llama) => llama::decode_chunk(chunk),
            (State::Stateless, Family::Cohere) => cohere::decode_chunk(chunk),
            (State::Stateless, Family::OpenAiText) => openai::decode_text_chunk(chunk),
            // Stateful families always have their state.
            (State::Stateless, _) => ChunkInfo::default(),
        };
        if let Some(m) = chunk.get(INVOCATION_METRICS_KEY) {
            info.metrics = serde_json::from_value(m.clone()).ok();
            if let Some(m) = info.metrics {
                info.input_tokens.get_or_insert(m.input_token_count);
                info.output_tokens.get_or_insert(m.output_token_count);
            }
            info.recognised = true;
        }
        info
    }
}

/// What kind of block is open, for decoders that number blocks themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Open {
    Text,
    Reasoning,
    /// A tool call, keyed by the family's own handle for it (OpenAI's `index`, Nova's block
    /// index, a Mistral call id).
    Tool(String),
}

/// Numbers content blocks as Converse does: one index per block, in order of appearance, a
/// stop when the next block starts or the message ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Blocks {
    open: Option<(u32, Open)>,
    next: u32,
    /// Tool calls seen, with their block index (a call may continue after other blocks).
    tools: Vec<(String, u32)>,
}

impl Blocks {
    /// The index of the open block of `kind`, opening it (and closing another) if needed.
    /// `start` is what a new tool block announces.
    pub(crate) fn enter(
        &mut self,
        kind: Open,
        start: Option<BlockStart>,
        info: &mut ChunkInfo,
    ) -> u32 {
        if let Some((index, open)) = &self.open {
            if *open == kind {
                return *index;
            }
        }
        if let Open::Tool(key) = &kind {
            if let Some((_, index)) = self.tools.iter().find(|(k, _)| k == key) {
                let index = *index;
                self.close(info);
                self.open = Some((index, kind));
                return index;
            }
        }
        self.close(info);
        let index = self.next;
        self.next += 1;
        if let Open::Tool(key) = &kind {
            self.tools.push((key.clone(), index));
        }
        match (&kind, start) {
            (_, Some(start)) => info.push(BlockEvent::Start { index, start }),
            (Open::Reasoning, None) => info.push(BlockEvent::Start {
                index,
                start: BlockStart::Reasoning,
            }),
            _ => {}
        }
        self.open = Some((index, kind));
        index
    }

    /// Whether a tool call with this key has been seen.
    pub(crate) fn knows_tool(&self, key: &str) -> bool {
        self.tools.iter().any(|(k, _)| k == key)
    }

    /// Closes the open block, if any.
    pub(crate) fn close(&mut self, info: &mut ChunkInfo) {
        if let Some((index, _)) = self.open.take() {
            info.push(BlockEvent::Stop { index });
        }
    }

    /// The open block's kind.
    pub(crate) fn open_kind(&self) -> Option<&Open> {
        self.open.as_ref().map(|(_, k)| k)
    }
}
