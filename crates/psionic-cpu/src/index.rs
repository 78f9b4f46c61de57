//! Selection kernels: `where`, and copying a source into positions of a destination.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::{broadcast, map3};
use crate::storage::Storage;
use psionic_core::Layout;

/// `where(cond, a, b)`; all three are broadcast to `shape`, `a` and `b` share a dtype.
pub fn where_(cond: &CpuArray, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> CpuArray {
    let (c, a, b) = (broadcast(cond, shape), broadcast(a, shape), broadcast(b, shape));
    crate::with_dtype!(a.dtype(), T => map3::<bool, T, T, T>(&c, &a, &b, shape, select::<T>))
}

/// `o = if c { x } else { y }` elementwise, as a bitwise blend of same-width integers:
/// LLVM compiles the plain select over a `bool` slice to a branch per element, which
/// mispredicts on data-dependent masks (relu's gradient), while the blend vectorises.
fn select<T: Element>(c: &[bool], x: &[T], y: &[T], o: &mut [T]) {
    macro_rules! blend {
        ($u:ty) => {{
            // SAFETY: every element type has the size and alignment of `$u` (checked
            // below), and each result is the bit pattern of one of the two inputs.
            let bits = |s: &[T]| unsafe { std::slice::from_raw_parts(s.as_ptr() as *const $u, s.len()) };
            let (x, y) = (bits(x), bits(y));
            let o = unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut $u, o.len()) };
            crate::simd::dispatch(
                #[inline(always)]
                || {
                    crate::stream::lines(
                        o,
                        #[inline(always)]
                        |s, o| {
                            let n = o.len();
                            for (((o, &c), &x), &y) in
                                o.iter_mut().zip(&c[s..s + n]).zip(&x[s..s + n]).zip(&y[s..s + n])
                            {
                                let m = (c as $u).wrapping_neg();
                                *o = (x & m) | (y & !m);
                            }
                        },
                    )
                },
            )
        }};
    }
    assert_eq!(std::mem::align_of::<T>(), std::mem::size_of::<T>(), "element types are naturally aligned");
    match std::mem::size_of::<T>() {
        1 => blend!(u8),
        2 => blend!(u16),
        4 => blend!(u32),
        8 => blend!(u64),
        _ => {
            for (((o, &c), &x), &y) in o.iter_mut().zip(c).zip(x).zip(y) {
                *o = if c { x } else { y };
            }
        }
    }
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
        crate::elementwise::copy_strided(dst, region, src.storage.as_slice::<T>(), &src.layout);
    }
    CpuArray::new(out, shape)
}
