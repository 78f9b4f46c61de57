//! Layer normalisation: one fused primitive for f32 and f64 (`Prim::LayerNorm`), the
//! composite of reductions and broadcast ops for the other dtypes. Both give the same
//! values: the kernel takes the composite's rounding steps.

use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

impl Tensor {
    /// `(x - mean) / sqrt(var + eps) * weight + bias` over the last `axes` dims (biased
    /// variance), as `torch.nn.functional.layer_norm` with `normalized_shape` those dims.
    /// `weight` and `bias`, when given, have exactly that shape.
    #[track_caller]
    pub fn layer_norm(&self, axes: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Tensor {
        let r = self.dim();
        if axes == 0 || axes > r {
            raise(Error::shape("layer_norm", format!("cannot normalise the last {axes} dims of a {r}-d input")));
        }
        let trailing = self.shape()[r - axes..].to_vec();
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t.filter(|t| t.shape() != trailing) {
                raise(Error::shape(
                    "layer_norm",
                    format!(
                        "Expected {name} to be of same shape as normalized_shape, but got {name} of shape {:?} and normalized_shape = {trailing:?}",
                        t.shape()
                    ),
                ));
            }
        }
        let dt = self.dtype();
        let fused = matches!(dt, DType::F32 | DType::F64) && [weight, bias].iter().flatten().all(|t| t.dtype() == dt);
        if !fused {
            let dims: Vec<i64> = (r - axes..r).map(|d| d as i64).collect();
            let (var, mean) = self.var_mean(&dims[..], 0.0, true);
            let y = self.sub(&mean).mul(var.add(eps).rsqrt());
            let y = match weight {
                Some(w) => y.mul(w),
                None => y,
            };
            return match bias {
                Some(b) => y.add(b),
                None => y,
            };
        }
        // Absent affine operands are the exact identities: `v * 1` and `v + -0` are `v`,
        // signed zeros included. Broadcast views: nothing of the input's size is made.
        let (one, neg_zero);
        let w = match weight {
            Some(w) => w,
            None => {
                one = Tensor::full(&[], 1.0, dt).broadcast_to(&trailing);
                &one
            }
        };
        let b = match bias {
            Some(b) => b,
            None => {
                neg_zero = Tensor::full(&[], -0.0, dt).broadcast_to(&trailing);
                &neg_zero
            }
        };
        check(Tensor::make(Prim::LayerNorm(crate::prim::LayerNorm { axes, eps }), &[self, w, b]))
    }

    /// `x` standardised over its last `axes` dims (no scale or shift), through the fused
    /// primitive: what layer_norm's backward multiplies by.
    pub(crate) fn standardized(&self, axes: usize, eps: f64) -> Tensor {
        self.layer_norm(axes, None, None, eps)
    }
}
