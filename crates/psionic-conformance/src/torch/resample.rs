//! Resampling, unpooling and lookups of the nn_functional family: interpolate and the
//! upsample aliases, adaptive average pooling, lp pooling, max unpooling, pixel
//! (un)shuffle, one_hot, embedding.

use super::{one, unsupported, Call, R};
use crate::value::Value;
use psionic_array::{Pool, Resize, Tensor};

fn opt_sizes(v: Option<&Value>) -> R<Option<Vec<usize>>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(v) => Ok(Some(v.ints()?.into_iter().map(|x| x as usize).collect())),
    }
}

fn opt_scales(v: Option<&Value>) -> R<Option<Vec<f64>>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::List(l)) => l.iter().map(Value::f64).collect::<R<Vec<_>>>().map(Some),
        Some(v) => Ok(Some(vec![v.f64()?])),
    }
}

fn ints(c: &Call, i: usize, name: &str) -> R<Vec<usize>> {
    match c.param(i, name) {
        None | Some(Value::None) => Ok(vec![]),
        Some(v) => Ok(v.ints()?.into_iter().map(|x| x as usize).collect()),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let x = c.x().ok()?;
    let spatial = |op: &str| op.chars().rev().nth(1).and_then(|d| d.to_digit(10)).unwrap_or(2) as usize;
    Some(match c.op {
        "nn.functional.interpolate" => c
            .only(5, &["size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"])
            .and_then(|_| {
                if c.kw_flag("antialias", false)? {
                    return unsupported("antialiased interpolation");
                }
                let mode = match c.param(2, "mode") {
                    Some(Value::Str(s)) => s.as_str(),
                    _ => "nearest",
                };
                let Some(m) = Resize::from_name(mode) else { return unsupported(format!("mode {mode}")) };
                let align = match c.param(3, "align_corners") {
                    None | Some(Value::None) => None,
                    Some(v) => Some(v.bool()?),
                };
                let size = opt_sizes(c.param(0, "size"))?;
                let scale = opt_scales(c.param(1, "scale_factor"))?;
                let recompute = c.flag(4, "recompute_scale_factor", false)?;
                one(x.interpolate(size.as_deref(), scale.as_deref(), m, align, recompute))
            }),
        "nn.functional.upsample_nearest" | "nn.functional.upsample_bilinear" => {
            c.only(2, &["size", "scale_factor"]).and_then(|_| {
                let size = opt_sizes(c.param(0, "size"))?;
                let scale = opt_scales(c.param(1, "scale_factor"))?;
                let (m, align) =
                    if c.op.ends_with("nearest") { (Resize::Nearest, None) } else { (Resize::Linear, Some(true)) };
                one(x.interpolate(size.as_deref(), scale.as_deref(), m, align, false))
            })
        }
        "nn.functional.adaptive_avg_pool1d"
        | "nn.functional.adaptive_avg_pool2d"
        | "nn.functional.adaptive_avg_pool3d" => c.only(1, &["output_size"]).and_then(|_| {
            let k = spatial(c.op);
            let s = x.shape();
            let out = match c.param(0, "output_size") {
                Some(Value::List(l)) => l
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::None => Ok(s[s.len() - k + i]),
                        v => v.i64().map(|d| d as usize),
                    })
                    .collect::<R<Vec<_>>>()?,
                Some(v) => vec![v.i64()? as usize; k],
                None => return unsupported("no output_size"),
            };
            one(x.adaptive_avg_pool(&out))
        }),
        "nn.functional.lp_pool1d" | "nn.functional.lp_pool2d" | "nn.functional.lp_pool3d" => {
            c.only(4, &["norm_type", "kernel_size", "stride", "ceil_mode"]).and_then(|_| {
                let k = spatial(c.op);
                let norm = c.param(0, "norm_type").map_or(Ok(2.0), Value::f64)?;
                let p = Pool::new(
                    k,
                    &ints(c, 1, "kernel_size")?,
                    &ints(c, 2, "stride")?,
                    &[0],
                    &[1],
                    c.flag(3, "ceil_mode", false)?,
                );
                one(x.lp_pool(norm, &p))
            })
        }
        "nn.functional.max_unpool1d" | "nn.functional.max_unpool2d" | "nn.functional.max_unpool3d" => {
            c.only(5, &["indices", "kernel_size", "stride", "padding", "output_size"]).and_then(|_| {
                let k = spatial(c.op);
                let idx = c.tensor(0, "indices")?;
                let p = Pool::new(
                    k,
                    &ints(c, 1, "kernel_size")?,
                    &ints(c, 2, "stride")?,
                    &ints(c, 3, "padding").map(|v| if v.is_empty() { vec![0] } else { v })?,
                    &[1],
                    false,
                );
                let out = opt_sizes(c.param(4, "output_size"))?;
                one(x.max_unpool(idx, k, &p, out.as_deref()))
            })
        }
        "nn.functional.pixel_shuffle" => c
            .only(1, &["upscale_factor"])
            .and_then(|_| one(x.pixel_shuffle(c.param(0, "upscale_factor").map_or(Ok(1), Value::i64)? as usize))),
        "nn.functional.pixel_unshuffle" => c
            .only(1, &["downscale_factor"])
            .and_then(|_| one(x.pixel_unshuffle(c.param(0, "downscale_factor").map_or(Ok(1), Value::i64)? as usize))),
        "nn.functional.one_hot" => c.only(1, &["num_classes"]).and_then(|_| {
            let n = c.param(0, "num_classes").map_or(Ok(-1), Value::i64)?;
            one(x.one_hot(if n < 0 { None } else { Some(n as usize) }))
        }),
        // OpInfo calls it as (weight, indices).
        "nn.functional.embedding" => {
            c.only(2, &["padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"]).and_then(|_| {
                if c.kwargs.get("max_norm").is_some_and(|v| !matches!(v, Value::None)) {
                    return unsupported("embedding max_norm (renormalizes the weight in place)");
                }
                if c.kw_flag("scale_grad_by_freq", false)? {
                    return unsupported("embedding scale_grad_by_freq");
                }
                let pad = match c.kwargs.get("padding_idx") {
                    None | Some(Value::None) => None,
                    Some(v) => Some(v.i64()?),
                };
                one(x.embedding(c.tensor(0, "indices")?, pad))
            })
        }
        _ => return None,
    })
}
