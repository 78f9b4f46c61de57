//! The driver of fused elementwise chains (compile's fusion).
//!
//! The output is cut into tiles of [`TILE`] elements. Per tile each input is seen as a
//! `[len]` array: a view in place when the input is contiguous over the output's shape,
//! a 0-d array when it is one value broadcast, else a gathered copy of the tile's
//! elements. The caller's chain runs on those (the same elementwise kernels as eager
//! ops, on arrays small enough to stay in L2), and its result is copied to the
//! tile's place in the output: the chain's intermediates never reach memory, and its
//! bits are the eager ops' bits, since the same kernels compute every element.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::{broadcast, extend_row};
use crate::parallel::for_out_chunks;
use crate::storage::Storage;
use psionic_core::strided::Rows;
use psionic_core::{DType, Error, Layout, Result};
use std::sync::Mutex;

/// Elements per tile: 64 KiB of f32, so a chain's live values stay in L2. Each step of
/// each tile costs a kernel call (its driver, a buffer from the cache): at 2048 that
/// cost made a 10-op chain on 4M f32 slower than unfused; 8192 gave 0.70 of eager's time
/// and 16384 0.59 (one thread).
pub const TILE: usize = 16384;

/// How one input of a fused chain is read per tile.
enum TileSrc {
    /// One value broadcast over the output: the same 0-d array for every tile.
    Scalar(CpuArray),
    /// Contiguous over the output's shape from this storage offset: a view per tile.
    Flat(CpuArray, usize),
    /// Any other layout (already broadcast to the output's shape): gathered per tile.
    Strided(CpuArray),
}

impl TileSrc {
    fn of(x: &CpuArray, shape: &[usize]) -> TileSrc {
        let x = broadcast(x, shape).into_owned();
        let l = &x.layout;
        if l.numel() <= 1 || l.strides.iter().all(|&s| s == 0) {
            let scalar = Layout { offset: l.offset, ..Layout::contiguous(&[]) };
            TileSrc::Scalar(x.with_layout(scalar))
        } else if l.is_contiguous() {
            let off = l.offset;
            TileSrc::Flat(x, off)
        } else {
            TileSrc::Strided(x)
        }
    }

    /// The input's elements `start..start + len` of the output's row-major order.
    fn tile(&self, start: usize, len: usize) -> CpuArray {
        match self {
            TileSrc::Scalar(x) => x.clone(),
            TileSrc::Flat(x, off) => x.with_layout(Layout { offset: off + start, ..Layout::contiguous(&[len]) }),
            TileSrc::Strided(x) => crate::with_dtype!(x.dtype(), T => gather_range::<T>(x, start, len)),
        }
    }
}

/// The elements `start..start + len` (row-major order) of `x`, a contiguous copy.
fn gather_range<T: Element>(x: &CpuArray, start: usize, len: usize) -> CpuArray {
    let rows = Rows::<1>::from_layouts(&x.layout.shape, [&x.layout]);
    let (n, [s]) = (rows.row_len(), rows.inner_strides());
    let src = x.storage.as_slice::<T>();
    let mut out = Vec::with_capacity(len);
    let end = start + len;
    rows.for_rows(start / n..(end - 1) / n + 1, |r, [off]| {
        let (a, b) = (start.max(r * n) - r * n, end.min((r + 1) * n) - r * n);
        extend_row(&mut out, src, (off as isize + a as isize * s) as usize, b - a, s);
    });
    CpuArray::from_vec(out, &[len])
}

/// Runs `chain(len, tile inputs)` over the output of `shape` and `dtype` a tile at a
/// time (tiles in parallel) and assembles the results. `chain` returns the tile's
/// `len` values of `dtype` (or one value, broadcast); the first error of any tile is
/// returned.
pub fn run_tiles(
    inputs: &[&CpuArray],
    shape: &[usize],
    dtype: DType,
    work: usize,
    chain: impl Fn(usize, &[CpuArray]) -> Result<CpuArray> + Sync + Send,
) -> Result<CpuArray> {
    let srcs: Vec<TileSrc> = inputs.iter().map(|x| TileSrc::of(x, shape)).collect();
    let n = psionic_core::numel(shape);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let out = crate::with_dtype!(dtype, T => {
        let mut out = Storage::uninit::<T>(n);
        for_out_chunks(out.as_mut_slice::<T>(), TILE, work, |start, o| {
            let tile: Vec<CpuArray> = srcs.iter().map(|s| s.tile(start, o.len())).collect();
            match chain(o.len(), &tile) {
                Ok(r) => put::<T>(&r, o),
                Err(e) => {
                    failed.lock().unwrap().get_or_insert(e);
                }
            }
        });
        out
    });
    match failed.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(CpuArray::new(out, shape)),
    }
}

/// Copies a tile's result (`o.len()` values, or one broadcast) into `o`.
fn put<T: Element>(r: &CpuArray, o: &mut [T]) {
    assert_eq!(r.dtype(), T::DTYPE, "a fused chain's result has the dtype it declared");
    if let Some(src) = r.contiguous_slice::<T>().filter(|s| s.len() == o.len()) {
        o.copy_from_slice(src);
        return;
    }
    let src = r.storage.as_slice::<T>();
    let r = broadcast(r, &[o.len()]);
    let [s] = [r.layout.strides[0]];
    for (i, v) in o.iter_mut().enumerate() {
        *v = src[(r.layout.offset as isize + i as isize * s) as usize];
    }
}
