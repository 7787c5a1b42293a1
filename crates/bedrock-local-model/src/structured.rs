//! Generation with tools and JSON answers ([`EmbeddedModel::generate_events`]).
//!
//! - **A forced tool call** (`ToolChoice::Any` or `Tool`): the answer starts with the tool
//!   format's opener, written for the model, and the JSON `{"name": …, "arguments": …}` that
//!   follows is constrained to the tools' schemas; the arguments stream as
//!   [`Piece::ToolInput`] fragments and generation stops when the JSON is complete.
//! - **`auto`**: the first token is a constrained choice between the two branches: a token that
//!   begins the tool-call opener commits to a call (the rest of the opener is written for the
//!   model, then the call is constrained as above); any other token begins a text answer (or,
//!   with an output schema, a JSON answer).
//!   Under `auto` the call is held back until it is complete: a call that repeats one already
//!   made in the conversation (same tool, same input; its result is in the prompt) is dropped
//!   and the answer is generated again from the prompt with the tool branch excluded, as text.
//!   Small models otherwise call the same tool again after reading its result.
//! - **A JSON answer** (`Prompt::output_schema`): the whole answer is constrained to the schema
//!   and streams as [`Piece::Text`].
//!
//! Stop sequences do not apply to constrained output (they would cut the JSON). Whatever the
//! budget, the JSON is finished within `max_tokens` when it could be at the start (see
//! [`crate::constrain::Matcher::fits`]); when even that is not sure (the shortest document has
//! more bytes than `max_tokens`), every token must bring its end closer. Bytes that every continuation shares (keys of required
//! properties, `", "arguments": `) are read in one batch without sampling, except the last
//! token of such a run, which the model samples so that it can join it with what follows.

use std::ops::ControlFlow;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bedrock_families::{Part, Prompt, Sampling, StopReason, ToolChoice, ToolSpec};
use serde_json::Value;

use crate::chat::Extras;
use crate::constrain::{write_json, Compiled, Grammar, Mask, Matcher, TokenIndex};
use crate::model::Session;
use crate::sampler::Sampler;
use crate::stream::TextStream;
use crate::{EmbeddedModel, Generation};

/// What a generation streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Answer text (a JSON answer's text too).
    Text(&'a str),
    /// The model calls this tool; its input follows as [`Piece::ToolInput`].
    ToolUse { name: &'a str },
    /// The next fragment of the tool call's input (JSON text; the fragments together are one
    /// JSON object).
    ToolInput(&'a str),
}

/// The tool call of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUse {
    pub name: String,
    /// The input as JSON text (complete when the generation stopped with `ToolUse`).
    pub input: String,
}

/// What constrained decoding cost in one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConstraintStats {
    /// Tokens sampled under a mask.
    pub sampled: u32,
    /// Tokens read without sampling (bytes every continuation shares).
    pub forced: u32,
    /// Masks computed, and found in the cache.
    pub masks_computed: u32,
    pub masks_cached: u32,
    /// Time spent on masks (computing, looking up, applying) and checking tokens.
    pub time: Duration,
}

/// The tool-call JSON's grammar, and the start of each tool's call with the tool's name.
type ToolGrammar = (Arc<Compiled>, Vec<(Vec<u8>, String)>);

/// How a prompt is generated.
pub(crate) struct Plan {
    pub extras: Extras,
    /// The answer's schema.
    answer: Option<Arc<Compiled>>,
    /// The tool-call JSON's grammar, and the names the call may start with.
    tools: Option<ToolGrammar>,
    forced: bool,
    /// The calls already made in the conversation (tool name, input).
    made: Vec<(String, Value)>,
}

/// Compiled grammars kept for reuse (agent loops send the same tools again and again).
const COMPILED_KEPT: usize = 16;

impl EmbeddedModel {
    pub(crate) fn token_index(&self) -> &TokenIndex {
        self.index.get_or_init(|| {
            let t = &self.tokenizer;
            TokenIndex::new(t.vocab_size(), |i| t.piece(i), |i| t.is_control(i))
        })
    }

    fn compiled(
        &self,
        key: String,
        make: impl FnOnce() -> Result<Grammar>,
    ) -> Result<Arc<Compiled>> {
        let mut kept = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = kept.iter().position(|(k, _)| *k == key) {
            let entry = kept.remove(i);
            let c = entry.1.clone();
            kept.push(entry);
            return Ok(c);
        }
        let c = Compiled::new(make()?);
        if kept.len() >= COMPILED_KEPT {
            kept.remove(0);
        }
        kept.push((key, c.clone()));
        Ok(c)
    }

    /// Checks that the prompt's tools and output schema can be followed (schemas within the
    /// supported subset, the chosen tool exists), without generating. The error names what
    /// is not supported.
    pub fn check(&self, prompt: &Prompt) -> Result<()> {
        self.plan(prompt).map(|_| ())
    }

    /// The token ids [`EmbeddedModel::generate_events`] reads for `prompt`: the chat with the
    /// tool instructions, the output schema and (for a forced call) the call's opener. Fails
    /// as [`EmbeddedModel::check`] does.
    pub fn structured_prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let plan = self.plan(prompt)?;
        let fragments = self
            .template
            .render_with(prompt, &self.tokenizer, &plan.extras);
        Ok(self.tokenizer.encode_fragments(&fragments))
    }

    pub(crate) fn plan(&self, prompt: &Prompt) -> Result<Plan> {
        let format = self.tool_format;
        let mut system = Vec::new();
        let tools_on = !prompt.tools.is_empty() && prompt.tool_choice != ToolChoice::None;
        let tools = if tools_on {
            let chosen: Vec<&ToolSpec> = match &prompt.tool_choice {
                ToolChoice::Tool(name) => {
                    let t: Vec<&ToolSpec> =
                        prompt.tools.iter().filter(|t| t.name == *name).collect();
                    if t.is_empty() {
                        bail!("the tool choice names {name:?}, which is not among the tools");
                    }
                    t
                }
                _ => prompt.tools.iter().collect(),
            };
            system.push(format.system_text(&prompt.tools, &prompt.tool_choice));
            let mut key = String::from("tools");
            for t in &chosen {
                key.push('\u{0}');
                key.push_str(&t.name);
                key.push('\u{0}');
                key.push_str(&t.input_schema.to_string());
            }
            let compiled = self.compiled(key, || {
                let list: Vec<(&str, &Value)> = chosen
                    .iter()
                    .map(|t| (t.name.as_str(), &t.input_schema))
                    .collect();
                Grammar::tool_calls(&list)
            })?;
            let starts = chosen
                .iter()
                .map(|t| {
                    let mut p = b"{\"name\": ".to_vec();
                    write_json(&Value::String(t.name.clone()), &mut p);
                    p.extend_from_slice(b", \"arguments\": ");
                    (p, t.name.clone())
                })
                .collect();
            Some((compiled, starts))
        } else {
            None
        };
        let answer = match &prompt.output_schema {
            Some(s) => {
                let mut text = Vec::new();
                write_json(s, &mut text);
                system.push(format!(
                    "Answer with only a JSON document that follows this JSON schema:\n{}",
                    String::from_utf8_lossy(&text)
                ));
                let s = s.clone();
                Some(
                    self.compiled(format!("schema\u{0}{s}"), || Grammar::compile(&s))
                        .context("the output schema")?,
                )
            }
            None => None,
        };
        let forced =
            tools.is_some() && matches!(prompt.tool_choice, ToolChoice::Any | ToolChoice::Tool(_));
        Ok(Plan {
            extras: Extras {
                format,
                system: (!system.is_empty()).then(|| system.join("\n\n")),
                answer_prefix: forced.then(|| format.opener().to_string()),
            },
            answer,
            tools,
            forced,
            made: prompt
                .turns
                .iter()
                .flat_map(|t| &t.content)
                .filter_map(|p| match p {
                    Part::ToolUse(c) => Some((c.name.clone(), c.input.clone())),
                    _ => None,
                })
                .collect(),
        })
    }

    /// Blocking, like [`EmbeddedModel::generate`], for prompts with tools or an output schema
    /// (and plain ones): calls `on` with each [`Piece`]. A tool call ends the generation with
    /// `stop = ToolUse` and the call in `Generation::tool_use`.
    pub fn generate_events(
        &self,
        prompt: &Prompt,
        sampling: &Sampling,
        seed: u64,
        on: &mut dyn FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let plan = self.plan(prompt)?;
        let fragments = self
            .template
            .render_with(prompt, &self.tokenizer, &plan.extras);
        let tokens = self.tokenizer.encode_fragments(&fragments);
        let (mut result, budget) = self.start(&tokens, sampling)?;
        if budget == 0 {
            return Ok(result);
        }
        let mut session = self.take_session();
        let outcome = Run {
            model: self,
            plan: &plan,
            sampler: Sampler::new(sampling, seed),
            budget,
            produced: 0,
            stats: ConstraintStats::default(),
            no_tool: false,
            on,
        }
        .go(&mut session, &tokens, sampling, &mut result);
        self.return_session(session);
        outcome.map(|()| result)
    }
}

enum Phase {
    /// `auto`: the first token decides between a text answer and a tool call.
    Decide,
    Text(TextStream),
    Answer(Matcher, TextStream),
    Tool(Matcher, ToolStream),
}

struct Run<'a, 'b> {
    model: &'a EmbeddedModel,
    plan: &'a Plan,
    sampler: Sampler,
    budget: usize,
    produced: usize,
    stats: ConstraintStats,
    /// The tool branch is excluded (`auto`, after a repeated call was dropped).
    no_tool: bool,
    on: &'b mut dyn FnMut(Piece<'_>) -> ControlFlow<()>,
}

/// Why the loop stopped.
enum End {
    Stop(StopReason),
    Cancelled,
}

impl Run<'_, '_> {
    fn go(
        &mut self,
        session: &mut Session,
        prompt: &[u32],
        sampling: &Sampling,
        result: &mut Generation,
    ) -> Result<()> {
        let started = Instant::now();
        let m = self.model;
        let tok = &m.tokenizer;
        m.forward(session, prompt)?;
        let prompt_logits =
            (self.plan.tools.is_some() && !self.plan.forced).then(|| session.logits.clone());
        let text_stream = || TextStream::new(&sampling.stop_sequences, tok.strip_leading_space);
        let mut phase = if self.plan.forced {
            self.tool_phase()?
        } else if self.plan.tools.is_some() {
            Phase::Decide
        } else {
            self.answer_phase(text_stream())
        };
        let mut first_token_at = None;
        let end = loop {
            let id = self.choose(&mut phase, &mut session.logits)?;
            if first_token_at.is_none() {
                first_token_at = Some(Instant::now());
                result.prompt_time = started.elapsed();
            }
            if tok.is_control(id) {
                break End::Stop(StopReason::EndTurn);
            }
            self.produced += 1;
            let mut next = vec![id];
            let consumed = if let Phase::Decide = phase {
                let (p, end) = self.decide(id, &mut next, text_stream())?;
                phase = p;
                end
            } else {
                self.consume(&mut phase, tok.piece(id))?
            };
            if let Some(end) = consumed.or_else(|| self.finished(&phase)) {
                if let (End::Stop(StopReason::ToolUse), Some(logits)) = (&end, &prompt_logits) {
                    if !self.no_tool && self.repeats(&phase) {
                        // Generate again from the prompt, as text.
                        session.truncate(prompt.len());
                        session.logits.copy_from_slice(logits);
                        self.produced = 0;
                        self.no_tool = true;
                        phase = self.answer_phase(text_stream());
                        continue;
                    }
                }
                break end;
            }
            if self.produced >= self.budget {
                break End::Stop(StopReason::MaxTokens);
            }
            let forwarded = self.fast_forward(&mut phase, &mut next)?;
            if let Some(end) = forwarded.or_else(|| self.finished(&phase)) {
                break end;
            }
            m.forward(session, &next)?;
        };
        result.output_tokens = u32::try_from(self.produced).unwrap_or(u32::MAX);
        match end {
            End::Stop(s) => result.stop = s,
            End::Cancelled => {
                result.stop = StopReason::EndTurn;
                result.cancelled = true;
            }
        }
        if !result.cancelled {
            let rest = match &mut phase {
                Phase::Text(t) | Phase::Answer(_, t) => t.finish(),
                _ => String::new(),
            };
            if !rest.is_empty() && (self.on)(Piece::Text(&rest)).is_break() {
                result.cancelled = true;
            }
        }
        if let Phase::Tool(_, ts) = &mut phase {
            if !result.cancelled && ts.flush(self.on).is_break() {
                result.cancelled = true;
            }
            result.tool_use = ts.tool_use();
        }
        if let Some(t) = first_token_at {
            result.decode_time = t.elapsed();
        }
        let stats = self.stats;
        result.constraint = stats;
        tracing::debug!(
            input_tokens = result.input_tokens,
            output_tokens = result.output_tokens,
            stop = ?result.stop,
            tool = result.tool_use.as_ref().map(|t| t.name.as_str()),
            masks_computed = stats.masks_computed,
            masks_cached = stats.masks_cached,
            mask_us = stats.time.as_micros() as u64,
            "structured generation finished"
        );
        Ok(())
    }

    fn tool_phase(&self) -> Result<Phase> {
        let Some((compiled, starts)) = &self.plan.tools else {
            bail!("no tools");
        };
        Ok(Phase::Tool(
            Matcher::new(compiled.clone()),
            ToolStream::new(starts.clone(), !self.plan.forced),
        ))
    }

    /// The tool call complete in `phase` repeats one made earlier in the conversation.
    fn repeats(&self, phase: &Phase) -> bool {
        let Phase::Tool(_, ts) = phase else {
            return false;
        };
        let Some(call) = ts.tool_use() else {
            return false;
        };
        let Ok(input) = serde_json::from_str::<Value>(&call.input) else {
            return false;
        };
        self.plan
            .made
            .iter()
            .any(|(name, made)| *name == call.name && *made == input)
    }

    fn answer_phase(&self, text: TextStream) -> Phase {
        match &self.plan.answer {
            Some(c) => Phase::Answer(Matcher::new(c.clone()), TextStream::new(&[], false)),
            None => Phase::Text(text),
        }
    }

    /// Picks the next token: masked by the phase's constraint, and (when the budget allowed a
    /// whole document at the start of the phase) only tokens that leave room to finish it.
    fn choose(&mut self, phase: &mut Phase, logits: &mut [f32]) -> Result<u32> {
        let stats = &mut self.stats;
        let index = self.model.token_index();
        let tok = &self.model.tokenizer;
        let t0 = Instant::now();
        let matcher = match phase {
            Phase::Text(_) => {
                if self.no_tool && self.produced == 0 {
                    let opener = self.model.tool_format.opener().as_bytes();
                    for (id, l) in logits.iter_mut().enumerate() {
                        let p = tok.piece(id as u32);
                        if !p.is_empty() && (opener.starts_with(p) || p.starts_with(opener)) {
                            *l = f32::NEG_INFINITY;
                        }
                    }
                }
                return Ok(self.sampler.sample(logits));
            }
            Phase::Decide => {
                if let Some(mask) = decide_mask(self.model, self.plan, index) {
                    mask.apply(logits);
                    self.stats.time += t0.elapsed();
                }
                return Ok(self.sampler.sample(logits));
            }
            Phase::Answer(mx, _) | Phase::Tool(mx, _) => mx,
        };
        let (before_c, before_h) = (matcher.computed, matcher.cached);
        let mask = matcher.mask(index);
        stats.masks_computed += matcher.computed - before_c;
        stats.masks_cached += matcher.cached - before_h;
        if mask.is_empty() {
            bail!("constrained decoding has no token to continue with");
        }
        mask.apply(logits);
        let room = self.budget - self.produced;
        // Guarded: the rest fits even at one byte per token, and must keep fitting. Otherwise
        // (a long smallest document, such as uuids and dates, under a small `max_tokens`) every
        // token must bring the end closer: nothing optional is opened, strings are closed, and
        // the document is finished in as few tokens as the model's pieces allow.
        let here = matcher.dist();
        let guarded = here as usize <= room;
        stats.sampled += 1;
        let mut chosen = None;
        for _ in 0..64 {
            let id = self.sampler.sample(logits);
            if !mask.contains(id) {
                break;
            }
            if tok.is_control(id) {
                chosen = Some(id);
                break;
            }
            match matcher.after(tok.piece(id)) {
                Some(s) if guarded && matcher.fits(&s, room - 1) => {
                    chosen = Some(id);
                    break;
                }
                Some(s) if !guarded && s.dist(matcher.grammar()) < here => {
                    chosen = Some(id);
                    break;
                }
                _ => logits[id as usize] = f32::NEG_INFINITY,
            }
        }
        let id = match chosen {
            Some(id) => id,
            // The model keeps choosing tokens that leave no room: take the byte that brings
            // the end closest.
            None => (0..=255u8)
                .filter_map(|b| {
                    let id = index.byte_token(b)?;
                    let s = matcher.after(&[b])?;
                    Some((s.dist(matcher.grammar()), id))
                })
                .min()
                .map(|(_, id)| id)
                .context("constrained decoding has no byte to continue with")?,
        };
        stats.time += t0.elapsed();
        Ok(id)
    }

    /// After the first token of `auto`: a token that begins the opener (or holds all of it)
    /// commits to a tool call, the rest of the opener being written for the model; any other
    /// token begins the answer.
    fn decide(
        &mut self,
        id: u32,
        next: &mut Vec<u32>,
        text: TextStream,
    ) -> Result<(Phase, Option<End>)> {
        let tok = &self.model.tokenizer;
        let p = tok.piece(id);
        let opener = self.model.tool_format.opener().as_bytes();
        let starts_call = !p.is_empty() && (opener.starts_with(p) || p.starts_with(opener));
        if !starts_call {
            let mut phase = self.answer_phase(text);
            let end = self.consume(&mut phase, p)?;
            return Ok((phase, end));
        }
        let mut phase = self.tool_phase()?;
        if p.len() > opener.len() {
            let end = self.consume(&mut phase, &p[opener.len()..])?;
            return Ok((phase, end));
        }
        let rest = std::str::from_utf8(&opener[p.len()..]).unwrap_or("");
        let ids = tok.encode(rest);
        if self.produced + ids.len() >= self.budget {
            return Ok((phase, Some(End::Stop(StopReason::MaxTokens))));
        }
        self.produced += ids.len();
        next.extend(ids);
        Ok((phase, None))
    }

    /// Takes the bytes of a token in `phase`: checks them against the constraint and streams
    /// what they make ready.
    fn consume(&mut self, phase: &mut Phase, bytes: &[u8]) -> Result<Option<End>> {
        let flow = match phase {
            Phase::Decide => ControlFlow::Continue(()),
            Phase::Text(text) => {
                let step = text.push(bytes);
                if !step.text.is_empty() && (self.on)(Piece::Text(&step.text)).is_break() {
                    return Ok(Some(End::Cancelled));
                }
                if let Some(stop) = step.stop {
                    return Ok(Some(End::Stop(StopReason::StopSequence(stop))));
                }
                ControlFlow::Continue(())
            }
            Phase::Answer(mx, text) => {
                let t0 = Instant::now();
                if !mx.advance(bytes) {
                    bail!("constrained decoding took a token its state refuses");
                }
                self.stats.time += t0.elapsed();
                let step = text.push(bytes);
                if step.text.is_empty() {
                    ControlFlow::Continue(())
                } else {
                    (self.on)(Piece::Text(&step.text))
                }
            }
            Phase::Tool(mx, ts) => {
                let t0 = Instant::now();
                if !mx.advance(bytes) {
                    bail!("constrained decoding took a token its state refuses");
                }
                let done = mx.is_done();
                self.stats.time += t0.elapsed();
                ts.push(bytes, done, self.on)
            }
        };
        Ok(flow.is_break().then_some(End::Cancelled))
    }

    fn finished(&self, phase: &Phase) -> Option<End> {
        match phase {
            Phase::Tool(mx, _) if mx.is_done() => Some(End::Stop(StopReason::ToolUse)),
            Phase::Answer(mx, _) if mx.is_done() => Some(End::Stop(StopReason::EndTurn)),
            _ => None,
        }
    }

    /// Reads the bytes every continuation shares without sampling (all but their last token),
    /// appending their tokens to `next`.
    fn fast_forward(&mut self, phase: &mut Phase, next: &mut Vec<u32>) -> Result<Option<End>> {
        let t0 = Instant::now();
        let forced = match phase {
            Phase::Answer(mx, _) | Phase::Tool(mx, _) => mx.forced(64),
            _ => return Ok(None),
        };
        self.stats.time += t0.elapsed();
        let valid = match std::str::from_utf8(&forced) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&forced[..e.valid_up_to()]).unwrap_or(""),
        };
        let tok = &self.model.tokenizer;
        let mut ids = tok.encode(valid);
        ids.pop();
        if ids.is_empty() || self.produced + ids.len() >= self.budget {
            return Ok(None);
        }
        for id in ids {
            self.produced += 1;
            self.stats.forced += 1;
            next.push(id);
            if let Some(end) = self.consume(phase, tok.piece(id))? {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }
}

/// `auto` with an output schema: the first token starts the JSON answer or the opener.
/// Without one, any token may start the text (no mask).
fn decide_mask(model: &EmbeddedModel, plan: &Plan, index: &TokenIndex) -> Option<Arc<Mask>> {
    let answer = plan.answer.as_ref()?;
    let mut mx = Matcher::new(answer.clone());
    let base = mx.mask(index);
    let mut mask = (*base).clone();
    let tok = &model.tokenizer;
    let opener = model.tool_format.opener().as_bytes();
    for id in 0..tok.vocab_size() as u32 {
        let p = tok.piece(id);
        if !p.is_empty() && opener.starts_with(p) {
            mask.set(id);
        }
    }
    Some(Arc::new(mask))
}

/// Streams a tool call's JSON as the tool's name and fragments of its arguments.
struct ToolStream {
    /// `{"name": "<name>", "arguments": ` of each tool.
    starts: Vec<(Vec<u8>, String)>,
    doc: Vec<u8>,
    /// The tool named, and where its arguments begin in `doc`.
    call: Option<(String, usize)>,
    /// Bytes of the arguments sent.
    sent: usize,
    /// Pieces held back (the tool named, input fragments) until [`ToolStream::flush`].
    held: Option<(bool, Vec<String>)>,
}

impl ToolStream {
    /// `hold`: stream nothing until [`ToolStream::flush`].
    fn new(starts: Vec<(Vec<u8>, String)>, hold: bool) -> ToolStream {
        ToolStream {
            starts,
            doc: Vec::new(),
            call: None,
            sent: 0,
            held: hold.then(|| (false, Vec::new())),
        }
    }

    /// Streams the pieces held back.
    fn flush(&mut self, on: &mut dyn FnMut(Piece<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        let Some((named, inputs)) = self.held.take() else {
            return ControlFlow::Continue(());
        };
        if let (true, Some((name, _))) = (named, &self.call) {
            on(Piece::ToolUse { name })?;
        }
        for i in &inputs {
            on(Piece::ToolInput(i))?;
        }
        ControlFlow::Continue(())
    }

    /// Adds bytes of the call's JSON; `done`: the JSON is complete (its last byte closes the
    /// call, not the arguments).
    fn push(
        &mut self,
        bytes: &[u8],
        done: bool,
        on: &mut dyn FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.doc.extend_from_slice(bytes);
        if self.call.is_none() {
            if let Some((start, name)) = self.starts.iter().find(|(s, _)| self.doc.starts_with(s)) {
                self.call = Some((name.clone(), start.len()));
                match &mut self.held {
                    Some((named, _)) => *named = true,
                    None => on(Piece::ToolUse { name })?,
                }
            }
        }
        let Some((_, at)) = &self.call else {
            return ControlFlow::Continue(());
        };
        let end = if done {
            self.doc.len().saturating_sub(1)
        } else {
            self.doc.len()
        };
        let from = at + self.sent;
        if end <= from {
            return ControlFlow::Continue(());
        }
        let chunk = &self.doc[from..end];
        let text = match std::str::from_utf8(chunk) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&chunk[..e.valid_up_to()]).unwrap_or(""),
        };
        if text.is_empty() {
            return ControlFlow::Continue(());
        }
        self.sent += text.len();
        match &mut self.held {
            Some((_, inputs)) => {
                inputs.push(text.to_string());
                ControlFlow::Continue(())
            }
            None => on(Piece::ToolInput(text)),
        }
    }

    fn tool_use(&self) -> Option<ToolUse> {
        let (name, at) = self.call.as_ref()?;
        let end = (*at + self.sent).min(self.doc.len());
        Some(ToolUse {
            name: name.clone(),
            input: String::from_utf8_lossy(&self.doc[*at..end]).into_owned(),
        })
    }
}
