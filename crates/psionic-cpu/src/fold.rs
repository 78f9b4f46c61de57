//! col2im: sums sliding-window values back onto the positions they were read from (the
//! adjoint of the windows view). Each leading (batch, channel) slice of the output is
//! independent, so slices run in parallel; within a slice the windows are added in
//! row-major order, so results do not depend on the thread count.

use crate::array::CpuArray;
use crate::element::Element;
use crate::parallel::for_out_chunks;
use crate::storage::Storage;
use psionic_core::strided::{OffsetIter, Rows};
use psionic_core::Layout;

/// `x` is `[P..., O..., K...]`; the result is `out_shape = [P..., S...]` with
/// `k = spatial_rank` spatial dims.
pub fn fold(
    x: &CpuArray,
    out_shape: &[usize],
    k: usize,
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
) -> CpuArray {
    match x.dtype() {
        // Half types accumulate in f32, as every sum of them does.
        psionic_core::DType::F16 | psionic_core::DType::BF16 => {
            let wide = crate::cast::cast(x, psionic_core::DType::F32);
            crate::cast::cast(&fold(&wide, out_shape, k, kernel, stride, dilation), x.dtype())
        }
        psionic_core::DType::F32 => fold_typed::<f32>(x, out_shape, k, kernel, stride, dilation, |a, b| a + b),
        psionic_core::DType::F64 => fold_typed::<f64>(x, out_shape, k, kernel, stride, dilation, |a, b| a + b),
        // Integers and bools wrap, as PyTorch's integer sums do.
        dt => crate::with_dtype!(dt, T => fold_typed::<T>(x, out_shape, k, kernel, stride, dilation, |a: T, b: T| {
            T::from_i64(a.to_i64().wrapping_add(b.to_i64()))
        })),
    }
}

fn fold_typed<T: Element>(
    x: &CpuArray,
    out_shape: &[usize],
    k: usize,
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
    add: impl Fn(T, T) -> T + Sync + Send,
) -> CpuArray {
    let lead = out_shape.len() - k;
    let spatial = &out_shape[lead..];
    let plane: usize = spatial.iter().product();
    let win = Layout::contiguous(spatial).windows("fold", kernel, stride, dilation).expect("checked when built");
    let xl = &x.layout;
    let prefix = Layout { shape: xl.shape[..lead].into(), strides: xl.strides[..lead].into(), offset: xl.offset };
    let bases: Vec<usize> = OffsetIter::new(&prefix, 0).collect();
    let src = x.storage.as_slice::<T>();
    let mut out = Storage::filled::<T>(psionic_core::numel(out_shape), T::default());
    // Walk the window values in their own storage order (largest stride first), with the
    // target positions permuted alike: long unit-stride runs whatever view they come in.
    let mut order: Vec<usize> = (lead..xl.ndim()).collect();
    order.sort_by_key(|&d| std::cmp::Reverse(xl.strides[d].unsigned_abs()));
    let inner = Layout {
        shape: order.iter().map(|&d| xl.shape[d]).collect(),
        strides: order.iter().map(|&d| xl.strides[d]).collect(),
        offset: 0,
    };
    let win = Layout {
        shape: inner.shape.clone(),
        strides: order.iter().map(|&d| win.strides[d - lead]).collect(),
        offset: win.offset,
    };
    let work = psionic_core::numel(&inner.shape) / plane.max(1) + 1;
    for_out_chunks(out.as_mut_slice::<T>(), plane.max(1), work, |start, o| {
        let base = bases[start / plane.max(1)];
        let xi = Layout { offset: base, ..inner.clone() };
        let rows = Rows::<2>::from_layouts(&inner.shape, [&xi, &win]);
        let (len, [sx, sw]) = (rows.row_len(), rows.inner_strides());
        rows.for_rows(0..rows.n_rows(), |_, [ox, ow]| {
            if sx == 1 && sw == 1 {
                // Unit-stride runs on both sides (im2col rows of a stride-1 conv): a
                // slice loop LLVM vectorises.
                for (t, &v) in o[ow..ow + len].iter_mut().zip(&src[ox..ox + len]) {
                    *t = add(*t, v);
                }
                return;
            }
            for i in 0..len {
                let t = (ow as isize + i as isize * sw) as usize;
                o[t] = add(o[t], src[(ox as isize + i as isize * sx) as usize]);
            }
        });
    });
    CpuArray::new(out, out_shape)
}
