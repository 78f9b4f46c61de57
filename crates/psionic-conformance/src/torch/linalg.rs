//! Matrix products (the linalg family).

use super::{unsupported, Call, R};
use crate::value::Value;
use psionic_array::Tensor;
use psionic_core::Scalar;

fn scalar(c: &Call, name: &str) -> R<Scalar> {
    Ok(match c.kwargs.get(name) {
        None => Scalar::from(1i64),
        Some(Value::Int(i)) => Scalar::from(*i),
        Some(Value::Bool(b)) => Scalar::from(*b),
        Some(v) => Scalar::from(v.f64()?),
    })
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    if c.op == "einsum" {
        return Some(einsum(c));
    }
    let x = c.x().ok()?;
    let pair = |f: fn(&Tensor, &Tensor) -> Tensor| c.only(1, &[]).and_then(|_| Ok(vec![f(x, c.tensor(0, "other")?)]));
    Some(match c.op {
        "mm" => pair(|a, b| a.mm(b)),
        "bmm" => pair(|a, b| a.bmm(b)),
        "matmul" => pair(|a, b| a.matmul(b)),
        "dot" => pair(|a, b| a.dot(b)),
        "vdot" => pair(|a, b| a.vdot(b)),
        "mv" => pair(|a, b| a.mv(b)),
        "outer" => pair(|a, b| a.outer(b)),
        "kron" => pair(|a, b| a.kron(b)),
        "trace" => c.only(0, &[]).map(|_| vec![x.trace()]),
        "addmm" | "addmv" | "baddbmm" => c.only(2, &["beta", "alpha"]).and_then(|_| {
            let (a, b) = (c.tensor(0, "mat1")?, c.tensor(1, "mat2")?);
            let (beta, alpha) = (scalar(c, "beta")?, scalar(c, "alpha")?);
            Ok(vec![match c.op {
                "addmm" => x.addmm(a, b, beta, alpha),
                "addmv" => x.addmv(a, b, beta, alpha),
                _ => x.baddbmm(a, b, beta, alpha),
            }])
        }),
        "tensordot" => c.only(2, &["dims"]).and_then(|_| {
            let other = c.tensor(0, "other")?;
            match c.param(1, "dims") {
                Some(Value::Int(n)) => {
                    let n = *n;
                    let (ra, _) = (x.dim() as i64, other.dim());
                    let da: Vec<i64> = (ra - n..ra).collect();
                    let db: Vec<i64> = (0..n).collect();
                    Ok(vec![x.tensordot(other, &da, &db)])
                }
                Some(Value::List(v)) if v.len() == 2 => Ok(vec![x.tensordot(other, &v[0].ints()?, &v[1].ints()?)]),
                _ => unsupported("tensordot dims form"),
            }
        }),
        _ => return None,
    })
}

fn einsum(c: &Call) -> R<Vec<Tensor>> {
    c.only(1, &[])?;
    let ops: Vec<&Tensor> = match c.input {
        Value::List(v) => {
            v.iter().map(|t| t.as_tensor().map_or_else(|| unsupported("operand"), Ok)).collect::<R<_>>()?
        }
        Value::Tensor(t) => vec![t],
        _ => return unsupported("einsum operands"),
    };
    match c.args.first() {
        Some(Value::Str(eq)) => Ok(vec![Tensor::einsum(eq, &ops)]),
        _ => unsupported("einsum equation"),
    }
}
