//! vjp rule of the fused scaled dot-product attention.

use crate::mode::check;
use crate::ops::args::dims_i64;
use crate::prim::Prim;
use crate::tensor::Tensor;

/// Input gradients of `o = p v`, `p = softmax(scale · q kᵀ)` (masked when `causal`):
/// `dv = pᵀ g`, `ds = scale · p (g vᵀ - Σ p g vᵀ)`, `dq = ds k`, `dk = dsᵀ q`. In a plain
/// backward (see [`super::untraced`]) all three come from the fused
/// `AttentionGrad`, which recomputes `p` a block of queries at a time; where they will be
/// differentiated again, from the composite ops, `p` as a tensor.
pub(super) fn vjp(scale: f64, causal: bool, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (q, k, v) = (&x[0], &x[1], &x[2]);
    if super::untraced() {
        let packed = check(Tensor::make(Prim::AttentionGrad { scale, causal }, &[q, k, v, g]));
        let mut at = 0;
        return [q, k, v]
            .iter()
            .zip(needs)
            .map(|(t, &need)| {
                let len = t.size(-2) * t.size(-1);
                let part = need.then(|| packed.narrow(-1, at as i64, len).reshape(&dims_i64(&t.shape())));
                at += len;
                part
            })
            .collect();
    }
    let p = q.attention_weights(k, scale, causal);
    let dv = needs[2].then(|| p.transpose(-2, -1).matmul(g));
    if !needs[0] && !needs[1] {
        return vec![None, None, dv];
    }
    let r = p.dim() - 1;
    let ds = super::reduce::softmax_vjp(r, false, &p, &g.matmul(&v.transpose(-2, -1))).mul(scale);
    let dq = needs[0].then(|| ds.matmul(k));
    let dk = needs[1].then(|| ds.transpose(-2, -1).matmul(q));
    vec![dq, dk, dv]
}
