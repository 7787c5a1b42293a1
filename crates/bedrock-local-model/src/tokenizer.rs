//! The tokenizer stored in a GGUF file's metadata, encoding as llama.cpp does.
//!
//! Two vocabulary kinds are supported: byte-level BPE (`tokenizer.ggml.model = "gpt2"`, with
//! the pre-tokenizer named by `tokenizer.ggml.pre`; SmolLM2, Llama 3) and SentencePiece-style
//! BPE over scores (`"llama"`; Llama 2, TinyLlama, Mistral). Text from a user is never scanned
//! for special tokens: only the chat template's own text is (see [`Fragment`]).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use anyhow::{bail, Context, Result};
use fancy_regex::Regex;

use crate::gguf::{GgufFile, Value};

const TYPE_NORMAL: i32 = 1;
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;
/// A byte with no token of its own.
const NO_TOKEN: u32 = u32::MAX;

/// The GPT-2 pre-tokenizer regex.
const GPT2_SPLIT: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's.
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's (Llama 3's with single digits).
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A piece of a rendered prompt: a special token given by id, or text to tokenize as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment {
    Special(u32),
    Text(String),
}

enum Model {
    Bpe {
        /// (left, right) → (rank, merged)
        merges: HashMap<(u32, u32), (u32, u32)>,
        byte_ids: Vec<u32>,
        splits: Vec<Regex>,
        ignore_merges: bool,
    },
    Spm {
        scores: Vec<f32>,
        byte_ids: Vec<Option<u32>>,
        add_space_prefix: bool,
        unk: Option<u32>,
    },
}

pub struct Tokenizer {
    model: Model,
    token_to_id: HashMap<String, u32>,
    types: Vec<i32>,
    /// What each token decodes to (empty for control tokens).
    pieces: Vec<Vec<u8>>,
    /// Control and user-defined tokens, longest first, for splitting template text.
    specials: Vec<(String, u32)>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
    /// SentencePiece vocabularies mark word starts with a space that the first word drops.
    pub strip_leading_space: bool,
}

impl Tokenizer {
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer> {
        let kind = g
            .get_str("tokenizer.ggml.model")
            .context("the model file has no tokenizer (tokenizer.ggml.model)")?;
        let tokens: Vec<String> = strings(g, "tokenizer.ggml.tokens")?;
        let n = tokens.len();
        let types: Vec<i32> = match g.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .map(|v| match v {
                    Value::Int(i) => *i as i32,
                    Value::Uint(u) => *u as i32,
                    _ => TYPE_NORMAL,
                })
                .collect(),
            None => vec![TYPE_NORMAL; n],
        };
        if types.len() != n {
            bail!("token_type has {} entries for {n} tokens", types.len());
        }
        let id_of = |key: &str| {
            g.get(key)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| (v as usize) < n)
        };
        let bos = id_of("tokenizer.ggml.bos_token_id");
        let eos = id_of("tokenizer.ggml.eos_token_id");
        let token_to_id: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();

        let (model, pieces, default_add_bos, strip_leading_space) = match kind {
            "gpt2" => {
                let b2u = bytes_to_unicode();
                let u2b: HashMap<char, u8> =
                    b2u.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
                // Some vocabularies lack a few control bytes; like llama.cpp, such bytes are
                // dropped (NO_TOKEN never merges and is filtered out).
                let byte_ids: Vec<u32> = b2u
                    .iter()
                    .map(|c| token_to_id.get(&c.to_string()).copied().unwrap_or(NO_TOKEN))
                    .collect();
                let merge_list: Vec<String> = strings(g, "tokenizer.ggml.merges")?;
                let mut merges = HashMap::with_capacity(merge_list.len());
                for (rank, m) in merge_list.iter().enumerate() {
                    let Some((a, b)) = m.split_once(' ') else {
                        continue;
                    };
                    let (Some(&ia), Some(&ib), Some(&im)) = (
                        token_to_id.get(a),
                        token_to_id.get(b),
                        token_to_id.get(&format!("{a}{b}")),
                    ) else {
                        continue;
                    };
                    merges.entry((ia, ib)).or_insert((rank as u32, im));
                }
                let pre = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
                let (patterns, ignore_merges): (Vec<&str>, bool) = match pre {
                    "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
                    | "minerva-7b" => (vec![r"\p{N}", GPT2_SPLIT], false),
                    "llama-bpe" | "llama3" | "falcon3" | "pixtral" => (vec![LLAMA3_SPLIT], true),
                    "qwen2" | "deepseek-r1-qwen" => (vec![QWEN2_SPLIT], false),
                    "default" | "gpt2" | "gpt-2" | "olmo" | "phi-2" | "jina-es" | "jina-de" => {
                        (vec![GPT2_SPLIT], false)
                    }
                    other => {
                        tracing::warn!(pre = other, "unknown pre-tokenizer; using GPT-2's");
                        (vec![GPT2_SPLIT], false)
                    }
                };
                let splits = patterns
                    .into_iter()
                    .map(Regex::new)
                    .collect::<Result<Vec<_>, _>>()
                    .context("compiling the pre-tokenizer")?;
                let pieces = tokens
                    .iter()
                    .zip(&types)
                    .map(|(t, &ty)| match ty {
                        TYPE_CONTROL => Vec::new(),
                        TYPE_USER_DEFINED => t.as_bytes().to_vec(),
                        _ => {
                            let mut out = Vec::with_capacity(t.len());
                            for c in t.chars() {
                                match u2b.get(&c) {
                                    Some(&b) => out.push(b),
                                    None => {
                                        let mut buf = [0u8; 4];
                                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                                    }
                                }
                            }
                            out
                        }
                    })
                    .collect();
                (
                    Model::Bpe {
                        merges,
                        byte_ids,
                        splits,
                        ignore_merges,
                    },
                    pieces,
                    false,
                    false,
                )
            }
            "llama" => {
                let scores: Vec<f32> =
                    match g.get("tokenizer.ggml.scores").and_then(Value::as_array) {
                        Some(a) => a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect(),
                        None => vec![0.0; n],
                    };
                if scores.len() != n {
                    bail!("scores has {} entries for {n} tokens", scores.len());
                }
                let mut byte_ids = vec![None; 256];
                for (i, (t, &ty)) in tokens.iter().zip(&types).enumerate() {
                    if ty == TYPE_BYTE {
                        if let Some(b) = parse_byte_token(t) {
                            byte_ids[b as usize] = Some(i as u32);
                        }
                    }
                }
                let pieces = tokens
                    .iter()
                    .zip(&types)
                    .map(|(t, &ty)| match ty {
                        TYPE_CONTROL => Vec::new(),
                        TYPE_BYTE => parse_byte_token(t).map(|b| vec![b]).unwrap_or_default(),
                        TYPE_UNKNOWN => "\u{2047}".as_bytes().to_vec(),
                        TYPE_USER_DEFINED => t.as_bytes().to_vec(),
                        _ => t.replace('\u{2581}', " ").into_bytes(),
                    })
                    .collect();
                let add_space_prefix = g
                    .get("tokenizer.ggml.add_space_prefix")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                (
                    Model::Spm {
                        scores,
                        byte_ids,
                        add_space_prefix,
                        unk: id_of("tokenizer.ggml.unknown_token_id"),
                    },
                    pieces,
                    true,
                    add_space_prefix,
                )
            }
            other => bail!("unsupported tokenizer model {other:?} (gpt2 and llama are supported)"),
        };

        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (t, &ty))| {
                (ty == TYPE_CONTROL || ty == TYPE_USER_DEFINED) && !t.is_empty()
            })
            .map(|(i, (t, _))| (t.clone(), i as u32))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));

        let add_bos = g
            .get("tokenizer.ggml.add_bos_token")
            .and_then(Value::as_bool)
            .unwrap_or(default_add_bos)
            && bos.is_some();
        Ok(Tokenizer {
            model,
            token_to_id,
            types,
            pieces,
            specials,
            bos,
            eos,
            add_bos,
            strip_leading_space,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.token_to_id.get(token).copied()
    }

    /// The text of a special (control or user-defined) token, if `id` is one.
    pub fn special_text(&self, id: u32) -> Option<&str> {
        self.specials
            .iter()
            .find(|s| s.1 == id)
            .map(|s| s.0.as_str())
    }

    /// A control token: ends generation when sampled, never printed.
    pub fn is_control(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&TYPE_CONTROL) || Some(id) == self.eos
    }

    /// The bytes token `id` stands for (empty for control tokens).
    pub fn piece(&self, id: u32) -> &[u8] {
        self.pieces
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Decodes ids to text (lossy for invalid UTF-8), dropping control tokens.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| self.piece(i).iter().copied())
            .collect();
        let s = String::from_utf8_lossy(&bytes).into_owned();
        match s.strip_prefix(' ') {
            Some(rest) if self.strip_leading_space => rest.to_string(),
            _ => s,
        }
    }

    /// Tokenizes plain text: no special tokens recognised, no BOS.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_text(text, true, &mut out);
        out
    }

    /// Tokenizes a rendered prompt (adding BOS when the vocabulary asks for it).
    pub fn encode_fragments(&self, fragments: &[Fragment]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut prev_special = true;
        if self.add_bos {
            if let Some(b) = self.bos {
                if fragments.first() != Some(&Fragment::Special(b)) {
                    out.push(b);
                }
            }
        }
        for f in merge_text(fragments) {
            match f {
                Fragment::Special(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(t) => {
                    self.encode_text(&t, prev_special, &mut out);
                    prev_special = false;
                }
            }
        }
        out
    }

    /// Splits trusted template text at the special tokens it spells out.
    pub fn split_specials(&self, text: &str) -> Vec<Fragment> {
        let mut out = Vec::new();
        let mut plain_start = 0;
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if let Some((s, id)) = self
                .specials
                .iter()
                .find(|(s, _)| rest.starts_with(s.as_str()))
            {
                if plain_start < i {
                    out.push(Fragment::Text(text[plain_start..i].to_string()));
                }
                out.push(Fragment::Special(*id));
                i += s.len();
                plain_start = i;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        if plain_start < text.len() {
            out.push(Fragment::Text(text[plain_start..].to_string()));
        }
        out
    }

    fn encode_text(&self, text: &str, prev_special: bool, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        match &self.model {
            Model::Bpe {
                merges,
                byte_ids,
                splits,
                ignore_merges,
            } => {
                let mut words = vec![text];
                for re in splits {
                    words = words.iter().flat_map(|w| split_keep_all(re, w)).collect();
                }
                for w in words {
                    if *ignore_merges {
                        let mapped: String = w.bytes().map(|b| BYTE_CHARS[b as usize]).collect();
                        if let Some(&id) = self.token_to_id.get(&mapped) {
                            out.push(id);
                            continue;
                        }
                    }
                    let symbols: Vec<u32> = w.bytes().map(|b| byte_ids[b as usize]).collect();
                    out.extend(
                        bpe_merge(symbols, merges)
                            .into_iter()
                            .filter(|&t| t != NO_TOKEN),
                    );
                }
            }
            Model::Spm {
                scores,
                byte_ids,
                add_space_prefix,
                unk,
            } => {
                let mut s = String::with_capacity(text.len() + 3);
                if *add_space_prefix && prev_special {
                    s.push('\u{2581}');
                }
                for c in text.chars() {
                    s.push(if c == ' ' { '\u{2581}' } else { c });
                }
                self.spm(&s, scores, byte_ids, *unk, out);
            }
        }
    }

    /// llama.cpp's SentencePiece BPE: merge the adjacent pair whose union has the best score.
    fn spm(
        &self,
        s: &str,
        scores: &[f32],
        byte_ids: &[Option<u32>],
        unk: Option<u32>,
        out: &mut Vec<u32>,
    ) {
        #[derive(PartialEq)]
        struct Bigram {
            score: f32,
            left: usize,
            right: usize,
            size: usize,
        }
        impl Eq for Bigram {}
        impl Ord for Bigram {
            fn cmp(&self, o: &Self) -> Ordering {
                self.score
                    .total_cmp(&o.score)
                    .then_with(|| o.left.cmp(&self.left))
            }
        }
        impl PartialOrd for Bigram {
            fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                Some(self.cmp(o))
            }
        }
        // Symbols: byte ranges of s, linked.
        let mut start: Vec<usize> = Vec::new();
        let mut len: Vec<usize> = Vec::new();
        for (i, c) in s.char_indices() {
            start.push(i);
            len.push(c.len_utf8());
        }
        let n = start.len();
        let mut next: Vec<Option<usize>> = (0..n).map(|i| (i + 1 < n).then_some(i + 1)).collect();
        let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut heap = BinaryHeap::new();
        let push =
            |heap: &mut BinaryHeap<Bigram>, l: usize, r: usize, start: &[usize], len: &[usize]| {
                let text = &s[start[l]..start[r] + len[r]];
                if let Some(&id) = self.token_to_id.get(text) {
                    heap.push(Bigram {
                        score: scores.get(id as usize).copied().unwrap_or(0.0),
                        left: l,
                        right: r,
                        size: text.len(),
                    });
                }
            };
        for i in 1..n {
            push(&mut heap, i - 1, i, &start, &len);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (b.left, b.right);
            if len[l] == 0 || len[r] == 0 || len[l] + len[r] != b.size || next[l] != Some(r) {
                continue;
            }
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if let Some(nn) = next[r] {
                prev[nn] = Some(l);
            }
            if let Some(p) = prev[l] {
                push(&mut heap, p, l, &start, &len);
            }
            if let Some(nn) = next[l] {
                push(&mut heap, l, nn, &start, &len);
            }
        }
        let mut i = (n > 0).then_some(0);
        while let Some(k) = i {
            let text = &s[start[k]..start[k] + len[k]];
            match self.token_to_id.get(text) {
                Some(&id) => out.push(id),
                None => {
                    for b in text.bytes() {
                        if let Some(id) = byte_ids[b as usize].or(unk) {
                            out.push(id);
                        }
                    }
                }
            }
            i = next[k];
        }
    }
}

/// GPT-2's byte-level BPE over one pre-tokenized word: apply the best-ranked merge first.
fn bpe_merge(mut ids: Vec<u32>, merges: &HashMap<(u32, u32), (u32, u32)>) -> Vec<u32> {
    if ids.len() < 2 {
        return ids;
    }
    let n = ids.len();
    let mut alive = vec![true; n];
    let mut next: Vec<Option<usize>> = (0..n).map(|i| (i + 1 < n).then_some(i + 1)).collect();
    let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
    // (rank, left, right, left id, right id, merged id), smallest rank (then leftmost) first;
    // entries carry the ids they were made for, to detect staleness.
    type Candidate = Reverse<(u32, usize, usize, u32, u32, u32)>;
    let mut heap: BinaryHeap<Candidate> = BinaryHeap::new();
    let pair = |l: usize, r: usize, ids: &[u32]| {
        merges
            .get(&(ids[l], ids[r]))
            .map(|&(rank, m)| Reverse((rank, l, r, ids[l], ids[r], m)))
    };
    for i in 1..n {
        if let Some(p) = pair(i - 1, i, &ids) {
            heap.push(p);
        }
    }
    while let Some(Reverse((_, l, r, il, ir, m))) = heap.pop() {
        if !alive[l] || !alive[r] || next[l] != Some(r) || ids[l] != il || ids[r] != ir {
            continue;
        }
        ids[l] = m;
        alive[r] = false;
        next[l] = next[r];
        if let Some(nn) = next[r] {
            prev[nn] = Some(l);
        }
        if let Some(p) = prev[l] {
            if let Some(e) = pair(p, l, &ids) {
                heap.push(e);
            }
        }
        if let Some(nn) = next[l] {
            if let Some(e) = pair(l, nn, &ids) {
                heap.push(e);
            }
        }
    }
    ids.into_iter()
        .zip(alive)
        .filter(|(_, a)| *a)
        .map(|(i, _)| i)
        .collect()
}

/// Splits `text` at the regex's matches, keeping both the matches and the text between them.
fn split_keep_all<'a>(re: &Regex, text: &'a str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut last = 0;
    for m in re.find_iter(text) {
        let Ok(m) = m else {
            // Backtracking limit: keep the rest whole rather than fail the request.
            break;
        };
        if m.start() > last {
            out.push(&text[last..m.start()]);
        }
        if m.end() > m.start() {
            out.push(m.as_str());
        }
        last = m.end();
    }
    if last < text.len() {
        out.push(&text[last..]);
    }
    out
}

fn merge_text(fragments: &[Fragment]) -> Vec<Fragment> {
    let mut out: Vec<Fragment> = Vec::new();
    for f in fragments {
        match (out.last_mut(), f) {
            (Some(Fragment::Text(a)), Fragment::Text(b)) => a.push_str(b),
            (_, Fragment::Text(b)) if b.is_empty() => {}
            _ => out.push(f.clone()),
        }
    }
    out
}

fn strings(g: &GgufFile, key: &str) -> Result<Vec<String>> {
    g.get(key)
        .and_then(Value::as_array)
        .with_context(|| format!("the model file has no {key}"))?
        .iter()
        .map(|v| v.as_str().map(str::to_string).context("non-string entry"))
        .collect()
}

fn parse_byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's reversible map from bytes to printable characters.
fn bytes_to_unicode() -> Vec<char> {
    BYTE_CHARS.to_vec()
}

static BYTE_CHARS: [char; 256] = {
    let mut out = ['\0'; 256];
    let mut n = 0u32;
    let mut b = 0usize;
    while b < 256 {
        let printable =
            (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        let code = if printable {
            b as u32
        } else {
            let c = 256 + n;
            n += 1;
            c
        };
        out[b] = match char::from_u32(code) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    out
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A GGUF file with metadata only (no tensors).
    fn gguf(kv: &[(&str, Vec<u8>)]) -> tempfile::NamedTempFile {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
        for (k, v) in kv {
            out.extend_from_slice(&(k.len() as u64).to_le_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(v);
        }
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&out).unwrap();
        f
    }

    fn string(s: &str) -> Vec<u8> {
        let mut v = 8u32.to_le_bytes().to_vec();
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn array(item_type: u32, items: &[Vec<u8>]) -> Vec<u8> {
        let mut v = 9u32.to_le_bytes().to_vec();
        v.extend_from_slice(&item_type.to_le_bytes());
        v.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for i in items {
            v.extend_from_slice(i);
        }
        v
    }

    fn u32_value(x: u32) -> Vec<u8> {
        let mut v = 4u32.to_le_bytes().to_vec();
        v.extend_from_slice(&x.to_le_bytes());
        v
    }

    /// A SentencePiece-style vocabulary: control tokens, 256 byte tokens, a few pieces.
    fn spm_tokenizer() -> Tokenizer {
        let mut tokens: Vec<(String, f32, i32)> = vec![
            ("<unk>".into(), 0.0, TYPE_UNKNOWN),
            ("<s>".into(), 0.0, TYPE_CONTROL),
            ("</s>".into(), 0.0, TYPE_CONTROL),
        ];
        tokens.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, TYPE_BYTE)));
        for (t, s) in [
            ("\u{2581}", -1.0),
            ("h", -2.0),
            ("e", -2.0),
            ("l", -2.0),
            ("o", -2.0),
            ("he", -3.0),
            ("ll", -3.0),
            ("hell", -5.0),
            ("hello", -6.0),
            ("\u{2581}hello", -7.0),
            ("\u{2581}h", -4.0),
        ] {
            tokens.push((t.into(), s, TYPE_NORMAL));
        }
        let strings: Vec<Vec<u8>> = tokens
            .iter()
            .map(|(t, _, _)| {
                let mut v = (t.len() as u64).to_le_bytes().to_vec();
                v.extend_from_slice(t.as_bytes());
                v
            })
            .collect();
        let scores: Vec<Vec<u8>> = tokens.iter().map(|t| t.1.to_le_bytes().to_vec()).collect();
        let types: Vec<Vec<u8>> = tokens.iter().map(|t| t.2.to_le_bytes().to_vec()).collect();
        let f = gguf(&[
            ("tokenizer.ggml.model", string("llama")),
            ("tokenizer.ggml.tokens", array(8, &strings)),
            ("tokenizer.ggml.scores", array(6, &scores)),
            ("tokenizer.ggml.token_type", array(5, &types)),
            ("tokenizer.ggml.bos_token_id", u32_value(1)),
            ("tokenizer.ggml.eos_token_id", u32_value(2)),
        ]);
        let g = GgufFile::open(f.path()).unwrap();
        Tokenizer::from_gguf(&g).unwrap()
    }

    #[test]
    fn sentencepiece_merges_by_score_with_byte_fallback() {
        let t = spm_tokenizer();
        let id = |s: &str| t.id(s).unwrap();
        // ▁ h e l l o → (he, ll tie: leftmost first) → hell → hello → ▁hello
        assert_eq!(t.encode("hello"), vec![id("\u{2581}hello")]);
        // 'i' is not a piece: its byte token stands in.
        assert_eq!(t.encode("hi"), vec![id("\u{2581}h"), id("<0x69>")]);
        // Multi-byte characters fall back to one token per byte.
        assert_eq!(
            t.encode("é"),
            vec![id("\u{2581}"), id("<0xC3>"), id("<0xA9>")]
        );
        assert_eq!(t.decode(&t.encode("hello")), "hello");
        assert_eq!(t.decode(&t.encode("hi é")), "hi é");
        assert!(t.add_bos);
        assert!(t.is_control(2));
        // BOS is added once; text after a special token gets the word-start space again.
        let frags = vec![
            Fragment::Special(1),
            Fragment::Text("hello".into()),
            Fragment::Special(2),
            Fragment::Text("hello".into()),
        ];
        let h = id("\u{2581}hello");
        assert_eq!(t.encode_fragments(&frags), vec![1, h, 2, h]);
        assert_eq!(
            t.encode_fragments(&[Fragment::Text("hello".into())]),
            vec![1, h]
        );
        assert_eq!(
            t.split_specials("a</s>b<s>"),
            vec![
                Fragment::Text("a".into()),
                Fragment::Special(2),
                Fragment::Text("b".into()),
                Fragment::Special(1)
            ]
        );
    }
}
