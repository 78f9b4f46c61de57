//! PyTorch-style generators: a Mersenne Twister plus the Box–Muller caches PyTorch keeps
//! beside it, shared behind a handle (`Clone` shares, as a `torch.Generator` does), and the
//! process-wide default generator behind `manual_seed`, `get_rng_state` and friends.

use super::mt19937::{Mt19937, STATE_BYTES};
use crate::tensor::Tensor;
use psionic_core::{DType, Error, Result};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// PyTorch's `default_rng_seed_val`: the seed of a fresh `torch.Generator()`.
pub const DEFAULT_SEED: u64 = 67_280_421_310_721;

pub(crate) struct Engine {
    pub mt: Mt19937,
    /// The second Box–Muller value of the last double-precision pair, served next.
    pub next_double_normal: Option<f64>,
    pub next_float_normal: Option<f32>,
}

impl Engine {
    pub fn u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    pub fn u64(&mut self) -> u64 {
        self.mt.next_u64()
    }
}

/// A random number generator with PyTorch's CPU streams.
#[derive(Clone)]
pub struct Generator(Arc<Mutex<Engine>>);

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Generator {
    /// A generator seeded like `torch.Generator()`.
    pub fn new() -> Generator {
        Self::with_seed(DEFAULT_SEED)
    }

    pub fn with_seed(seed: u64) -> Generator {
        Generator(Arc::new(Mutex::new(Engine {
            mt: Mt19937::new(seed),
            next_double_normal: None,
            next_float_normal: None,
        })))
    }

    /// The process-wide generator the samplers use when none is given.
    pub fn global() -> &'static Generator {
        static GLOBAL: OnceLock<Generator> = OnceLock::new();
        GLOBAL.get_or_init(|| Generator::with_seed(nondeterministic_seed()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Engine> {
        super::count_host_read();
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reseeds (clearing the normal caches) and returns the generator, as
    /// `Generator.manual_seed` does. Negative seeds wrap, as in PyTorch.
    pub fn manual_seed(&self, seed: u64) -> &Generator {
        let mut e = self.lock();
        *e = Engine { mt: Mt19937::new(seed), next_double_normal: None, next_float_normal: None };
        self
    }

    /// One draw of `torch.empty((), dtype=torch.int64).random_(generator=g)`: 63 random
    /// bits. PyTorch's DataLoader takes one per epoch (its base seed) before it shuffles,
    /// so a loader that does the same gives PyTorch's order for the same seed.
    pub fn random_i64(&self) -> i64 {
        (self.lock().u64() % (1u64 << 63)) as i64
    }

    /// Reseeds from a nondeterministic source and returns the seed used.
    pub fn seed(&self) -> u64 {
        let s = nondeterministic_seed();
        self.manual_seed(s);
        s
    }

    pub fn initial_seed(&self) -> u64 {
        self.lock().mt.seed()
    }

    /// The full state as a uint8 tensor of 5056 bytes, byte-compatible with
    /// `torch.Generator.get_state()` (Psionic stores it as `u8`).
    pub fn get_state(&self) -> Tensor {
        let e = self.lock();
        let mut b = Vec::with_capacity(STATE_BYTES);
        e.mt.write_state(&mut b);
        for v in [0.0, e.next_double_normal.unwrap_or(0.0), 0.0] {
            b.extend_from_slice(&f64::to_le_bytes(v));
        }
        b.extend_from_slice(&(e.next_double_normal.is_some() as i32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&e.next_float_normal.unwrap_or(0.0).to_le_bytes());
        b.push(e.next_float_normal.is_some() as u8);
        b.resize(STATE_BYTES, 0);
        Tensor::from_vec(b, &[STATE_BYTES])
    }

    /// Restores a state from [`get_state`](Self::get_state) or from PyTorch. A tensor of
    /// the wrong dtype or size, or an invalid engine state, is an error and changes nothing.
    pub fn set_state(&self, state: &Tensor) -> Result<()> {
        if state.dtype() != DType::U8 {
            return Err(Error::dtype(
                "set_state",
                format!("RNG state must be a torch.ByteTensor (uint8), got {}", state.dtype().name()),
            ));
        }
        if state.shape().len() != 1 || state.numel() != STATE_BYTES {
            return Err(Error::shape(
                "set_state",
                format!("Expected a CPUGeneratorImplState of size {STATE_BYTES} but found the input RNG state size to be {}", state.numel()),
            ));
        }
        let b = state.to_vec::<u8>();
        let mt = Mt19937::read_state(&b).ok_or_else(|| Error::invalid("set_state", "Invalid mt19937 state"))?;
        let f64_at = |o: usize| f64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let double_valid = i32::from_le_bytes(b[5040..5044].try_into().unwrap()) != 0;
        let float_valid = b[5052] != 0;
        let float = f32::from_le_bytes(b[5048..5052].try_into().unwrap());
        *self.lock() = Engine {
            mt,
            next_double_normal: double_valid.then(|| f64_at(5024)),
            next_float_normal: float_valid.then_some(float),
        };
        Ok(())
    }
}

fn nondeterministic_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// `torch.manual_seed`: reseeds the global generator.
pub fn manual_seed(seed: u64) -> &'static Generator {
    Generator::global().manual_seed(seed)
}

/// `torch.seed`: reseeds the global generator nondeterministically.
pub fn seed() -> u64 {
    Generator::global().seed()
}

/// `torch.initial_seed`.
pub fn initial_seed() -> u64 {
    Generator::global().initial_seed()
}

/// `torch.get_rng_state`.
pub fn get_rng_state() -> Tensor {
    Generator::global().get_state()
}

/// `torch.set_rng_state`.
pub fn set_rng_state(state: &Tensor) -> Result<()> {
    Generator::global().set_state(state)
}

/// The generator a sampler uses: the given one or the global one.
pub(crate) fn pick(g: Option<&Generator>) -> &Generator {
    g.unwrap_or_else(|| Generator::global())
}
