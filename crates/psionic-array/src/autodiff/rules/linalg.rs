//! vjp rule of the matmul primitive (`[..., m, k] @ [..., k, n]`, equal batch dims).

use crate::tensor::Tensor;

pub(super) fn matmul_vjp(a: &Tensor, b: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
    vec![Some(g.matmul(&b.mT())), Some(a.mT().matmul(g))]
}
