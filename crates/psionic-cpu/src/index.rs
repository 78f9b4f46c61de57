//! Selection kernels: `where`, and copying a source into positions of a destination.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::{broadcast, map3};
use crate::storage::Storage;
use psionic_core::Layout;

/// `where(cond, a, b)`; all three are broadcast to `shape`, `a` and `b` share a dtype.
pub fn where_(cond: &CpuArray, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> CpuArray {
    let (c, a, b) = (broadcast(cond, shape), broadcast(a, shape), broadcast(b, shape));
    crate::with_dtype!(a.dtype(), T => map3::<bool, T, T, T>(&c, &a, &b, shape, |c, x, y, o| {
        for i in 0..o.len() {
            o[i] = if c[i] { x[i] } else { y[i] };
        }
    }))
}

/// Builds a contiguous array of `shape` from pieces: each `(layout_of_region, source)`
/// writes `source` (same dtype, shape equal to the region's) into that region of the
/// output. Regions are expressed as views of the contiguous output layout (`cat`, `stack`).
pub fn assemble(shape: &[usize], dtype: psionic_core::DType, pieces: &[(Layout, &CpuArray)]) -> CpuArray {
    crate::with_dtype!(dtype, T => assemble_typed::<T>(shape, pieces))
}

fn assemble_typed<T: Element>(shape: &[usize], pieces: &[(Layout, &CpuArray)]) -> CpuArray {
    let mut out = Storage::uninit::<T>(psionic_core::numel(shape));
    let dst = out.as_mut_slice::<T>();
    for (region, src) in pieces {
        let s = src.storage.as_slice::<T>();
        let mut it = psionic_core::strided::OffsetIter::new(&src.layout, 0);
        psionic_core::strided::for_each_offset(region, |o| {
            dst[o] = s[it.next().expect("region and source sizes match")]
        });
    }
    CpuArray::new(out, shape)
}
