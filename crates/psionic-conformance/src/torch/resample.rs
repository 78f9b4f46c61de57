//! Resampling, unpooling and lookups of the nn_functional family: interpolate and the
//! upsample aliases, adaptive average and max pooling, lp pooling, max unpooling, pixel
//! (un)shuffle, one_hot, embedding, embedding_bag, grid_sample.

use super::{one, unsupported, Call, R};
use crate::value::Value;
use psionic_array::{BagMode, Bags, GridMode, GridPadding, Lookup, Pool, Resize, Tensor};

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

/// An adaptive pool's `output_size`: one int for every dim, or one per dim with `None`
/// keeping the input's size.
fn adaptive_size(c: &Call, x: &Tensor, k: usize) -> R<Vec<usize>> {
    let s = x.shape();
    match c.param(0, "output_size") {
        Some(Value::List(l)) => l
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::None => Ok(s[s.len() - k + i]),
                v => v.i64().map(|d| d as usize),
            })
            .collect(),
        Some(v) => Ok(vec![v.i64()? as usize; k]),
        None => unsupported("no output_size"),
    }
}

/// The options `F.embedding` and `F.embedding_bag` share (`sparse` only changes the
/// gradient's layout).
fn lookup(c: &Call) -> R<Lookup> {
    let opt = |k: &str| match c.kwargs.get(k) {
        None | Some(Value::None) => Ok(None),
        Some(v) => v.f64().map(Some),
    };
    Ok(Lookup {
        padding_idx: opt("padding_idx")?.map(|p| p as i64),
        max_norm: opt("max_norm")?,
        norm_type: opt("norm_type")?.unwrap_or(2.0),
        scale_grad_by_freq: c.kw_flag("scale_grad_by_freq", false)?,
    })
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let x = c.x().ok()?;
    let spatial = |op: &str| op.chars().rev().nth(1).and_then(|d| d.to_digit(10)).unwrap_or(2) as usize;
    Some(match c.op {
        "nn.functional.interpolate" => c
            .only(5, &["size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"])
            .and_then(|_| {
                let mode = match c.param(2, "mode") {
                    Some(Value::Str(s)) => s.as_str(),
                    _ => "nearest",
                };
                let Some(mut m) = Resize::from_name(mode) else { return unsupported(format!("mode {mode}")) };
                if c.kw_flag("antialias", false)? {
                    let Some(aa) = m.antialiased() else { return unsupported(format!("antialias with mode {mode}")) };
                    m = aa;
                }
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
        // The ATen op behind `antialias=True`: an output size with optional per-dim scales
        // for the coordinate map, or scale factors alone.
        "_upsample_bilinear2d_aa" => {
            c.only(0, &["output_size", "align_corners", "scale_factors", "scales_h", "scales_w"]).and_then(|_| {
                let align = c.kw_flag("align_corners", false)?;
                let s = x.shape();
                let factors = opt_scales(c.kwargs.get("scale_factors"))?;
                let (out, scales) = match (opt_sizes(c.kwargs.get("output_size"))?, factors) {
                    (Some(out), None) => {
                        let per = |k: &str| match c.kwargs.get(k) {
                            None | Some(Value::None) => Ok(None),
                            Some(v) => v.f64().map(Some),
                        };
                        (out, vec![per("scales_h")?, per("scales_w")?])
                    }
                    (None, Some(f)) => (
                        (0..2).map(|i| (s[i + 2] as f64 * f[i]).floor() as usize).collect(),
                        f.into_iter().map(Some).collect(),
                    ),
                    _ => return unsupported("output_size and scale_factors together"),
                };
                one(x.upsample(&out, &scales, Resize::LinearAntialias, align))
            })
        }
        "nn.functional.grid_sample" => c.only(1, &["mode", "padding_mode", "align_corners"]).and_then(|_| {
            let name = |k: &str, d: &'static str| match c.kwargs.get(k) {
                None | Some(Value::None) => Ok(d.to_string()),
                Some(Value::Str(s)) => Ok(s.clone()),
                Some(_) => unsupported(format!("{k} is not a string")),
            };
            let (m, p) = (name("mode", "bilinear")?, name("padding_mode", "zeros")?);
            let Some(mode) = GridMode::from_name(&m) else { return unsupported(format!("mode {m}")) };
            let Some(pad) = GridPadding::from_name(&p) else { return unsupported(format!("padding_mode {p}")) };
            one(x.grid_sample(c.tensor(0, "grid")?, mode, pad, c.kw_flag("align_corners", false)?))
        }),
        // ATen's form: modes as integers.
        "grid_sampler_2d" | "grid_sampler_3d" => c.only(4, &[]).and_then(|_| {
            let int = |i: usize| c.param(i, "").map_or_else(|| unsupported("missing mode"), Value::i64);
            let mode = match int(1)? {
                0 => GridMode::Bilinear,
                1 => GridMode::Nearest,
                2 => GridMode::Bicubic,
                m => return unsupported(format!("interpolation mode {m}")),
            };
            let pad = match int(2)? {
                0 => GridPadding::Zeros,
                1 => GridPadding::Border,
                2 => GridPadding::Reflection,
                p => return unsupported(format!("padding mode {p}")),
            };
            one(x.grid_sample(c.tensor(0, "grid")?, mode, pad, c.flag(3, "align_corners", false)?))
        }),
        "nn.functional.adaptive_avg_pool1d"
        | "nn.functional.adaptive_avg_pool2d"
        | "nn.functional.adaptive_avg_pool3d" => {
            c.only(1, &["output_size"]).and_then(|_| one(x.adaptive_avg_pool(&adaptive_size(c, x, spatial(c.op))?)))
        }
        "nn.functional.adaptive_max_pool1d"
        | "nn.functional.adaptive_max_pool2d"
        | "nn.functional.adaptive_max_pool3d" => c.only(2, &["output_size", "return_indices"]).and_then(|_| {
            let (values, indices) = x.adaptive_max_pool(&adaptive_size(c, x, spatial(c.op))?);
            Ok(if c.flag(1, "return_indices", false)? { vec![values, indices] } else { vec![values] })
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
        // OpInfo calls both as (weight, indices, ...).
        "nn.functional.embedding" => c
            .only(2, &["padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"])
            .and_then(|_| one(x.embedding_with(c.tensor(0, "indices")?, &lookup(c)?))),
        "nn.functional.embedding_bag" => c
            .only(
                2,
                &[
                    "offsets",
                    "max_norm",
                    "norm_type",
                    "scale_grad_by_freq",
                    "mode",
                    "sparse",
                    "per_sample_weights",
                    "include_last_offset",
                    "padding_idx",
                ],
            )
            .and_then(|_| {
                let mode = match c.kwargs.get("mode") {
                    None | Some(Value::None) => "mean",
                    Some(Value::Str(s)) => s.as_str(),
                    Some(_) => return unsupported("mode is not a string"),
                };
                let Some(mode) = BagMode::from_name(mode) else { return unsupported(format!("bag mode {mode}")) };
                let bags = Bags {
                    offsets: c.opt_tensor(usize::MAX, "offsets")?,
                    mode,
                    per_sample_weights: c.opt_tensor(usize::MAX, "per_sample_weights")?,
                    include_last_offset: c.kw_flag("include_last_offset", false)?,
                };
                one(x.embedding_bag(c.tensor(0, "indices")?, &bags, &lookup(c)?))
            }),
        _ => return None,
    })
}
