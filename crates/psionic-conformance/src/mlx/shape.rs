//! MLX shape ops and basic indexing (`a[idx]` with ints, slices of any step, `None`
//! and `...`), expressed with Psionic's views; indices with arrays in them go to
//! Psionic's advanced indexing.

use super::program::Call;
use super::value::{pack, Val};
use crate::torch::{unsupported, R};
use psionic_array::ops::indexing::TensorIndex;
use psionic_array::Tensor;

fn list(v: Vec<Tensor>) -> R<Val> {
    Ok(pack(v, false))
}

/// `x[start:stop:step]` along `dim`, with Python's rules for negative and missing bounds.
fn slice(x: &Tensor, dim: i64, s: [Option<i64>; 3]) -> R<Tensor> {
    let step = s[2].unwrap_or(1);
    if step == 0 {
        return unsupported("slice step 0");
    }
    if step > 0 {
        return Ok(x.slice(dim, s[0], s[1], step));
    }
    // Negative step: the same elements as a positive-step slice of the flipped axis.
    let n = x.size(dim) as i64;
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let start = s[0].map_or(n - 1, |v| norm(v).min(n - 1));
    let stop = s[1].map_or(-1, |v| norm(v).max(-1));
    // Position i of the flipped axis is n - 1 - i.
    let (fs, fe) = ((n - 1 - start).max(0), (n - 1 - stop).max(0));
    Ok(x.flip(&[dim]).slice(dim, Some(fs), Some(fe.max(fs)), -step))
}

fn getitem(c: &Call) -> R<Val> {
    let target = c.arg(0, "a")?;
    // Not `arg`: `a[None]` is an index of None, not a missing one.
    let Some(idx) = c.args.get(1) else { return unsupported("getitem: no index") };
    if let Val::List(items) = target {
        let i = idx.i64()?;
        let n = items.len() as i64;
        let j = if i < 0 { i + n } else { i };
        return items.get(j as usize).cloned().map_or_else(|| unsupported("index out of range"), Ok);
    }
    let x = target.tensor()?.clone();
    let parts: Vec<Val> = match idx {
        Val::List(v) => v.clone(),
        v => vec![v.clone()],
    };
    if parts.iter().any(|p| matches!(p, Val::T(_))) {
        return advanced(&x, &parts);
    }
    let consuming = parts.iter().filter(|p| !matches!(p, Val::None | Val::Ellipsis)).count();
    let mut out = x;
    let (mut dim, mut consumed) = (0i64, 0usize);
    for p in &parts {
        match p {
            Val::Int(i) => {
                out = out.select(dim, *i);
                consumed += 1;
            }
            Val::Slice(s) => {
                out = slice(&out, dim, *s)?;
                dim += 1;
                consumed += 1;
            }
            Val::None => {
                out = out.unsqueeze(dim);
                dim += 1;
            }
            // `...` stands for every dim the parts after it do not consume.
            Val::Ellipsis => dim = out.dim() as i64 - (consuming - consumed) as i64,
            _ => return unsupported("index form"),
        }
    }
    Ok(Val::T(out))
}

/// An index with arrays in it, through Psionic's indexing entry point. Beside arrays,
/// MLX (as NumPy) counts integers as advanced indices too, where PyTorch selects with
/// them first; as 0-d index arrays they take part in the advanced-dims rule.
fn advanced(x: &Tensor, parts: &[Val]) -> R<Val> {
    let idx: Vec<TensorIndex> = parts
        .iter()
        .map(|p| {
            Ok(match p {
                Val::Int(i) => TensorIndex::Tensor(Tensor::scalar(*i as f64).to_dtype(psionic_array::DType::I64)),
                Val::Slice([start, stop, step]) if step.unwrap_or(1) > 0 => {
                    TensorIndex::slice(*start, *stop, step.unwrap_or(1))
                }
                Val::None => TensorIndex::NewAxis,
                Val::Ellipsis => TensorIndex::Ellipsis,
                Val::T(t) => TensorIndex::Tensor(t.clone()),
                _ => return unsupported("index form beside an array index"),
            })
        })
        .collect::<R<_>>()?;
    Ok(Val::T(x.index(&idx)))
}

pub fn call(c: &Call) -> Option<R<Val>> {
    let t = |v: Tensor| Ok(Val::T(v));
    let x = || c.x();
    Some(match c.name {
        "getitem" => getitem(c),
        "transpose" => (|| match c.get(1, "axes") {
            None => {
                let x = x()?;
                t(x.permute(&(0..x.dim() as i64).rev().collect::<Vec<_>>()))
            }
            Some(a) => t(x()?.permute(&a.ints()?)),
        })(),
        "reshape" => (|| t(x()?.reshape(&c.arg(1, "shape")?.ints()?)))(),
        "swapaxes" => (|| t(x()?.transpose(c.arg(1, "axis1")?.i64()?, c.arg(2, "axis2")?.i64()?)))(),
        "moveaxis" => (|| t(x()?.movedim(&[c.arg(1, "source")?.i64()?], &[c.arg(2, "destination")?.i64()?])))(),
        "squeeze" => (|| {
            let x = x()?;
            match c.get(1, "axis") {
                None => t(x.squeeze()),
                Some(a) => {
                    let dims = a.ints()?;
                    // MLX refuses to squeeze an axis whose size is not 1; PyTorch ignores it.
                    if dims.iter().any(|&d| x.size(d) != 1) {
                        return unsupported("MLX's refusal to squeeze a non-1 axis is not offered");
                    }
                    t(x.squeeze_dims(&dims))
                }
            }
        })(),
        "expand_dims" => (|| {
            let mut dims = c.arg(1, "axis")?.ints()?;
            let nd = x()?.dim() as i64 + dims.len() as i64;
            dims = dims.into_iter().map(|d| d.rem_euclid(nd)).collect();
            dims.sort_unstable();
            t(dims.iter().fold(x()?, |acc, &d| acc.unsqueeze(d)))
        })(),
        "flatten" => (|| {
            let s = c.get(1, "start_axis").map_or(Ok(0), Val::i64)?;
            let e = c.get(2, "end_axis").map_or(Ok(-1), Val::i64)?;
            t(x()?.flatten(s, e))
        })(),
        "broadcast_to" => (|| t(x()?.broadcast_to(&c.arg(1, "shape")?.usizes()?)))(),
        "broadcast_arrays" => (|| {
            let xs = c.args.iter().map(Val::array).collect::<R<Vec<_>>>()?;
            list(Tensor::broadcast_tensors(&xs.iter().collect::<Vec<_>>()))
        })(),
        "concatenate" | "stack" => (|| {
            let xs = c.arg(0, "arrays")?.list()?.iter().map(Val::array).collect::<R<Vec<_>>>()?;
            let refs: Vec<&Tensor> = xs.iter().collect();
            match (c.name, c.get(1, "axis")) {
                ("concatenate", None) if c.args.len() < 2 && !c.kw.contains_key("axis") => t(Tensor::cat(&refs, 0)),
                ("concatenate", None) => {
                    let flat: Vec<Tensor> = xs.iter().map(|x| x.reshape(&[-1])).collect();
                    t(Tensor::cat(&flat.iter().collect::<Vec<_>>(), 0))
                }
                ("concatenate", Some(a)) => t(Tensor::cat(&refs, a.i64()?)),
                (_, a) => t(Tensor::stack(&refs, a.map_or(Ok(0), Val::i64)?)),
            }
        })(),
        "split" => (|| {
            let x = x()?;
            let axis = c.get(2, "axis").map_or(Ok(0), Val::i64)?;
            match c.arg(1, "indices_or_sections")? {
                Val::Int(n) => {
                    if x.size(axis) % (*n as usize) != 0 {
                        return unsupported("MLX's refusal of uneven sections is not offered");
                    }
                    list(x.tensor_split(*n as usize, axis))
                }
                v => list(x.tensor_split_indices(&v.ints()?, axis)),
            }
        })(),
        "unstack" => (|| list(x()?.unbind(c.get(1, "axis").map_or(Ok(0), Val::i64)?)))(),
        "tile" => (|| t(x()?.tile(&c.arg(1, "reps")?.usizes()?)))(),
        "repeat" => (|| {
            let r = c.arg(1, "repeats")?.i64()? as usize;
            t(x()?.repeat_interleave(r, c.get(2, "axis").map(Val::i64).transpose()?))
        })(),
        "tril" | "triu" => (|| {
            let k = c.get(1, "k").map_or(Ok(0), Val::i64)?;
            t(if c.name == "tril" { x()?.tril(k) } else { x()?.triu(k) })
        })(),
        "diag" => (|| t(x()?.diag(c.get(1, "k").map_or(Ok(0), Val::i64)?)))(),
        "diagonal" => (|| {
            let g = |i: usize, n: &str, d: i64| c.get(i, n).map_or(Ok(d), Val::i64);
            t(x()?.diagonal(g(1, "offset", 0)?, g(2, "axis1", 0)?, g(3, "axis2", 1)?))
        })(),
        "trace" => (|| {
            let g = |i: usize, n: &str, d: i64| c.get(i, n).map_or(Ok(d), Val::i64);
            t(x()?.diagonal(g(1, "offset", 0)?, g(2, "axis1", 0)?, g(3, "axis2", 1)?).sum(vec![-1], false))
        })(),
        "roll" => (|| {
            let shifts = c.arg(1, "shift")?.ints()?;
            let dims = c.get(2, "axis").map(Val::ints).transpose()?.unwrap_or_default();
            t(x()?.roll(&shifts, &dims))
        })(),
        "atleast_1d" | "atleast_2d" | "atleast_3d" => (|| {
            let x = x()?;
            let s: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
            let want = match c.name {
                "atleast_1d" => 1,
                "atleast_2d" => 2,
                _ => 3,
            };
            let shape = match (want, s.len()) {
                (_, n) if n >= want => s.clone(),
                (3, 1) => vec![1, s[0], 1],
                (3, 2) => vec![s[0], s[1], 1],
                (w, _) => [vec![1; w - s.len()], s.clone()].concat(),
            };
            t(x.reshape(&shape))
        })(),
        _ => return None,
    })
}
