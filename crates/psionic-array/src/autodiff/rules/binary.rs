//! vjp rules of the binary elementwise primitives, before un-broadcasting: `a`, `b`
//! inputs, `y` output, `g` output grad. Returns the grads of `a` and `b`.

use super::mask;
use crate::tensor::Tensor;
use psionic_core::ops::BinaryOp;

pub(super) fn vjp(op: BinaryOp, a: &Tensor, b: &Tensor, y: &Tensor, g: &Tensor) -> (Option<Tensor>, Option<Tensor>) {
    use BinaryOp::*;
    let both = |x: Tensor, z: Tensor| (Some(x), Some(z));
    match op {
        Add => both(g.clone(), g.clone()),
        Sub => both(g.clone(), g.neg()),
        Mul => both(g * b, g * a),
        Div => both(g / b, -(g * &(y / b))),
        // Rounded quotients are piecewise constant.
        DivTrunc | DivFloor => both(g.zeros_like(), g.zeros_like()),
        Remainder => both(g.clone(), -(g * &a.div_mode(b, Some("floor")))),
        Fmod => both(g.clone(), -(g * &a.div_mode(b, Some("trunc")))),
        Pow => {
            // d/da = b a^(b-1) (zero where b == 0); d/db = y ln a (zero where a == 0, b >= 0).
            let da = mask(&b.ne(0.0), &(g * &(b * &a.pow(b.sub(1.0)))));
            let db = mask(&a.eq(0.0).logical_and(b.ge(0.0)).logical_not(), &(g * &(y * &a.log())));
            both(da, db)
        }
        // At the origin the gradient is 0, not 0/0, as PyTorch defines it.
        Atan2 => {
            let r = &a.square() + &b.square();
            let inv = Tensor::where_(&r.eq(0.0), 0.0, r.reciprocal());
            both(g * &(b * &inv), -(g * &(a * &inv)))
        }
        // Ties split the gradient evenly, as PyTorch does.
        Maximum | Minimum => {
            let (win_a, win_b) = if op == Maximum { (a.gt(b), a.lt(b)) } else { (a.lt(b), a.gt(b)) };
            let tie = a.eq(b);
            let half = g.mul(0.5);
            let ga = Tensor::where_(&win_a, g, mask(&tie, &half));
            let gb = Tensor::where_(&win_b, g, mask(&tie, &half));
            both(ga, gb)
        }
        // The NaN-ignoring forms send the gradient to whichever input was chosen.
        // The NaN-ignoring forms: a NaN operand loses (both NaN: the first wins), ties
        // split evenly, as PyTorch does.
        Fmax | Fmin => {
            let (beats_b, beats_a) = if op == Fmax { (a.gt(b), b.gt(a)) } else { (a.lt(b), b.lt(a)) };
            let win_a = beats_b.logical_or(b.isnan());
            let win_b = beats_a.logical_or(a.isnan().logical_and(b.isnan().logical_not()));
            let half = mask(&a.eq(b), &g.mul(0.5));
            both(Tensor::where_(&win_a, g, &half), Tensor::where_(&win_b, g, &half))
        }
        Hypot => both(g * &(a / y), g * &(b / y)),
        Copysign => {
            let ratio = Tensor::where_(&a.eq(0.0), 0.0, y / a);
            both(g * &ratio, g.zeros_like())
        }
        LogAddExp => both(g * &(a - y).exp(), g * &(b - y).exp()),
        Xlogy => {
            let da = mask(&a.eq(0.0).logical_and(b.le(0.0)).logical_not(), &(g * &b.log()));
            both(da, g * &(a / b))
        }
        LogicalAnd | LogicalOr | LogicalXor | BitAnd | BitOr | BitXor | Shl | Shr | Eq | Ne | Lt | Le | Gt | Ge => {
            unreachable!("bool and integer outputs are never recorded")
        }
    }
}
