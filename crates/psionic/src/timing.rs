//! Timing for the benchmarks: the median and quartiles of repeated runs after warm-up
//! (first calls pay one-time costs such as allocating caches).

use std::time::Instant;

/// Median, first and third quartile in microseconds of `reps` timed calls of `f`, after
/// `warmup` untimed ones. Quantiles are nearest-rank (index `round((n - 1) q)`), as
/// `oracle/bench/torch_bench.py` computes them.
pub fn quartiles_us(reps: usize, warmup: usize, f: &mut dyn FnMut()) -> (f64, f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}
