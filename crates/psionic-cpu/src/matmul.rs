//! Batched matrix multiply. f32, f64 and f16 go to the `gemm` crate, which takes arbitrary
//! row and column strides, so transposed and sliced operands are multiplied in place with
//! no copy. bf16 is computed in f32 (gemm has no bf16 kernel) and integers use a plain
//! wrapping triple loop, as PyTorch's CPU integer matmul does.

use crate::array::CpuArray;
use crate::cast::cast;
use crate::element::Element;
use crate::storage::Storage;
use half::f16;
use psionic_core::strided::OffsetIter;
use psionic_core::{DType, Layout, Result};

/// Below this many multiply-adds one matrix stays on one thread.
const PAR_FLOPS: usize = 1 << 18;

struct Operand {
    batch_offs: Vec<usize>,
    rs: isize,
    cs: isize,
}

fn split(x: &CpuArray) -> Operand {
    let l = &x.layout;
    let nd = l.ndim();
    let batch = Layout { shape: l.shape[..nd - 2].to_vec(), strides: l.strides[..nd - 2].to_vec(), offset: l.offset };
    Operand { batch_offs: OffsetIter::new(&batch, 0).collect(), rs: l.strides[nd - 2], cs: l.strides[nd - 1] }
}

/// `a: [..., m, k] @ b: [..., k, n]` with identical batch shapes (broadcast dims have
/// stride 0) and one dtype. Returns a contiguous `[..., m, n]`.
pub fn matmul(a: &CpuArray, b: &CpuArray) -> Result<CpuArray> {
    let nd = a.layout.ndim();
    let (m, k, n) = (a.shape()[nd - 2], a.shape()[nd - 1], b.shape()[nd - 1]);
    let mut out_shape = a.shape()[..nd - 2].to_vec();
    out_shape.extend([m, n]);
    match a.dtype() {
        DType::F32 => Ok(gemm_batched::<f32>(a, b, m, k, n, &out_shape)),
        DType::F64 => Ok(gemm_batched::<f64>(a, b, m, k, n, &out_shape)),
        DType::F16 => Ok(gemm_batched::<f16>(a, b, m, k, n, &out_shape)),
        DType::BF16 => {
            Ok(cast(&gemm_batched::<f32>(&cast(a, DType::F32), &cast(b, DType::F32), m, k, n, &out_shape), DType::BF16))
        }
        d => Ok(crate::with_dtype!(d, T => int_batched::<T>(a, b, m, k, n, &out_shape))),
    }
}

trait GemmScalar: Element {
    fn zero() -> Self;
    fn one() -> Self;
}
impl GemmScalar for f32 {
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
}
impl GemmScalar for f64 {
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
}
impl GemmScalar for f16 {
    fn zero() -> Self {
        f16::ZERO
    }
    fn one() -> Self {
        f16::ONE
    }
}

fn gemm_batched<T: GemmScalar>(
    a: &CpuArray,
    b: &CpuArray,
    m: usize,
    k: usize,
    n: usize,
    out_shape: &[usize],
) -> CpuArray {
    let (oa, ob) = (split(a), split(b));
    let batches = oa.batch_offs.len();
    let mut out = Storage::uninit::<T>(batches * m * n);
    let (sa, sb) = (a.storage.as_slice::<T>(), b.storage.as_slice::<T>());
    let threads = rayon::current_num_threads();
    // A large product is split inside gemm, unless the batch divides among the threads
    // on its own: whole products per thread keep gemm's packing per thread and measured
    // faster for the small-m products of convolutions (gemm's own split of a 64-row
    // product gains nothing on 2 threads). Either way each product is computed as with
    // one thread, so results do not depend on the thread count.
    let by_batch = batches >= threads && (batches % threads == 0 || batches >= 4 * threads);
    let big = m * n * k >= PAR_FLOPS && threads > 1 && !by_batch;
    let dst = out.as_mut_slice::<T>();
    if k == 0 {
        dst.fill(T::zero());
        return CpuArray::new(out, out_shape);
    }
    let run = |bi: usize, d: &mut [T], par: gemm::Parallelism| {
        // SAFETY: every index gemm touches lies inside the operands' layouts, which the
        // graph validated against their storages; `d` is exactly m*n elements.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                d.as_mut_ptr(),
                1,
                n as isize,
                false,
                sa.as_ptr().add(oa.batch_offs[bi]),
                oa.cs,
                oa.rs,
                sb.as_ptr().add(ob.batch_offs[bi]),
                ob.cs,
                ob.rs,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                par,
            )
        }
    };
    if m * n == 0 {
        return CpuArray::new(out, out_shape);
    }
    if big {
        for (bi, d) in dst.chunks_mut(m * n).enumerate() {
            run(bi, d, gemm::Parallelism::Rayon(threads));
        }
    } else {
        crate::parallel::for_out_chunks(dst, m * n, m * k, |start, d| run(start / (m * n), d, gemm::Parallelism::None));
    }
    CpuArray::new(out, out_shape)
}

fn int_batched<T: Element>(a: &CpuArray, b: &CpuArray, m: usize, k: usize, n: usize, out_shape: &[usize]) -> CpuArray {
    let (oa, ob) = (split(a), split(b));
    let (sa, sb) = (a.storage.as_slice::<T>(), b.storage.as_slice::<T>());
    let mut out = Storage::uninit::<T>(oa.batch_offs.len() * m * n);
    let is_bool = T::DTYPE == DType::Bool;
    for (bi, d) in out.as_mut_slice::<T>().chunks_mut((m * n).max(1)).enumerate() {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0i64;
                for p in 0..k {
                    let x = sa[(oa.batch_offs[bi] as isize + i as isize * oa.rs + p as isize * oa.cs) as usize];
                    let y = sb[(ob.batch_offs[bi] as isize + p as isize * ob.rs + j as isize * ob.cs) as usize];
                    acc = acc.wrapping_add(x.to_i64().wrapping_mul(y.to_i64()));
                }
                d[i * n + j] = if is_bool { T::from_bool(acc != 0) } else { T::from_i64(acc) };
            }
        }
    }
    CpuArray::new(out, out_shape)
}
