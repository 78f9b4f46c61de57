//! Views, joins and splits (the shape_ops family).

use super::{unsupported, Call, R};
use crate::value::Value;
use psionic_array::Tensor;

fn int(c: &Call, i: usize, name: &str, default: Option<i64>) -> R<i64> {
    match (c.param(i, name), default) {
        (Some(v), _) => v.i64(),
        (None, Some(d)) => Ok(d),
        (None, None) => unsupported(format!("missing {name}")),
    }
}

fn ints(c: &Call, i: usize, name: &str) -> R<Vec<i64>> {
    c.param(i, name).map_or_else(|| unsupported(format!("missing {name}")), Value::ints)
}

fn sizes(v: Vec<i64>) -> R<Vec<usize>> {
    v.into_iter().map(|s| usize::try_from(s).map_or_else(|_| unsupported("negative size"), Ok)).collect()
}

/// The tensors of a list input (`cat`, `stack`, ...).
pub(super) fn list(v: &Value) -> R<Vec<&Tensor>> {
    match v {
        Value::List(xs) => {
            xs.iter().map(|x| x.as_tensor().map_or_else(|| unsupported("non-tensor in list"), Ok)).collect()
        }
        _ => unsupported("expected a list of tensors"),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let joined = |f: fn(&[&Tensor], i64) -> Tensor, dim_at: usize| -> R<Vec<Tensor>> {
        c.only(dim_at + 1, &["dim"])?;
        let d = int(c, dim_at, "dim", Some(0))?;
        Ok(vec![f(&list(c.input)?, d)])
    };
    match c.op {
        "cat" => return Some(joined(|t, d| Tensor::cat(t, d), 0)),
        "stack" => return Some(joined(|t, d| Tensor::stack(t, d), 0)),
        "hstack" | "vstack" => {
            return Some(c.only(0, &[]).and_then(|_| {
                let t = list(c.input)?;
                Ok(vec![if c.op == "hstack" { Tensor::hstack(&t) } else { Tensor::vstack(&t) }])
            }))
        }
        _ => {}
    }
    let x = c.x().ok()?;
    let one = |t: Tensor| Ok(vec![t]);
    Some(match c.op {
        "t" => c.only(0, &[]).and_then(|_| one(x.t())),
        "transpose" => c
            .only(2, &["dim0", "dim1"])
            .and_then(|_| one(x.transpose(int(c, 0, "dim0", None)?, int(c, 1, "dim1", None)?))),
        "permute" => c.only(1, &["dims"]).and_then(|_| one(x.permute(&ints(c, 0, "dims")?))),
        "reshape" => c.only(1, &["shape"]).and_then(|_| one(x.reshape(&ints(c, 0, "shape")?))),
        "view" => c.only(1, &["size"]).and_then(|_| one(x.view(&ints(c, 0, "size")?))),
        "flatten" => c
            .only(2, &["start_dim", "end_dim"])
            .and_then(|_| one(x.flatten(int(c, 0, "start_dim", Some(0))?, int(c, 1, "end_dim", Some(-1))?))),
        "unflatten" => {
            c.only(2, &["dim", "sizes"]).and_then(|_| one(x.unflatten(int(c, 0, "dim", None)?, &ints(c, 1, "sizes")?)))
        }
        "unsqueeze" => c.only(1, &["dim"]).and_then(|_| one(x.unsqueeze(int(c, 0, "dim", None)?))),
        "squeeze" => c.only(1, &["dim"]).and_then(|_| match c.param(0, "dim") {
            None => one(x.squeeze()),
            Some(v) => one(x.squeeze_dims(&v.ints()?)),
        }),
        "movedim" => c
            .only(2, &["source", "destination"])
            .and_then(|_| one(x.movedim(&ints(c, 0, "source")?, &ints(c, 1, "destination")?))),
        "expand" => c.only(1, &["size"]).and_then(|_| one(x.expand(&ints(c, 0, "size")?))),
        "expand_as" => c.only(1, &[]).and_then(|_| match c.args.first().and_then(Value::as_tensor) {
            Some(o) => one(x.expand_as(o)),
            None => unsupported("expand_as other"),
        }),
        "broadcast_to" => c.only(1, &["size"]).and_then(|_| one(x.broadcast_to(&sizes(ints(c, 0, "size")?)?))),
        "broadcast_tensors" => c.only(usize::MAX, &[]).and_then(|_| {
            let mut all = vec![x];
            for a in c.args {
                all.push(a.as_tensor().map_or_else(|| unsupported("non-tensor operand"), Ok)?);
            }
            Ok(Tensor::broadcast_tensors(&all))
        }),
        "narrow" => c.only(3, &["dim", "start", "length"]).and_then(|_| {
            let start = match c.param(1, "start") {
                Some(Value::Tensor(t)) => t.item::<i64>(),
                Some(v) => v.i64()?,
                None => return unsupported("missing start"),
            };
            let len =
                usize::try_from(int(c, 2, "length", None)?).map_or_else(|_| unsupported("negative length"), Ok)?;
            one(x.narrow(int(c, 0, "dim", None)?, start, len))
        }),
        "select" => {
            c.only(2, &["dim", "index"]).and_then(|_| one(x.select(int(c, 0, "dim", None)?, int(c, 1, "index", None)?)))
        }
        "slice" => c.only(4, &["dim", "start", "end", "step"]).and_then(|_| {
            let opt = |i: usize, k: &str| -> R<Option<i64>> {
                match c.param(i, k) {
                    None | Some(Value::None) => Ok(None),
                    Some(v) => v.i64().map(Some),
                }
            };
            one(x.slice(int(c, 0, "dim", Some(0))?, opt(1, "start")?, opt(2, "end")?, int(c, 3, "step", Some(1))?))
        }),
        "unbind" => c.only(1, &["dim"]).and_then(|_| Ok(x.unbind(int(c, 0, "dim", Some(0))?))),
        "chunk" => c.only(2, &["chunks", "dim"]).and_then(|_| {
            let n = usize::try_from(int(c, 0, "chunks", None)?).map_or_else(|_| unsupported("chunks"), Ok)?;
            Ok(x.chunk(n, int(c, 1, "dim", Some(0))?))
        }),
        "split" => c.only(2, &["split_size_or_sections", "dim"]).and_then(|_| {
            let d = int(c, 1, "dim", Some(0))?;
            match c.param(0, "split_size_or_sections") {
                Some(Value::Int(n)) if *n > 0 => Ok(x.split(*n as usize, d)),
                Some(Value::List(v)) => Ok(x.split_with_sizes(&sizes(Value::List(v.clone()).ints()?)?, d)),
                _ => unsupported("split size"),
            }
        }),
        "split_with_sizes" => c
            .only(2, &["split_sizes", "dim"])
            .and_then(|_| Ok(x.split_with_sizes(&sizes(ints(c, 0, "split_sizes")?)?, int(c, 1, "dim", Some(0))?))),
        "tensor_split" => c.only(2, &["indices_or_sections", "dim"]).and_then(|_| {
            let d = int(c, 1, "dim", Some(0))?;
            match c.param(0, "indices_or_sections") {
                Some(Value::Int(n)) if *n > 0 => Ok(x.tensor_split(*n as usize, d)),
                Some(Value::List(v)) => Ok(x.tensor_split_indices(&Value::List(v.clone()).ints()?, d)),
                Some(Value::Tensor(t)) if t.dim() == 0 => Ok(x.tensor_split(t.item::<i64>().max(0) as usize, d)),
                Some(Value::Tensor(t)) => Ok(x.tensor_split_indices(&t.to_vec::<i64>(), d)),
                _ => unsupported("tensor_split form"),
            }
        }),
        "flip" => c.only(1, &["dims"]).and_then(|_| one(x.flip(&ints(c, 0, "dims")?))),
        "roll" => c.only(2, &["shifts", "dims"]).and_then(|_| {
            let dims = match c.param(1, "dims") {
                None | Some(Value::None) => vec![],
                Some(v) => v.ints()?,
            };
            one(x.roll(&ints(c, 0, "shifts")?, &dims))
        }),
        "repeat" => c.only(1, &["repeats"]).and_then(|_| one(x.repeat(&sizes(ints(c, 0, "repeats")?)?))),
        "tile" => c.only(1, &["dims"]).and_then(|_| one(x.tile(&sizes(ints(c, 0, "dims")?)?))),
        "repeat_interleave" => c.only(2, &["repeats", "dim", "output_size"]).and_then(|_| {
            let dim = match c.param(1, "dim") {
                None | Some(Value::None) => None,
                Some(v) => Some(v.i64()?),
            };
            match c.param(0, "repeats") {
                Some(Value::Int(n)) if *n >= 0 => one(x.repeat_interleave(*n as usize, dim)),
                Some(Value::Tensor(r)) => match dim {
                    Some(d) => one(x.repeat_interleave_tensor(r, d)),
                    None => one(x.flatten(0, -1).repeat_interleave_tensor(r, 0)),
                },
                _ => unsupported("repeats form"),
            }
        }),
        "tril" | "triu" => c.only(1, &["diagonal"]).and_then(|_| {
            let k = int(c, 0, "diagonal", Some(0))?;
            one(if c.op == "tril" { x.tril(k) } else { x.triu(k) })
        }),
        "diagonal" | "diag_embed" => c.only(3, &["offset", "dim1", "dim2"]).and_then(|_| {
            let (d1, d2) = if c.op == "diagonal" { (0, 1) } else { (-2, -1) };
            let (o, a, b) = (int(c, 0, "offset", Some(0))?, int(c, 1, "dim1", Some(d1))?, int(c, 2, "dim2", Some(d2))?);
            one(if c.op == "diagonal" { x.diagonal(o, a, b) } else { x.diag_embed(o, a, b) })
        }),
        "diag" => c.only(1, &["diagonal"]).and_then(|_| one(x.diag(int(c, 0, "diagonal", Some(0))?))),
        "unfold" => c.only(3, &["dimension", "size", "step"]).and_then(|_| {
            let (size, step) = (int(c, 1, "size", None)?, int(c, 2, "step", None)?);
            if size < 0 || step < 0 {
                return unsupported("negative window");
            }
            one(x.unfold(int(c, 0, "dimension", None)?, size as usize, step as usize))
        }),
        // Those samples view a larger storage than their values; the fixture keeps values.
        "as_strided" if c.variant == "partial_views" => {
            unsupported("the fixture stores values, not the storage a partial view addresses")
        }
        "as_strided" => c.only(3, &["size", "stride", "storage_offset"]).and_then(|_| {
            let stride: Vec<isize> = ints(c, 1, "stride")?.into_iter().map(|s| s as isize).collect();
            let off = match c.param(2, "storage_offset") {
                None | Some(Value::None) => None,
                Some(v) => Some(v.i64()? as usize),
            };
            one(x.as_strided(&sizes(ints(c, 0, "size")?)?, &stride, off))
        }),
        _ => return None,
    })
}
