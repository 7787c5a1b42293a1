//! Choosing the next token from the logits: greedy, or temperature with top-k and top-p,
//! driven by a seeded generator so that a request is reproducible.

use bedrock_families::Sampling;

/// Temperature when the request gives none.
pub const DEFAULT_TEMPERATURE: f32 = 0.7;
/// Top-k when the request gives none (llama.cpp's default).
pub const DEFAULT_TOP_K: usize = 40;
/// Top-p when the request gives none (llama.cpp's default).
pub const DEFAULT_TOP_P: f32 = 0.95;

pub struct Sampler {
    temperature: f32,
    top_k: usize,
    top_p: f32,
    rng: SplitMix64,
    candidates: Vec<(f32, u32)>,
}

impl Sampler {
    pub fn new(s: &Sampling, seed: u64) -> Sampler {
        let temperature = s.temperature.unwrap_or(DEFAULT_TEMPERATURE);
        Sampler {
            temperature: if temperature.is_finite() {
                temperature.max(0.0)
            } else {
                DEFAULT_TEMPERATURE
            },
            top_k: match s.top_k {
                Some(0) => usize::MAX,
                Some(k) => k as usize,
                None => DEFAULT_TOP_K,
            },
            top_p: match s.top_p {
                Some(p) if p.is_finite() && p > 0.0 => p.min(1.0),
                Some(_) => 1.0,
                None => DEFAULT_TOP_P,
            },
            rng: SplitMix64(seed),
            candidates: Vec::new(),
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.is_greedy() {
            return argmax(logits);
        }
        let t = self.temperature;
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        // The softmax normaliser over the whole vocabulary, so that top-p is exact even when
        // only a prefix of the sorted candidates is materialised.
        let total: f64 = logits
            .iter()
            .map(|&l| f64::from(((l - max) / t).exp()))
            .sum();
        let c = &mut self.candidates;
        let k = self.top_k.min(logits.len());
        let mut take = k.min(64);
        loop {
            c.clear();
            c.extend(logits.iter().enumerate().map(|(i, &l)| (l, i as u32)));
            if take < c.len() {
                c.select_nth_unstable_by(take, |a, b| b.0.total_cmp(&a.0));
                c.truncate(take);
            }
            c.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mass: f64 = c
                .iter()
                .map(|&(l, _)| f64::from(((l - max) / t).exp()))
                .sum::<f64>()
                / total;
            if take >= k || mass >= f64::from(self.top_p) {
                break;
            }
            take = (take * 16).min(k);
        }
        // Probabilities over the kept candidates, cut at top-p.
        let mut probs: Vec<f64> = c
            .iter()
            .map(|&(l, _)| f64::from(((l - max) / t).exp()) / total)
            .collect();
        let mut cum = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cum += p;
            if cum >= f64::from(self.top_p) {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep.max(1));
        let sum: f64 = probs.iter().sum();
        let mut r = self.rng.next_f64() * sum;
        for (p, &(_, id)) in probs.iter().zip(c.iter()) {
            if r < *p {
                return id;
            }
            r -= p;
        }
        c.get(probs.len() - 1).map_or(0, |&(_, id)| id)
    }
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(t: Option<f32>, p: Option<f32>, k: Option<u32>) -> Sampling {
        Sampling {
            temperature: t,
            top_p: p,
            top_k: k,
            ..Sampling::default()
        }
    }

    #[test]
    fn zero_temperature_is_greedy() {
        let logits = vec![0.1, 3.0, 2.9, -1.0];
        let mut s = Sampler::new(&sampling(Some(0.0), None, None), 1);
        for _ in 0..10 {
            assert_eq!(s.sample(&logits), 1);
        }
    }

    #[test]
    fn top_k_one_is_greedy() {
        let logits = vec![0.1, 3.0, 2.9, -1.0];
        let mut s = Sampler::new(&sampling(Some(1.5), None, Some(1)), 1);
        assert!(s.is_greedy());
        assert_eq!(s.sample(&logits), 1);
    }

    #[test]
    fn same_seed_same_choices() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 20.0).collect();
        let run = |seed| {
            let mut s = Sampler::new(&sampling(Some(1.0), Some(1.0), Some(0)), seed);
            (0..50).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn top_k_and_top_p_limit_the_choices() {
        // Token 0 and 1 carry almost all the mass.
        let mut logits = vec![-20.0f32; 5000];
        logits[0] = 5.0;
        logits[1] = 4.5;
        logits[2] = 0.0;
        let mut s = Sampler::new(&sampling(Some(1.0), Some(0.9), None), 9);
        for _ in 0..200 {
            assert!(s.sample(&logits) < 2);
        }
        let mut s = Sampler::new(&sampling(Some(5.0), Some(1.0), Some(3)), 9);
        let mut seen = [false; 3];
        for _ in 0..500 {
            let id = s.sample(&logits) as usize;
            assert!(id < 3);
            seen[id] = true;
        }
        assert!(seen.iter().all(|&x| x));
        // Without top-k, the search widens past the first 64 candidates when top-p needs it.
        let flat = vec![0.0f32; 5000];
        let mut s = Sampler::new(&sampling(Some(1.0), Some(0.5), Some(0)), 2);
        let ids: Vec<u32> = (0..400).map(|_| s.sample(&flat)).collect();
        assert!(ids.iter().any(|&i| i >= 64));
        assert!(ids.iter().all(|&i| i < 5000));
    }
}
