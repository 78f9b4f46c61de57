//! The binary elementwise primitives (`BinaryOp`), and their derivative table.

use super::{mask, unbroadcast, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::ops::{BinaryOp, BinaryOp::*};
use psionic_core::{broadcast_shapes, DType, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// The value a row names: the operands `a`, `b` or the output `y`.
macro_rules! pick {
    (a, $a:expr, $b:expr, $y:expr) => {
        $a
    };
    (b, $a:expr, $b:expr, $y:expr) => {
        $b
    };
    (y, $a:expr, $b:expr, $y:expr) => {
        $y
    };
}

/// The derivative table: one row per kind, `kind, [the values it reads] => (da, db)`,
/// the gradients of `a` and `b` (before un-broadcasting) for the output gradient `g`.
/// Each side is computed only when backward asks for it (`both!`): an operand that takes
/// no gradient (a mask, a constant) costs no pass over the data. A formula sees only the
/// values its row names, and what backward saves is derived from the same list.
macro_rules! derivatives {
    ($g:ident, $needs:ident; $($kind:pat, [$($v:ident),*] => $formula:expr;)*) => {
        /// The gradients of `a_` and `b_` that `$needs` asks for, for output `y_`.
        fn derivative(
            op: BinaryOp,
            a_: &Tensor,
            b_: &Tensor,
            y_: &Tensor,
            $g: &Tensor,
            $needs: [bool; 2],
        ) -> (Option<Tensor>, Option<Tensor>) {
            match op {
                $($kind => {
                    $(let $v = pick!($v, a_, b_, y_);)*
                    $formula
                })*
            }
        }

        /// What `derivative` reads for `op` (the rows' attributes are not needed here).
        #[allow(unused_variables)]
        fn saved(op: BinaryOp) -> Saves {
            match op {
                $($kind => Saves::of(0 $(| pick!($v, 1, 2, 0))*, false $(|| pick!($v, false, false, true))*),)*
            }
        }
    };
}

/// `(da, db)`, each built only when `needs` asks for it.
macro_rules! both {
    ($needs:ident; $da:expr, $db:expr) => {
        ($needs[0].then(|| $da), $needs[1].then(|| $db))
    };
}

derivatives! { g, needs;
    Add, [] => both!(needs; g.clone(), g.clone());
    Sub, [] => both!(needs; g.clone(), g.neg());
    Mul, [a, b] => both!(needs; g * b, g * a);
    Div, [b, y] => both!(needs; g / b, -(g * &(y / b)));
    // Rounded quotients are piecewise constant.
    DivTrunc | DivFloor, [] => both!(needs; g.zeros_like(), g.zeros_like());
    Remainder, [a, b] => both!(needs; g.clone(), -(g * &a.div_mode(b, Some("floor"))));
    Fmod, [a, b] => both!(needs; g.clone(), -(g * &a.div_mode(b, Some("trunc"))));
    // d/da = b a^(b-1) (zero where b == 0); d/db = y ln a (zero where a == 0, b >= 0).
    Pow, [a, b, y] => both!(needs;
        mask(&b.ne(0.0), &(g * &(b * &a.pow(b.sub(1.0))))),
        mask(&a.eq(0.0).logical_and(b.ge(0.0)).logical_not(), &(g * &(y * &a.log())))
    );
    // At the origin the gradient is 0, not 0/0, as PyTorch defines it.
    Atan2, [a, b] => {
        let r = &a.square() + &b.square();
        let inv = Tensor::where_(&r.eq(0.0), 0.0, r.reciprocal());
        both!(needs; g * &(b * &inv), -(g * &(a * &inv)))
    };
    // The winner takes the gradient and ties split it evenly, as PyTorch does. The
    // NaN-ignoring forms (fmax/fmin) also let a NaN operand lose (both NaN: the first
    // wins).
    op @ (Maximum | Minimum | Fmax | Fmin), [a, b] => {
        let (beats_b, beats_a) = if matches!(op, Maximum | Fmax) { (a.gt(b), b.gt(a)) } else { (a.lt(b), b.lt(a)) };
        let (win_a, win_b) = if matches!(op, Fmax | Fmin) {
            (beats_b.logical_or(b.isnan()), beats_a.logical_or(a.isnan().logical_and(b.isnan().logical_not())))
        } else {
            (beats_b, beats_a)
        };
        let half = mask(&a.eq(b), &g.mul(0.5));
        both!(needs; Tensor::where_(&win_a, g, &half), Tensor::where_(&win_b, g, &half))
    };
    Hypot, [a, b, y] => both!(needs; g * &(a / y), g * &(b / y));
    Copysign, [a, y] => both!(needs; g * &Tensor::where_(&a.eq(0.0), 0.0, y / a), g.zeros_like());
    LogAddExp, [a, b, y] => both!(needs; g * &(a - y).exp(), g * &(b - y).exp());
    Xlogy, [a, b] => both!(needs;
        mask(&a.eq(0.0).logical_and(b.le(0.0)).logical_not(), &(g * &b.log())),
        g * &(a / b)
    );
    Xlog1py, [a, b] => both!(needs;
        mask(&a.eq(0.0).logical_and(b.le(-1.0)).logical_not(), &(g * &b.log1p())),
        g * &(a / &b.add(1.0))
    );
    // dζ/dq = -x ζ(x + 1, q); PyTorch has no derivative in x either.
    Zeta, [a, b] => both!(needs;
        crate::mode::raise(psionic_core::Error::invalid("zeta", "the derivative for 'self' is not implemented")),
        g * &(a.neg() * &a.add(1.0).zeta(b))
    );
    // Piecewise constant in relu's output.
    ReluGrad, [b] => both!(needs; crate::ops::binary::binary(ReluGrad, g, b), g.zeros_like());
    LogicalAnd | LogicalOr | LogicalXor | BitAnd | BitOr | BitXor | Shl | Shr | Eq | Ne | Lt | Le | Gt | Ge, [] => {
        unreachable!("bool and integer outputs are never recorded")
    };
}

impl Primitive for BinaryOp {
    fn backward_name(&self) -> Cow<'static, str> {
        format!("{self:?}").into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let d = super::same_dtype(self.name(), inputs)?;
        let shape = broadcast_shapes(self.name(), &inputs[0].shape, &inputs[1].shape)?;
        Ok(Meta::new(shape, if self.out_is_bool() { DType::Bool } else { d }))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        psionic_cpu::binary::binary(*self, inputs[0], inputs[1], &out.shape)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        let (ga, gb) = derivative(*self, &c.x[0], &c.x[1], c.y, c.g, [c.needs[0], c.needs[1]]);
        Ok(vec![ga.map(|t| unbroadcast(&t, &c.x[0].shape())), gb.map(|t| unbroadcast(&t, &c.x[1].shape()))])
    }
    /// Each operand's diagonal Jacobian applied to its tangent, broadcast to the output.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        let (x, y) = (c.x, c.y);
        let shape = y.shape();
        let mut out = y.zeros_like();
        for (i, t) in c.t.iter().enumerate() {
            if let Some(t) = t {
                let needs = [i == 0, i == 1];
                let (da, db) = derivative(*self, &x[0], &x[1], y, &t.broadcast_to(&shape), needs);
                out = &out + &if i == 0 { da } else { db }.expect("float grad");
            }
        }
        Ok(Jvp::Tangent(out))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        elementwise_batch(c)
    }
    fn saves(&self) -> Saves {
        saved(*self)
    }
}

/// Broadcasting elementwise ops: each batched operand gets size-1 dims after its batch
/// dim, so it broadcasts against the others as its example would.
pub(super) fn elementwise_batch(c: &BatchCtx) -> Result<Tensor> {
    let rank = (0..c.x.len()).map(|i| c.lrank(i)).max().unwrap_or(0);
    c.same(&(0..c.x.len()).map(|i| c.aligned(i, rank)).collect::<Vec<_>>())
}
