//! A tiny deterministic PRNG (SplitMix64), so the simulator needs no
//! dependency and a seed reproduces a whole run.

/// One million: probabilities are integers in parts per million.
pub const PPM: u32 = 1_000_000;

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, passes BigCrush,
/// and every seed (including 0) gives a good stream. Not cryptographic, which
/// a simulator does not need.
///
/// The seed is kept next to the state: a meter's fixed traits (its size, its
/// leak rate) come from [`Rng::seed`], so drawing noise never changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    seed: u64,
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { seed, state: seed }
    }

    /// The seed this generator started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// Uniform in `0..n`; 0 when `n` is 0. Plain modulo: the bias is below
    /// `n / 2^64`, invisible for the small ranges a simulator draws.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `ppm` / 1 000 000.
    pub fn chance_ppm(&mut self, ppm: u32) -> bool {
        self.below(u64::from(PPM)) < u64::from(ppm)
    }

    /// An independent generator for a sub-stream (for example one meter of a
    /// fleet), seeded from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// The SplitMix64 output function; also a good 64-bit hash of a seed.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A value in `lo..=hi` that depends only on `seed` and `salt`: a meter's
/// fixed traits, stable for the meter's life.
pub(crate) fn trait_from_seed(seed: u64, salt: u64, lo: u64, hi: u64) -> u64 {
    let span = hi.saturating_sub(lo).saturating_add(1);
    lo + mix(seed ^ mix(salt)) % span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // SplitMix64 from seed 0: the first output is the well-known
        // 0xE220A8397B1DCDAF.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.seed(), 0);
    }

    #[test]
    fn ranges_hold() {
        let mut r = Rng::new(42);
        for _ in 0..10_000 {
            let v = r.between(5, 20);
            assert!((5..=20).contains(&v));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.between(7, 3), 7);
        assert!(!r.chance_ppm(0));
        assert!(r.chance_ppm(PPM));
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }
}
