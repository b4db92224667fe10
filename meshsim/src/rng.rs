//! The simulator's only source of randomness: a small seeded SplitMix64 generator.
//!
//! Owns nothing but its 64-bit state. Everything random in a run (topology, link delays, loss,
//! which links are cut, the per-node seeds handed to the Babel core) is drawn from generators
//! derived from the run's `--seed`, so a run is reproducible bit for bit.

/// SplitMix64 (Steele, Lea and Flood): tiny, fast, and good enough for simulation.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// A generator for a sub-purpose (`stream`), independent of the parent's future draws.
    pub fn derive(seed: u64, stream: u64) -> SplitMix64 {
        let mut mixer = SplitMix64::new(seed ^ stream.wrapping_mul(0xD134_2543_DE82_EF95));
        SplitMix64::new(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high]` (inclusive); `low` if the range is empty.
    pub fn range_inclusive(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        let span = high - low + 1;
        if span == 0 {
            return self.next_u64();
        }
        // Multiply-shift: the bias is below 2^-64 * span, irrelevant here.
        low + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// Uniform in `[0, n)`; `n` must be non-zero.
    pub fn below(&mut self, n: usize) -> usize {
        self.range_inclusive(0, n as u64 - 1) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.range_inclusive(3, 9);
            assert!((3..=9).contains(&x));
            b.range_inclusive(3, 9);
            let f = a.next_f64();
            assert!((0.0..1.0).contains(&f));
            b.next_f64();
        }
        assert_ne!(
            SplitMix64::derive(7, 1).next_u64(),
            SplitMix64::derive(7, 2).next_u64()
        );
    }
}
