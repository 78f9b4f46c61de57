//! The unary elementwise primitives (`UnaryOp`), and their derivative table.

use super::{mask, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::ops::{BinaryOp, UnaryOp, UnaryOp::*};
use psionic_core::{DType, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;
use std::f64::consts::{LN_10, LN_2, PI};

/// The value a row names: the input `x` or the output `y`.
macro_rules! pick {
    (x, $x:expr, $y:expr) => {
        $x
    };
    (y, $x:expr, $y:expr) => {
        $y
    };
}

/// The derivative table: one row per kind, `kind, [the values it reads] => g * f'`, for
/// the output gradient `g`, the input `x` and the output `y`. A formula sees only the
/// values its row names (the others are not in scope), and what backward saves is
/// derived from the same list, so the two cannot disagree.
macro_rules! derivatives {
    ($g:ident; $($kind:pat, [$($v:ident),*] => $formula:expr;)*) => {
        /// `g` times the derivative of `op` at input `x_` with output `y_`.
        fn derivative(op: UnaryOp, x_: &Tensor, y_: &Tensor, $g: &Tensor) -> Tensor {
            match op {
                $($kind => {
                    $(let $v = pick!($v, x_, y_);)*
                    $formula
                })*
            }
        }

        /// What `derivative` reads for `op` (the rows' attributes are not needed here).
        #[allow(unused_variables)]
        fn saved(op: UnaryOp) -> Saves {
            match op {
                $($kind => Saves::of(0 $(| pick!($v, 1, 0))*, false $(|| pick!($v, false, true))*),)*
            }
        }
    };
}

derivatives! { g;
    Neg, [] => g.neg();
    Abs, [x] => g * &x.sign();
    // Piecewise constant: zero almost everywhere (PyTorch returns zeros too).
    Sign | Floor | Ceil | Round | Trunc, [] => g.zeros_like();
    Frac, [] => g.clone();
    Square, [x] => g * &x.mul(2.0);
    Sqrt, [y] => g / &y.mul(2.0);
    Rsqrt, [y] => g * &y.pow(3.0).mul(-0.5);
    Reciprocal, [y] => -(g * &y.square());
    Exp, [y] => g * y;
    Exp2, [y] => g * &y.mul(LN_2);
    Expm1, [y] => g * &y.add(1.0);
    Log, [x] => g / x;
    Log2, [x] => g / &x.mul(LN_2);
    Log10, [x] => g / &x.mul(LN_10);
    Log1p, [x] => g / &x.add(1.0);
    Sin, [x] => g * &x.cos();
    Cos, [x] => -(g * &x.sin());
    Tan, [y] => g * &y.square().add(1.0);
    Asin, [x] => g * &x.square().neg().add(1.0).rsqrt();
    Acos, [x] => -(g * &x.square().neg().add(1.0).rsqrt());
    Atan, [x] => g / &x.square().add(1.0);
    Sinh, [x] => g * &x.cosh();
    Cosh, [x] => g * &x.sinh();
    Tanh, [y] => g * &y.square().neg().add(1.0);
    Asinh, [x] => g * &x.square().add(1.0).rsqrt();
    Acosh, [x] => g * &(&x.sub(1.0) * &x.add(1.0)).rsqrt();
    Atanh, [x] => g / &x.square().neg().add(1.0);
    Erf, [x] => g * &x.square().neg().exp().mul(2.0 / PI.sqrt());
    Erfc, [x] => g * &x.square().neg().exp().mul(-2.0 / PI.sqrt());
    Erfinv, [y] => g * &y.square().exp().mul(PI.sqrt() / 2.0);
    Lgamma, [x] => g * &x.digamma();
    Digamma, [x] => g * &x.polygamma(1);
    Polygamma(n), [x] => g * &x.polygamma(n + 1);
    I0, [x] => g * &x.i1();
    I0e, [x, y] => g * &(&x.i1e() - &(y * &x.sign()));
    // I₁'(x) = I₀(x) - I₁(x)/x, whose limit at 0 is 1/2; the quotient reads 1 there, so
    // that no NaN reaches a second derivative through the unselected branch.
    I1, [x, y] => {
        let zero = x.eq(0.0);
        let q = y / &Tensor::where_(&zero, 1.0, x);
        g * &Tensor::where_(&zero, 0.5, &x.i0() - &q)
    };
    I1e, [x, y] => {
        let zero = x.eq(0.0);
        let r = Tensor::where_(&zero, 1.0, x).reciprocal();
        g * &Tensor::where_(&zero, 0.5, &x.i0e() - &(y * &(&x.sign() + &r)))
    };
    Erfcx, [x, y] => g * &(&(x * y).mul(2.0) - 2.0 / PI.sqrt());
    Ndtri, [y] => g * &y.square().mul(0.5).exp().mul((2.0 * PI).sqrt());
    LogNdtr, [x, y] => g * &(y + &x.square().mul(0.5)).neg().exp().mul(1.0 / (2.0 * PI).sqrt());
    Sigmoid, [y] => g * &(y * &y.neg().add(1.0));
    Logit(eps), [x] => {
        let d = g / &(x * &x.neg().add(1.0));
        match eps {
            // Outside [eps, 1 - eps] the clamp makes the output constant.
            Some(e) => mask(&x.ge(e).logical_and(x.le(1.0 - e)), &d),
            None => d,
        }
    };
    Relu, [y] => crate::ops::binary::binary(BinaryOp::ReluGrad, g, y);
    // One fused pass for `Φ(x) + x φ(x)`, then the product with g.
    Gelu, [x] => g * &crate::ops::unary::unary(x, GeluGrad);
    // `φ(x) (2 - x^2)`, for grad of grad (and GELU's jvp's vjp).
    GeluGrad, [x] => {
        let pdf = x.square().mul(-0.5).exp().mul(1.0 / (2.0 * PI).sqrt());
        g * &(&pdf * &x.square().neg().add(2.0))
    };
    GeluTanh, [x] => {
        let k = (2.0 / PI).sqrt();
        let x2 = x.square();
        let t = (x * &x2.mul(0.044715).add(1.0)).mul(k).tanh();
        let dinner = x2.mul(3.0 * 0.044715).add(1.0).mul(k);
        let d = &t.add(1.0).mul(0.5) + &(&(x * &t.square().neg().add(1.0)) * &dinner).mul(0.5);
        g * &d
    };
    Silu, [x] => {
        let s = x.sigmoid();
        g * &(&s * &(x * &s.neg().add(1.0)).add(1.0))
    };
    Mish, [x] => {
        let t = x.softplus(1.0, 20.0).tanh();
        g * &(&t + &(&(x * &x.sigmoid()) * &t.square().neg().add(1.0)))
    };
    Softplus { beta, threshold }, [x] => {
        let z = x.mul(beta);
        Tensor::where_(&z.gt(threshold), g, g * &z.sigmoid())
    };
    Elu { alpha, scale, input_scale }, [x] => {
        let neg = x.mul(input_scale).exp().mul(alpha * scale * input_scale);
        Tensor::where_(&x.gt(0.0), g.mul(scale), g * &neg)
    };
    LeakyRelu(slope), [x] => Tensor::where_(&x.gt(0.0), g, g.mul(slope));
    Hardtanh { min, max }, [x] => mask(&x.gt(min).logical_and(x.lt(max)), g);
    // PyTorch's kernel multiplies by the f32 constant 1/6 in every dtype; so do we, so
    // that f64 gradients agree to the last bit rather than to 3e-8.
    Hardsigmoid, [x] => mask(&x.gt(-3.0).logical_and(x.lt(3.0)), &g.mul((1.0f32 / 6.0) as f64));
    Hardswish, [x] => {
        let mid = g * &x.div(3.0).add(0.5);
        Tensor::where_(&x.lt(-3.0), 0.0, Tensor::where_(&x.le(3.0), &mid, g))
    };
    NanToNum { .. }, [x] => mask(&x.isfinite(), g);
    Clamp { min, max }, [x] => {
        let lo = min.map_or_else(|| x.isnan().logical_not(), |m| x.ge(m));
        let hi = max.map_or_else(|| x.isnan().logical_not(), |m| x.le(m));
        mask(&lo.logical_and(&hi), g)
    };
    IsNan | IsInf | IsPosInf | IsNegInf | IsFinite | LogicalNot | BitwiseNot, [] => {
        unreachable!("bool and integer outputs are never recorded")
    };
}

impl Primitive for UnaryOp {
    fn backward_name(&self) -> Cow<'static, str> {
        super::kind_name(self)
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let dtype = if self.out_is_bool() { DType::Bool } else { inputs[0].dtype };
        Ok(Meta::new(inputs[0].shape.clone(), dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::unary::unary(*self, inputs[0])
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(derivative(*self, &c.x[0], c.y, c.g))])
    }
    /// A diagonal Jacobian is its own transpose: the table applied to the tangent.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Tangent(derivative(*self, &c.x[0], c.y, &c.tz(0))))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&[c.full(0)])
    }
    fn saves(&self) -> Saves {
        saved(*self)
    }
}
