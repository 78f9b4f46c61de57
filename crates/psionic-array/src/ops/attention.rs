//! Scaled dot-product attention as one fused primitive (`Prim::Attention`) for f32 and
//! f64, and the composite of a product, a mask and softmax it stands for, which other
//! dtypes, empty matrices and the differentiable gradients use.

use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

impl Tensor {
    /// `softmax(scale · q kᵀ) v` of `q = self [..., L, E]`, `k [..., S, E]` and
    /// `v [..., S, Ev]` (one leading shape), query `i` seeing keys `0..=i` when `causal`
    /// (upper-left aligned, as PyTorch's `is_causal`). The weights are never a tensor:
    /// f32 and f64 run per block of queries in one kernel, and a causal block multiplies
    /// only the keys it sees.
    #[track_caller]
    pub fn attention(&self, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> Tensor {
        let (qs, ks, vs) = (self.shape(), k.shape(), v.shape());
        let r = qs.len();
        if !crate::prim::attention_shapes_fit(&qs, &ks, &vs) {
            raise(Error::shape(
                "scaled_dot_product_attention",
                format!("expected query [..., L, E], key [..., S, E] and value [..., S, Ev] of one leading shape; got {qs:?}, {ks:?}, {vs:?}"),
            ));
        }
        let dt = self.dtype();
        let fused = matches!(dt, DType::F32 | DType::F64)
            && k.dtype() == dt
            && v.dtype() == dt
            && ![qs[r - 2], qs[r - 1], ks[r - 2], vs[r - 1]].contains(&0);
        if fused {
            check(Tensor::make(Prim::Attention(crate::prim::Attention { scale, causal }), &[self, k, v]))
        } else {
            self.attention_weights(k, scale, causal).matmul(v)
        }
    }

    /// The weights `softmax(scale · q kᵀ)` (masked above the diagonal when `causal`) as
    /// differentiable ops: what [`Tensor::attention`] fuses.
    pub(crate) fn attention_weights(&self, k: &Tensor, scale: f64, causal: bool) -> Tensor {
        let scores = self.matmul(&k.transpose(-2, -1)).mul(scale);
        let scores = if causal {
            let above = Tensor::ones(&[self.size(-2), k.size(-2)], DType::Bool).triu(1);
            scores.masked_fill(&above, f64::NEG_INFINITY)
        } else {
            scores
        };
        scores.softmax(-1)
    }
}
