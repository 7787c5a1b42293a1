//! x86-64 SIMD kernels for the two weight layouts, chosen at run time: AVX2, or AVX2 with the
//! VNNI dot-product instruction (AVX-VNNI or AVX-512 VNNI on 256-bit registers).
//!
//! This is the crate's only module with `unsafe` code, and it is here for one reason: decoding
//! is a long run of int8 dot products, and without these kernels it runs several times slower
//! than llama.cpp on the same file (see BENCH.md). The unsafety is confined to
//! (1) calling `#[target_feature]` functions, which is sound because a [`Kernels`] value is
//! only made after `is_x86_feature_detected!` said yes to every feature its kernels enable, and
//! (2) unaligned SIMD loads and stores from slices that are checked (by slicing or
//! `debug_assert!` plus the callers' invariants documented at each site) to hold the bytes read.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{strides, QVec, Rows, GROUP, QK};

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

/// The best kernel set this CPU runs.
#[derive(Debug, Clone, Copy)]
pub struct Kernels(Level);

impl Kernels {
    /// `wanted` ("avx2", "avxvnni", "avx512vnni" or "" for the best) limits the choice.
    pub fn detect(wanted: &str) -> Option<Kernels> {
        let base = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        if !base {
            return None;
        }
        let avx512 = is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl");
        let avxvnni = is_x86_feature_detected!("avxvnni");
        let level = match wanted {
            "avx2" => Level::Avx2,
            "avxvnni" if avxvnni => Level::AvxVnni,
            "avx512vnni" if avx512 => Level::Avx512Vnni,
            _ if avx512 => Level::Avx512Vnni,
            _ if avxvnni => Level::AvxVnni,
            _ => Level::Avx2,
        };
        Some(Kernels(level))
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            Level::Avx2 => "avx2",
            Level::AvxVnni => "avx-vnni",
            Level::Avx512Vnni => "avx512-vnni",
        }
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
