//! Quantised weight matrices and the matrix–vector products of the forward pass.
//!
//! Weights are kept in one of two layouts with a fast int8 kernel each: Q8_0 (symmetric 8-bit)
//! and Q4 (4-bit with a scale and a minimum per block: GGUF's Q4_1 as is, Q4_0 with the minimum
//! `-8·d`). Every other GGUF type is requantised to Q8_0 when the model loads. With the
//! 512-bit AVX-512 kernels, both are then rearranged into panels of 16 rows (same bytes, same
//! results). Activations are quantised to 8 bits per block of 32 before each product, as
//! llama.cpp does.

use std::sync::OnceLock;

use anyhow::{bail, Result};

use crate::quant::{self, f16_to_f32, f32_to_f16, GgmlType};

pub use crate::quant::QK;

#[cfg(target_arch = "x86_64")]
mod x86;

/// Blocks whose scales are handled together; scale rows are padded to a multiple of it.
pub const GROUP: usize = 8;

/// Rows per panel of the 512-bit kernels (one per 32-bit lane).
pub const PANEL: usize = 16;

/// The storage of a weight matrix, row-major, each row a run of blocks of 32. Scales and
/// minimums stay IEEE halves, as in the file (decoding streams every weight once per token, so
/// each byte per block counts), in rows padded with zeros to a multiple of [`GROUP`] blocks.
pub enum QData {
    Q8 {
        scales: Vec<u16>,
        /// In −127..=127 (a −128 from the file is clamped, which ggml's quantiser never writes).
        quants: Vec<i8>,
    },
    Q4 {
        scales: Vec<u16>,
        mins: Vec<u16>,
        /// ggml nibble order: byte j of a block holds element j (low) and j+16 (high).
        nibbles: Vec<u8>,
    },
    /// Q8_0 in panels of [`PANEL`] rows (the last one padded with zero rows), for the 512-bit
    /// kernels. Per panel, per block, per group `l` of four values: the 16 rows' values
    /// `4l..4l + 4`, each stored as `q + 128` (512 bytes a block); scales per panel, per block
    /// (padded to a multiple of [`GROUP`]), the 16 rows' halves.
    Q8Panels { scales: Vec<u16>, quants: Vec<u8> },
    /// Q4 in panels of [`PANEL`] rows: per panel, per block, per group `h` of four bytes of
    /// the ggml block (values `4h..4h + 4` in the low nibbles, `16 + 4h..` in the high ones):
    /// the 16 rows' four bytes (256 bytes a block); scales and minimums as in `Q8Panels`.
    Q4Panels {
        scales: Vec<u16>,
        mins: Vec<u16>,
        nibbles: Vec<u8>,
    },
}

/// A quantised matrix of `rows` × `cols` (`cols` a multiple of 32).
pub struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: QData,
}

/// Blocks per row, and the padded stride of a row of scales.
fn strides(cols: usize) -> (usize, usize) {
    let nb = cols / QK;
    (nb, nb.next_multiple_of(GROUP))
}

impl QMatrix {
    /// Builds the matrix from a GGUF tensor's bytes (`cols` is the tensor's first dimension).
    pub fn from_ggml(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Result<QMatrix> {
        if !cols.is_multiple_of(QK) || cols == 0 {
            bail!("matrix width {cols} is not a positive multiple of {QK}");
        }
        let (nb, sb) = strides(cols);
        let (per, size) = ty.block();
        let row_bytes = cols / per * size;
        if bytes.len() != rows * row_bytes {
            bail!(
                "{} bytes of {ty:?} do not make a {rows}×{cols} matrix",
                bytes.len()
            );
        }
        let data = match ty {
            GgmlType::Q8_0 => {
                let mut scales = vec![0u16; rows * sb];
                let mut quants = Vec::with_capacity(rows * cols);
                for (row, s) in bytes
                    .chunks_exact(row_bytes)
                    .zip(scales.chunks_exact_mut(sb))
                {
                    for (b, s) in row.chunks_exact(34).zip(s.iter_mut()) {
                        *s = u16::from_le_bytes([b[0], b[1]]);
                        quants.extend(b[2..].iter().map(|&q| (q as i8).max(-127)));
                    }
                }
                QData::Q8 { scales, quants }
            }
            GgmlType::Q4_0 | GgmlType::Q4_1 => {
                let mut scales = vec![0u16; rows * sb];
                let mut mins = vec![0u16; rows * sb];
                let mut nibbles = Vec::with_capacity(rows * cols / 2);
                for ((row, s), m) in bytes
                    .chunks_exact(row_bytes)
                    .zip(scales.chunks_exact_mut(sb))
                    .zip(mins.chunks_exact_mut(sb))
                {
                    for ((b, s), m) in row.chunks_exact(size).zip(s.iter_mut()).zip(m.iter_mut()) {
                        *s = u16::from_le_bytes([b[0], b[1]]);
                        if ty == GgmlType::Q4_0 {
                            // d·(q − 8) = d·q + (−8·d); −8·d is exact in half precision.
                            *m = f32_to_f16(-8.0 * f16_to_f32(*s));
                            nibbles.extend_from_slice(&b[2..18]);
                        } else {
                            *m = u16::from_le_bytes([b[2], b[3]]);
                            nibbles.extend_from_slice(&b[4..20]);
                        }
                    }
                }
                QData::Q4 {
                    scales,
                    mins,
                    nibbles,
                }
            }
            other => {
                // Requantise row by row through f32.
                let mut row = vec![0f32; cols];
                let mut scales = vec![0u16; rows * sb];
                let mut quants = vec![0i8; rows * cols];
                for ((src, dst), s) in bytes
                    .chunks_exact(row_bytes)
                    .zip(quants.chunks_exact_mut(cols))
                    .zip(scales.chunks_exact_mut(sb))
                {
                    quant::dequantize(other, src, &mut row)?;
                    for ((x, q), s) in row
                        .chunks_exact(QK)
                        .zip(dst.chunks_exact_mut(QK))
                        .zip(s.iter_mut())
                    {
                        *s = quant::quantize_block_q8_f16(x, q);
                    }
                }
                QData::Q8 { scales, quants }
            }
        };
        debug_assert!(nb <= sb);
        Ok(QMatrix { rows, cols, data })
    }

    /// [`QMatrix::from_ggml`], in the layout the kernels in use read fastest.
    pub fn load(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Result<QMatrix> {
        let m = QMatrix::from_ggml(ty, bytes, rows, cols)?;
        Ok(if simd_panels() { m.into_panels() } else { m })
    }

    /// The same matrix in panels of [`PANEL`] rows (see [`QData::Q8Panels`]).
    pub fn into_panels(self) -> QMatrix {
        let (nb, sb) = strides(self.cols);
        let (rows, cols) = (self.rows, self.cols);
        let panels = rows.div_ceil(PANEL);
        // Scales per panel and block, rows padded with zeros.
        let panel_scales = |h: &[u16]| {
            let mut out = vec![0u16; panels * sb * PANEL];
            for r in 0..rows {
                let (p, i) = (r / PANEL, r % PANEL);
                for b in 0..nb {
                    out[(p * sb + b) * PANEL + i] = h[r * sb + b];
                }
            }
            out
        };
        let data = match self.data {
            QData::Q8 { scales, quants } => {
                let mut q = vec![0x80u8; panels * nb * 512];
                for r in 0..rows {
                    let (p, i) = (r / PANEL, r % PANEL);
                    for b in 0..nb {
                        for l in 0..8 {
                            let src = r * cols + b * QK + 4 * l;
                            let dst = (p * nb + b) * 512 + l * 64 + i * 4;
                            for e in 0..4 {
                                q[dst + e] = (quants[src + e] as u8) ^ 0x80;
                            }
                        }
                    }
                }
                QData::Q8Panels {
                    scales: panel_scales(&scales),
                    quants: q,
                }
            }
            QData::Q4 {
                scales,
                mins,
                nibbles,
            } => {
                let mut n = vec![0u8; panels * nb * 256];
                for r in 0..rows {
                    let (p, i) = (r / PANEL, r % PANEL);
                    for b in 0..nb {
                        for h in 0..4 {
                            let src = r * cols / 2 + b * QK / 2 + 4 * h;
                            let dst = (p * nb + b) * 256 + h * 64 + i * 4;
                            n[dst..dst + 4].copy_from_slice(&nibbles[src..src + 4]);
                        }
                    }
                }
                QData::Q4Panels {
                    scales: panel_scales(&scales),
                    mins: panel_scales(&mins),
                    nibbles: n,
                }
            }
            panels @ (QData::Q8Panels { .. } | QData::Q4Panels { .. }) => panels,
        };
        QMatrix { rows, cols, data }
    }

    /// Bytes of one row (quantised values, scales and minimums).
    pub fn row_bytes(&self) -> usize {
        let blocks = self.cols / QK;
        match self.data {
            QData::Q8 { .. } | QData::Q8Panels { .. } => blocks * (QK + 2),
            QData::Q4 { .. } | QData::Q4Panels { .. } => blocks * (QK / 2 + 4),
        }
    }

    /// The storage kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self.data {
            QData::Q8 { .. } => "Q8_0",
            QData::Q4 { .. } => "Q4",
            QData::Q8Panels { .. } => "Q8_0 (panels)",
            QData::Q4Panels { .. } => "Q4 (panels)",
        }
    }

    /// Weight `e` of block `b` of row `r` of a matrix in panels, with its block's scale and
    /// minimum.
    fn panel_weight(&self, r: usize, b: usize, e: usize) -> (i32, f32, f32) {
        let (nb, sb) = strides(self.cols);
        let (p, i) = (r / PANEL, r % PANEL);
        let at = (p * sb + b) * PANEL + i;
        match &self.data {
            QData::Q8Panels { scales, quants } => {
                let q = quants[(p * nb + b) * 512 + (e / 4) * 64 + i * 4 + e % 4];
                (i32::from(q) - 128, f16_to_f32(scales[at]), 0.0)
            }
            QData::Q4Panels {
                scales,
                mins,
                nibbles,
            } => {
                let (h, high) = ((e % 16) / 4, e >= 16);
                let byte = nibbles[(p * nb + b) * 256 + h * 64 + i * 4 + e % 4];
                let q = if high { byte >> 4 } else { byte & 0x0f };
                (i32::from(q), f16_to_f32(scales[at]), f16_to_f32(mins[at]))
            }
            QData::Q8 { .. } | QData::Q4 { .. } => (0, 0.0, 0.0),
        }
    }

    /// Dequantises row `r` into `out` (`cols` long).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) {
        let (nb, sb) = strides(self.cols);
        match &self.data {
            QData::Q8 { scales, quants } => {
                let q = &quants[r * self.cols..(r + 1) * self.cols];
                for ((o, q), &d) in out
                    .chunks_exact_mut(QK)
                    .zip(q.chunks_exact(QK))
                    .zip(&scales[r * sb..r * sb + nb])
                {
                    let d = f16_to_f32(d);
                    for (o, &q) in o.iter_mut().zip(q) {
                        *o = f32::from(q) * d;
                    }
                }
            }
            QData::Q4 {
                scales,
                mins,
                nibbles,
            } => {
                let n = &nibbles[r * self.cols / 2..(r + 1) * self.cols / 2];
                for (((o, n), &d), &m) in out
                    .chunks_exact_mut(QK)
                    .zip(n.chunks_exact(QK / 2))
                    .zip(&scales[r * sb..r * sb + nb])
                    .zip(&mins[r * sb..r * sb + nb])
                {
                    let (d, m) = (f16_to_f32(d), f16_to_f32(m));
                    for j in 0..QK / 2 {
                        o[j] = f32::from(n[j] & 0x0f) * d + m;
                        o[j + QK / 2] = f32::from(n[j] >> 4) * d + m;
                    }
                }
            }
            QData::Q8Panels { .. } | QData::Q4Panels { .. } => {
                for (b, o) in out.chunks_exact_mut(QK).take(nb).enumerate() {
                    for (e, o) in o.iter_mut().enumerate() {
                        let (q, d, m) = self.panel_weight(r, b, e);
                        *o = q as f32 * d + m;
                    }
                }
            }
        }
    }

    /// `out[i] = row_(first + i) · x` for each `i` of `out`.
    pub(crate) fn dot_rows(&self, first: usize, x: &QVec, out: &mut [f32]) {
        let rows = Rows {
            cols: self.cols,
            first,
        };
        match (&self.data, simd()) {
            #[cfg(target_arch = "x86_64")]
            (QData::Q8 { scales, quants }, Simd::X86(k)) => {
                k.rows_q8(&rows, quants, scales, x, out)
            }
            #[cfg(target_arch = "x86_64")]
            (
                QData::Q4 {
                    scales,
                    mins,
                    nibbles,
                },
                Simd::X86(k),
            ) => k.rows_q4(&rows, nibbles, scales, mins, x, out),
            #[cfg(target_arch = "x86_64")]
            (QData::Q8Panels { scales, quants }, Simd::X86(k)) if k.panels() => {
                k.panels_q8(&rows, quants, scales, std::slice::from_ref(x), out)
            }
            #[cfg(target_arch = "x86_64")]
            (
                QData::Q4Panels {
                    scales,
                    mins,
                    nibbles,
                },
                Simd::X86(k),
            ) if k.panels() => {
                k.panels_q4(&rows, nibbles, scales, mins, std::slice::from_ref(x), out)
            }
            (QData::Q8Panels { .. } | QData::Q4Panels { .. }, _) => {
                self.rows_panels_scalar(first, x, out)
            }
            (QData::Q8 { scales, quants }, _) => rows_q8_scalar(&rows, quants, scales, x, out),
            (
                QData::Q4 {
                    scales,
                    mins,
                    nibbles,
                },
                _,
            ) => rows_q4_scalar(&rows, nibbles, scales, mins, x, out),
        }
    }

    /// `out[t·n + i] = row_(first + i) · xs[t]` for `n = out.len() / xs.len()`.
    pub(crate) fn dot_rows_tokens(&self, first: usize, xs: &[QVec], out: &mut [f32]) {
        let rows = Rows {
            cols: self.cols,
            first,
        };
        match (&self.data, simd()) {
            #[cfg(target_arch = "x86_64")]
            (QData::Q8 { scales, quants }, Simd::X86(k)) => {
                k.rows_q8_tokens(&rows, quants, scales, xs, out)
            }
            #[cfg(target_arch = "x86_64")]
            (
                QData::Q4 {
                    scales,
                    mins,
                    nibbles,
                },
                Simd::X86(k),
            ) => k.rows_q4_tokens(&rows, nibbles, scales, mins, xs, out),
            #[cfg(target_arch = "x86_64")]
            (QData::Q8Panels { scales, quants }, Simd::X86(k)) if k.panels() => {
                k.panels_q8(&rows, quants, scales, xs, out)
            }
            #[cfg(target_arch = "x86_64")]
            (
                QData::Q4Panels {
                    scales,
                    mins,
                    nibbles,
                },
                Simd::X86(k),
            ) if k.panels() => k.panels_q4(&rows, nibbles, scales, mins, xs, out),
            _ => {
                let n = out.len() / xs.len().max(1);
                for (x, o) in xs.iter().zip(out.chunks_exact_mut(n.max(1))) {
                    self.dot_rows(first, x, o);
                }
            }
        }
    }

    /// Rows of a matrix in panels without the 512-bit kernels: the scalar kernels' sums.
    fn rows_panels_scalar(&self, first: usize, x: &QVec, out: &mut [f32]) {
        let nb = self.cols / QK;
        for (i, o) in out.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for b in 0..nb {
                let mut dot = 0i32;
                let (mut d, mut m) = (0.0, 0.0);
                for e in 0..QK {
                    let (q, sd, sm) = self.panel_weight(first + i, b, e);
                    dot += q * i32::from(x.quants[b * QK + e]);
                    (d, m) = (sd, sm);
                }
                acc += d * x.scales[b] * dot as f32 + m * x.sums[b];
            }
            *o = acc;
        }
    }
}

/// Whole products on the current rayon pool: the reference the kernels' tests and the
/// kernel microbenchmark use (the forward pass cuts its products into units itself).
#[cfg(test)]
impl QMatrix {
    /// `out = self · x`, spread over the current rayon pool.
    pub fn matvec(&self, x: &QVec, out: &mut [f32]) {
        use rayon::prelude::*;
        let out = &mut out[..self.rows];
        let chunk = row_chunk(self.rows);
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, o)| self.dot_rows(i * chunk, x, o));
    }

    /// For each token `t`, `out[t·rows..][..rows] = self · xs[t]`, reading each weight row once
    /// per chunk of rows. `scratch` is resized as needed.
    pub fn matmul(&self, xs: &[QVec], out: &mut [f32], scratch: &mut Vec<f32>) {
        let n = xs.len();
        if n == 1 {
            self.matvec(&xs[0], &mut out[..self.rows]);
            return;
        }
        use rayon::prelude::*;
        // Laid out token-major within each chunk of rows, so that each task owns one slice.
        scratch.resize(self.rows * n, 0.0);
        let chunk = row_chunk(self.rows);
        scratch
            .par_chunks_mut(chunk * n)
            .enumerate()
            .for_each(|(i, o)| {
                self.dot_rows_tokens(i * chunk, xs, o);
            });
        for (c, block) in scratch.chunks(chunk * n).enumerate() {
            let rows = block.len() / n;
            for (t, src) in block.chunks_exact(rows).enumerate() {
                let dst = t * self.rows + c * chunk;
                out[dst..dst + rows].copy_from_slice(src);
            }
        }
    }
}

/// Which rows a kernel call covers.
pub(crate) struct Rows {
    pub cols: usize,
    pub first: usize,
}

/// Rows per task of [`QMatrix::matvec`]: about four tasks per thread, whole kernel tiles.
#[cfg(test)]
fn row_chunk(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (rows / (threads * 4)).next_multiple_of(4).clamp(16, 1024)
}

/// An activation vector quantised to 8 bits per block of 32 (scales and sums padded with
/// zeros to a multiple of [`GROUP`] blocks).
#[derive(Clone, Default)]
pub struct QVec {
    pub quants: Vec<i8>,
    pub scales: Vec<f32>,
    /// `scale · Σ quants` per block, for the minimum term of Q4 weights.
    pub sums: Vec<f32>,
}

impl QVec {
    pub fn quantize(&mut self, x: &[f32]) {
        let nb = self.reset(x.len());
        quantize_blocks(
            x,
            &mut self.quants,
            &mut self.scales[..nb],
            &mut self.sums[..nb],
        );
    }

    /// Sizes the vector for `width` values, scales and sums zeroed (their padding must be);
    /// returns the number of blocks. The blocks are then filled with [`QVec::put`].
    pub fn reset(&mut self, width: usize) -> usize {
        let (nb, sb) = strides(width);
        self.quants.resize(nb * QK, 0);
        self.scales.clear();
        self.scales.resize(sb, 0.0);
        self.sums.clear();
        self.sums.resize(sb, 0.0);
        nb
    }

    /// Copies blocks quantised by [`quantize_blocks`] into place, from block `first` on.
    pub fn put(&mut self, first: usize, quants: &[i8], scales: &[f32], sums: &[f32]) {
        let nb = scales.len();
        self.quants[first * QK..(first + nb) * QK].copy_from_slice(&quants[..nb * QK]);
        self.scales[first..first + nb].copy_from_slice(scales);
        self.sums[first..first + nb].copy_from_slice(&sums[..nb]);
    }
}

/// Quantises `x` (whole blocks of 32) to 8 bits per value, with one scale per block and the
/// scale times the sum of the block's quants, both rounded to half precision as llama.cpp
/// stores them (Q8_0/Q8_1 blocks), so that both engines compute the same products.
pub fn quantize_blocks(x: &[f32], quants: &mut [i8], scales: &mut [f32], sums: &mut [f32]) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        Simd::X86(k) => k.quantize_blocks(x, quants, scales, sums),
        Simd::Scalar => quantize_blocks_scalar(x, quants, scales, sums),
    }
}

fn quantize_blocks_scalar(x: &[f32], quants: &mut [i8], scales: &mut [f32], sums: &mut [f32]) {
    for ((x, q), (d, s)) in x
        .chunks_exact(QK)
        .zip(quants.chunks_exact_mut(QK))
        .zip(scales.iter_mut().zip(sums.iter_mut()))
    {
        let scale = quant::quantize_block_q8(x, q);
        let sum = q.iter().map(|&v| i32::from(v)).sum::<i32>() as f32;
        *d = round_f16(scale);
        *s = round_f16(scale * sum);
    }
}

/// Σ a[i]·b[i].
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        Simd::X86(k) => k.dot_f32(a, b),
        Simd::Scalar => dot_f32_scalar(a, b),
    }
}

/// y[i] += a·x[i].
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        Simd::X86(k) => k.axpy(a, x, y),
        Simd::Scalar => {
            for (y, x) in y.iter_mut().zip(x) {
                *y += a * x;
            }
        }
    }
}

/// A dot product written so that the compiler vectorises it (eight independent sums).
fn dot_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn round_f16(x: f32) -> f32 {
    f16_to_f32(f32_to_f16(x))
}

#[derive(Clone, Copy)]
enum Simd {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    X86(x86::Kernels),
}

fn simd() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let wanted = std::env::var("BEDROCK_STREAM_KERNEL").unwrap_or_default();
        if wanted == "scalar" {
            return Simd::Scalar;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = x86::Kernels::detect(&wanted) {
            return Simd::X86(k);
        }
        Simd::Scalar
    })
}

/// Do the kernels in use want weights in panels?
fn simd_panels() -> bool {
    match simd() {
        Simd::Scalar => false,
        #[cfg(target_arch = "x86_64")]
        Simd::X86(k) => k.panels(),
    }
}

/// The kernel in use, for logs and the benchmark.
pub fn simd_name() -> &'static str {
    match simd() {
        Simd::Scalar => "scalar",
        #[cfg(target_arch = "x86_64")]
        Simd::X86(k) => k.name(),
    }
}

pub(crate) fn rows_q8_scalar(
    rows: &Rows,
    quants: &[i8],
    scales: &[u16],
    x: &QVec,
    out: &mut [f32],
) {
    let (nb, sb) = strides(rows.cols);
    for (i, o) in out.iter_mut().enumerate() {
        let r = rows.first + i;
        let wq = &quants[r * rows.cols..(r + 1) * rows.cols];
        let ws = &scales[r * sb..r * sb + nb];
        let mut acc = 0.0f32;
        for ((w, xq), (&sw, &sx)) in wq
            .chunks_exact(QK)
            .zip(x.quants.chunks_exact(QK))
            .zip(ws.iter().zip(&x.scales))
        {
            let s: i32 = w
                .iter()
                .zip(xq)
                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                .sum();
            acc += f16_to_f32(sw) * sx * s as f32;
        }
        *o = acc;
    }
}

pub(crate) fn rows_q4_scalar(
    rows: &Rows,
    nibbles: &[u8],
    scales: &[u16],
    mins: &[u16],
    x: &QVec,
    out: &mut [f32],
) {
    let (nb, sb) = strides(rows.cols);
    for (i, o) in out.iter_mut().enumerate() {
        let r = rows.first + i;
        let wn = &nibbles[r * rows.cols / 2..(r + 1) * rows.cols / 2];
        let mut acc = 0.0f32;
        for (b, (n, xq)) in wn
            .chunks_exact(QK / 2)
            .zip(x.quants.chunks_exact(QK))
            .enumerate()
        {
            let mut d = 0i32;
            for j in 0..QK / 2 {
                d += i32::from(n[j] & 0x0f) * i32::from(xq[j]);
                d += i32::from(n[j] >> 4) * i32::from(xq[j + QK / 2]);
            }
            acc += f16_to_f32(scales[r * sb + b]) * x.scales[b] * d as f32
                + f16_to_f32(mins[r * sb + b]) * x.sums[b];
        }
        debug_assert!(wn.len() / (QK / 2) == nb);
        *o = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::f32_to_f16;

    fn lcg(seed: &mut u64) -> u32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    }

    fn random_bytes(n: usize, seed: &mut u64) -> Vec<u8> {
        (0..n).map(|_| lcg(seed) as u8).collect()
    }

    /// A Q4_1 tensor with sane scales (random bytes would make NaN halves).
    fn q4_1_tensor(rows: usize, cols: usize, seed: &mut u64) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..rows * cols / QK {
            let d = (lcg(seed) % 1000) as f32 / 50_000.0;
            let m = -((lcg(seed) % 1000) as f32) / 10_000.0;
            out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
            out.extend_from_slice(&f32_to_f16(m).to_le_bytes());
            out.extend(random_bytes(16, seed));
        }
        out
    }

    fn q8_0_tensor(rows: usize, cols: usize, seed: &mut u64) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..rows * cols / QK {
            let d = (lcg(seed) % 1000) as f32 / 100_000.0;
            out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
            // ggml never writes −128 (see QData::Q8).
            out.extend(
                random_bytes(32, seed)
                    .into_iter()
                    .map(|b| if b == 0x80 { 0x81 } else { b }),
            );
        }
        out
    }

    fn reference(m: &QMatrix, x: &[f32]) -> Vec<f32> {
        let mut row = vec![0f32; m.cols];
        (0..m.rows)
            .map(|r| {
                m.row_f32(r, &mut row);
                row.iter().zip(x).map(|(a, b)| a * b).sum()
            })
            .collect()
    }

    fn check(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize, seed: &mut u64) {
        let m = QMatrix::from_ggml(ty, bytes, rows, cols).unwrap();
        let mut deq = vec![0f32; rows * cols];
        quant::dequantize(ty, bytes, &mut deq).unwrap();
        let mut row = vec![0f32; cols];
        for r in 0..rows {
            m.row_f32(r, &mut row);
            for (a, b) in row.iter().zip(&deq[r * cols..]) {
                assert!((a - b).abs() < 1e-6, "{ty:?} row {r}: {a} vs {b}");
            }
        }
        let x: Vec<f32> = (0..cols)
            .map(|_| (lcg(seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let mut qx = QVec::default();
        qx.quantize(&x);
        let want = reference(&m, &x);
        let mut got = vec![0f32; rows];
        m.matvec(&qx, &mut got);
        let scale = want.iter().fold(0f32, |a, b| a.max(b.abs())).max(1e-3);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() / scale < 0.02, "{ty:?}: {g} vs {w}");
        }
        // The scalar kernel agrees with the SIMD one almost exactly.
        let rows_all = Rows { cols, first: 0 };
        let mut scalar = vec![0f32; rows];
        match &m.data {
            QData::Q8 { scales, quants } => {
                rows_q8_scalar(&rows_all, quants, scales, &qx, &mut scalar)
            }
            QData::Q4 {
                scales,
                mins,
                nibbles,
            } => rows_q4_scalar(&rows_all, nibbles, scales, mins, &qx, &mut scalar),
            _ => unreachable!("row layout"),
        }
        for (r, (s, g)) in scalar.iter().zip(&got).enumerate() {
            assert!((s - g).abs() <= 1e-4 * scale, "{ty:?} row {r}: {s} vs {g}");
        }
        // Every x86 kernel this CPU runs agrees with the scalar one.
        #[cfg(target_arch = "x86_64")]
        for name in ["avx2", "avxvnni", "avx512vnni"] {
            let Some(k) = x86::Kernels::detect(name) else {
                continue;
            };
            let mut v = vec![0f32; rows];
            match &m.data {
                QData::Q8 { scales, quants } => k.rows_q8(&rows_all, quants, scales, &qx, &mut v),
                QData::Q4 {
                    scales,
                    mins,
                    nibbles,
                } => k.rows_q4(&rows_all, nibbles, scales, mins, &qx, &mut v),
                _ => unreachable!("row layout"),
            }
            for (r, (s, g)) in scalar.iter().zip(&v).enumerate() {
                assert!(
                    (s - g).abs() <= 1e-4 * scale,
                    "{} {ty:?} row {r}: {s} vs {g}",
                    k.name()
                );
            }
        }
        // Odd row ranges (the kernels work in fours) give the same numbers.
        for first in [0, 1, 3, 5] {
            for len in [1, 2, 3, 4, 5, 7, 9] {
                if first + len > rows {
                    continue;
                }
                let mut part = vec![0f32; len];
                m.dot_rows(first, &qx, &mut part);
                assert_eq!(&part[..], &got[first..first + len], "rows {first}+{len}");
            }
        }
        // Batched products (several tokens per pass) equal one-at-a-time products, for every
        // kernel and for token and row counts that do not fill whole tiles.
        let xs: Vec<QVec> = (0..7)
            .map(|_| {
                let x: Vec<f32> = (0..cols)
                    .map(|_| (lcg(seed) % 2001) as f32 / 1000.0 - 1.0)
                    .collect();
                let mut q = QVec::default();
                q.quantize(&x);
                q
            })
            .collect();
        let singles: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| {
                let mut o = vec![0f32; rows];
                rows_scalar(&m, 0, x, &mut o);
                o
            })
            .collect();
        for n_tok in [1, 2, 3, 4, 5, 7] {
            let mut out = vec![0f32; rows * n_tok];
            let mut scratch = Vec::new();
            m.matmul(&xs[..n_tok], &mut out, &mut scratch);
            for t in 0..n_tok {
                for r in 0..rows {
                    let (a, b) = (out[t * rows + r], singles[t][r]);
                    assert!(
                        (a - b).abs() <= 1e-4 * scale,
                        "{ty:?} {n_tok} tokens, t {t} r {r}: {a} vs {b}"
                    );
                }
            }
            #[cfg(target_arch = "x86_64")]
            for name in ["avx2", "avxvnni", "avx512vnni"] {
                let Some(k) = x86::Kernels::detect(name) else {
                    continue;
                };
                for (first, n) in [(0, rows), (1, rows - 1), (rows / 2, rows - rows / 2)] {
                    let mut o = vec![0f32; n * n_tok];
                    let r = Rows { cols, first };
                    match &m.data {
                        QData::Q8 { scales, quants } => {
                            k.rows_q8_tokens(&r, quants, scales, &xs[..n_tok], &mut o)
                        }
                        QData::Q4 {
                            scales,
                            mins,
                            nibbles,
                        } => k.rows_q4_tokens(&r, nibbles, scales, mins, &xs[..n_tok], &mut o),
                        _ => unreachable!("row layout"),
                    }
                    for t in 0..n_tok {
                        for i in 0..n {
                            let (a, b) = (o[t * n + i], singles[t][first + i]);
                            assert!(
                                (a - b).abs() <= 1e-4 * scale,
                                "{} {ty:?}: {a} vs {b}",
                                k.name()
                            );
                        }
                    }
                }
            }
        }
    }

    fn rows_scalar(m: &QMatrix, first: usize, x: &QVec, out: &mut [f32]) {
        let r = Rows {
            cols: m.cols,
            first,
        };
        match &m.data {
            QData::Q8 { scales, quants } => rows_q8_scalar(&r, quants, scales, x, out),
            QData::Q4 {
                scales,
                mins,
                nibbles,
            } => rows_q4_scalar(&r, nibbles, scales, mins, x, out),
            _ => unreachable!("row layout"),
        }
    }

    /// The matrix in panels gives the row layout's numbers: the same weights, the scalar
    /// results (almost), and the 512-bit kernels exactly the 256-bit row kernels' results,
    /// for any rows and any number of tokens.
    fn check_panels(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize, xs: &[QVec]) {
        let m = &QMatrix::from_ggml(ty, bytes, rows, cols).unwrap();
        let p = QMatrix::from_ggml(ty, bytes, rows, cols)
            .unwrap()
            .into_panels();
        let (mut a, mut b) = (vec![0f32; cols], vec![0f32; cols]);
        for r in 0..rows {
            m.row_f32(r, &mut a);
            p.row_f32(r, &mut b);
            assert_eq!(a, b, "row {r}");
        }
        let scale = 1e-4
            * (0..rows)
                .map(|r| {
                    let mut o = [0f32];
                    rows_scalar(m, r, &xs[0], &mut o);
                    o[0].abs()
                })
                .fold(1e-3f32, f32::max);
        let mut want = vec![0f32; rows];
        let mut got = vec![0f32; rows];
        rows_scalar(m, 0, &xs[0], &mut want);
        p.rows_panels_scalar(0, &xs[0], &mut got);
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= scale, "scalar panels: {w} vs {g}");
        }
        #[cfg(target_arch = "x86_64")]
        {
            let (Some(wide), Some(narrow)) = (
                x86::Kernels::detect("avx512"),
                x86::Kernels::detect("avx512vnni"),
            ) else {
                return;
            };
            if !wide.panels() {
                return;
            }
            for n_tok in 1..=xs.len() {
                for (first, n) in [
                    (0, rows),
                    (1, rows - 1),
                    (rows / 2, rows - rows / 2),
                    (rows - 1, 1),
                ] {
                    let r = Rows { cols, first };
                    let mut want = vec![0f32; n * n_tok];
                    let mut got = vec![0f32; n * n_tok];
                    match (&m.data, &p.data) {
                        (
                            QData::Q8 { scales, quants },
                            QData::Q8Panels {
                                scales: ps,
                                quants: pq,
                            },
                        ) => {
                            narrow.rows_q8_tokens(&r, quants, scales, &xs[..n_tok], &mut want);
                            wide.panels_q8(&r, pq, ps, &xs[..n_tok], &mut got);
                        }
                        (
                            QData::Q4 {
                                scales,
                                mins,
                                nibbles,
                            },
                            QData::Q4Panels {
                                scales: ps,
                                mins: pm,
                                nibbles: pn,
                            },
                        ) => {
                            narrow.rows_q4_tokens(
                                &r,
                                nibbles,
                                scales,
                                mins,
                                &xs[..n_tok],
                                &mut want,
                            );
                            wide.panels_q4(&r, pn, ps, pm, &xs[..n_tok], &mut got);
                        }
                        _ => unreachable!("layouts"),
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&want), bits(&got), "{n_tok} tokens, rows {first}+{n}");
                }
            }
        }
    }

    #[test]
    fn q4_1_and_q8_0_products_match_the_dequantised_reference() {
        let mut seed = 7;
        for (rows, cols) in [(70, 576), (9, 1536), (5, 32), (13, 96)] {
            products_match(rows, cols, &mut seed);
        }
    }

    fn products_match(rows: usize, cols: usize, seed: &mut u64) {
        let b = q4_1_tensor(rows, cols, seed);
        check(GgmlType::Q4_1, &b, rows, cols, seed);
        let xs: Vec<QVec> = (0..5)
            .map(|_| {
                let x: Vec<f32> = (0..cols)
                    .map(|_| (lcg(seed) % 2001) as f32 / 1000.0 - 1.0)
                    .collect();
                let mut q = QVec::default();
                q.quantize(&x);
                q
            })
            .collect();
        check_panels(GgmlType::Q4_1, &b, rows, cols, &xs);
        let b = q8_0_tensor(rows, cols, seed);
        check(GgmlType::Q8_0, &b, rows, cols, seed);
        check_panels(GgmlType::Q8_0, &b, rows, cols, &xs);
        // Q4_0: Q4_1 bytes minus the min field.
        let b: Vec<u8> = q4_1_tensor(rows, cols, seed)
            .chunks_exact(20)
            .flat_map(|b| b[..2].iter().chain(&b[4..]).copied().collect::<Vec<_>>())
            .collect();
        check(GgmlType::Q4_0, &b, rows, cols, seed);
    }

    #[test]
    fn simd_quantisation_equals_the_scalar_one_bit_for_bit() {
        let mut seed = 3;
        let mut x: Vec<f32> = (0..32 * 64usize)
            .map(|i| {
                let r = (lcg(&mut seed) % 20001) as f32 / 10_000.0 - 1.0;
                // Blocks of every magnitude, from half-precision subnormals up.
                r * 10f32.powi((i / 32) as i32 % 12 - 8)
            })
            .collect();
        x[64..96].fill(0.0);
        x[100] = 0.5;
        x[101] = -0.5;
        let nb = x.len() / QK;
        let (mut q1, mut s1, mut m1) = (vec![0i8; nb * QK], vec![0f32; nb], vec![0f32; nb]);
        quantize_blocks_scalar(&x, &mut q1, &mut s1, &mut m1);
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = x86::Kernels::detect("avx2") {
            let (mut q2, mut s2, mut m2) = (vec![0i8; nb * QK], vec![0f32; nb], vec![0f32; nb]);
            k.quantize_blocks(&x, &mut q2, &mut s2, &mut m2);
            assert_eq!(q1, q2);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&s1), bits(&s2));
            assert_eq!(bits(&m1), bits(&m2));
        }
        // Quantising in pieces and putting them together gives the same vector.
        let mut whole = QVec::default();
        whole.quantize(&x[..576]);
        let mut parts = QVec::default();
        let blocks = parts.reset(576);
        for first in (0..blocks).step_by(4) {
            let n = (blocks - first).min(4);
            let (mut q, mut s, mut m) = (vec![0i8; n * QK], vec![0f32; n], vec![0f32; n]);
            quantize_blocks(&x[first * QK..(first + n) * QK], &mut q, &mut s, &mut m);
            parts.put(first, &q, &s, &m);
        }
        assert_eq!(whole.quants, parts.quants);
        assert_eq!(whole.scales, parts.scales);
        assert_eq!(whole.sums, parts.sums);
    }

    #[test]
    fn other_types_are_requantised_to_q8() {
        let mut seed = 11;
        let (rows, cols) = (8, 256);
        let f: Vec<u8> = (0..rows * cols)
            .flat_map(|_| f32_to_f16((lcg(&mut seed) % 2001) as f32 / 1000.0 - 1.0).to_le_bytes())
            .collect();
        let m = QMatrix::from_ggml(GgmlType::F16, &f, rows, cols).unwrap();
        assert_eq!(m.kind(), "Q8_0");
        let mut deq = vec![0f32; rows * cols];
        quant::dequantize(GgmlType::F16, &f, &mut deq).unwrap();
        let mut row = vec![0f32; cols];
        m.row_f32(3, &mut row);
        for (a, b) in row.iter().zip(&deq[3 * cols..]) {
            assert!((a - b).abs() < 0.01, "{a} vs {b}");
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --release -p bedrock-local-model --lib speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn kernel_throughput_in_and_out_of_cache() {
        let rows: usize = std::env::var("ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1536);
        let cols = 576;
        let mut seed = 1u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        };
        let block: Vec<u8> = (0..rows * cols / 32)
            .flat_map(|_| {
                let mut b = vec![0x00, 0x1c, 0x00, 0x9c];
                b.extend((0..16).map(|_| next()));
                b
            })
            .collect();
        let x: Vec<f32> = (0..cols).map(|i| (i as f32).sin()).collect();
        let mut qx = QVec::default();
        qx.quantize(&x);
        let mut out = vec![0f32; rows];
        let threads: usize = std::env::var("THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for (n_mats, panels) in [(1usize, false), (200, false), (1, true), (200, true)] {
            let mats: Vec<QMatrix> = (0..n_mats)
                .map(|_| {
                    let m = QMatrix::from_ggml(GgmlType::Q4_1, &block, rows, cols).unwrap();
                    if panels {
                        m.into_panels()
                    } else {
                        m
                    }
                })
                .collect();
            let iters = 4000 / n_mats.min(4000) * n_mats.max(1);
            let t = std::time::Instant::now();
            pool.install(|| {
                for i in 0..iters {
                    mats[i % n_mats].matvec(&qx, &mut out);
                }
            });
            let dt = t.elapsed().as_secs_f64();
            let bytes = (rows * cols) as f64 * 20.0 / 32.0 * iters as f64;
            let blocks = (rows * cols / 32) as f64 * iters as f64;
            println!(
                "{threads} threads, {n_mats} matrices ({:.1} MB), {}: {:.2} GB/s, {:.2} ns/block, {:.1} us/matvec, kernel {}",
                (rows * cols) as f64 * 20.0 / 32.0 * n_mats as f64 / 1e6,
                mats[0].kind(),
                bytes / dt / 1e9,
                dt / blocks * 1e9,
                dt / iters as f64 * 1e6,
                simd_name()
            );
        }
    }
}
