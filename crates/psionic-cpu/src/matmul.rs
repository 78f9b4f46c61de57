//! Batched matrix multiply. Large products of row-major f32 operands run on the AVX-512
//! kernel of `gemm_f32.rs` where the CPU has it; other f32 products, f64 and f16 go to the
//! `gemm` crate, which takes arbitrary row and column strides, so transposed and sliced
//! operands are multiplied in place with no copy. bf16 runs on the CPU's bf16 dot-product
//! instruction where it has one (`gemm_bf16.rs`) and is computed in f32 elsewhere (gemm
//! has no bf16 kernel); integers use a plain wrapping triple loop, as PyTorch's CPU
//! integer matmul does.

use crate::array::CpuArray;
use crate::cast::cast;
use crate::element::{as_f32, as_f32_mut, Element};
use crate::storage::Storage;
use half::{bf16, f16};
use psionic_core::strided::OffsetIter;
use psionic_core::{DType, Layout, Result};

/// Below this many multiply-adds one matrix stays on one thread.
const PAR_FLOPS: usize = 1 << 18;

/// A batch of matrices: where each starts, and the strides of its rows and columns.
pub(crate) struct Operand {
    pub batch_offs: Vec<usize>,
    pub rs: isize,
    pub cs: isize,
}

pub(crate) fn split(x: &CpuArray) -> Operand {
    let l = &x.layout;
    let nd = l.ndim();
    let batch = Layout { shape: l.shape[..nd - 2].into(), strides: l.strides[..nd - 2].into(), offset: l.offset };
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
        DType::F32 if crate::gemm_f32::takes([m, k, n], a.layout.strides[nd - 1], b.layout.strides[nd - 1]) => {
            Ok(f32_batched(a, b, m, k, n, &out_shape))
        }
        DType::F32 => Ok(gemm_batched::<f32>(a, b, m, k, n, &out_shape)),
        DType::F64 => Ok(gemm_batched::<f64>(a, b, m, k, n, &out_shape)),
        DType::F16 => Ok(gemm_batched::<f16>(a, b, m, k, n, &out_shape)),
        DType::BF16 if crate::gemm_bf16::available() => Ok(bf16_batched(a, b, m, k, n, &out_shape)),
        DType::BF16 => {
            Ok(cast(&gemm_batched::<f32>(&cast(a, DType::F32), &cast(b, DType::F32), m, k, n, &out_shape), DType::BF16))
        }
        d => Ok(crate::with_dtype!(d, T => int_batched::<T>(a, b, m, k, n, &out_shape))),
    }
}

pub(crate) trait GemmScalar: Element {
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
    let dst = out.as_mut_slice::<T>();
    if k == 0 {
        dst.fill(T::zero());
        return CpuArray::new(out, out_shape);
    }
    // gemm works column-major: for a row-major destination it computes `out^T = b^T a^T`
    // and packs `b^T`, which is a strided gather when `b`'s rows are not unit-stride (the
    // weight gradient `dY @ cols^T` of a convolution, `x @ W^T` of a linear layer).
    // Computing `out` column-major instead packs `a`; when that gathers less, the product
    // goes to a column-major scratch and is transposed into place.
    let col_major = prefer_col_major(&oa, &ob, m, k, n);
    let run = |bi: usize, d: &mut [T], par: gemm::Parallelism| {
        let gemm_into = |dst: *mut T, cs: isize, rs: isize| {
            // SAFETY: every index gemm touches lies inside the operands' layouts, which
            // the graph validated against their storages; `dst` has room for m*n
            // elements at strides (rs, cs).
            unsafe {
                gemm_raw(
                    [m, n, k],
                    (dst, rs, cs, false),
                    (sa.as_ptr().add(oa.batch_offs[bi]), oa.rs, oa.cs),
                    (sb.as_ptr().add(ob.batch_offs[bi]), ob.rs, ob.cs),
                    par,
                )
            }
        };
        if col_major {
            let mut scratch = Storage::uninit::<T>(m * n);
            let t = scratch.as_mut_slice::<T>();
            gemm_into(t.as_mut_ptr(), m as isize, 1);
            transpose_into(t, m, n, d);
        } else {
            gemm_into(d.as_mut_ptr(), 1, n as isize);
        }
    };
    for_products(dst, [m, k, n], |bi, d, threads| {
        run(bi, d, if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None })
    });
    CpuArray::new(out, out_shape)
}

/// Runs `run(product, its rows of dst, threads)` over a batch of `m x k @ k x n`
/// products laid side by side in `dst`. A large product is split inside its kernel over
/// all threads, unless the batch divides among the threads on its own: whole products per
/// thread keep the kernel's packing per thread and measured faster for the small-m
/// products of convolutions (gemm's own split of a 64-row product gains nothing on 2
/// threads). Either way each product is computed as with one thread, so results do not
/// depend on the thread count.
fn for_products<T: Send>(dst: &mut [T], [m, k, n]: [usize; 3], run: impl Fn(usize, &mut [T], usize) + Sync + Send) {
    if m * n == 0 {
        return;
    }
    let (batches, threads) = (dst.len() / (m * n), rayon::current_num_threads());
    let by_batch = batches >= threads && (batches % threads == 0 || batches >= 4 * threads);
    if m * n * k >= PAR_FLOPS && threads > 1 && !by_batch {
        for (bi, d) in dst.chunks_mut(m * n).enumerate() {
            run(bi, d, threads);
        }
    } else {
        crate::parallel::for_out_chunks(dst, m * n, m * k, |start, d| run(start / (m * n), d, 1));
    }
}

/// `dst (+)= a @ b` for sizes `[m, n, k]`; each operand is a pointer with its row and
/// column strides, and `dst` also says whether to add to what it holds. gemm splits work
/// over `par` along m and n only, never k, so every element is summed in the same order
/// on any number of threads.
///
/// # Safety
/// Every element the sizes and strides reach must lie inside its allocation, and `dst`'s
/// must not overlap the others.
unsafe fn gemm_raw<T: GemmScalar>(
    [m, n, k]: [usize; 3],
    (dst, d_rs, d_cs, accumulate): (*mut T, isize, isize, bool),
    (a, a_rs, a_cs): (*const T, isize, isize),
    (b, b_rs, b_cs): (*const T, isize, isize),
    par: gemm::Parallelism,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            d_cs,
            d_rs,
            accumulate,
            a,
            a_cs,
            a_rs,
            b,
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        )
    }
}

/// A row-major or strided matrix in a slice: `(data, row stride, column stride)`.
pub(crate) type Mat<'a, T> = (&'a [T], usize, usize);

/// `dst (+)= a @ b` on slices, for sizes `[m, n, k]`, `dst` given with its strides and
/// whether to accumulate, split by gemm over `threads` (the result does not depend on
/// it). Panics if a stride reaches past a slice.
pub(crate) fn gemm_into<T: GemmScalar>(
    [m, n, k]: [usize; 3],
    (dst, d_rs, d_cs, accumulate): (&mut [T], usize, usize, bool),
    a: Mat<T>,
    b: Mat<T>,
    threads: usize,
) {
    let fits = |len: usize, rows: usize, cols: usize, rs: usize, cs: usize| {
        rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
    };
    assert!(fits(dst.len(), m, n, d_rs, d_cs) && fits(a.0.len(), m, k, a.1, a.2) && fits(b.0.len(), k, n, b.1, b.2));
    if m * n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * d_rs + j * d_cs] = T::zero();
                }
            }
        }
        return;
    }
    if let (Some(ad), Some(bd)) = (as_f32(a.0), as_f32(b.0)) {
        if d_cs == 1 && crate::gemm_f32::takes_col_major_b(k, a.2, b.1) {
            use crate::gemm_f32::View;
            let dst = as_f32_mut(dst).expect("f32 like its operands");
            let av = View { data: ad, off: 0, rs: a.1 as isize, cs: a.2 as isize };
            let bv = View { data: bd, off: 0, rs: b.1 as isize, cs: b.2 as isize };
            crate::gemm_f32::matmul(av, bv, [m, k, n], (dst, d_rs, accumulate), threads);
            return;
        }
    }
    let par =
        if threads > 1 && m * n * k >= PAR_FLOPS { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let i = |s: usize| s as isize;
    // SAFETY: the asserts above keep every reached element inside its slice; `dst` is
    // borrowed mutably, so it overlaps nothing else.
    unsafe {
        gemm_raw(
            [m, n, k],
            (dst.as_mut_ptr(), i(d_rs), i(d_cs), accumulate),
            (a.0.as_ptr(), i(a.1), i(a.2)),
            (b.0.as_ptr(), i(b.1), i(b.2)),
            par,
        )
    }
}

/// f32 products on the AVX-512 kernel (those `gemm_f32::takes` accepts), split over the
/// threads as in `gemm_batched`.
fn f32_batched(a: &CpuArray, b: &CpuArray, m: usize, k: usize, n: usize, out_shape: &[usize]) -> CpuArray {
    use crate::gemm_f32::View;
    let (oa, ob) = (split(a), split(b));
    let mut out = Storage::uninit::<f32>(oa.batch_offs.len() * m * n);
    let (sa, sb) = (a.storage.as_slice::<f32>(), b.storage.as_slice::<f32>());
    // `takes` admits no empty sum (k > 0).
    for_products(out.as_mut_slice::<f32>(), [m, k, n], |bi, d, threads| {
        let av = View { data: sa, off: oa.batch_offs[bi], rs: oa.rs, cs: oa.cs };
        let bv = View { data: sb, off: ob.batch_offs[bi], rs: ob.rs, cs: ob.cs };
        crate::gemm_f32::matmul(av, bv, [m, k, n], (d, n, false), threads);
    });
    CpuArray::new(out, out_shape)
}

/// bf16 products on the native bf16 kernel, one after another (each split over the
/// threads by rows).
fn bf16_batched(a: &CpuArray, b: &CpuArray, m: usize, k: usize, n: usize, out_shape: &[usize]) -> CpuArray {
    use crate::gemm_bf16::View;
    let (oa, ob) = (split(a), split(b));
    let mut out = Storage::uninit::<bf16>(oa.batch_offs.len() * m * n);
    let (sa, sb) = (a.storage.as_slice::<bf16>(), b.storage.as_slice::<bf16>());
    let threads = rayon::current_num_threads();
    for (bi, d) in out.as_mut_slice::<bf16>().chunks_mut((m * n).max(1)).enumerate() {
        let av = View { data: sa, off: oa.batch_offs[bi], rs: oa.rs, cs: oa.cs };
        let bv = View { data: sb, off: ob.batch_offs[bi], rs: ob.rs, cs: ob.cs };
        if k == 0 {
            d.fill(bf16::ZERO);
        } else {
            crate::gemm_bf16::matmul(av, bv, [m, k, n], d, threads);
        }
    }
    CpuArray::new(out, out_shape)
}

/// Whether to compute the product column-major (see `gemm_batched`): gemm packs the
/// operand that runs along the destination's unit-stride dim, `b^T` (n x k) for a
/// row-major result and `a` (m x k) for a column-major one. A strided pack costs about
/// four contiguous ones (measured on the conv and linear shapes), and the column-major
/// route adds a transpose of the m x n result.
fn prefer_col_major(a: &Operand, b: &Operand, m: usize, k: usize, n: usize) -> bool {
    let pack = |strided: bool, rows: usize| rows * k * if strided { 4 } else { 1 };
    let row_major = pack(b.cs != 1, n);
    let col_major = pack(a.rs != 1, m) + 2 * m * n;
    col_major < row_major
}

/// `dst` (rows x cols, row-major) = the transpose of `src` (cols x rows, row-major), in
/// tiles so both sides stay in cache.
fn transpose_into<T: Copy>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    const TILE: usize = 32;
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    dst[i * cols + j] = src[j * rows + i];
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `a @ b` by the definition, in f64.
    fn reference(a: &CpuArray, b: &CpuArray) -> Vec<f64> {
        let (av, bv) = (a.to_vec::<f32>(), b.to_vec::<f32>());
        let nd = a.layout.ndim();
        let (m, k, n) = (a.shape()[nd - 2], a.shape()[nd - 1], b.shape()[nd - 1]);
        let batches = av.len() / (m * k).max(1);
        let mut out = vec![0.0; batches * m * n];
        for bi in 0..batches {
            for i in 0..m {
                for j in 0..n {
                    out[(bi * m + i) * n + j] =
                        (0..k).map(|p| av[(bi * m + i) * k + p] as f64 * bv[(bi * k + p) * n + j] as f64).sum();
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.0) - 1.0).collect()
    }

    /// `[batch, rows, cols]` stored transposed (`[batch, cols, rows]` contiguous) and
    /// viewed back, so its rows are not unit-stride.
    fn transposed(batch: usize, rows: usize, cols: usize, seed: usize) -> CpuArray {
        let x = CpuArray::from_vec(values(batch * rows * cols, seed), &[batch, cols, rows]);
        let l = x.layout.transpose("test", 1, 2).unwrap();
        x.with_layout(l)
    }

    #[test]
    fn every_orientation_gives_the_product() {
        // (m, k, n): the weight-gradient shape of a convolution (b transposed, small m:
        // computed column-major), a linear layer's (large m: row-major), and odd sizes.
        // The last, row-major, is large enough for the AVX-512 kernel where there is one.
        for &(batch, m, k, n) in &[(3, 8, 300, 70), (1, 130, 40, 33), (2, 5, 17, 64), (1, 1, 9, 4), (2, 260, 600, 270)]
        {
            let a = CpuArray::from_vec(values(batch * m * k, 1), &[batch, m, k]);
            for (b, a_t) in [
                (CpuArray::from_vec(values(batch * k * n, 2), &[batch, k, n]), false),
                (transposed(batch, k, n, 2), false),
                (transposed(batch, k, n, 3), true),
            ] {
                let a = if a_t { transposed(batch, m, k, 4) } else { a.clone() };
                let got = matmul(&a, &b).unwrap().to_vec::<f32>();
                for (i, (g, w)) in got.iter().zip(reference(&a, &b)).enumerate() {
                    assert!((*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "({batch},{m},{k},{n}) {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn the_orientation_follows_the_packing_cost() {
        // A convolution's weight gradient `dY @ cols^T`: packing `cols^T` would gather
        // 1024 x 576 strided values, `dY` only 64 x 1024.
        let (dy, cols_t) = (CpuArray::from_vec(values(64 * 1024, 1), &[1, 64, 1024]), transposed(1, 1024, 576, 2));
        assert!(prefer_col_major(&split(&dy), &split(&cols_t), 64, 1024, 576));
        // A linear layer over 2048 rows, `x @ W^T`: `W` is the small operand.
        let (x, w_t) = (CpuArray::from_vec(values(2048 * 128, 1), &[1, 2048, 128]), transposed(1, 128, 384, 2));
        assert!(!prefer_col_major(&split(&x), &split(&w_t), 2048, 128, 384));
    }
}
