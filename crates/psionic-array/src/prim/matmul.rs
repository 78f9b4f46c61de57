//! The matmul primitive: `[..., m, k] @ [..., k, n]` with equal batch shapes.

use super::{broadcast, BatchCtx, Jvp, JvpCtx, Meta, Prim, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::Result;
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// `[..., m, k] @ [..., k, n]` with equal batch shapes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul;

impl Primitive for Matmul {
    fn backward_name(&self) -> Cow<'static, str> {
        "Matmul".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let d = super::same_dtype("matmul", inputs)?;
        let (a, b) = (&inputs[0].shape, &inputs[1].shape);
        let n = a.len();
        let mut shape = a[..n - 2].to_vec();
        shape.extend([a[n - 2], b[n - 1]]);
        Ok(Meta::new(shape, d))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::matmul::matmul(inputs[0], inputs[1])
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(matmul_vjp(&c.x[0], &c.x[1], c.g, c.needs))
    }
    /// Bilinear: the product of each tangent with the other operand.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Tangent(&c.tz(0).matmul(&c.x[1]) + &c.x[0].matmul(&c.tz(1))))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        batch_matmul(c.x, c.b, c.size)
    }
    fn saves(&self) -> Saves {
        Saves::of(0b11, false)
    }
}

/// `ga = g @ b^T`, `gb = a^T @ g`. An operand stored transposed (a linear layer's
/// `w.t()`) gets its gradient computed transposed too, as PyTorch's `mm_mat2_backward`
/// does: `(g^T @ a)^T` instead of `a^T @ g`. Both are one GEMM, but the first one's
/// transpose view is what the view rule hands back to the stored weight, so the
/// weight's gradient arrives dense instead of being copied through a strided gather.
fn matmul_vjp(a: &Tensor, b: &Tensor, g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let ga = needs[0].then(|| if stored_transposed(a) { b.matmul(&g.mT()).mT() } else { g.matmul(&b.mT()) });
    let gb = needs[1].then(|| if stored_transposed(b) { g.mT().matmul(a).mT() } else { a.mT().matmul(g) });
    vec![ga, gb]
}

/// The last two dims are column-major (the transpose of a dense matrix) and the matrix
/// is not also row-major (a vector or a single element, where both orders agree).
fn stored_transposed(x: &Tensor) -> bool {
    let (s, d) = (x.shape(), x.strides());
    let r = s.len();
    r >= 2 && s[r - 2] > 1 && s[r - 1] > 1 && d[r - 2] == 1 && d[r - 1] == s[r - 2] as isize
}

/// `a @ b` per example. When only `a` is batched and the examples are plain matrices, the
/// batch folds into the rows: one `[size*m, k] @ [k, n]` product instead of `size` small ones.
fn batch_matmul(x: &[Tensor], b: &[Option<Tensor>], size: usize) -> Result<Tensor> {
    let rank = x[0].dim();
    let expand = |i: usize| broadcast(&x[i], size);
    match (&b[0], &b[1]) {
        (Some(pa), None) if rank == 2 => {
            let (m, k) = (x[0].size(0) as i64, x[0].size(1) as i64);
            let rows = pa.reshape(&[size as i64 * m, k]);
            let out = Tensor::make(Prim::Matmul(Matmul), &[&rows, &x[1]])?;
            Ok(out.reshape(&[size as i64, m, x[1].size(1) as i64]))
        }
        (Some(pa), Some(pb)) => Tensor::make(Prim::Matmul(Matmul), &[pa, pb]),
        (Some(pa), None) => Tensor::make(Prim::Matmul(Matmul), &[pa, &expand(1)]),
        (None, Some(pb)) => Tensor::make(Prim::Matmul(Matmul), &[&expand(0), pb]),
        (None, None) => unreachable!("a rule runs only when some input is batched"),
    }
}
