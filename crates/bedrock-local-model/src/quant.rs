//! GGML tensor types: block sizes, dequantisation to f32 and quantisation to Q8_0.
//!
//! The block layouts and formulas follow ggml's reference (`ggml-quants.c`), so a weight read
//! here has the value llama.cpp gives it.

use anyhow::{bail, Result};

/// Elements per block of the "legacy" quants (Q4_0 … Q8_0).
pub const QK: usize = 32;
/// Elements per super-block of the k-quants.
pub const QK_K: usize = 256;

/// The tensor types this crate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    BF16,
}

impl GgmlType {
    pub fn from_id(id: u32) -> Option<GgmlType> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            10 => GgmlType::Q2K,
            11 => GgmlType::Q3K,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block)
    pub fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (QK, 18),
            GgmlType::Q4_1 => (QK, 20),
            GgmlType::Q5_0 => (QK, 22),
            GgmlType::Q5_1 => (QK, 24),
            GgmlType::Q8_0 => (QK, 34),
            GgmlType::Q2K => (QK_K, 84),
            GgmlType::Q3K => (QK_K, 110),
            GgmlType::Q4K => (QK_K, 144),
            GgmlType::Q5K => (QK_K, 176),
            GgmlType::Q6K => (QK_K, 210),
        }
    }

    /// Bytes taken by `n` elements, if `n` is a whole number of blocks.
    pub fn n_bytes(self, n: u64) -> Option<u64> {
        let (per, bytes) = self.block();
        let per = per as u64;
        if !n.is_multiple_of(per) {
            return None;
        }
        (n / per).checked_mul(bytes as u64)
    }
}

/// IEEE half to single precision.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: renormalise.
            let mut shift: u32 = 0;
            let mut m = mant;
            while m & 0x400 == 0 {
                m <<= 1;
                shift += 1;
            }
            // mant · 2^-24 = (m / 2^10) · 2^(-14 - shift)
            sign | ((127 - 14 - shift) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// Single to half precision, round to nearest even.
pub fn f32_to_f16(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let mant = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rounded = m + half - 1 + ((m >> shift) & 1);
        return sign | (rounded >> shift) as u16;
    }
    let rounded = mant + 0xfff + ((mant >> 13) & 1);
    if rounded & 0x80_0000 != 0 {
        // Mantissa overflowed into the exponent.
        let e = e + 1;
        if e >= 0x1f {
            return sign | 0x7c00;
        }
        return sign | ((e as u16) << 10);
    }
    sign | ((e as u16) << 10) | (rounded >> 13) as u16
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// Dequantises `data` (a whole number of blocks of `ty`) into `out`, which must have room
/// for exactly the elements `data` holds.
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<()> {
    let (per, bytes) = ty.block();
    if !data.len().is_multiple_of(bytes) || data.len() / bytes * per != out.len() {
        bail!(
            "dequantize {ty:?}: {} bytes do not make {} elements",
            data.len(),
            out.len()
        );
    }
    let blocks = data.chunks_exact(bytes).zip(out.chunks_exact_mut(per));
    match ty {
        GgmlType::F32 => {
            for (b, y) in blocks {
                y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            for (b, y) in blocks {
                y[0] = f16_at(b, 0);
            }
        }
        GgmlType::BF16 => {
            for (b, y) in blocks {
                y[0] = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
            }
        }
        GgmlType::Q4_0 => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                let qs = &b[2..18];
                for j in 0..16 {
                    y[j] = (i32::from(qs[j] & 0x0f) - 8) as f32 * d;
                    y[j + 16] = (i32::from(qs[j] >> 4) - 8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_1 => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let qs = &b[4..20];
                for j in 0..16 {
                    y[j] = f32::from(qs[j] & 0x0f) * d + m;
                    y[j + 16] = f32::from(qs[j] >> 4) * d + m;
                }
            }
        }
        GgmlType::Q5_0 => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                let qs = &b[6..22];
                for j in 0..16 {
                    let xh0 = ((qh >> j) << 4) & 0x10;
                    let xh1 = (qh >> (j + 12)) & 0x10;
                    let x0 = (u32::from(qs[j] & 0x0f) | xh0) as i32 - 16;
                    let x1 = (u32::from(qs[j] >> 4) | xh1) as i32 - 16;
                    y[j] = x0 as f32 * d;
                    y[j + 16] = x1 as f32 * d;
                }
            }
        }
        GgmlType::Q5_1 => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                let qs = &b[8..24];
                for j in 0..16 {
                    let xh0 = ((qh >> j) << 4) & 0x10;
                    let xh1 = (qh >> (j + 12)) & 0x10;
                    let x0 = u32::from(qs[j] & 0x0f) | xh0;
                    let x1 = u32::from(qs[j] >> 4) | xh1;
                    y[j] = x0 as f32 * d + m;
                    y[j + 16] = x1 as f32 * d + m;
                }
            }
        }
        GgmlType::Q8_0 => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                for j in 0..32 {
                    y[j] = f32::from(b[2 + j] as i8) * d;
                }
            }
        }
        GgmlType::Q4K => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                let min = f16_at(b, 2);
                let scales = &b[4..16];
                let qs = &b[16..144];
                for (n, (q, y)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
                    let (sc1, m1) = scale_min_k4(2 * n, scales);
                    let (sc2, m2) = scale_min_k4(2 * n + 1, scales);
                    let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
                    let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
                    for l in 0..32 {
                        y[l] = d1 * f32::from(q[l] & 0x0f) - m1;
                        y[l + 32] = d2 * f32::from(q[l] >> 4) - m2;
                    }
                }
            }
        }
        GgmlType::Q5K => {
            for (b, y) in blocks {
                let d = f16_at(b, 0);
                let min = f16_at(b, 2);
                let scales = &b[4..16];
                let qh = &b[16..48];
                let ql = &b[48..176];
                for (n, (q, y)) in ql.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
                    let (sc1, m1) = scale_min_k4(2 * n, scales);
                    let (sc2, m2) = scale_min_k4(2 * n + 1, scales);
                    let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
                    let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
                    let u1 = 1u8 << (2 * n);
                    let u2 = 2u8 << (2 * n);
                    for l in 0..32 {
                        let h1 = if qh[l] & u1 != 0 { 16.0 } else { 0.0 };
                        let h2 = if qh[l] & u2 != 0 { 16.0 } else { 0.0 };
                        y[l] = d1 * (f32::from(q[l] & 0x0f) + h1) - m1;
                        y[l + 32] = d2 * (f32::from(q[l] >> 4) + h2) - m2;
                    }
                }
            }
        }
        GgmlType::Q6K => {
            for (b, y) in blocks {
                let ql_all = &b[0..128];
                let qh_all = &b[128..192];
                let sc_all = &b[192..208];
                let d = f16_at(b, 208);
                for n in 0..2 {
                    let ql = &ql_all[64 * n..64 * n + 64];
                    let qh = &qh_all[32 * n..32 * n + 32];
                    let sc = &sc_all[8 * n..8 * n + 8];
                    let y = &mut y[128 * n..128 * n + 128];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = i32::from((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
                        let q2 = i32::from((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                        let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                        let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                        y[l] = d * f32::from(sc[is] as i8) * q1 as f32;
                        y[l + 32] = d * f32::from(sc[is + 2] as i8) * q2 as f32;
                        y[l + 64] = d * f32::from(sc[is + 4] as i8) * q3 as f32;
                        y[l + 96] = d * f32::from(sc[is + 6] as i8) * q4 as f32;
                    }
                }
            }
        }
        GgmlType::Q2K | GgmlType::Q3K => {
            bail!("{ty:?} tensors are not supported; use a Q4_0, Q4_1, Q8_0, Q4_K_M, Q5_K_M, Q6_K or F16 file")
        }
    }
    Ok(())
}

fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Rounds to the nearest integer, ties to even (as llama.cpp's SIMD quantisers do), for
/// |v| < 2^22. Adding and subtracting 1.5·2^23 does it in two instructions where `round()`
/// would be a library call on baseline x86-64.
#[inline]
fn round_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// Quantises one block of 32 values the Q8_0 way: returns the scale and writes the quants.
#[inline]
pub fn quantize_block_q8(x: &[f32], q: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    for (qi, &xi) in q.iter_mut().zip(x) {
        *qi = round_even(xi * id) as i8;
    }
    d
}

/// [`quantize_block_q8`] with the scale rounded to half precision first, as Q8_0 stores it.
pub fn quantize_block_q8_f16(x: &[f32], q: &mut [i8]) -> u16 {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = f32_to_f16(amax / 127.0);
    let df = f16_to_f32(d);
    let id = if df != 0.0 { 1.0 / df } else { 0.0 };
    for (qi, &xi) in q.iter_mut().zip(x) {
        *qi = round_even(xi * id).clamp(-127.0, 127.0) as i8;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips() {
        for &v in &[
            0.0f32,
            1.0,
            -2.5,
            65504.0,
            6.1035156e-5,
            5.9604645e-8,
            -0.33325195,
        ] {
            assert_eq!(f16_to_f32(f32_to_f16(v)), v, "{v}");
        }
        for h in 0u16..=0xffff {
            let f = f16_to_f32(h);
            if f.is_nan() {
                continue;
            }
            assert_eq!(f32_to_f16(f), h, "{h:#x}");
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        for (v, r) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (126.7, 127.0),
            (-3.2, -3.0),
        ] {
            assert_eq!(round_even(v), r, "{v}");
        }
    }

    #[test]
    fn q8_block_is_close() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) * 0.37).collect();
        let mut q = [0i8; 32];
        let d = quantize_block_q8(&x, &mut q);
        for (a, b) in x.iter().zip(q.iter()) {
            assert!((a - f32::from(*b) * d).abs() <= d * 0.5 + 1e-6);
        }
    }
}
