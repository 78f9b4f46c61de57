//! Random numbers, two ways.
//!
//! - PyTorch's: stateful [`Generator`]s (Mersenne Twister) and a global one behind
//!   [`manual_seed`]; the samplers in [`torch`](self) reproduce PyTorch's CPU streams bit
//!   for bit for the same seed (see `fixtures/random.json` and the `random` family of the
//!   conformance report for what is matched, and where PyTorch's own results depend on
//!   the machine).
//! - MLX's: pure functions of counter-based keys, in [`keys`].
//!
//! Samples are drawn on the host when the op is called (in PyTorch's order for a
//! generator), so lazy mode defers nothing here and random ops do not run under `vmap`
//! or `compile` tracing with traced keys.

mod cephes_f32;
mod draw;
mod generator;
pub mod keys;
mod mlx_f32;
mod mt19937;
mod threefry;
mod torch;

thread_local! {
    static HOST_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times this thread has read or moved host random state (a generator, the
/// global key sequence). A compiled function whose trace moved it drew numbers that a
/// replay would repeat, so it is traced afresh on every call instead.
pub fn host_reads() -> u64 {
    HOST_READS.with(|c| c.get())
}

fn count_host_read() {
    HOST_READS.with(|c| c.set(c.get() + 1));
}

pub use generator::{get_rng_state, initial_seed, manual_seed, seed, set_rng_state, Generator, DEFAULT_SEED};
pub use torch::{bernoulli, dropout, multinomial, normal, rand, rand_like, randint, randn, randn_like, randperm};
