//! Convolution, pooling, padding and im2col (part of the nn_functional family).

use super::{one, unsupported, Call, R};
use crate::value::Value;
use psionic_array::{PadMode, Padding, Pool, Tensor};

/// An int or list of ints as sizes; `default` when absent or None.
fn sizes(c: &Call, i: usize, name: &str, default: &[usize]) -> R<Vec<usize>> {
    match c.param(i, name) {
        None | Some(Value::None) => Ok(default.to_vec()),
        Some(v) => Ok(v.ints()?.into_iter().map(|x| x as usize).collect()),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let x = c.x().ok()?;
    let spatial = |op: &str| op.chars().rev().nth(1).and_then(|d| d.to_digit(10)).unwrap_or(2) as usize;
    Some(match c.op {
        "nn.functional.conv1d" | "nn.functional.conv2d" | "nn.functional.conv3d" => {
            c.only(7, &["weight", "bias", "stride", "padding", "dilation", "groups"]).and_then(|_| {
                let w = c.tensor(0, "weight")?;
                let b = c.opt_tensor(1, "bias")?;
                let padding = match c.param(3, "padding") {
                    Some(Value::Str(s)) if s == "same" => Padding::Same,
                    Some(Value::Str(s)) if s == "valid" => Padding::Valid,
                    _ => Padding::Explicit(sizes(c, 3, "padding", &[0])?),
                };
                let groups = c.param(5, "groups").map_or(Ok(1), Value::i64)? as usize;
                one(x.conv(w, b, &sizes(c, 2, "stride", &[1])?, padding, &sizes(c, 4, "dilation", &[1])?, groups))
            })
        }
        "nn.functional.conv_transpose1d" | "nn.functional.conv_transpose2d" | "nn.functional.conv_transpose3d" => {
            c.only(8, &["weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"]).and_then(|_| {
                let w = c.tensor(0, "weight")?;
                let b = c.opt_tensor(1, "bias")?;
                let groups = c.param(5, "groups").map_or(Ok(1), Value::i64)? as usize;
                one(x.conv_transpose(
                    w,
                    b,
                    &sizes(c, 2, "stride", &[1])?,
                    &sizes(c, 3, "padding", &[0])?,
                    &sizes(c, 4, "output_padding", &[0])?,
                    groups,
                    &sizes(c, 6, "dilation", &[1])?,
                ))
            })
        }
        "nn.functional.max_pool1d" | "nn.functional.max_pool2d" | "nn.functional.max_pool3d" => {
            c.only(6, &["kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"]).and_then(|_| {
                let k = spatial(c.op);
                let p = Pool::new(
                    k,
                    &sizes(c, 0, "kernel_size", &[])?,
                    &sizes(c, 1, "stride", &[])?,
                    &sizes(c, 2, "padding", &[0])?,
                    &sizes(c, 3, "dilation", &[1])?,
                    c.flag(4, "ceil_mode", false)?,
                );
                let (v, i) = x.max_pool(&p);
                Ok(if c.flag(5, "return_indices", false)? { vec![v, i] } else { vec![v] })
            })
        }
        "nn.functional.avg_pool1d" | "nn.functional.avg_pool2d" | "nn.functional.avg_pool3d" => c
            .only(6, &["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"])
            .and_then(|_| {
                let k = spatial(c.op);
                let p = Pool::new(
                    k,
                    &sizes(c, 0, "kernel_size", &[])?,
                    &sizes(c, 1, "stride", &[])?,
                    &sizes(c, 2, "padding", &[0])?,
                    &[1],
                    c.flag(3, "ceil_mode", false)?,
                );
                let divisor = match c.param(5, "divisor_override") {
                    None | Some(Value::None) => None,
                    Some(v) => Some(v.i64()?),
                };
                one(x.avg_pool(&p, c.flag(4, "count_include_pad", true)?, divisor))
            }),
        "nn.functional.pad" | "constant_pad_nd" => c.only(3, &["pad", "mode", "value"]).and_then(|_| {
            let pads = c.param(0, "pad").map_or_else(|| unsupported("no pad"), Value::ints)?;
            let (mode, value_at) = if c.op == "constant_pad_nd" {
                (PadMode::Constant, 1)
            } else {
                let mode = match c.param(1, "mode") {
                    None => PadMode::Constant,
                    Some(Value::Str(s)) => {
                        PadMode::from_name(s).map_or_else(|| unsupported(format!("pad mode {s}")), Ok)?
                    }
                    Some(_) => return unsupported("pad mode"),
                };
                (mode, 2)
            };
            let value = match c.param(value_at, "value") {
                None | Some(Value::None) => 0.0,
                Some(v) => v.f64()?,
            };
            one(x.pad(&pads, mode, value))
        }),
        "nn.functional.unfold" => c.only(4, &["kernel_size", "dilation", "padding", "stride"]).and_then(|_| {
            one(x.im2col(
                &sizes(c, 0, "kernel_size", &[])?,
                &sizes(c, 1, "dilation", &[1])?,
                &sizes(c, 2, "padding", &[0])?,
                &sizes(c, 3, "stride", &[1])?,
            ))
        }),
        _ => return None,
    })
}
