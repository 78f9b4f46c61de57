//! The 32-bit Mersenne Twister with PyTorch's CPU-generator conventions: seeded from the
//! low 32 bits of a 64-bit seed (the full seed is remembered), state refreshed lazily when
//! `left` reaches zero, and the state serialised in the layout `torch.get_rng_state()`
//! returns, so states move between PyTorch and Psionic unchanged.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER: u32 = 0x8000_0000;
const LOWER: u32 = 0x7fff_ffff;

/// Bytes of PyTorch's serialised CPU generator state (`CPUGeneratorImplState`).
pub const STATE_BYTES: usize = 5056;

#[derive(Clone)]
pub struct Mt19937 {
    seed: u64,
    left: i32,
    next: u32,
    state: [u32; N],
}

impl Mt19937 {
    pub fn new(seed: u64) -> Mt19937 {
        let mut state = [0u32; N];
        state[0] = seed as u32;
        for j in 1..N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(j as u32);
        }
        Mt19937 { seed, left: 1, next: 0, state }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u32(&mut self) -> u32 {
        self.left -= 1;
        if self.left == 0 {
            self.refill();
        }
        let mut y = self.state[self.next as usize];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Two draws, the first in the high half (PyTorch's `random64`).
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        (hi << 32) | self.next_u32() as u64
    }

    fn refill(&mut self) {
        let twist = |u: u32, v: u32| (((u & UPPER) | (v & LOWER)) >> 1) ^ if v & 1 == 1 { MATRIX_A } else { 0 };
        let s = &mut self.state;
        // In place, in order: the later words read words already refreshed.
        for j in 0..N - M {
            s[j] = s[j + M] ^ twist(s[j], s[j + 1]);
        }
        for j in N - M..N - 1 {
            s[j] = s[j + M - N] ^ twist(s[j], s[j + 1]);
        }
        s[N - 1] = s[M - 1] ^ twist(s[N - 1], s[0]);
        self.left = N as i32;
        self.next = 0;
    }

    /// The legacy POD prefix of PyTorch's state: seed, left, seeded, next, the state words
    /// widened to u64, then the double-normal cache (x, y, rho, valid) that follows.
    pub fn write_state(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.left.to_le_bytes());
        out.extend_from_slice(&1i32.to_le_bytes());
        out.extend_from_slice(&(self.next as u64).to_le_bytes());
        for w in self.state {
            out.extend_from_slice(&(w as u64).to_le_bytes());
        }
    }

    /// Reads what [`write_state`](Self::write_state) wrote; `None` if the fields are not a
    /// valid engine state (PyTorch's `is_valid`).
    pub fn read_state(b: &[u8]) -> Option<Mt19937> {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let i32_at = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let (seed, left, seeded, next) = (u64_at(0), i32_at(8), i32_at(12), u64_at(16));
        let mut state = [0u32; N];
        for (j, w) in state.iter_mut().enumerate() {
            *w = u64_at(24 + 8 * j) as u32;
        }
        let next = next as u32;
        let valid = seeded & 0xff != 0 && left > 0 && left as usize <= N && next as usize <= N;
        valid.then_some(Mt19937 { seed, left, next, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_stream() {
        // The reference implementation's 10000th output for seed 5489 (C++ std::mt19937).
        let mut g = Mt19937::new(5489);
        let last = (0..10_000).map(|_| g.next_u32()).last().unwrap();
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn state_round_trip() {
        let mut g = Mt19937::new(42);
        g.next_u32();
        let mut b = vec![];
        g.write_state(&mut b);
        let mut h = Mt19937::read_state(&b).unwrap();
        assert_eq!(g.next_u64(), h.next_u64());
    }
}
