//! vjp rules of the unary elementwise primitives: `x` input, `y` output, `g` output grad.

use super::mask;
use crate::tensor::Tensor;
use psionic_core::ops::UnaryOp;
use std::f64::consts::{LN_10, LN_2, PI};

pub(super) fn vjp(op: UnaryOp, x: &Tensor, y: &Tensor, g: &Tensor) -> Tensor {
    use UnaryOp::*;
    match op {
        Neg => g.neg(),
        Abs => g * &x.sign(),
        // Piecewise constant: zero almost everywhere (PyTorch returns zeros too).
        Sign | Floor | Ceil | Round | Trunc => g.zeros_like(),
        Frac => g.clone(),
        Square => g * &x.mul(2.0),
        Sqrt => g / &y.mul(2.0),
        Rsqrt => g * &y.pow(3.0).mul(-0.5),
        Reciprocal => -(g * &y.square()),
        Exp => g * y,
        Exp2 => g * &y.mul(LN_2),
        Expm1 => g * &y.add(1.0),
        Log => g / x,
        Log2 => g / &x.mul(LN_2),
        Log10 => g / &x.mul(LN_10),
        Log1p => g / &x.add(1.0),
        Sin => g * &x.cos(),
        Cos => -(g * &x.sin()),
        Tan => g * &y.square().add(1.0),
        Asin => g * &x.square().neg().add(1.0).rsqrt(),
        Acos => -(g * &x.square().neg().add(1.0).rsqrt()),
        Atan => g / &x.square().add(1.0),
        Sinh => g * &x.cosh(),
        Cosh => g * &x.sinh(),
        Tanh => g * &y.square().neg().add(1.0),
        Asinh => g * &x.square().add(1.0).rsqrt(),
        Acosh => g * &(&x.sub(1.0) * &x.add(1.0)).rsqrt(),
        Atanh => g / &x.square().neg().add(1.0),
        Erf => g * &x.square().neg().exp().mul(2.0 / PI.sqrt()),
        Erfc => g * &x.square().neg().exp().mul(-2.0 / PI.sqrt()),
        Erfinv => g * &y.square().exp().mul(PI.sqrt() / 2.0),
        Sigmoid => g * &(y * &y.neg().add(1.0)),
        Logit(eps) => {
            let d = g / &(x * &x.neg().add(1.0));
            match eps {
                // Outside [eps, 1 - eps] the clamp makes the output constant.
                Some(e) => mask(&x.ge(e).logical_and(x.le(1.0 - e)), &d),
                None => d,
            }
        }
        Relu => crate::ops::binary::binary(psionic_core::ops::BinaryOp::ReluGrad, g, y),
        // One fused pass for `Φ(x) + x φ(x)`, then the product with g.
        Gelu => g * &crate::ops::unary::unary(x, GeluGrad),
        // `φ(x) (2 - x^2)`, for grad of grad (and GELU's jvp's vjp).
        GeluGrad => {
            let pdf = x.square().mul(-0.5).exp().mul(1.0 / (2.0 * PI).sqrt());
            g * &(&pdf * &x.square().neg().add(2.0))
        }
        GeluTanh => {
            let k = (2.0 / PI).sqrt();
            let x2 = x.square();
            let t = (x * &x2.mul(0.044715).add(1.0)).mul(k).tanh();
            let dinner = x2.mul(3.0 * 0.044715).add(1.0).mul(k);
            let d = &t.add(1.0).mul(0.5) + &(&(x * &t.square().neg().add(1.0)) * &dinner).mul(0.5);
            g * &d
        }
        Silu => {
            let s = x.sigmoid();
            g * &(&s * &(x * &s.neg().add(1.0)).add(1.0))
        }
        Mish => {
            let t = x.softplus(1.0, 20.0).tanh();
            g * &(&t + &(&(x * &x.sigmoid()) * &t.square().neg().add(1.0)))
        }
        Softplus { beta, threshold } => {
            let z = x.mul(beta);
            Tensor::where_(&z.gt(threshold), g, g * &z.sigmoid())
        }
        Elu { alpha, scale, input_scale } => {
            let neg = x.mul(input_scale).exp().mul(alpha * scale * input_scale);
            Tensor::where_(&x.gt(0.0), g.mul(scale), g * &neg)
        }
        LeakyRelu(slope) => Tensor::where_(&x.gt(0.0), g, g.mul(slope)),
        Hardtanh { min, max } => mask(&x.gt(min).logical_and(x.lt(max)), g),
        // PyTorch's kernel multiplies by the f32 constant 1/6 in every dtype; so do we,
        // so that f64 gradients agree to the last bit rather than to 3e-8.
        Hardsigmoid => mask(&x.gt(-3.0).logical_and(x.lt(3.0)), &g.mul((1.0f32 / 6.0) as f64)),
        Hardswish => {
            let mid = g * &x.div(3.0).add(0.5);
            Tensor::where_(&x.lt(-3.0), 0.0, Tensor::where_(&x.le(3.0), &mid, g))
        }
        NanToNum { .. } => mask(&x.isfinite(), g),
        Clamp { min, max } => {
            let lo = min.map_or_else(|| x.isnan().logical_not(), |m| x.ge(m));
            let hi = max.map_or_else(|| x.isnan().logical_not(), |m| x.le(m));
            mask(&lo.logical_and(&hi), g)
        }
        IsNan | IsInf | IsPosInf | IsNegInf | IsFinite | LogicalNot | BitwiseNot => {
            unreachable!("bool and integer outputs are never recorded")
        }
    }
}
