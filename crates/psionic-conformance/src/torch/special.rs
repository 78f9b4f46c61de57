//! The special family: `torch.special` functions and their top-level aliases.

use super::{unsupported, Call, R};
use psionic_array::Tensor;

/// The order (`n` of polygamma, `p` of mvlgamma): positional or keyword, a
/// non-negative integer.
fn order(c: &Call, name: &str) -> R<u32> {
    let v = c.param(0, name).map_or_else(|| unsupported(format!("no {name}")), |v| v.i64())?;
    u32::try_from(v).or_else(|_| unsupported(format!("{name} = {v}")))
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let unary: fn(&Tensor) -> Tensor = match c.op {
        "lgamma" | "special.gammaln" => Tensor::lgamma,
        "digamma" | "special.psi" | "special.digamma" => Tensor::digamma,
        "i0" | "special.i0" => Tensor::i0,
        "special.i0e" => Tensor::i0e,
        "special.i1" => Tensor::i1,
        "special.i1e" => Tensor::i1e,
        "special.erfcx" => Tensor::erfcx,
        "special.ndtr" => Tensor::ndtr,
        "special.ndtri" => Tensor::ndtri,
        "special.log_ndtr" => Tensor::log_ndtr,
        "special.entr" => Tensor::entr,
        "polygamma" | "special.polygamma" => {
            return Some(c.only(1, &["n"]).and_then(|_| Ok(vec![c.x()?.polygamma(order(c, "n")?)])))
        }
        "mvlgamma" | "special.multigammaln" => {
            return Some(c.only(1, &["p"]).and_then(|_| Ok(vec![c.x()?.mvlgamma(order(c, "p")?)])))
        }
        "special.xlog1py" | "special.zeta" => {
            return Some(c.only(1, &[]).and_then(|_| {
                let other = c.param(0, "other").map_or_else(|| unsupported("no other operand"), |v| v.arg())?;
                let x = c.x()?;
                Ok(vec![if c.op == "special.zeta" { x.zeta(other) } else { x.xlog1py(other) }])
            }))
        }
        _ => return None,
    };
    Some(c.only(0, &[]).and_then(|_| Ok(vec![unary(c.x()?)])))
}
