//! The llama-architecture transformer: weights, KV cache and the forward pass.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::gguf::{GgufFile, TensorInfo, Value};
use crate::kernels::{self, QMatrix, QVec, PANEL, QK};
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

    /// Runs `tokens` at positions `start..start + tokens.len()` through the model on the
    /// threads of `pool`, extending the session's KV cache, and leaves the logits of the last
    /// token in `s.logits`.
    ///
    /// The pass is one rayon broadcast: every thread of the pool runs [`Pass::work`], which
    /// takes units of work (a run of weight rows, or a few attention heads) from a shared
    /// counter, phase after phase; the thread that finishes a phase's last unit does its short
    /// serial step (norm, quantisation, KV cache write) and opens the next phase. No thread
    /// waits for a particular other thread, only for units in progress, so a thread that the OS
    /// deschedules stalls the others for at most the unit it holds (they take the rest); and a
    /// thread that has waited long sleeps, leaving its core to the one it waits for. Compared
    /// with a rayon fork–join per product (about 210 per token), this is one fork–join per
    /// pass and a few cheap hand-overs per layer.
    pub fn forward(
        &self,
        s: &mut Session,
        tokens: &[u32],
        start: usize,
        pool: &rayon::ThreadPool,
    ) -> Result<()> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 {
            bail!("forward with no tokens");
        }
        let end = start + n;
        if start != s.len {
            bail!("forward at position {start} but the cache holds {}", s.len);
        }
        for &tok in tokens {
            if tok as usize >= c.vocab_size {
                bail!("token id {tok} is outside the vocabulary");
            }
        }
        let threads = pool.current_num_threads().max(1);
        let plan = Plan::new(self, n, threads);
        s.reserve(c, n, end, plan.max_units());
        let dim = c.dim;
        for (t, &tok) in tokens.iter().enumerate() {
            self.embed
                .row_f32(tok as usize, &mut s.x[t * dim..(t + 1) * dim]);
        }
        // Rotary angles of the new positions, shared by every head.
        let half = c.rope_dim / 2;
        s.rope_cs.clear();
        for pos in start..end {
            s.rope_cs.extend(self.inv_freq.iter().map(|f| {
                let (s, c) = (pos as f32 * f).sin_cos();
                (c, s)
            }));
        }
        debug_assert_eq!(s.rope_cs.len(), n * half);
        match self.layers.first() {
            Some(l) => norm_and_quantize(&s.x, &l.attn_norm, c, n, &mut s.rows, &mut s.qx),
            None => self.final_norm(&s.x, n, &mut s.rows, &mut s.qx),
        }
        s.logits.resize(c.vocab_size, 0.0);

        let Session {
            cache,
            x,
            rows,
            qx,
            slots,
            rope_cs,
            logits,
            ..
        } = s;
        let pass = Pass {
            t: self,
            plan,
            n,
            start,
            phases: PER_LAYER * self.layers.len() + 1,
            claim: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            slots,
            serial: Mutex::new(Serial {
                x: &mut x[..n * dim],
                rows,
            }),
            qx: RwLock::new(&mut qx[..n]),
            cache,
            rope_cs,
            logits: logits
                .chunks_mut(plan.vocab.chunk)
                .map(Mutex::new)
                .collect(),
            sleepers: AtomicUsize::new(0),
            bell: Mutex::new(()),
            ring: Condvar::new(),
        };
        pool.broadcast(|_| pass.work());
        s.len = end;
        Ok(())
    }

    /// The output norm of the last of `n` tokens, quantised into `qx[0]`.
    fn final_norm(&self, x: &[f32], n: usize, rows: &mut [f32], qx: &mut [QVec]) {
        let dim = self.config.dim;
        let last = &x[(n - 1) * dim..n * dim];
        rms_norm(
            last,
            &self.output_norm,
            self.config.norm_eps,
            &mut rows[..dim],
        );
        qx[0].quantize(&rows[..dim]);
    }
}

/// Rotates adjacent pairs of each head (llama.cpp's "normal" rope; GGUF's q/k rows are
/// permuted for it) by the angles `cs` of one position.
fn rope(x: &mut [f32], head_dim: usize, cs: &[(f32, f32)]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (pair, &(c, s)) in head.chunks_exact_mut(2).zip(cs) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * c - b * s;
            pair[1] = a * s + b * c;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Rows `0..rows` of a product cut into units of `chunk` rows.
#[derive(Debug, Clone, Copy)]
struct Split {
    rows: usize,
    chunk: usize,
}

impl Split {
    fn new(rows: usize, chunk: usize) -> Split {
        Split {
            rows,
            chunk: chunk.max(1),
        }
    }

    fn count(self) -> usize {
        self.rows.div_ceil(self.chunk)
    }

    fn range(self, unit: usize) -> Range<usize> {
        unit * self.chunk..((unit + 1) * self.chunk).min(self.rows)
    }
}

/// How one forward pass is cut into units of work.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// q, k and v rows, units of the same size (the q units come first, then k, then v).
    q: Split,
    k: Split,
    v: Split,
    /// (token, head) pairs of attention, `t * n_heads + h`.
    heads: Split,
    /// Rows of the attention output product.
    dim: Split,
    ff: Split,
    /// Rows of the down product.
    down: Split,
    vocab: Split,
}

impl Plan {
    fn new(t: &Transformer, n: usize, threads: usize) -> Plan {
        let c = &t.config;
        // Rows per unit: about UNIT_BYTES of weights (less for prompts, whose tokens multiply
        // the work per byte), so that the wait for the last unit of a phase stays short; and at
        // least one unit per thread.
        let work = UNIT_BYTES / n.clamp(1, 4);
        let rows_for = |m: Option<&QMatrix>, matrices: usize, rows: usize, align: usize| {
            let bytes = m.map_or(c.dim, QMatrix::row_bytes).max(1) * matrices;
            (work / bytes)
                .min(rows.div_ceil(threads))
                .next_multiple_of(align)
                .max(align)
        };
        let l = t.layers.first();
        let qkv = rows_for(l.map(|l| &l.wq), 1, c.q_dim() + 2 * c.kv_dim(), PANEL);
        let pairs = n * c.n_heads;
        // Decoding: one head per unit; prompts: about sixteen units per thread.
        let per_unit = pairs.div_ceil(c.n_heads.max(threads * 16));
        let out = t.output.as_ref().unwrap_or(&t.embed);
        Plan {
            q: Split::new(c.q_dim(), qkv),
            k: Split::new(c.kv_dim(), qkv),
            v: Split::new(c.kv_dim(), qkv),
            heads: Split::new(pairs, per_unit),
            dim: Split::new(c.dim, rows_for(l.map(|l| &l.wo), 1, c.dim, PANEL)),
            // A unit reads gate and up rows.
            ff: Split::new(c.ff_dim, rows_for(l.map(|l| &l.w_gate), 2, c.ff_dim, QK)),
            down: Split::new(c.dim, rows_for(l.map(|l| &l.w_down), 1, c.dim, PANEL)),
            vocab: Split::new(
                c.vocab_size,
                rows_for(Some(out), 1, c.vocab_size, PANEL).max(256),
            ),
        }
    }

    fn qkv_units(&self) -> usize {
        self.q.count() + self.k.count() + self.v.count()
    }

    /// The most units of any phase that writes its results into the session's slots.
    fn max_units(&self) -> usize {
        self.qkv_units()
            .max(self.heads.count())
            .max(self.dim.count())
            .max(self.ff.count())
            .max(self.down.count())
    }
}

/// Weight bytes per unit of work (see `Plan::new`).
const UNIT_BYTES: usize = 24 * 1024;

/// The phases of each layer, in order.
const QKV: usize = 0;
const ATTENTION: usize = 1;
const OUTPUT: usize = 2;
const GATE_UP: usize = 3;
const DOWN: usize = 4;
const PER_LAYER: usize = 5;

/// What only one thread touches at a time: the serial steps between phases.
struct Serial<'a> {
    /// The residual stream of the pass's tokens, `n × dim`.
    x: &'a mut [f32],
    /// Scratch rows for norms and gathered products.
    rows: &'a mut Vec<f32>,
}

/// Each thread's own scratch.
#[derive(Default)]
struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    q: Vec<f32>,
    scores: Vec<f32>,
}

/// One forward pass shared by the pool's threads.
struct Pass<'a> {
    t: &'a Transformer,
    plan: Plan,
    n: usize,
    start: usize,
    phases: usize,
    /// `(phase << 32) | next unit to take`.
    claim: AtomicU64,
    /// Units of the current phase finished.
    done: AtomicUsize,
    /// The products of each unit, token-major (`n × rows of the unit`); phases alternate
    /// between the two sets, so that a phase reads its predecessor's while writing its own.
    slots: &'a [Vec<Mutex<Slot>>; 2],
    serial: Mutex<Serial<'a>>,
    /// The quantised input of the next product, one per token.
    qx: RwLock<&'a mut [QVec]>,
    cache: &'a [RwLock<LayerCache>],
    /// `n × rope_dim / 2` (cos, sin) pairs.
    rope_cs: &'a [(f32, f32)],
    /// The logits in `plan.vocab` units.
    logits: Vec<Mutex<&'a mut [f32]>>,
    /// Threads asleep until the next phase opens.
    sleepers: AtomicUsize,
    bell: Mutex<()>,
    ring: Condvar,
}

/// How long a thread spins for the next phase before it sleeps. Between phases it normally
/// waits for a unit of work in progress on another thread (a few to tens of µs); a longer wait
/// means that thread was descheduled, and then this one must leave its core (spinning or
/// yielding would keep the core busy, and the descheduled thread could not move onto it).
const SPIN: Duration = Duration::from_micros(200);
/// A sleeper checks again after this long even without being woken.
const NAP: Duration = Duration::from_millis(2);

impl<'a> Pass<'a> {
    /// Takes and runs units until the last phase is done.
    fn work(&self) {
        let mut scratch = Scratch::default();
        let mut waiting: Option<(usize, Instant)> = None;
        let mut spins = 0u32;
        loop {
            let v = self.claim.load(Ordering::SeqCst);
            let (phase, next) = ((v >> 32) as usize, (v & 0xffff_ffff) as usize);
            if phase >= self.phases {
                return;
            }
            let units = self.units(phase);
            if next >= units {
                // Everything is taken; wait for whoever holds the last units.
                self.wait(phase, &mut waiting, &mut spins);
                continue;
            }
            if self
                .claim
                .compare_exchange_weak(v, v + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            waiting = None;
            self.unit(phase, next, &mut scratch);
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == units {
                self.serial_step(phase);
                self.done.store(0, Ordering::Relaxed);
                self.claim
                    .store(((phase + 1) as u64) << 32, Ordering::SeqCst);
                if self.sleepers.load(Ordering::SeqCst) > 0 {
                    let _bell = lock(&self.bell);
                    self.ring.notify_all();
                }
            }
        }
    }

    /// Waits a little for `phase` to end: spins first, then sleeps until woken.
    fn wait(&self, phase: usize, waiting: &mut Option<(usize, Instant)>, spins: &mut u32) {
        let since = match *waiting {
            Some((p, t)) if p == phase => t,
            _ => {
                let now = Instant::now();
                *waiting = Some((phase, now));
                *spins = 0;
                now
            }
        };
        *spins += 1;
        // Reading the clock costs more than a pause; look at it now and then.
        if !spins.is_multiple_of(32) || since.elapsed() < SPIN {
            std::hint::spin_loop();
            return;
        }
        let bell = lock(&self.bell);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        // Pairs with the store of `claim` before the load of `sleepers` in `work`: either this
        // sees the next phase, or the thread opening it sees a sleeper and rings.
        if (self.claim.load(Ordering::SeqCst) >> 32) as usize == phase {
            let _ = self
                .ring
                .wait_timeout(bell, NAP)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn layer_and_kind(&self, phase: usize) -> (usize, usize) {
        (phase / PER_LAYER, phase % PER_LAYER)
    }

    fn is_logits(&self, phase: usize) -> bool {
        phase + 1 == self.phases
    }

    fn units(&self, phase: usize) -> usize {
        let p = &self.plan;
        if self.is_logits(phase) {
            return p.vocab.count();
        }
        match self.layer_and_kind(phase).1 {
            QKV => p.qkv_units(),
            ATTENTION => p.heads.count(),
            GATE_UP => p.ff.count(),
            DOWN => p.down.count(),
            _ => p.dim.count(),
        }
    }

    /// `out = m · xs` for rows `first..`, token-major.
    fn product(m: &QMatrix, first: usize, xs: &[QVec], out: &mut [f32]) {
        if let [x] = xs {
            m.dot_rows(first, x, out);
        } else {
            m.dot_rows_tokens(first, xs, out);
        }
    }

    fn read_qx(&self) -> RwLockReadGuard<'_, &'a mut [QVec]> {
        self.qx.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_qx(&self) -> RwLockWriteGuard<'_, &'a mut [QVec]> {
        self.qx.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs unit `u` of `phase`.
    fn unit(&self, phase: usize, u: usize, w: &mut Scratch) {
        let (n, p) = (self.n, &self.plan);
        let out = &self.slots[phase % 2];
        if self.is_logits(phase) {
            let m = self.t.output.as_ref().unwrap_or(&self.t.embed);
            let rows = p.vocab.range(u);
            debug_assert!(rows.end <= m.rows);
            let qx = self.read_qx();
            let mut logits = lock(&self.logits[u]);
            m.dot_rows(rows.start, &qx[0], &mut logits);
            return;
        }
        let (li, kind) = self.layer_and_kind(phase);
        let l = &self.t.layers[li];
        let (m, rows) = match kind {
            QKV => {
                let (nq, nk) = (p.q.count(), p.k.count());
                if u < nq {
                    (&l.wq, p.q.range(u))
                } else if u < nq + nk {
                    (&l.wk, p.k.range(u - nq))
                } else {
                    (&l.wv, p.v.range(u - nq - nk))
                }
            }
            ATTENTION => return self.attention(phase, li, u, w),
            OUTPUT => (&l.wo, p.dim.range(u)),
            DOWN => (&l.w_down, p.down.range(u)),
            _ => {
                // Gate and up for the same rows, then SwiGLU.
                let rows = p.ff.range(u);
                let len = n * rows.len();
                w.a.resize(len, 0.0);
                w.b.resize(len, 0.0);
                {
                    let qx = self.read_qx();
                    Self::product(&l.w_gate, rows.start, &qx, &mut w.a);
                    Self::product(&l.w_up, rows.start, &qx, &mut w.b);
                }
                for (g, &up) in w.a.iter_mut().zip(&w.b) {
                    *g = *g / (1.0 + (-*g).exp()) * up;
                }
                // The down product's input, quantised here rather than in the serial step
                // (units are whole blocks of 32).
                lock(&out[u]).quantize(&w.a, n);
                return;
            }
        };
        let qx = self.read_qx();
        let mut slot = lock(&out[u]);
        slot.f.resize(n * rows.len(), 0.0);
        Self::product(m, rows.start, &qx, &mut slot.f);
    }

    /// Attention of the (token, head) pairs of unit `u`, over the cache of layer `li`.
    fn attention(&self, phase: usize, li: usize, u: usize, w: &mut Scratch) {
        let c = &self.t.config;
        let (hd, p) = (c.head_dim, &self.plan);
        let half = c.rope_dim / 2;
        let kvd = c.kv_dim();
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let qkv = &self.slots[(phase + 1) % 2];
        let cache = self.cache[li]
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let pairs = p.heads.range(u);
        let mut slot = lock(&self.slots[phase % 2][u]);
        let slot = &mut *slot;
        slot.f.resize(pairs.len() * hd, 0.0);
        for (o, i) in slot.f.chunks_exact_mut(hd).zip(pairs.clone()) {
            let (t, h) = (i / c.n_heads, i % c.n_heads);
            w.q.resize(hd, 0.0);
            gather(qkv, p.q, self.n, t, h * hd..(h + 1) * hd, &mut w.q);
            rope(&mut w.q, hd, &self.rope_cs[t * half..(t + 1) * half]);
            let ctx = self.start + t + 1;
            let kvh = (h / group) * hd;
            w.scores.clear();
            w.scores.extend((0..ctx).map(|pos| {
                let k = &cache.k[pos * kvd + kvh..pos * kvd + kvh + hd];
                kernels::dot_f32(&w.q, k) * scale
            }));
            let max = w.scores.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            for v in w.scores.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            o.fill(0.0);
            for (pos, &wt) in w.scores.iter().enumerate() {
                let v = &cache.v[pos * kvd + kvh..pos * kvd + kvh + hd];
                kernels::axpy(wt / sum, v, o);
            }
        }
        if hd % QK == 0 {
            // The output product's input, quantised here (heads are whole blocks of 32).
            let f = std::mem::take(&mut slot.f);
            slot.quantize(&f, pairs.len());
            slot.f = f;
        }
    }

    /// The serial step after the last unit of `phase`.
    fn serial_step(&self, phase: usize) {
        if self.is_logits(phase) {
            return;
        }
        let c = &self.t.config;
        let (n, p) = (self.n, &self.plan);
        let (li, kind) = self.layer_and_kind(phase);
        let out = &self.slots[phase % 2];
        let mut serial = lock(&self.serial);
        let Serial { x, rows } = &mut *serial;
        match kind {
            QKV => {
                // Rotate the new keys and append keys and values to the cache.
                let (kvd, half) = (c.kv_dim(), c.rope_dim / 2);
                let (nq, nk) = (p.q.count(), p.k.count());
                let mut cache = self.cache[li]
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                let LayerCache { k, v } = &mut *cache;
                for t in 0..n {
                    let at = (self.start + t) * kvd..(self.start + t + 1) * kvd;
                    gather(&out[nq..], p.k, n, t, 0..kvd, &mut k[at.clone()]);
                    rope(
                        &mut k[at.clone()],
                        c.head_dim,
                        &self.rope_cs[t * half..(t + 1) * half],
                    );
                    gather(&out[nq + nk..], p.v, n, t, 0..kvd, &mut v[at]);
                }
            }
            ATTENTION if c.head_dim.is_multiple_of(QK) => {
                let (hd, heads) = (c.head_dim, c.n_heads);
                let mut qx = self.write_qx();
                for q in qx.iter_mut() {
                    q.reset(c.q_dim());
                }
                for (u, slot) in out.iter().enumerate().take(p.heads.count()) {
                    let slot = lock(slot);
                    for (j, i) in p.heads.range(u).enumerate() {
                        slot.put(j, &mut qx[i / heads], (i % heads) * hd / QK);
                    }
                }
            }
            ATTENTION => {
                let (qd, hd) = (c.q_dim(), c.head_dim);
                rows.resize(n * qd, 0.0);
                for (u, slot) in out.iter().enumerate().take(p.heads.count()) {
                    let r = p.heads.range(u);
                    rows[r.start * hd..r.end * hd].copy_from_slice(&lock(slot).f);
                }
                let mut qx = self.write_qx();
                for (q, row) in qx.iter_mut().zip(rows.chunks_exact(qd)) {
                    q.quantize(row);
                }
            }
            GATE_UP => {
                let mut qx = self.write_qx();
                for q in qx.iter_mut() {
                    q.reset(c.ff_dim);
                }
                for (u, slot) in out.iter().enumerate().take(p.ff.count()) {
                    let slot = lock(slot);
                    let first = p.ff.range(u).start / QK;
                    for (t, q) in qx.iter_mut().enumerate() {
                        slot.put(t, q, first);
                    }
                }
            }
            _ => {
                // OUTPUT or DOWN: add to the residual stream, then the next norm.
                let dim = c.dim;
                let split = if kind == OUTPUT { p.dim } else { p.down };
                for (u, slot) in out.iter().enumerate().take(split.count()) {
                    let r = split.range(u);
                    let slot = lock(slot);
                    for (xt, st) in x.chunks_exact_mut(dim).zip(slot.f.chunks_exact(r.len())) {
                        for (a, b) in xt[r.clone()].iter_mut().zip(st) {
                            *a += b;
                        }
                    }
                }
                let mut qx = self.write_qx();
                if kind == OUTPUT {
                    norm_and_quantize(x, &self.t.layers[li].ffn_norm, c, n, rows, &mut qx);
                } else if let Some(next) = self.t.layers.get(li + 1) {
                    norm_and_quantize(x, &next.attn_norm, c, n, rows, &mut qx);
                } else {
                    self.t.final_norm(x, n, rows, &mut qx);
                }
            }
        }
    }
}

/// The results of one unit of work: products (token-major), and for the units whose results
/// feed the next product directly, the same rows quantised (in pieces of equal width, one per
/// token or per attention head).
#[derive(Default)]
struct Slot {
    f: Vec<f32>,
    quants: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<f32>,
    /// Blocks per quantised piece.
    per: usize,
}

impl Slot {
    /// Quantises `x`, `pieces` pieces of equal width (whole blocks).
    fn quantize(&mut self, x: &[f32], pieces: usize) {
        let blocks = x.len() / QK;
        self.quants.resize(blocks * QK, 0);
        self.scales.resize(blocks, 0.0);
        self.sums.resize(blocks, 0.0);
        kernels::quantize_blocks(x, &mut self.quants, &mut self.scales, &mut self.sums);
        debug_assert!(pieces > 0 && blocks.is_multiple_of(pieces));
        self.per = blocks / pieces.max(1);
    }

    /// Copies quantised piece `i` into `q` from block `first` on.
    fn put(&self, i: usize, q: &mut QVec, first: usize) {
        let per = self.per;
        q.put(
            first,
            &self.quants[i * per * QK..(i + 1) * per * QK],
            &self.scales[i * per..(i + 1) * per],
            &self.sums[i * per..(i + 1) * per],
        );
    }
}

/// Copies rows `rows` of token `t` of a product cut by `split` (unit `u` in `slots[u]`,
/// token-major over `n` tokens) into `out`.
fn gather(
    slots: &[Mutex<Slot>],
    split: Split,
    n: usize,
    t: usize,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let mut r = rows.start;
    while r < rows.end {
        let u = r / split.chunk;
        let ur = split.range(u);
        let end = rows.end.min(ur.end);
        let slot = lock(&slots[u]);
        let from = t * ur.len() + (r - ur.start);
        debug_assert!(t < n);
        out[r - rows.start..end - rows.start].copy_from_slice(&slot.f[from..from + (end - r)]);
        r = end;
    }
}

/// RMS-normalises each of the `n` rows of `x` with weights `w` and quantises it into `qx`.
fn norm_and_quantize(
    x: &[f32],
    w: &[f32],
    c: &Config,
    n: usize,
    rows: &mut Vec<f32>,
    qx: &mut [QVec],
) {
    let dim = c.dim;
    if rows.len() < dim {
        rows.resize(dim, 0.0);
    }
    for (xt, q) in x.chunks_exact(dim).zip(qx.iter_mut()).take(n) {
        rms_norm(xt, w, c.norm_eps, &mut rows[..dim]);
        q.quantize(&rows[..dim]);
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
    QMatrix::load(info.ty, &bytes, rows, cols).with_context(|| format!("tensor {name}"))
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
    cache: Vec<RwLock<LayerCache>>,
    x: Vec<f32>,
    rows: Vec<f32>,
    qx: Vec<QVec>,
    slots: [Vec<Mutex<Slot>>; 2],
    rope_cs: Vec<(f32, f32)>,
    pub logits: Vec<f32>,
}

impl Session {
    pub fn new(c: &Config) -> Session {
        Session {
            len: 0,
            cache: (0..c.n_layers)
                .map(|_| {
                    RwLock::new(LayerCache {
                        k: Vec::new(),
                        v: Vec::new(),
                    })
                })
                .collect(),
            x: Vec::new(),
            rows: Vec::new(),
            qx: Vec::new(),
            slots: [Vec::new(), Vec::new()],
            rope_cs: Vec::new(),
            logits: Vec::new(),
        }
    }

    /// Forgets the conversation, keeping the allocations.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Forgets the positions from `len` on (they are written again by the next forward pass).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Positions held in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    fn reserve(&mut self, c: &Config, n: usize, end: usize, units: usize) {
        let grow = |v: &mut Vec<f32>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        for l in &mut self.cache {
            let l = l.get_mut().unwrap_or_else(PoisonError::into_inner);
            grow(&mut l.k, end * c.kv_dim());
            grow(&mut l.v, end * c.kv_dim());
        }
        grow(&mut self.x, n * c.dim);
        grow(&mut self.rows, n * c.dim.max(c.q_dim()).max(c.ff_dim));
        if self.qx.len() < n {
            self.qx.resize(n, QVec::default());
        }
        for set in &mut self.slots {
            while set.len() < units {
                set.push(Mutex::new(Slot::default()));
            }
        }
    }
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss = kernels::dot_f32(x, x) / x.len() as f32;
    let scale = 1.0 / (ss + eps).sqrt();
    for ((o, &x), &w) in out.iter_mut().zip(x).zip(w) {
        *o = x * scale * w;
    }
}
