//! Quantised weight matrices and the matrix–vector products of the forward pass.
//!
//! Weights are kept in one of two layouts with a fast int8 kernel each: Q8_0 (symmetric 8-bit)
//! and Q4 (4-bit with a scale and a minimum per block: GGUF's Q4_1 as is, Q4_0 with the minimum
//! `-8·d`). Every other GGUF type is requantised to Q8_0 when the model loads. Activations are
//! quantised to 8 bits per block of 32 before each product, as llama.cpp does.

use std::sync::OnceLock;

use anyhow::{bail, Result};
use rayon::prelude::*;

use crate::quant::{self, f16_to_f32, f32_to_f16, GgmlType};

pub use crate::quant::QK;

#[cfg(target_arch = "x86_64")]
mod x86;

/// Blocks whose scales are handled together; scale rows are padded to a multiple of it.
pub const GROUP: usize = 8;

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

    /// The storage kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self.data {
            QData::Q8 { .. } => "Q8_0",
            QData::Q4 { .. } => "Q4",
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
        }
    }

    /// `out[i] = row_(first + i) · x` for each `i` of `out`.
    fn dot_rows(&self, first: usize, x: &QVec, out: &mut [f32]) {
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
    fn dot_rows_tokens(&self, first: usize, xs: &[QVec], out: &mut [f32]) {
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
            _ => {
                let n = out.len() / xs.len().max(1);
                for (x, o) in xs.iter().zip(out.chunks_exact_mut(n.max(1))) {
                    self.dot_rows(first, x, o);
                }
            }
        }
    }

    /// `out = self · x`, spread over the current rayon pool.
    pub fn matvec(&self, x: &QVec, out: &mut [f32]) {
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
        let (nb, sb) = strides(x.len());
        self.quants.resize(nb * QK, 0);
        self.scales.clear();
        self.scales.resize(sb, 0.0);
        self.sums.clear();
        self.sums.resize(sb, 0.0);
        for ((x, q), (d, s)) in x
            .chunks_exact(QK)
            .zip(self.quants.chunks_exact_mut(QK))
            .zip(self.scales.iter_mut().zip(self.sums.iter_mut()))
        {
            // Scale and sum rounded to halves, as llama.cpp stores them (Q8_0/Q8_1 blocks), so
            // that both engines compute the same products.
            let scale = quant::quantize_block_q8(x, q);
            let sum = q.iter().map(|&v| i32::from(v)).sum::<i32>() as f32;
            *d = round_f16(scale);
            *s = round_f16(scale * sum);
        }
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
        let b = q8_0_tensor(rows, cols, seed);
        check(GgmlType::Q8_0, &b, rows, cols, seed);
        // Q4_0: Q4_1 bytes minus the min field.
        let b: Vec<u8> = q4_1_tensor(rows, cols, seed)
            .chunks_exact(20)
            .flat_map(|b| b[..2].iter().chain(&b[4..]).copied().collect::<Vec<_>>())
            .collect();
        check(GgmlType::Q4_0, &b, rows, cols, seed);
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
        for n_mats in [1usize, 200] {
            let mats: Vec<QMatrix> = (0..n_mats)
                .map(|_| QMatrix::from_ggml(GgmlType::Q4_1, &block, rows, cols).unwrap())
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
                "{threads} threads, {n_mats} matrices ({:.1} MB): {:.2} GB/s, {:.2} ns/block, {:.1} us/matvec, kernel {}",
                (rows * cols) as f64 * 20.0 / 32.0 * n_mats as f64 / 1e6,
                bytes / dt / 1e9,
                dt / blocks * 1e9,
                dt / iters as f64 * 1e6,
                simd_name()
            );
        }
    }
}
