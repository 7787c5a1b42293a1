//! Token masks: which tokens of the vocabulary keep the output a prefix of some document.
//!
//! The vocabulary's byte strings are laid out as a trie in preorder (each node knowing the size
//! of its subtree); a mask is one walk of it, carrying the machine's state down the trie and
//! skipping a whole subtree at the first byte the machine refuses. Inside a string (most of a
//! tool call's tokens), the tokens made only of plain string bytes are all allowed and are
//! taken from a precomputed set, and only the rest (quotes, backslashes, control bytes) are
//! walked. Masks are cached by state: a state recurs at every step inside a string, and in
//! every call with the same schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::machine::State;
use super::schema::Grammar;

/// A set of token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    bits: Vec<u64>,
}

impl Mask {
    pub fn new(n: usize) -> Mask {
        Mask {
            bits: vec![0; n.div_ceil(64)],
        }
    }

    pub fn set(&mut self, id: u32) {
        if let Some(w) = self.bits.get_mut(id as usize / 64) {
            *w |= 1 << (id % 64);
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.bits
            .get(id as usize / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    fn union_with(&mut self, o: &Mask) {
        for (a, b) in self.bits.iter_mut().zip(&o.bits) {
            *a |= b;
        }
    }

    /// Sets the logits of tokens outside the mask to −∞.
    pub fn apply(&self, logits: &mut [f32]) {
        for (chunk, &w) in logits.chunks_mut(64).zip(&self.bits) {
            if w == u64::MAX {
                continue;
            }
            if w == 0 {
                chunk.fill(f32::NEG_INFINITY);
                continue;
            }
            for (i, l) in chunk.iter_mut().enumerate() {
                if w & (1 << i) == 0 {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct TrieNode {
    byte: u8,
    /// Nodes in this node's subtree, itself included.
    subtree: u32,
    /// `tokens[first..first + count]` end here.
    first: u32,
    count: u32,
}

/// Token byte strings as a trie in preorder.
#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
    tokens: Vec<u32>,
}

impl Trie {
    fn build(mut entries: Vec<(&[u8], u32)>) -> Trie {
        entries.sort_unstable();
        // Build with explicit children, then lay out in preorder.
        struct Tmp {
            byte: u8,
            children: Vec<usize>,
            tokens: Vec<u32>,
        }
        let mut tmp = vec![Tmp {
            byte: 0,
            children: Vec::new(),
            tokens: Vec::new(),
        }];
        for (bytes, id) in entries {
            let mut at = 0;
            for &b in bytes {
                // Entries are sorted, so a child with this byte, if any, is the last one.
                let existing = tmp[at]
                    .children
                    .last()
                    .copied()
                    .filter(|&c| tmp[c].byte == b);
                at = match existing {
                    Some(c) => c,
                    None => {
                        tmp.push(Tmp {
                            byte: b,
                            children: Vec::new(),
                            tokens: Vec::new(),
                        });
                        let c = tmp.len() - 1;
                        tmp[at].children.push(c);
                        c
                    }
                };
            }
            tmp[at].tokens.push(id);
        }
        let mut trie = Trie::default();
        // Preorder with an explicit stack; subtree sizes filled in on the way back.
        let mut stack: Vec<(usize, usize, usize)> = vec![(0, 0, 0)]; // (tmp, preorder index, next child)
        trie.nodes.push(TrieNode {
            byte: 0,
            subtree: 1,
            first: 0,
            count: 0,
        });
        trie.tokens.extend(&tmp[0].tokens);
        trie.nodes[0].count = tmp[0].tokens.len() as u32;
        while let Some(&mut (t, idx, ref mut child)) = stack.last_mut() {
            if let Some(&c) = tmp[t].children.get(*child) {
                *child += 1;
                let first = trie.tokens.len() as u32;
                trie.tokens.extend(&tmp[c].tokens);
                trie.nodes.push(TrieNode {
                    byte: tmp[c].byte,
                    subtree: 1,
                    first,
                    count: tmp[c].tokens.len() as u32,
                });
                stack.push((c, trie.nodes.len() - 1, 0));
            } else {
                stack.pop();
                trie.nodes[idx].subtree = (trie.nodes.len() - idx) as u32;
            }
        }
        trie
    }

    /// Adds to `mask` every token whose bytes `start` accepts.
    fn walk(&self, g: &Grammar, start: &State, mask: &mut Mask, states: &mut Vec<State>) {
        if states.is_empty() {
            states.push(State::default());
        }
        states[0].clone_from(start);
        // End (exclusive preorder index) of each open ancestor's subtree; the state after the
        // ancestor at depth d is states[d + 1].
        let mut ends: Vec<usize> = Vec::new();
        let n = self.nodes.len();
        let mut i = 1;
        while i < n {
            while ends.last().is_some_and(|&e| i >= e) {
                ends.pop();
            }
            let d = ends.len();
            if states.len() < d + 2 {
                states.resize_with(d + 2, State::default);
            }
            let (parents, children) = states.split_at_mut(d + 1);
            let child = &mut children[0];
            child.clone_from(&parents[d]);
            let node = self.nodes[i];
            if child.advance(g, node.byte) {
                for &t in &self.tokens[node.first as usize..(node.first + node.count) as usize] {
                    mask.set(t);
                }
                ends.push(i + node.subtree as usize);
                i += 1;
            } else {
                i += node.subtree as usize;
            }
        }
    }
}

/// Whether every byte of `bytes` may stand inside a JSON string (no `"`, `\` or control
/// byte) and they are valid UTF-8, except that the last character may be cut short.
fn plain_string_bytes(bytes: &[u8]) -> bool {
    if bytes.is_empty() || bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
        return false;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        // Cut short at the end, not invalid.
        Err(e) => e.error_len().is_none(),
    }
}

/// A vocabulary prepared for masks; built once per model.
pub struct TokenIndex {
    vocab: usize,
    all: Trie,
    /// Tokens that are not plain string bytes.
    special: Trie,
    /// Tokens that are.
    plain: Mask,
    /// The most characters in one of them.
    plain_chars: u32,
    /// Tokens that end generation.
    end: Vec<u32>,
    /// The token of each single byte, where the vocabulary has one.
    byte_token: Vec<Option<u32>>,
}

impl TokenIndex {
    /// `piece(id)`: the bytes of token `id`; `is_end(id)`: it ends generation (control tokens,
    /// which have no bytes).
    pub fn new<'a>(
        vocab: usize,
        piece: impl Fn(u32) -> &'a [u8],
        is_end: impl Fn(u32) -> bool,
    ) -> TokenIndex {
        let mut all = Vec::new();
        let mut special = Vec::new();
        let mut plain = Mask::new(vocab);
        let mut plain_chars = 0;
        let mut end = Vec::new();
        let mut byte_token = vec![None; 256];
        for id in 0..vocab as u32 {
            if is_end(id) {
                end.push(id);
                continue;
            }
            let p = piece(id);
            if p.is_empty() {
                continue;
            }
            all.push((p, id));
            if let [b] = p {
                byte_token[*b as usize].get_or_insert(id);
            }
            if plain_string_bytes(p) {
                plain.set(id);
                let chars = p.iter().filter(|&&b| b & 0xc0 != 0x80).count() as u32;
                plain_chars = plain_chars.max(chars);
            } else {
                special.push((p, id));
            }
        }
        TokenIndex {
            vocab,
            all: Trie::build(all),
            special: Trie::build(special),
            plain,
            plain_chars,
            end,
            byte_token,
        }
    }

    /// The token that is exactly byte `b`.
    pub fn byte_token(&self, b: u8) -> Option<u32> {
        self.byte_token[b as usize]
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// The tokens allowed in `state`: those whose bytes it accepts, and the end tokens when
    /// the bytes so far are a whole document.
    pub fn mask(&self, g: &Grammar, state: &State, scratch: &mut Vec<State>) -> Mask {
        let mut m = Mask::new(self.vocab);
        if state.in_free_string(g, self.plain_chars) {
            m.union_with(&self.plain);
            self.special.walk(g, state, &mut m, scratch);
        } else {
            self.all.walk(g, state, &mut m, scratch);
        }
        if state.can_end(g) {
            for &e in &self.end {
                m.set(e);
            }
        }
        m
    }

    /// The reference for [`TokenIndex::mask`]: every token tried on its own.
    #[cfg(test)]
    pub fn mask_slow<'a>(
        &self,
        g: &Grammar,
        state: &State,
        piece: impl Fn(u32) -> &'a [u8],
    ) -> Mask {
        let mut m = Mask::new(self.vocab);
        for id in 0..self.vocab as u32 {
            if self.end.contains(&id) {
                if state.can_end(g) {
                    m.set(id);
                }
                continue;
            }
            let p = piece(id);
            let mut s = state.clone();
            if !p.is_empty() && s.advance_bytes(g, p) {
                m.set(id);
            }
        }
        m
    }
}

/// Masks already computed for one grammar, by state. Shared by the generations that use the
/// same schema.
#[derive(Default)]
pub struct MaskCache {
    map: Mutex<HashMap<State, Arc<Mask>>>,
}

/// Masks kept per grammar (each is vocabulary/8 bytes: 6 KB for 49k tokens).
const CACHE_ENTRIES: usize = 2048;

impl MaskCache {
    pub fn get_or_compute(
        &self,
        index: &TokenIndex,
        g: &Grammar,
        state: &State,
        scratch: &mut Vec<State>,
    ) -> (Arc<Mask>, bool) {
        if let Some(m) = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(state)
        {
            return (m.clone(), true);
        }
        let m = Arc::new(index.mask(g, state, scratch));
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert(state.clone(), m.clone());
        (m, false)
    }
}
