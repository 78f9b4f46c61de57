//! vjp rule of the matmul primitive (`[..., m, k] @ [..., k, n]`, equal batch dims).

use crate::tensor::Tensor;

/// `ga = g @ b^T`, `gb = a^T @ g`. An operand stored transposed (a linear layer's
/// `w.t()`) gets its gradient computed transposed too, as PyTorch's `mm_mat2_backward`
/// does: `(g^T @ a)^T` instead of `a^T @ g`. Both are one GEMM, but the first one's
/// transpose view is what the view rule hands back to the stored weight, so the
/// weight's gradient arrives dense instead of being copied through a strided gather.
pub(super) fn matmul_vjp(a: &Tensor, b: &Tensor, g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
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
