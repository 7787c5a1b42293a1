//! x86-64 SIMD kernels for the two weight formats, chosen at run time: AVX2, or AVX2 with the
//! VNNI dot-product instruction (AVX-VNNI or AVX-512 VNNI on 256-bit registers) for weights in
//! rows, and 512-bit AVX-512 VNNI kernels for weights in panels of 16 rows (module `wide`),
//! which compute the same numbers with about a third of the instructions. Besides the
//! products: activation quantisation and the f32 dot and axpy of attention.
//!
//! This is the crate's only module with `unsafe` code, and it is here for one reason: decoding
//! is a long run of int8 dot products, and without these kernels it runs several times slower
//! than llama.cpp on the same file (see BENCH.md). The unsafety is confined to
//! (1) calling `#[target_feature]` functions, which is sound because a [`Kernels`] value is
//! only made after `is_x86_feature_detected!` said yes to every feature its kernels enable
//! (the 512-bit ones only when its panel flag is set, which `detect` sets only then), and
//! (2) unaligned SIMD loads and stores from slices that are checked (by slicing or
//! `debug_assert!` plus the callers' invariants documented at each site) to hold the bytes read.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{strides, QVec, Rows, GROUP, PANEL, QK};

/// Rows computed together, sharing the activation loads.
const TILE: usize = 4;
/// Rows × tokens computed together when several tokens are read at once.
const TR: usize = 2;
const TT: usize = 4;
/// How many tiles ahead to prefetch.
const AHEAD: usize = 4;

#[derive(Debug, Clone, Copy)]
enum Level {
    Avx2,
    AvxVnni,
    Avx512Vnni,
}

/// The best kernel set this CPU runs: the row-layout kernels of `Level`, and whether the
/// 512-bit kernels for weights in panels of 16 rows run too (AVX-512 F, BW, VL and VNNI).
#[derive(Debug, Clone, Copy)]
pub struct Kernels(Level, bool);

impl Kernels {
    /// `wanted` ("avx2", "avxvnni", "avx512vnni" (256-bit, row layout), "avx512" or "" for the
    /// best) limits the choice.
    pub fn detect(wanted: &str) -> Option<Kernels> {
        let base = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        if !base {
            return None;
        }
        let avx512 = is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl");
        let avxvnni = is_x86_feature_detected!("avxvnni");
        let wide = avx512
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && matches!(wanted, "" | "avx512");
        let level = match wanted {
            "avx2" => Level::Avx2,
            "avxvnni" if avxvnni => Level::AvxVnni,
            "avx512vnni" if avx512 => Level::Avx512Vnni,
            _ if avx512 => Level::Avx512Vnni,
            _ if avxvnni => Level::AvxVnni,
            _ => Level::Avx2,
        };
        Some(Kernels(level, wide))
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            _ if self.1 => "avx512-vnni-512",
            Level::Avx2 => "avx2",
            Level::AvxVnni => "avx-vnni",
            Level::Avx512Vnni => "avx512-vnni",
        }
    }

    /// Do weights go into panels of [`PANEL`] rows for the 512-bit kernels?
    pub fn panels(self) -> bool {
        self.1
    }

    /// `out[t·n + i] = row_(first + i) · xs[t]` for `n = out.len() / xs.len()` rows of a Q4
    /// matrix in panels (see `QData::Q4Panels`).
    pub(crate) fn panels_q4(
        self,
        rows: &Rows,
        nibbles: &[u8],
        scales: &[u16],
        mins: &[u16],
        xs: &[QVec],
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        let n = out.len() / xs.len().max(1);
        let panels = (rows.first + n).div_ceil(PANEL);
        assert!(
            self.1
                && nibbles.len() >= panels * nb * 256
                && scales.len() >= panels * sb * PANEL
                && mins.len() >= panels * sb * PANEL
                && out.len() == n * xs.len()
                && xs.iter().all(|x| {
                    x.quants.len() >= nb * QK && x.scales.len() >= sb && x.sums.len() >= sb
                }),
            "kernel inputs too short"
        );
        if n == 0 {
            return;
        }
        // SAFETY: `self.1` proves the target features; lengths checked just above.
        unsafe { wide::rows_q4(rows, nibbles, scales, mins, xs, n, out) }
    }

    /// The Q8_0 counterpart of [`Kernels::panels_q4`] (see `QData::Q8Panels`).
    pub(crate) fn panels_q8(
        self,
        rows: &Rows,
        quants: &[u8],
        scales: &[u16],
        xs: &[QVec],
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        let n = out.len() / xs.len().max(1);
        let panels = (rows.first + n).div_ceil(PANEL);
        assert!(
            self.1
                && quants.len() >= panels * nb * 512
                && scales.len() >= panels * sb * PANEL
                && out.len() == n * xs.len()
                && xs
                    .iter()
                    .all(|x| x.quants.len() >= nb * QK && x.scales.len() >= sb),
            "kernel inputs too short"
        );
        if n == 0 {
            return;
        }
        // SAFETY: `self.1` proves the target features; lengths checked just above.
        unsafe { wide::rows_q8(rows, quants, scales, xs, n, out) }
    }

    pub(crate) fn rows_q8(
        self,
        rows: &Rows,
        quants: &[i8],
        scales: &[u16],
        x: &QVec,
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        let end = rows.first + out.len();
        assert!(
            quants.len() >= end * rows.cols
                && scales.len() >= end * sb
                && x.quants.len() >= nb * QK
                && x.scales.len() >= sb,
            "kernel inputs too short"
        );
        // SAFETY: `self` proves the target features; lengths checked just above.
        unsafe {
            match self.0 {
                Level::Avx2 => avx2::rows_q8(rows, quants, scales, x, out),
                Level::AvxVnni => avxvnni::rows_q8(rows, quants, scales, x, out),
                Level::Avx512Vnni => avx512vnni::rows_q8(rows, quants, scales, x, out),
            }
        }
    }

    pub(crate) fn rows_q4(
        self,
        rows: &Rows,
        nibbles: &[u8],
        scales: &[u16],
        mins: &[u16],
        x: &QVec,
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        let end = rows.first + out.len();
        assert!(
            nibbles.len() >= end * rows.cols / 2
                && scales.len() >= end * sb
                && mins.len() >= end * sb
                && x.quants.len() >= nb * QK
                && x.scales.len() >= sb
                && x.sums.len() >= sb,
            "kernel inputs too short"
        );
        // SAFETY: `self` proves the target features; lengths checked just above.
        unsafe {
            match self.0 {
                Level::Avx2 => avx2::rows_q4(rows, nibbles, scales, mins, x, out),
                Level::AvxVnni => avxvnni::rows_q4(rows, nibbles, scales, mins, x, out),
                Level::Avx512Vnni => avx512vnni::rows_q4(rows, nibbles, scales, mins, x, out),
            }
        }
    }
}

impl Kernels {
    /// `out[t·n + i] = row_(first + i) · xs[t]` for `n = out.len() / xs.len()` rows: several
    /// tokens per pass over the weights (prompt processing).
    pub(crate) fn rows_q8_tokens(
        self,
        rows: &Rows,
        quants: &[i8],
        scales: &[u16],
        xs: &[QVec],
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        let n = out.len() / xs.len().max(1);
        let end = rows.first + n;
        assert!(
            quants.len() >= end * rows.cols
                && scales.len() >= end * sb
                && out.len() == n * xs.len()
                && xs
                    .iter()
                    .all(|x| x.quants.len() >= nb * QK && x.scales.len() >= sb),
            "kernel inputs too short"
        );
        if n == 0 {
            return;
        }
        // SAFETY: `self` proves the target features; lengths checked just above.
        unsafe {
            match self.0 {
                Level::Avx2 => avx2::rows_q8_tokens(rows, quants, scales, xs, n, out),
                Level::AvxVnni => avxvnni::rows_q8_tokens(rows, quants, scales, xs, n, out),
                Level::Avx512Vnni => avx512vnni::rows_q8_tokens(rows, quants, scales, xs, n, out),
            }
        }
    }

    /// The Q4 counterpart of [`Kernels::rows_q8_tokens`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rows_q4_tokens(
        self,
        rows: &Rows,
        nibbles: &[u8],
        scales: &[u16],
        mins: &[u16],
        xs: &[QVec],
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        let n = out.len() / xs.len().max(1);
        let end = rows.first + n;
        assert!(
            nibbles.len() >= end * rows.cols / 2
                && scales.len() >= end * sb
                && mins.len() >= end * sb
                && out.len() == n * xs.len()
                && xs.iter().all(|x| {
                    x.quants.len() >= nb * QK && x.scales.len() >= sb && x.sums.len() >= sb
                }),
            "kernel inputs too short"
        );
        if n == 0 {
            return;
        }
        // SAFETY: `self` proves the target features; lengths checked just above.
        unsafe {
            match self.0 {
                Level::Avx2 => avx2::rows_q4_tokens(rows, nibbles, scales, mins, xs, n, out),
                Level::AvxVnni => avxvnni::rows_q4_tokens(rows, nibbles, scales, mins, xs, n, out),
                Level::Avx512Vnni => {
                    avx512vnni::rows_q4_tokens(rows, nibbles, scales, mins, xs, n, out)
                }
            }
        }
    }
}

impl Kernels {
    /// Σ a[i]·b[i] (attention scores).
    pub(crate) fn dot_f32(self, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: every level includes AVX2 and FMA, which `self` proves present.
        unsafe { dot_f32_avx2(&a[..n], &b[..n]) }
    }

    /// y[i] += a·x[i] (attention's weighted sum of values).
    pub(crate) fn axpy(self, a: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        // SAFETY: as in `dot_f32`.
        unsafe { axpy_avx2(a, &x[..n], &mut y[..n]) }
    }
}

impl Kernels {
    /// [`super::quantize_blocks`]: the same operations as its scalar code, eight lanes at a
    /// time, so the same results bit for bit (the maximum is order-free, `cvtps` rounds to
    /// nearest even like the scalar `round_even`, and F16C rounds to nearest even like
    /// `f32_to_f16`).
    pub(crate) fn quantize_blocks(
        self,
        x: &[f32],
        quants: &mut [i8],
        scales: &mut [f32],
        sums: &mut [f32],
    ) {
        let nb = (x.len() / QK)
            .min(quants.len() / QK)
            .min(scales.len())
            .min(sums.len());
        // SAFETY: every level includes AVX2, FMA and F16C, which `self` proves present; the
        // slices are cut to `nb` whole blocks.
        unsafe {
            quantize_avx2(
                &x[..nb * QK],
                &mut quants[..nb * QK],
                &mut scales[..nb],
                &mut sums[..nb],
            )
        }
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_f16_f16c(x: f32) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(
        _mm_set_ss(x),
    )))
}

#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_avx2(x: &[f32], quants: &mut [i8], scales: &mut [f32], sums: &mut [f32]) {
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (((xb, qb), d), s) in x
        .chunks_exact(QK)
        .zip(quants.chunks_exact_mut(QK))
        .zip(scales.iter_mut())
        .zip(sums.iter_mut())
    {
        // SAFETY: each block holds 32 floats and 32 bytes.
        let v = unsafe {
            [
                _mm256_loadu_ps(xb.as_ptr()),
                _mm256_loadu_ps(xb.as_ptr().add(8)),
                _mm256_loadu_ps(xb.as_ptr().add(16)),
                _mm256_loadu_ps(xb.as_ptr().add(24)),
            ]
        };
        let m = _mm256_max_ps(
            _mm256_max_ps(_mm256_and_ps(v[0], abs), _mm256_and_ps(v[1], abs)),
            _mm256_max_ps(_mm256_and_ps(v[2], abs), _mm256_and_ps(v[3], abs)),
        );
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let scale = amax / 127.0;
        let id = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
        let q = v.map(|v| _mm256_cvtps_epi32(_mm256_mul_ps(v, id)));
        let total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        let t = _mm_add_epi32(
            _mm256_castsi256_si128(total),
            _mm256_extracti128_si256(total, 1),
        );
        let t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0b01_00_11_10));
        let t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0b10_11_00_01));
        let sum = _mm_cvtsi128_si32(t) as f32;
        let bytes = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(
                _mm256_packs_epi32(q[0], q[1]),
                _mm256_packs_epi32(q[2], q[3]),
            ),
            order,
        );
        // SAFETY: qb holds 32 bytes.
        unsafe { _mm256_storeu_si256(qb.as_mut_ptr().cast(), bytes) };
        *d = round_f16_f16c(scale);
        *s = round_f16_f16c(scale * sum);
    }
}

#[target_feature(enable = "avx2,fma")]
fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 2];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        // SAFETY: both chunks hold 16 floats.
        unsafe {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(x.as_ptr()),
                _mm256_loadu_ps(y.as_ptr()),
                acc[0],
            );
            acc[1] = _mm256_fmadd_ps(
                _mm256_loadu_ps(x.as_ptr().add(8)),
                _mm256_loadu_ps(y.as_ptr().add(8)),
                acc[1],
            );
        }
    }
    let v = _mm256_add_ps(acc[0], acc[1]);
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s))) + tail
}

#[target_feature(enable = "avx2,fma")]
fn axpy_avx2(a: f32, x: &[f32], y: &mut [f32]) {
    let av = _mm256_set1_ps(a);
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact_mut(8);
    for (x, y) in (&mut xc).zip(&mut yc) {
        // SAFETY: both chunks hold 8 floats.
        unsafe {
            let r = _mm256_fmadd_ps(av, _mm256_loadu_ps(x.as_ptr()), _mm256_loadu_ps(y.as_ptr()));
            _mm256_storeu_ps(y.as_mut_ptr(), r);
        }
    }
    for (x, y) in xc.remainder().iter().zip(yc.into_remainder()) {
        *y += a * x;
    }
}

/// Σ over 4-byte groups of u8·i8 products, added to `acc` (the AVX2 way: two instructions).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_avx2(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    // Saturation is impossible: u ≤ 127 and |s| ≤ 127 (Q8 quants are clamped), or u ≤ 15.
    _mm256_add_epi32(
        acc,
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)),
    )
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
fn dot_avxvnni(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    _mm256_dpbusd_avx_epi32(acc, u, s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
fn dot_avx512vnni(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, u, s)
}

/// One copy of the kernels per instruction set: the bodies are the same, only the u8·i8 dot
/// product and the enabled features differ.
macro_rules! kernels {
    ($module:ident, $features:literal, $dot:ident) => {
        mod $module {
            use super::*;

            #[inline]
            #[target_feature(enable = $features)]
            fn hsum(v: __m256) -> f32 {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
            }

            /// 8 halves at `h[at..]` to single precision. Callers keep `at + 8 <= h.len()`
            /// (scale rows are padded to whole groups).
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn halves(h: &[u16], at: usize) -> __m256 {
                debug_assert!(at + GROUP <= h.len());
                // SAFETY: as documented above.
                _mm256_cvtph_ps(unsafe { _mm_loadu_si128(h.as_ptr().add(at).cast()) })
            }

            /// 8 floats at `f[at..]`, same contract as `halves`.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn floats(f: &[f32], at: usize) -> __m256 {
                debug_assert!(at + GROUP <= f.len());
                // SAFETY: as documented above.
                unsafe { _mm256_loadu_ps(f.as_ptr().add(at)) }
            }

            /// 32 bytes at `p[at..]`; callers keep `at + 32 <= p.len()`.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn load32(p: &[i8], at: usize) -> __m256i {
                debug_assert!(at + 32 <= p.len());
                // SAFETY: as documented above.
                unsafe { _mm256_loadu_si256(p.as_ptr().add(at).cast()) }
            }

            /// The 32 nibbles of the Q4 block at `n[at..at + 16]` as bytes, in element order.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn nibbles(n: &[u8], at: usize) -> __m256i {
                debug_assert!(at + 16 <= n.len());
                // SAFETY: as documented above.
                let raw = unsafe { _mm_loadu_si128(n.as_ptr().add(at).cast()) };
                let low4 = _mm_set1_epi8(0x0f);
                _mm256_set_m128i(
                    _mm_and_si128(_mm_srli_epi16(raw, 4), low4),
                    _mm_and_si128(raw, low4),
                )
            }

            /// Asks for `len` bytes from `p[at..]` to be brought into cache. Prefetches never
            /// fault, so the range may run past the end of the slice.
            #[inline]
            #[target_feature(enable = $features)]
            fn prefetch<T>(p: &[T], at: usize, len: usize) {
                let base = p.as_ptr().wrapping_add(at).cast::<i8>();
                let mut off = 0;
                while off < len {
                    _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(off));
                    off += 64;
                }
            }

            /// Q8_0 rows × a Q8 vector. Safety: the target features are present and the
            /// inputs hold every row in range (checked by `Kernels::rows_q8`).
            #[target_feature(enable = $features)]
            pub(super) unsafe fn rows_q8(
                rows: &Rows,
                quants: &[i8],
                scales: &[u16],
                x: &QVec,
                out: &mut [f32],
            ) {
                let (nb, sb) = strides(rows.cols);
                let cols = rows.cols;
                let mut d = [[0f32; GROUP]; TILE];
                for (t, out) in out.chunks_mut(TILE).enumerate() {
                    let r0 = rows.first + t * TILE;
                    // A short last tile repeats its last row; the extra results are dropped.
                    let row = |i: usize| r0 + i.min(out.len() - 1);
                    // Decoding is bound by memory: keep the next tiles' loads in flight.
                    let ahead = r0 + AHEAD * TILE;
                    prefetch(quants, ahead * cols, TILE * cols);
                    prefetch(scales, ahead * sb, TILE * sb * 2);
                    let mut acc = [_mm256_setzero_ps(); TILE];
                    let mut b0 = 0;
                    while b0 < nb {
                        // SAFETY (all loads below): scale rows and x's scales are padded to
                        // whole groups; blocks b0 + j < nb lie inside each row and inside x.
                        let xs = unsafe { floats(&x.scales, b0) };
                        for i in 0..TILE {
                            let ws = unsafe { halves(scales, row(i) * sb + b0) };
                            // SAFETY: d[i] holds 8 floats.
                            unsafe { _mm256_storeu_ps(d[i].as_mut_ptr(), _mm256_mul_ps(ws, xs)) };
                        }
                        for j in 0..GROUP.min(nb - b0) {
                            let b = b0 + j;
                            let xv = unsafe { load32(&x.quants, b * QK) };
                            // |x| unsigned, the sign moved onto w: u8·i8 products.
                            let ax = _mm256_sign_epi8(xv, xv);
                            for i in 0..TILE {
                                let wv = unsafe { load32(quants, row(i) * cols + b * QK) };
                                let p = $dot(_mm256_setzero_si256(), ax, _mm256_sign_epi8(wv, xv));
                                acc[i] = _mm256_fmadd_ps(
                                    _mm256_set1_ps(d[i][j]),
                                    _mm256_cvtepi32_ps(p),
                                    acc[i],
                                );
                            }
                        }
                        b0 += GROUP;
                    }
                    for (o, a) in out.iter_mut().zip(acc) {
                        *o = hsum(a);
                    }
                }
            }

            /// Q4 rows × a Q8 vector; same contract as `rows_q8`.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn rows_q4(
                rows: &Rows,
                nib: &[u8],
                scales: &[u16],
                mins: &[u16],
                x: &QVec,
                out: &mut [f32],
            ) {
                let (nb, sb) = strides(rows.cols);
                let half = rows.cols / 2;
                let mut d = [[0f32; GROUP]; TILE];
                for (t, out) in out.chunks_mut(TILE).enumerate() {
                    let r0 = rows.first + t * TILE;
                    let row = |i: usize| r0 + i.min(out.len() - 1);
                    let ahead = r0 + AHEAD * TILE;
                    prefetch(nib, ahead * half, TILE * half);
                    prefetch(scales, ahead * sb, TILE * sb * 2);
                    prefetch(mins, ahead * sb, TILE * sb * 2);
                    let mut acc = [_mm256_setzero_ps(); TILE];
                    let mut b0 = 0;
                    while b0 < nb {
                        // SAFETY (all loads below): as in `rows_q8`.
                        let xs = unsafe { floats(&x.scales, b0) };
                        let xsum = unsafe { floats(&x.sums, b0) };
                        for i in 0..TILE {
                            let at = row(i) * sb + b0;
                            let ws = unsafe { halves(scales, at) };
                            // SAFETY: d[i] holds 8 floats.
                            unsafe { _mm256_storeu_ps(d[i].as_mut_ptr(), _mm256_mul_ps(ws, xs)) };
                            // The minimum terms join the same sums (only the total counts), in the
                            // same order as `rows_q4_tokens`, so both give identical results.
                            acc[i] = _mm256_fmadd_ps(unsafe { halves(mins, at) }, xsum, acc[i]);
                        }
                        for j in 0..GROUP.min(nb - b0) {
                            let b = b0 + j;
                            let xv = unsafe { load32(&x.quants, b * QK) };
                            for i in 0..TILE {
                                let wv = unsafe { nibbles(nib, row(i) * half + b * QK / 2) };
                                let p = $dot(_mm256_setzero_si256(), wv, xv);
                                acc[i] = _mm256_fmadd_ps(
                                    _mm256_set1_ps(d[i][j]),
                                    _mm256_cvtepi32_ps(p),
                                    acc[i],
                                );
                            }
                        }
                        b0 += GROUP;
                    }
                    for (o, a) in out.iter_mut().zip(acc) {
                        *o = hsum(a);
                    }
                }
            }
            /// Q8_0 rows × several Q8 vectors (`TR` rows × `TT` tokens at a time, so that each
            /// weight block is loaded once per `TT` tokens). Same contract as `rows_q8`, with
            /// `out` token-major: `out[t * n + i]`.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn rows_q8_tokens(
                rows: &Rows,
                quants: &[i8],
                scales: &[u16],
                xs: &[QVec],
                n: usize,
                out: &mut [f32],
            ) {
                let (nb, sb) = strides(rows.cols);
                let cols = rows.cols;
                let mut d = [[[0f32; GROUP]; TT]; TR];
                let mut t0 = 0;
                while t0 < xs.len() {
                    let tc = (xs.len() - t0).min(TT);
                    let tok = |k: usize| &xs[t0 + k.min(tc - 1)];
                    let mut r0 = 0;
                    while r0 < n {
                        let rc = (n - r0).min(TR);
                        let row = |i: usize| rows.first + r0 + i.min(rc - 1);
                        let mut acc = [[_mm256_setzero_ps(); TT]; TR];
                        let mut b0 = 0;
                        while b0 < nb {
                            // SAFETY (all loads below): as in `rows_q8`.
                            for (i, di) in d.iter_mut().enumerate() {
                                let ws = unsafe { halves(scales, row(i) * sb + b0) };
                                for (k, dk) in di.iter_mut().enumerate() {
                                    let xsv = unsafe { floats(&tok(k).scales, b0) };
                                    // SAFETY: dk holds 8 floats.
                                    unsafe {
                                        _mm256_storeu_ps(dk.as_mut_ptr(), _mm256_mul_ps(ws, xsv))
                                    };
                                }
                            }
                            for j in 0..GROUP.min(nb - b0) {
                                let b = b0 + j;
                                let mut w = [_mm256_setzero_si256(); TR];
                                for (i, w) in w.iter_mut().enumerate() {
                                    *w = unsafe { load32(quants, row(i) * cols + b * QK) };
                                }
                                for k in 0..TT {
                                    let xv = unsafe { load32(&tok(k).quants, b * QK) };
                                    let ax = _mm256_sign_epi8(xv, xv);
                                    for i in 0..TR {
                                        let p = $dot(
                                            _mm256_setzero_si256(),
                                            ax,
                                            _mm256_sign_epi8(w[i], xv),
                                        );
                                        acc[i][k] = _mm256_fmadd_ps(
                                            _mm256_set1_ps(d[i][k][j]),
                                            _mm256_cvtepi32_ps(p),
                                            acc[i][k],
                                        );
                                    }
                                }
                            }
                            b0 += GROUP;
                        }
                        for (i, acc) in acc.iter().enumerate().take(rc) {
                            for (k, a) in acc.iter().enumerate().take(tc) {
                                out[(t0 + k) * n + r0 + i] = hsum(*a);
                            }
                        }
                        r0 += TR;
                    }
                    t0 += TT;
                }
            }

            /// The Q4 counterpart of `rows_q8_tokens`.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn rows_q4_tokens(
                rows: &Rows,
                nib: &[u8],
                scales: &[u16],
                mins: &[u16],
                xs: &[QVec],
                n: usize,
                out: &mut [f32],
            ) {
                let (nb, sb) = strides(rows.cols);
                let half = rows.cols / 2;
                let mut d = [[[0f32; GROUP]; TT]; TR];
                let mut t0 = 0;
                while t0 < xs.len() {
                    let tc = (xs.len() - t0).min(TT);
                    let tok = |k: usize| &xs[t0 + k.min(tc - 1)];
                    let mut r0 = 0;
                    while r0 < n {
                        let rc = (n - r0).min(TR);
                        let row = |i: usize| rows.first + r0 + i.min(rc - 1);
                        let mut acc = [[_mm256_setzero_ps(); TT]; TR];
                        let mut b0 = 0;
                        while b0 < nb {
                            // SAFETY (all loads below): as in `rows_q8`.
                            for (i, di) in d.iter_mut().enumerate() {
                                let at = row(i) * sb + b0;
                                let ws = unsafe { halves(scales, at) };
                                let wm = unsafe { halves(mins, at) };
                                for (k, dk) in di.iter_mut().enumerate() {
                                    let x = tok(k);
                                    let xsv = unsafe { floats(&x.scales, b0) };
                                    // SAFETY: dk holds 8 floats.
                                    unsafe {
                                        _mm256_storeu_ps(dk.as_mut_ptr(), _mm256_mul_ps(ws, xsv))
                                    };
                                    // The minimum terms join the same sums (only the total counts).
                                    acc[i][k] = _mm256_fmadd_ps(
                                        wm,
                                        unsafe { floats(&x.sums, b0) },
                                        acc[i][k],
                                    );
                                }
                            }
                            for j in 0..GROUP.min(nb - b0) {
                                let b = b0 + j;
                                let mut w = [_mm256_setzero_si256(); TR];
                                for (i, w) in w.iter_mut().enumerate() {
                                    *w = unsafe { nibbles(nib, row(i) * half + b * QK / 2) };
                                }
                                for k in 0..TT {
                                    let xv = unsafe { load32(&tok(k).quants, b * QK) };
                                    for i in 0..TR {
                                        let p = $dot(_mm256_setzero_si256(), w[i], xv);
                                        acc[i][k] = _mm256_fmadd_ps(
                                            _mm256_set1_ps(d[i][k][j]),
                                            _mm256_cvtepi32_ps(p),
                                            acc[i][k],
                                        );
                                    }
                                }
                            }
                            b0 += GROUP;
                        }
                        for (i, acc) in acc.iter().enumerate().take(rc) {
                            for (k, a) in acc.iter().enumerate().take(tc) {
                                out[(t0 + k) * n + r0 + i] = hsum(*a);
                            }
                        }
                        r0 += TR;
                    }
                    t0 += TT;
                }
            }
        }
    };
}

kernels!(avx2, "avx2,fma,f16c", dot_avx2);
kernels!(avxvnni, "avx2,fma,f16c,avxvnni", dot_avxvnni);
kernels!(
    avx512vnni,
    "avx2,fma,f16c,avx512vnni,avx512vl",
    dot_avx512vnni
);

/// 512-bit kernels for weights in panels of 16 rows: one row per 32-bit lane, so that a block
/// of 32 weights of 16 rows takes eight `vpdpbusd` (four values each) and no shuffles.
///
/// They give the row-layout kernels' results bit for bit: those keep, per row, eight float
/// partial sums (one per group of four values of a block, in the lanes of a 256-bit register)
/// and add them up at the end; here the eight partial sums are eight registers, updated by
/// the same operations in the same order (the minimum terms of a group of eight blocks first,
/// one block per lane, then each block's scale times its integer dot), and added up in the
/// order of `hsum`.
mod wide {
    use super::*;

    /// The partial sums added as `hsum` adds the lanes of a 256-bit register.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    fn total(a: &[__m512; 8]) -> __m512 {
        _mm512_add_ps(
            _mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
            _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])),
        )
    }

    /// 16 halves at `h[at..]` to single precision; callers keep `at + 16 <= h.len()`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn halves16(h: &[u16], at: usize) -> __m512 {
        debug_assert!(at + PANEL <= h.len());
        // SAFETY: as documented above.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(h.as_ptr().add(at).cast()) })
    }

    /// 64 bytes at `p[at..]`; callers keep `at + 64 <= p.len()`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn load64(p: &[u8], at: usize) -> __m512i {
        debug_assert!(at + 64 <= p.len());
        // SAFETY: as documented above.
        unsafe { _mm512_loadu_si512(p.as_ptr().add(at).cast()) }
    }

    /// Four activation bytes at `q[at..]`, as one 32-bit value in every lane; callers keep
    /// `at + 4 <= q.len()`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn four(q: &[i8], at: usize) -> __m512i {
        debug_assert!(at + 4 <= q.len());
        // SAFETY: as documented above.
        _mm512_set1_epi32(unsafe { q.as_ptr().add(at).cast::<i32>().read_unaligned() })
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    fn prefetch<T>(p: &[T], at: usize, len: usize) {
        let base = p.as_ptr().wrapping_add(at).cast::<i8>();
        let mut off = 0;
        while off < len {
            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(off));
            off += 64;
        }
    }

    /// How far ahead of the block in use to prefetch, in bytes of quantised values: the
    /// panels are one sequential stream, and a distance of about 8 KB keeps enough loads in
    /// flight (the kernel microbenchmark streamed 8.7 GB/s with 1.5 KB, 10.5 GB/s with 8 KB).
    const AHEAD: usize = 8 * 1024;

    /// One panel of a Q4 matrix times `T` tokens: `res[t][r]` for the panel's 16 rows.
    /// Safety: the features are present; `nib` holds the panel's `nb` blocks of 256 bytes
    /// (and may be followed by more), `sc` and `mn` its `sb` × 16 halves, the tokens `nb`
    /// blocks and `sb` scales and sums.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn panel_q4<const T: usize>(
        nb: usize,
        nib: &[u8],
        sc: &[u16],
        mn: &[u16],
        xs: [&QVec; T],
        res: &mut [[f32; PANEL]; T],
    ) {
        let low4 = _mm512_set1_epi8(0x0f);
        let mut acc = [[_mm512_setzero_ps(); 8]; T];
        let mut g0 = 0;
        while g0 < nb {
            // SAFETY (all loads below): scale rows are padded to whole groups of blocks and
            // x's scales and sums too; blocks below nb lie inside the panel and inside x.
            let m: [__m512; GROUP] =
                std::array::from_fn(|l| unsafe { halves16(mn, (g0 + l) * PANEL) });
            for (acc, x) in acc.iter_mut().zip(xs) {
                for (l, (a, m)) in acc.iter_mut().zip(m).enumerate() {
                    *a = _mm512_fmadd_ps(m, _mm512_set1_ps(x.sums[g0 + l]), *a);
                }
            }
            for b in g0..(g0 + GROUP).min(nb) {
                let ahead = b + AHEAD / 256;
                prefetch(nib, ahead * 256, 256);
                prefetch(sc, ahead * PANEL, 32);
                prefetch(mn, ahead * PANEL, 32);
                let w = unsafe { halves16(sc, b * PANEL) };
                let z = unsafe {
                    [
                        load64(nib, b * 256),
                        load64(nib, b * 256 + 64),
                        load64(nib, b * 256 + 128),
                        load64(nib, b * 256 + 192),
                    ]
                };
                let v = [
                    _mm512_and_si512(z[0], low4),
                    _mm512_and_si512(z[1], low4),
                    _mm512_and_si512(z[2], low4),
                    _mm512_and_si512(z[3], low4),
                    _mm512_and_si512(_mm512_srli_epi16(z[0], 4), low4),
                    _mm512_and_si512(_mm512_srli_epi16(z[1], 4), low4),
                    _mm512_and_si512(_mm512_srli_epi16(z[2], 4), low4),
                    _mm512_and_si512(_mm512_srli_epi16(z[3], 4), low4),
                ];
                for t in 0..T {
                    let d = _mm512_mul_ps(w, _mm512_set1_ps(xs[t].scales[b]));
                    for l in 0..8 {
                        let x = unsafe { four(&xs[t].quants, b * QK + 4 * l) };
                        let p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v[l], x);
                        acc[t][l] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[t][l]);
                    }
                }
            }
            g0 += GROUP;
        }
        for t in 0..T {
            // SAFETY: res[t] holds 16 floats.
            unsafe { _mm512_storeu_ps(res[t].as_mut_ptr(), total(&acc[t])) };
        }
    }

    /// One panel of a Q8_0 matrix (values stored as `q + 128`) times `T` tokens. `neg[t]`
    /// holds, per block and group of four values, −128 × the group's activation sum, which
    /// turns the unsigned products back into signed ones exactly. Safety: as `panel_q4`, with
    /// `qs` holding `nb` blocks of 512 bytes and `neg[t]` `nb` × 8 values.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn panel_q8<const T: usize>(
        nb: usize,
        qs: &[u8],
        sc: &[u16],
        xs: [&QVec; T],
        neg: [&[i32]; T],
        res: &mut [[f32; PANEL]; T],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 8]; T];
        let mut g0 = 0;
        while g0 < nb {
            for b in g0..(g0 + GROUP).min(nb) {
                let ahead = b + AHEAD / 512;
                prefetch(qs, ahead * 512, 512);
                prefetch(sc, ahead * PANEL, 32);
                // SAFETY (all loads below): as in `panel_q4`.
                let w = unsafe { halves16(sc, b * PANEL) };
                let v: [__m512i; 8] =
                    std::array::from_fn(|l| unsafe { load64(qs, b * 512 + 64 * l) });
                for t in 0..T {
                    let d = _mm512_mul_ps(w, _mm512_set1_ps(xs[t].scales[b]));
                    for l in 0..8 {
                        let x = unsafe { four(&xs[t].quants, b * QK + 4 * l) };
                        let c = _mm512_set1_epi32(neg[t][b * 8 + l]);
                        let p = _mm512_dpbusd_epi32(c, v[l], x);
                        acc[t][l] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[t][l]);
                    }
                }
            }
            g0 += GROUP;
        }
        for t in 0..T {
            // SAFETY: res[t] holds 16 floats.
            unsafe { _mm512_storeu_ps(res[t].as_mut_ptr(), total(&acc[t])) };
        }
    }

    /// Runs `panel` over the panels that hold rows `first..first + n`, tokens two at a time,
    /// and keeps the rows asked for: `out[t * n + i]`.
    #[inline]
    fn over_panels(
        first: usize,
        n: usize,
        tokens: usize,
        out: &mut [f32],
        mut panel: impl FnMut(usize, usize, usize, &mut [[f32; PANEL]; 2]),
    ) {
        let mut res = [[0f32; PANEL]; 2];
        for p in first / PANEL..(first + n).div_ceil(PANEL) {
            let lo = (p * PANEL).max(first);
            let hi = ((p + 1) * PANEL).min(first + n);
            let mut t = 0;
            while t < tokens {
                let k = (tokens - t).min(2);
                panel(p, t, k, &mut res);
                for (j, r) in res.iter().enumerate().take(k) {
                    let o = (t + j) * n;
                    out[o + lo - first..o + hi - first]
                        .copy_from_slice(&r[lo - p * PANEL..hi - p * PANEL]);
                }
                t += k;
            }
        }
    }

    /// Q4 panels × tokens. Safety: the features are present and the inputs hold every panel
    /// in range (checked by `Kernels::panels_q4`).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn rows_q4(
        rows: &Rows,
        nib: &[u8],
        scales: &[u16],
        mins: &[u16],
        xs: &[QVec],
        n: usize,
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        over_panels(rows.first, n, xs.len(), out, |p, t, k, res| {
            let nib = &nib[p * nb * 256..];
            let sc = &scales[p * sb * PANEL..(p + 1) * sb * PANEL];
            let mn = &mins[p * sb * PANEL..(p + 1) * sb * PANEL];
            // SAFETY: the caller's contract; the slices hold the panel.
            unsafe {
                if k == 2 {
                    panel_q4::<2>(nb, nib, sc, mn, [&xs[t], &xs[t + 1]], res);
                } else {
                    let mut one = [[0f32; PANEL]; 1];
                    panel_q4::<1>(nb, nib, sc, mn, [&xs[t]], &mut one);
                    res[0] = one[0];
                }
            }
        });
    }

    /// Q8_0 panels × tokens; same contract as `rows_q4`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn rows_q8(
        rows: &Rows,
        qs: &[u8],
        scales: &[u16],
        xs: &[QVec],
        n: usize,
        out: &mut [f32],
    ) {
        let (nb, sb) = strides(rows.cols);
        // −128 × the sum of each group of four activation values, per token.
        let neg: Vec<Vec<i32>> = xs
            .iter()
            .map(|x| {
                x.quants[..nb * QK]
                    .chunks_exact(4)
                    .map(|g| -128 * g.iter().map(|&v| i32::from(v)).sum::<i32>())
                    .collect()
            })
            .collect();
        over_panels(rows.first, n, xs.len(), out, |p, t, k, res| {
            let qs = &qs[p * nb * 512..];
            let sc = &scales[p * sb * PANEL..(p + 1) * sb * PANEL];
            // SAFETY: the caller's contract; the slices hold the panel.
            unsafe {
                if k == 2 {
                    panel_q8::<2>(
                        nb,
                        qs,
                        sc,
                        [&xs[t], &xs[t + 1]],
                        [&neg[t], &neg[t + 1]],
                        res,
                    );
                } else {
                    let mut one = [[0f32; PANEL]; 1];
                    panel_q8::<1>(nb, qs, sc, [&xs[t]], [&neg[t]], &mut one);
                    res[0] = one[0];
                }
            }
        });
    }
}
