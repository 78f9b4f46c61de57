//! When and how to split work across threads.
//!
//! Work is cut into chunks whose size depends only on the problem, never on the number of
//! threads, so any per-chunk arithmetic (partial sums) is the same with 1 or 64 threads.

use rayon::prelude::*;

/// Elements below which an elementwise op stays on the calling thread: spawning costs
/// more than the work.
pub const GRAIN: usize = 1 << 15;

/// Most chunks a long run of independent outputs is cut into (a reduction's rows):
/// enough for a few dozen threads to balance, few enough that a chunk's fixed cost (its
/// closure, its strided iterator) stays out of sight. Sums over the 4096 rows of a 64 MiB
/// matrix in 4-row chunks spent 5% of their memory-bound time on that cost.
pub const MAX_CHUNKS: usize = 64;

/// Runs `f(start, end)` over `0..n` in chunks of `chunk` (the last may be shorter), in
/// parallel when the total is worth it.
pub fn for_chunks(n: usize, chunk: usize, work_per_item: usize, f: impl Fn(usize, usize) + Sync + Send) {
    let chunk = chunk.max(1);
    let n_chunks = n.div_ceil(chunk);
    if n_chunks <= 1 || n * work_per_item.max(1) < GRAIN || rayon::current_num_threads() == 1 {
        for c in 0..n_chunks {
            f(c * chunk, ((c + 1) * chunk).min(n));
        }
    } else {
        (0..n_chunks).into_par_iter().for_each(|c| f(c * chunk, ((c + 1) * chunk).min(n)));
    }
}

/// Splits `out` into chunks of `chunk` elements and runs `f(start, chunk_slice)` on each,
/// in parallel past the grain size.
pub fn for_out_chunks<T: Send>(
    out: &mut [T],
    chunk: usize,
    work_per_item: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let chunk = chunk.max(1);
    let n = out.len();
    if n <= chunk || n * work_per_item.max(1) < GRAIN || rayon::current_num_threads() == 1 {
        for (i, c) in out.chunks_mut(chunk).enumerate() {
            f(i * chunk, c);
        }
    } else {
        out.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i * chunk, c));
    }
}
