//! A small, seedable pseudo-random generator (SplitMix64).
//!
//! The simulator must be deterministic under a seed and the client needs jitter; neither needs
//! cryptographic quality, so a dozen lines beat a dependency.

/// SplitMix64: 64 bits of state, passes BigCrush, one multiply-xorshift chain per number.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// An integer in `[0, bound)`; `bound` must be positive.
    pub fn below(&mut self, bound: u64) -> u64 {
        // Lemire's multiply-shift; the tiny bias is irrelevant for simulation and jitter.
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// A SplitMix64 stream that concurrent callers share without a lock: the client's jitter.
#[derive(Debug)]
pub struct SharedSplitMix64 {
    state: std::sync::atomic::AtomicU64,
}

impl SharedSplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self {
            state: std::sync::atomic::AtomicU64::new(seed),
        }
    }

    /// Seeded from the wall clock: jitter of two processes started together still differs.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Self::new(mix(nanos))
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&self) -> f64 {
        let state = self
            .state
            .fetch_add(GOLDEN_GAMMA, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        unit(mix(state))
    }
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The SplitMix64 finaliser: a good 64-bit mix of `z`.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_values_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let f = a.next_f64();
            b.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(a.below(10) < 10);
            b.below(10);
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
        let (shared, mut plain) = (SharedSplitMix64::new(7), SplitMix64::new(7));
        for _ in 0..10 {
            assert_eq!(shared.next_f64(), plain.next_f64());
        }
    }
}
