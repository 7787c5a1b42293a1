//! Constrained decoding: at each step only the tokens that keep the output a prefix of a JSON
//! document valid for a schema may be sampled.
//!
//! - [`schema`] compiles the JSON Schema subset of tool and response schemas into grammar
//!   nodes ([`Grammar`]);
//! - [`machine`] reads bytes with a pushdown machine over those nodes ([`State`]) and knows how
//!   many bytes still complete a document;
//! - [`vocab`] turns a state into a token mask over the model's vocabulary ([`TokenIndex`]),
//!   walking a trie of the token bytes, with masks cached by state ([`MaskCache`]).
//!
//! No existing crate was used. The candidates, as published on crates.io (checked 2026-11):
//! `llguidance` 1.9.1 (MIT, pure Rust) and `outlines-core` 0.2.14 (Apache-2.0) both turn on
//! serde_json's `preserve_order` feature in their `Cargo.toml`, which Cargo would unify into
//! every crate of this workspace (changing the key order of every `serde_json::Map`);
//! `outlines-core` also builds the `tokenizers` crate with `onig` (the Oniguruma C library) and
//! `hf-hub` by default; `kbnf` 0.5.7 takes grammars, not JSON schemas.
//!
//! Termination: [`Matcher::fits`] tells whether a token leaves enough room in the token budget
//! to finish the document (one token per byte at worst), so a constrained answer cut by
//! `max_tokens` is still complete whenever the budget allowed one at the start.

pub mod machine;
pub mod pattern;
pub mod schema;
pub mod vocab;

use std::sync::Arc;

pub use machine::State;
pub use schema::{write_json, Grammar};
pub use vocab::{Mask, MaskCache, TokenIndex};

/// A schema compiled once, with the masks its generations computed.
pub struct Compiled {
    pub grammar: Grammar,
    pub cache: MaskCache,
}

impl Compiled {
    pub fn new(grammar: Grammar) -> Arc<Compiled> {
        Arc::new(Compiled {
            grammar,
            cache: MaskCache::default(),
        })
    }
}

/// Where one constrained generation is.
pub struct Matcher {
    compiled: Arc<Compiled>,
    state: State,
    scratch: Vec<State>,
    /// Masks computed (not found in the cache) and their total time, for statistics.
    pub computed: u32,
    pub cached: u32,
    pub mask_time: std::time::Duration,
}

impl Matcher {
    pub fn new(compiled: Arc<Compiled>) -> Matcher {
        let state = State::new(&compiled.grammar);
        Matcher {
            compiled,
            state,
            scratch: Vec::new(),
            computed: 0,
            cached: 0,
            mask_time: std::time::Duration::ZERO,
        }
    }

    pub fn grammar(&self) -> &Grammar {
        &self.compiled.grammar
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The tokens allowed now.
    pub fn mask(&mut self, index: &TokenIndex) -> Arc<Mask> {
        let started = std::time::Instant::now();
        let (m, hit) = self.compiled.cache.get_or_compute(
            index,
            &self.compiled.grammar,
            &self.state,
            &mut self.scratch,
        );
        if hit {
            self.cached += 1;
        } else {
            self.computed += 1;
        }
        self.mask_time += started.elapsed();
        m
    }

    /// The state after `bytes`, if they keep the output a valid prefix.
    pub fn after(&self, bytes: &[u8]) -> Option<State> {
        let mut s = self.state.clone();
        s.advance_bytes(&self.compiled.grammar, bytes).then_some(s)
    }

    /// Whether a document can still be finished from `state` in `tokens` tokens (a token holds
    /// at least one byte, and every byte exists as a token in the vocabularies this engine
    /// reads).
    pub fn fits(&self, state: &State, tokens: usize) -> bool {
        state.dist(&self.compiled.grammar) as usize <= tokens
    }

    pub fn set_state(&mut self, s: State) {
        self.state = s;
    }

    /// Reads `bytes`; `false` (state unchanged) if they do not fit.
    pub fn advance(&mut self, bytes: &[u8]) -> bool {
        match self.after(bytes) {
            Some(s) => {
                self.state = s;
                true
            }
            None => false,
        }
    }

    pub fn can_end(&self) -> bool {
        self.state.can_end(&self.compiled.grammar)
    }

    pub fn is_done(&self) -> bool {
        self.state.is_done(&self.compiled.grammar)
    }

    /// Bytes that every continuation starts with.
    pub fn forced(&self, limit: usize) -> Vec<u8> {
        self.state.forced_bytes(&self.compiled.grammar, limit)
    }

    pub fn dist(&self) -> u32 {
        self.state.dist(&self.compiled.grammar)
    }
}

#[cfg(test)]
mod tests;
