//! vjp rules of the binary elementwise primitives, before un-broadcasting: `a`, `b`
//! inputs, `y` output, `g` output grad. Returns the grads of `a` and `b` where `needs`
//! asks for them: an operand that takes no gradient (a mask, a constant) costs no pass
//! over the data.

use super::mask;
use crate::tensor::Tensor;
use psionic_core::ops::BinaryOp;

pub(super) fn vjp(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
    needs: [bool; 2],
) -> (Option<Tensor>, Option<Tensor>) {
    use BinaryOp::*;
    // Each side is computed only when asked for.
    macro_rules! both {
        ($x:expr, $z:expr) => {
            (needs[0].then(|| $x), needs[1].then(|| $z))
        };
    }
    match op {
        Add => both!(g.clone(), g.clone()),
        Sub => both!(g.clone(), g.neg()),
        Mul => both!(g * b, g * a),
        Div => both!(g / b, -(g * &(y / b))),
        // Rounded quotients are piecewise constant.
        DivTrunc | DivFloor => both!(g.zeros_like(), g.zeros_like()),
        Remainder => both!(g.clone(), -(g * &a.div_mode(b, Some("floor")))),
        Fmod => both!(g.clone(), -(g * &a.div_mode(b, Some("trunc")))),
        Pow => {
            // d/da = b a^(b-1) (zero where b == 0); d/db = y ln a (zero where a == 0, b >= 0).
            both!(
                mask(&b.ne(0.0), &(g * &(b * &a.pow(b.sub(1.0))))),
                mask(&a.eq(0.0).logical_and(b.ge(0.0)).logical_not(), &(g * &(y * &a.log())))
            )
        }
        // At the origin the gradient is 0, not 0/0, as PyTorch defines it.
        Atan2 => {
            let r = &a.square() + &b.square();
            let inv = Tensor::where_(&r.eq(0.0), 0.0, r.reciprocal());
            both!(g * &(b * &inv), -(g * &(a * &inv)))
        }
        // The winner takes the gradient and ties split it evenly, as PyTorch does. The
        // NaN-ignoring forms (fmax/fmin) also let a NaN operand lose (both NaN: the
        // first wins).
        Maximum | Minimum | Fmax | Fmin => {
            let (beats_b, beats_a) = if matches!(op, Maximum | Fmax) { (a.gt(b), b.gt(a)) } else { (a.lt(b), b.lt(a)) };
            let (win_a, win_b) = if matches!(op, Fmax | Fmin) {
                (beats_b.logical_or(b.isnan()), beats_a.logical_or(a.isnan().logical_and(b.isnan().logical_not())))
            } else {
                (beats_b, beats_a)
            };
            let half = mask(&a.eq(b), &g.mul(0.5));
            both!(Tensor::where_(&win_a, g, &half), Tensor::where_(&win_b, g, &half))
        }
        Hypot => both!(g * &(a / y), g * &(b / y)),
        Copysign => {
            both!(g * &Tensor::where_(&a.eq(0.0), 0.0, y / a), g.zeros_like())
        }
        LogAddExp => both!(g * &(a - y).exp(), g * &(b - y).exp()),
        Xlogy => {
            both!(mask(&a.eq(0.0).logical_and(b.le(0.0)).logical_not(), &(g * &b.log())), g * &(a / b))
        }
        // Piecewise constant in relu's output.
        ReluGrad => both!(crate::ops::binary::binary(ReluGrad, g, b), g.zeros_like()),
        LogicalAnd | LogicalOr | LogicalXor | BitAnd | BitOr | BitXor | Shl | Shr | Eq | Ne | Lt | Le | Gt | Ge => {
            unreachable!("bool and integer outputs are never recorded")
        }
    }
}
