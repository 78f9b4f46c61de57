//! Indexing, scatter/gather, masks, sorting and searching (the indexing family).

use super::{one, unsupported, Call, R};
use crate::value::Value;
use psionic_array::{Tensor, TensorIndex as I};

fn int(c: &Call, i: usize, name: &str) -> R<i64> {
    c.param(i, name).map_or_else(|| unsupported(format!("no {name}")), Value::i64)
}

fn string<'a>(c: &'a Call, i: usize, name: &str) -> R<&'a str> {
    match c.param(i, name) {
        Some(Value::Str(s)) => Ok(s),
        _ => unsupported(format!("{name} is not a string")),
    }
}

/// A Python list of ints or bools as the tensor PyTorch makes of it.
fn list_tensor(v: &[Value]) -> R<Tensor> {
    if v.iter().all(|x| matches!(x, Value::Bool(_))) && !v.is_empty() {
        let b: Vec<bool> = v.iter().map(Value::bool).collect::<R<_>>()?;
        let n = b.len();
        return Ok(Tensor::from_vec(b, &[n]));
    }
    let ints: Vec<i64> = v.iter().map(Value::i64).collect::<R<_>>()?;
    let n = ints.len();
    Ok(Tensor::from_vec(ints, &[n]))
}

fn entry(v: &Value) -> R<I> {
    Ok(match v {
        Value::Int(i) => I::Int(*i),
        Value::Slice([start, stop, step]) => I::slice(*start, *stop, step.unwrap_or(1)),
        Value::None => I::NewAxis,
        Value::Ellipsis => I::Ellipsis,
        Value::Tensor(t) => I::Tensor(t.clone()),
        Value::Bool(b) => I::Tensor(Tensor::scalar(*b)),
        Value::List(v) => I::Tensor(list_tensor(v)?),
        _ => return unsupported("index entry"),
    })
}

/// A Python index expression as PyTorch reads it: a list holding any slice, `None`,
/// `...`, list or tensor is a tuple of entries; otherwise it is one integer index.
fn index_expr(v: &Value) -> R<Vec<I>> {
    match v {
        Value::List(items)
            if items.iter().any(|x| {
                matches!(x, Value::List(_) | Value::Slice(_) | Value::None | Value::Ellipsis | Value::Tensor(_))
            }) =>
        {
            items.iter().map(entry).collect()
        }
        other => Ok(vec![entry(other)?]),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let x = c.x().ok()?;
    Some(match c.op {
        "__getitem__" => {
            c.only(1, &[]).and_then(|_| one(x.index(&index_expr(c.param(0, "idx").unwrap_or(&Value::None))?)))
        }
        "index_put" => c.only(2, &["accumulate"]).and_then(|_| {
            let Some(Value::List(ix)) = c.param(0, "indices") else { return unsupported("indices") };
            let ix: Vec<I> =
                ix.iter().map(|v| if matches!(v, Value::None) { Ok(I::full()) } else { entry(v) }).collect::<R<_>>()?;
            one(x.index_put(&ix, c.tensor(1, "values")?, c.flag(2, "accumulate", false)?))
        }),
        "gather" => c.only(2, &["sparse_grad"]).and_then(|_| one(x.gather(int(c, 0, "dim")?, c.tensor(1, "index")?))),
        "scatter" | "scatter_add" => c.only(3, &["reduce"]).and_then(|_| {
            let (d, i) = (int(c, 0, "dim")?, c.tensor(1, "index")?);
            let src = c.param(2, "src").map_or_else(|| unsupported("src"), Value::arg)?;
            one(match (c.op, c.kwargs.get("reduce")) {
                ("scatter_add", _) => x.scatter_add(d, i, c.tensor(2, "src")?),
                (_, Some(Value::Str(r))) => x.scatter_with(d, i, src, r),
                _ => x.scatter(d, i, src),
            })
        }),
        "scatter_reduce" | "index_reduce" => c.only(4, &["include_self"]).and_then(|_| {
            let (d, i, s) = (int(c, 0, "dim")?, c.tensor(1, "index")?, c.tensor(2, "src")?);
            let (r, inc) = (string(c, 3, "reduce")?, c.flag(4, "include_self", true)?);
            one(if c.op == "scatter_reduce" {
                x.scatter_reduce(d, i, s, r, inc)
            } else {
                x.index_reduce(d, i, s, r, inc)
            })
        }),
        "index_select" => c.only(2, &[]).and_then(|_| one(x.index_select(int(c, 0, "dim")?, c.tensor(1, "index")?))),
        "index_add" => c.only(3, &["alpha"]).and_then(|_| {
            let alpha = c.kwargs.get("alpha").map_or(Ok(1.0), Value::f64)?;
            one(x.index_add(int(c, 0, "dim")?, c.tensor(1, "index")?, c.tensor(2, "source")?, alpha))
        }),
        "index_copy" => c
            .only(3, &[])
            .and_then(|_| one(x.index_copy(int(c, 0, "dim")?, c.tensor(1, "index")?, c.tensor(2, "source")?))),
        "index_fill" => c.only(3, &[]).and_then(|_| {
            let v = c.param(2, "value").map_or_else(|| unsupported("value"), Value::arg)?;
            one(x.index_fill(int(c, 0, "dim")?, c.tensor(1, "index")?, v))
        }),
        "masked_fill" => c.only(2, &[]).and_then(|_| {
            let v = c.param(1, "value").map_or_else(|| unsupported("value"), Value::arg)?;
            one(x.masked_fill(c.tensor(0, "mask")?, v))
        }),
        "masked_scatter" => {
            c.only(2, &[]).and_then(|_| one(x.masked_scatter(c.tensor(0, "mask")?, c.tensor(1, "source")?)))
        }
        "masked_select" => c.only(1, &[]).and_then(|_| one(x.masked_select(c.tensor(0, "mask")?))),
        "take" => c.only(1, &[]).and_then(|_| one(x.take(c.tensor(0, "index")?))),
        "take_along_dim" => c.only(2, &["dim"]).and_then(|_| {
            let d = match c.param(1, "dim") {
                None | Some(Value::None) => None,
                Some(v) => Some(v.i64()?),
            };
            one(x.take_along_dim(c.tensor(0, "indices")?, d))
        }),
        "put" => c
            .only(3, &["accumulate"])
            .and_then(|_| one(x.put(c.tensor(0, "index")?, c.tensor(1, "source")?, c.flag(2, "accumulate", false)?))),
        "nonzero" | "argwhere" => c.only(0, &["as_tuple"]).and_then(|_| {
            if c.kw_flag("as_tuple", false)? {
                Ok(x.nonzero_tuple())
            } else {
                one(x.nonzero())
            }
        }),
        "bincount" => c.only(0, &["weights", "minlength"]).and_then(|_| {
            let w = match c.kwargs.get("weights") {
                Some(Value::Tensor(t)) => Some(t.clone()),
                _ => None,
            };
            let m = c.kwargs.get("minlength").map_or(Ok(0), Value::i64)?;
            one(x.bincount(w.as_ref(), m as usize))
        }),
        "histc" => c.only(0, &["bins", "min", "max"]).and_then(|_| {
            let bins = c.kwargs.get("bins").map_or(Ok(100), Value::i64)?;
            let lo = c.kwargs.get("min").map_or(Ok(0.0), Value::f64)?;
            let hi = c.kwargs.get("max").map_or(Ok(0.0), Value::f64)?;
            one(x.histc(bins as usize, lo, hi))
        }),
        "sort" | "argsort" => c.only(2, &["dim", "descending", "stable"]).and_then(|_| {
            let d = c.param(0, "dim").map_or(Ok(-1), Value::i64)?;
            let desc = c.flag(1, "descending", false)?;
            if c.op == "argsort" {
                return one(x.argsort(d, desc));
            }
            let (v, i) = x.sort(d, desc);
            Ok(vec![v, i])
        }),
        "msort" => c.only(0, &[]).and_then(|_| one(x.msort())),
        "topk" => c.only(4, &["dim", "largest", "sorted"]).and_then(|_| {
            let k = int(c, 0, "k")?;
            let d = c.param(1, "dim").map_or(Ok(-1), Value::i64)?;
            let (v, i) = x.topk(k as usize, d, c.flag(2, "largest", true)?);
            Ok(vec![v, i])
        }),
        "searchsorted" => c.only(1, &["out_int32", "right", "side", "sorter"]).and_then(|_| {
            let right = match c.kwargs.get("side") {
                Some(Value::Str(s)) => s == "right",
                _ => c.kw_flag("right", false)?,
            };
            let sorter = match c.kwargs.get("sorter") {
                Some(Value::Tensor(t)) => Some(t.clone()),
                _ => None,
            };
            let values = match c.param(0, "values") {
                Some(Value::Tensor(t)) => t.clone(),
                Some(v) => Tensor::full(&[], v.f64()?, x.dtype()),
                None => return unsupported("values"),
            };
            one(x.searchsorted(&values, right, sorter.as_ref(), c.kw_flag("out_int32", false)?))
        }),
        "bucketize" => c.only(1, &["out_int32", "right"]).and_then(|_| {
            one(x.bucketize(c.tensor(0, "boundaries")?, c.kw_flag("right", false)?, c.kw_flag("out_int32", false)?))
        }),
        "unique" | "unique_consecutive" => {
            c.only(0, &["sorted", "return_inverse", "return_counts", "dim"]).and_then(|_| {
                let (inv, cnt) = (c.kw_flag("return_inverse", false)?, c.kw_flag("return_counts", false)?);
                let dim = match c.kwargs.get("dim") {
                    None | Some(Value::None) => None,
                    Some(v) => Some(v.i64()?),
                };
                let (v, i, n) = match (c.op, dim) {
                    ("unique", None) => x.unique(inv, cnt),
                    ("unique", Some(d)) => x.unique_dim(d, inv, cnt),
                    (_, d) => x.unique_consecutive(d, inv, cnt),
                };
                Ok([Some(v), i, n].into_iter().flatten().collect())
            })
        }
        _ => return None,
    })
}
