//! MLX's sorting, selection and padding (`sort`, `argsort`, `topk`, `take`,
//! `take_along_axis`, `pad`) onto Psionic's ops, with MLX's conventions: `axis=None`
//! flattens, `topk` returns the k largest in ascending order (MLX leaves their order to
//! its partition; ascending is what it gives), `take` selects whole slices along an
//! axis with indices of any shape, and pad widths are `(before, after)` pairs from the
//! first axis.

use super::ops::t;
use super::program::Call;
use super::value::Val;
use crate::torch::{unsupported, R};
use psionic_array::ops::pad::PadMode;
use psionic_array::Tensor;

/// The array and axis an `axis=None`-flattening op works on (`default` when absent).
pub(super) fn along(c: &Call, i: usize, default: Option<i64>) -> R<(Tensor, i64)> {
    let x = c.x()?;
    let axis = match c.args.get(i).or_else(|| c.kw.get("axis")) {
        Some(Val::None) => None,
        Some(v) => Some(v.i64()?),
        None => default,
    };
    Ok(match axis {
        Some(a) => (x, a),
        None => (x.reshape(&[-1]), 0),
    })
}

pub fn call(c: &Call) -> Option<R<Val>> {
    Some(match c.name {
        "sort" | "argsort" => (|| {
            c.only(2, &["axis"])?;
            let (x, axis) = along(c, 1, Some(-1))?;
            let (values, indices) = x.sort(axis, false);
            t(if c.name == "sort" { values } else { indices })
        })(),
        "topk" => (|| {
            c.only(3, &["k", "axis"])?;
            let k = c.arg(1, "k")?.i64()?;
            let (x, axis) = along(c, 2, Some(-1))?;
            let n = x.size(axis) as i64;
            if !(0..=n).contains(&k) {
                return unsupported(format!("topk: k={k} outside 0..={n}"));
            }
            t(x.sort(axis, false).0.narrow(axis, n - k, k as usize))
        })(),
        "take" => (|| {
            c.only(3, &["indices", "axis"])?;
            let idx = c.arg(1, "indices")?.array()?;
            match c.get(2, "axis") {
                None => t(c.x()?.take(&idx)),
                Some(a) => {
                    let (x, axis) = (c.x()?, a.i64()?);
                    let d = if axis < 0 { axis + x.dim() as i64 } else { axis };
                    // Whole slices at each index, the index's shape in place of the axis.
                    let picked = x.index_select(d, &idx.reshape(&[-1]));
                    let mut shape: Vec<i64> = x.shape()[..d as usize].iter().map(|&s| s as i64).collect();
                    shape.extend(idx.shape().iter().map(|&s| s as i64));
                    shape.extend(x.shape()[d as usize + 1..].iter().map(|&s| s as i64));
                    t(picked.reshape(&shape))
                }
            }
        })(),
        "take_along_axis" => (|| {
            c.only(3, &["indices", "axis"])?;
            let idx = c.arg(1, "indices")?.array()?;
            let axis = c.get(2, "axis").map(Val::i64).transpose()?;
            t(c.x()?.take_along_dim(&idx, axis))
        })(),
        "pad" => pad(c),
        "partition" | "argpartition" => unsupported(format!("mx.{}: the order within each side is MLX's own", c.name)),
        _ => return None,
    })
}

/// `mx.pad(a, pad_width, mode, constant_values)`: `pad_width` is one int (every side),
/// one `(before, after)` pair for every axis, or a pair per axis.
fn pad(c: &Call) -> R<Val> {
    c.only(4, &["pad_width", "mode", "constant_values"])?;
    let x = c.x()?;
    let nd = x.dim();
    let ints = |items: &[Val]| items.iter().all(|v| matches!(v, Val::Int(_)));
    let widths: Vec<(i64, i64)> = match c.arg(1, "pad_width")? {
        Val::Int(w) => vec![(*w, *w); nd],
        // One (before, after) pair, or one width, for every axis.
        v @ Val::List(items) if ints(items) => match v.ints()?[..] {
            [w] => vec![(w, w); nd],
            [b, a] => vec![(b, a); nd],
            _ => return unsupported("pad: pad_width"),
        },
        Val::List(items) => {
            let pairs: Vec<(i64, i64)> = items
                .iter()
                .map(|v| match v {
                    Val::Int(w) => Ok((*w, *w)),
                    v => match v.ints()?[..] {
                        [w] => Ok((w, w)),
                        [b, a] => Ok((b, a)),
                        _ => unsupported("pad: pad_width"),
                    },
                })
                .collect::<R<_>>()?;
            match pairs.len() {
                1 => vec![pairs[0]; nd],
                n if n == nd => pairs,
                n => return unsupported(format!("pad: {n} widths for {nd} axes")),
            }
        }
        _ => return unsupported("pad: pad_width"),
    };
    let mode = match c.get(2, "mode") {
        None => PadMode::Constant,
        Some(Val::Str(m)) if m == "constant" => PadMode::Constant,
        Some(Val::Str(m)) if m == "edge" => PadMode::Replicate,
        Some(_) => return unsupported("pad: mode"),
    };
    let value = c.get(3, "constant_values").map_or(Ok(0.0), Val::f64)?;
    // Psionic's pads run from the last axis backwards.
    let pads: Vec<i64> = widths.iter().rev().flat_map(|&(b, a)| [b, a]).collect();
    t(x.pad(&pads, mode, value))
}
