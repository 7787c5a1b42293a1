//! The llama-architecture transformer: weights, KV cache and the forward pass.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use crate::gguf::{GgufFile, TensorInfo, Value};
use crate::kernels::{self, QMatrix, QVec};
use crate::quant;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct Config {
    pub dim: usize,
    pub n_layers: usize,
    pub ff_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub rope_dim: usize,
    pub rope_base: f32,
    pub norm_eps: f32,
    pub context_length: usize,
    pub vocab_size: usize,
}

impl Config {
    fn from_gguf(g: &GgufFile) -> Result<Config> {
        let arch = g.get_str("general.architecture").unwrap_or("");
        // Mistral files use the llama layout; other architectures differ in ways that matter.
        if !matches!(arch, "llama" | "mistral") {
            bail!("unsupported model architecture {arch:?}: the embedded engine runs llama-architecture GGUF files (SmolLM2, TinyLlama, Llama 2/3.x, Mistral)");
        }
        let key = |k: &str| format!("{arch}.{k}");
        let int = |k: &str| -> Result<usize> { Ok(usize::try_from(g.get_u64(&key(k))?)?) };
        let float = |k: &str, default: f64| {
            g.get(&key(k)).and_then(Value::as_f64).unwrap_or(default) as f32
        };
        let dim = int("embedding_length")?;
        let n_heads = int("attention.head_count")?;
        let n_kv_heads = int("attention.head_count_kv").unwrap_or(n_heads);
        if n_heads == 0 || n_kv_heads == 0 || dim % n_heads != 0 || n_heads % n_kv_heads != 0 {
            bail!("inconsistent head counts: dim {dim}, {n_heads} heads, {n_kv_heads} kv heads");
        }
        let head_dim = dim / n_heads;
        let rope_dim = int("rope.dimension_count").unwrap_or(head_dim);
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            bail!("rope dimension {rope_dim} does not fit head dimension {head_dim}");
        }
        let vocab_size = match g.tensors.get("token_embd.weight") {
            Some(t) if t.dims.len() == 2 => usize::try_from(t.dims[1])?,
            _ => bail!("the file has no 2-D token_embd.weight"),
        };
        if let Some(scaling) = g.get_str(&key("rope.scaling.type")) {
            if scaling != "none" {
                tracing::warn!(
                    scaling,
                    "rope scaling is not applied by the embedded engine; long contexts may degrade"
                );
            }
        }
        Ok(Config {
            dim,
            n_layers: int("block_count")?,
            ff_dim: int("feed_forward_length")?,
            n_heads,
            n_kv_heads,
            head_dim,
            rope_dim,
            rope_base: float("rope.freq_base", 10_000.0),
            norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
            context_length: int("context_length").unwrap_or(2048),
            vocab_size,
        })
    }

    fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    w_gate: QMatrix,
    w_up: QMatrix,
    w_down: QMatrix,
}

/// The weights of one model, immutable once loaded.
pub struct Transformer {
    pub config: Config,
    embed: QMatrix,
    /// `None` when the output projection is tied to the embedding.
    output: Option<QMatrix>,
    output_norm: Vec<f32>,
    layers: Vec<Layer>,
    /// Inverse frequencies of the rotary embedding, one per pair of dimensions.
    inv_freq: Vec<f32>,
}

impl Transformer {
    pub fn load(g: &mut GgufFile) -> Result<Transformer> {
        let config = Config::from_gguf(g)?;
        let c = &config;
        let embed = matrix(g, "token_embd.weight", c.vocab_size, c.dim)?;
        let output = if g.tensors.contains_key("output.weight") {
            Some(matrix(g, "output.weight", c.vocab_size, c.dim)?)
        } else {
            None
        };
        let output_norm = vector(g, "output_norm.weight", c.dim)?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: vector(g, &n("attn_norm"), c.dim)?,
                wq: matrix(g, &n("attn_q"), c.q_dim(), c.dim)?,
                wk: matrix(g, &n("attn_k"), c.kv_dim(), c.dim)?,
                wv: matrix(g, &n("attn_v"), c.kv_dim(), c.dim)?,
                wo: matrix(g, &n("attn_output"), c.dim, c.q_dim())?,
                ffn_norm: vector(g, &n("ffn_norm"), c.dim)?,
                w_gate: matrix(g, &n("ffn_gate"), c.ff_dim, c.dim)?,
                w_up: matrix(g, &n("ffn_up"), c.ff_dim, c.dim)?,
                w_down: matrix(g, &n("ffn_down"), c.dim, c.ff_dim)?,
            });
        }
        // Llama 3.1+ stores per-dimension frequency divisors.
        let factors = if g.tensors.contains_key("rope_freqs.weight") {
            vector(g, "rope_freqs.weight", c.rope_dim / 2)?
        } else {
            vec![1.0; c.rope_dim / 2]
        };
        let inv_freq = (0..c.rope_dim / 2)
            .map(|i| {
                let f = f64::from(c.rope_base).powf(-2.0 * i as f64 / c.rope_dim as f64);
                (f / f64::from(factors[i])) as f32
            })
            .collect();
        tracing::debug!(
            layers = c.n_layers,
            dim = c.dim,
            kind = layers.first().map(|l| l.wq.kind()).unwrap_or("-"),
            "loaded weights"
        );
        Ok(Transformer {
            config,
            embed,
            output,
            output_norm,
            layers,
            inv_freq,
        })
    }

    /// Runs `tokens` at positions `start..start + tokens.len()` through the model, extending
    /// the session's KV cache, and leaves the logits of the last token in `s.logits`.
    pub fn forward(&self, s: &mut Session, tokens: &[u32], start: usize) -> Result<()> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 {
            bail!("forward with no tokens");
        }
        let end = start + n;
        if start != s.len {
            bail!("forward at position {start} but the cache holds {}", s.len);
        }
        s.reserve(c, n, end);
        let (dim, qd, kvd, ff) = (c.dim, c.q_dim(), c.kv_dim(), c.ff_dim);

        for (t, &tok) in tokens.iter().enumerate() {
            let tok = tok as usize;
            if tok >= c.vocab_size {
                bail!("token id {tok} is outside the vocabulary");
            }
            self.embed.row_f32(tok, &mut s.x[t * dim..(t + 1) * dim]);
        }

        for (li, layer) in self.layers.iter().enumerate() {
            // Attention.
            s.norm_and_quantize(n, dim, &layer.attn_norm, c.norm_eps);
            let qx = &s.qx[..n];
            layer.wq.matmul(qx, &mut s.q[..n * qd], &mut s.scratch);
            layer.wk.matmul(qx, &mut s.k[..n * kvd], &mut s.scratch);
            layer.wv.matmul(qx, &mut s.v[..n * kvd], &mut s.scratch);
            for t in 0..n {
                let pos = start + t;
                self.rope(&mut s.q[t * qd..(t + 1) * qd], pos, &mut s.rope_cs);
                self.rope(&mut s.k[t * kvd..(t + 1) * kvd], pos, &mut s.rope_cs);
            }
            let cache = &mut s.cache[li];
            cache.k[start * kvd..end * kvd].copy_from_slice(&s.k[..n * kvd]);
            cache.v[start * kvd..end * kvd].copy_from_slice(&s.v[..n * kvd]);
            attention(c, &s.cache[li], &s.q[..n * qd], &mut s.att[..n * qd], start);
            quantize_rows(&mut s.qx, &s.att[..n * qd], qd);
            layer
                .wo
                .matmul(&s.qx[..n], &mut s.xb[..n * dim], &mut s.scratch);
            add(&mut s.x[..n * dim], &s.xb[..n * dim]);

            // Feed-forward (SwiGLU).
            s.norm_and_quantize(n, dim, &layer.ffn_norm, c.norm_eps);
            let qx = &s.qx[..n];
            layer.w_gate.matmul(qx, &mut s.h1[..n * ff], &mut s.scratch);
            layer.w_up.matmul(qx, &mut s.h2[..n * ff], &mut s.scratch);
            for (g, u) in s.h1[..n * ff].iter_mut().zip(&s.h2[..n * ff]) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            quantize_rows(&mut s.qx, &s.h1[..n * ff], ff);
            layer
                .w_down
                .matmul(&s.qx[..n], &mut s.xb[..n * dim], &mut s.scratch);
            add(&mut s.x[..n * dim], &s.xb[..n * dim]);
        }
        s.len = end;

        // Logits of the last token only.
        let last = &s.x[(n - 1) * dim..n * dim];
        rms_norm(last, &self.output_norm, c.norm_eps, &mut s.xb[..dim]);
        let qx = &mut s.qx[0];
        qx.quantize(&s.xb[..dim]);
        let out = self.output.as_ref().unwrap_or(&self.embed);
        s.logits.resize(c.vocab_size, 0.0);
        out.matvec(&s.qx[0], &mut s.logits);
        Ok(())
    }

    /// Rotates adjacent pairs (llama.cpp's "normal" rope; GGUF's q/k rows are permuted for it).
    fn rope(&self, x: &mut [f32], pos: usize, cs: &mut Vec<(f32, f32)>) {
        let hd = self.config.head_dim;
        cs.clear();
        cs.extend(self.inv_freq.iter().map(|f| {
            let (s, c) = (pos as f32 * f).sin_cos();
            (c, s)
        }));
        for head in x.chunks_exact_mut(hd) {
            for (pair, &(c, s)) in head.chunks_exact_mut(2).zip(cs.iter()) {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * c - b * s;
                pair[1] = a * s + b * c;
            }
        }
    }
}

fn matrix(g: &mut GgufFile, name: &str, rows: usize, cols: usize) -> Result<QMatrix> {
    let info = tensor_info(g, name)?;
    if info.dims.len() != 2 || info.dims[0] != cols as u64 || info.dims[1] != rows as u64 {
        bail!(
            "tensor {name} has shape {:?}, expected [{cols}, {rows}]",
            info.dims
        );
    }
    let bytes = g.read_tensor(&info)?;
    QMatrix::from_ggml(info.ty, &bytes, rows, cols).with_context(|| format!("tensor {name}"))
}

fn vector(g: &mut GgufFile, name: &str, len: usize) -> Result<Vec<f32>> {
    let info = tensor_info(g, name)?;
    if info.n_elements() != len as u64 {
        bail!("tensor {name} has shape {:?}, expected [{len}]", info.dims);
    }
    let bytes = g.read_tensor(&info)?;
    let mut out = vec![0f32; len];
    quant::dequantize(info.ty, &bytes, &mut out).with_context(|| format!("tensor {name}"))?;
    Ok(out)
}

fn tensor_info(g: &GgufFile, name: &str) -> Result<TensorInfo> {
    g.tensors
        .get(name)
        .cloned()
        .with_context(|| format!("the model file has no tensor {name}"))
}

struct LayerCache {
    k: Vec<f32>,
    v: Vec<f32>,
}

/// One conversation's state: the KV cache and every buffer of the forward pass, reused from
/// token to token so that decoding does not allocate.
pub struct Session {
    len: usize,
    cache: Vec<LayerCache>,
    x: Vec<f32>,
    xb: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    h1: Vec<f32>,
    h2: Vec<f32>,
    qx: Vec<QVec>,
    scratch: Vec<f32>,
    rope_cs: Vec<(f32, f32)>,
    pub logits: Vec<f32>,
}

impl Session {
    pub fn new(c: &Config) -> Session {
        Session {
            len: 0,
            cache: (0..c.n_layers)
                .map(|_| LayerCache {
                    k: Vec::new(),
                    v: Vec::new(),
                })
                .collect(),
            x: Vec::new(),
            xb: Vec::new(),
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            att: Vec::new(),
            h1: Vec::new(),
            h2: Vec::new(),
            qx: Vec::new(),
            scratch: Vec::new(),
            rope_cs: Vec::new(),
            logits: Vec::new(),
        }
    }

    /// Forgets the conversation, keeping the allocations.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Positions held in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    fn reserve(&mut self, c: &Config, n: usize, end: usize) {
        let grow = |v: &mut Vec<f32>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        for l in &mut self.cache {
            grow(&mut l.k, end * c.kv_dim());
            grow(&mut l.v, end * c.kv_dim());
        }
        grow(&mut self.x, n * c.dim);
        grow(&mut self.xb, n * c.dim);
        grow(&mut self.q, n * c.q_dim());
        grow(&mut self.k, n * c.kv_dim());
        grow(&mut self.v, n * c.kv_dim());
        grow(&mut self.att, n * c.q_dim());
        grow(&mut self.h1, n * c.ff_dim);
        grow(&mut self.h2, n * c.ff_dim);
        if self.qx.len() < n {
            self.qx.resize(n, QVec::default());
        }
    }

    fn norm_and_quantize(&mut self, n: usize, dim: usize, w: &[f32], eps: f32) {
        for t in 0..n {
            let row = t * dim..(t + 1) * dim;
            rms_norm(&self.x[row.clone()], w, eps, &mut self.xb[row.clone()]);
            self.qx[t].quantize(&self.xb[row]);
        }
    }
}

fn quantize_rows(qx: &mut [QVec], x: &[f32], width: usize) {
    for (q, row) in qx.iter_mut().zip(x.chunks_exact(width)) {
        q.quantize(row);
    }
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss = kernels::dot_f32(x, x) / x.len() as f32;
    let scale = 1.0 / (ss + eps).sqrt();
    for ((o, &x), &w) in out.iter_mut().zip(x).zip(w) {
        *o = x * scale * w;
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Causal attention of the `n` new tokens (at `start..`) over the cache, grouped-query style.
fn attention(c: &Config, cache: &LayerCache, q: &[f32], out: &mut [f32], start: usize) {
    let hd = c.head_dim;
    let kvd = c.kv_dim();
    let group = c.n_heads / c.n_kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let n = q.len() / c.q_dim();
    let one = |i: usize, o: &mut [f32], scores: &mut Vec<f32>| {
        let (t, h) = (i / c.n_heads, i % c.n_heads);
        let ctx = start + t + 1;
        let qh = &q[i * hd..(i + 1) * hd];
        let kvh = (h / group) * hd;
        scores.clear();
        scores.extend((0..ctx).map(|p| {
            let k = &cache.k[p * kvd + kvh..p * kvd + kvh + hd];
            kernels::dot_f32(qh, k) * scale
        }));
        let max = scores.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for v in scores.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        o.fill(0.0);
        for (p, &w) in scores.iter().enumerate() {
            let v = &cache.v[p * kvd + kvh..p * kvd + kvh + hd];
            kernels::axpy(w / sum, v, o);
        }
    };
    let work = n * c.n_heads * (start + n);
    if work < 16_384 {
        let mut scores = Vec::with_capacity(start + n);
        for (i, o) in out.chunks_exact_mut(hd).enumerate() {
            one(i, o, &mut scores);
        }
    } else {
        out.par_chunks_mut(hd)
            .enumerate()
            .for_each_init(Vec::new, |scores, (i, o)| one(i, o, scores));
    }
}
