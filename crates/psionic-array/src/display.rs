//! Printing in PyTorch's `repr` layout: the same number formats (integer-valued floats as
//! `1.`, four decimals, scientific when the dynamic range asks for it), the same wrapping
//! at 80 columns, the same `...` summary past 1000 elements, and `dtype=` for
//! non-default dtypes.

use crate::tensor::Tensor;
use psionic_core::DType;
use std::fmt;

const THRESHOLD: usize = 1000;
const EDGE: usize = 3;
const LINEWIDTH: usize = 80;

enum Fmt {
    Int,
    Bool,
    Float { int_mode: bool, sci: bool },
}

fn sci(v: f64) -> String {
    let s = format!("{v:.4e}");
    let (m, e) = s.split_once('e').unwrap();
    let e: i32 = e.parse().unwrap();
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

impl Fmt {
    fn build(dtype: DType, vals: &[f64]) -> Fmt {
        if dtype == DType::Bool {
            return Fmt::Bool;
        }
        if !dtype.is_float() {
            return Fmt::Int;
        }
        let nz: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite() && *v != 0.0).collect();
        if nz.is_empty() {
            return Fmt::Float { int_mode: true, sci: false };
        }
        let int_mode = nz.iter().all(|v| v.ceil() == *v);
        let (mn, mx) = nz.iter().fold((f64::INFINITY, 0f64), |(a, b), v| (a.min(v.abs()), b.max(v.abs())));
        let sci = if int_mode { mx / mn > 1000.0 || mx > 1e8 } else { mx / mn > 1000.0 || mx > 1e8 || mn < 1e-4 };
        Fmt::Float { int_mode, sci }
    }

    fn fmt(&self, v: f64) -> String {
        match self {
            Fmt::Bool => if v != 0.0 { "True" } else { "False" }.to_string(),
            Fmt::Int => format!("{}", v as i64),
            Fmt::Float { int_mode, sci: s } => {
                if v.is_nan() {
                    "nan".into()
                } else if v.is_infinite() {
                    if v > 0.0 { "inf" } else { "-inf" }.into()
                } else if *s {
                    sci(v)
                } else if *int_mode {
                    format!("{v:.0}.")
                } else {
                    format!("{v:.4}")
                }
            }
        }
    }
}

struct Printer {
    shape: Vec<usize>,
    vals: Vec<f64>,
    ints: Vec<i64>,
    dtype: DType,
    summarize: bool,
    fmt: Fmt,
    width: usize,
}

impl Printer {
    fn elem(&self, flat: usize) -> String {
        let s = if matches!(self.fmt, Fmt::Int) { self.ints[flat].to_string() } else { self.fmt.fmt(self.vals[flat]) };
        format!("{s:>w$}", w = self.width)
    }

    /// Indices kept along a dim of size n.
    fn kept(&self, n: usize) -> Vec<Option<usize>> {
        if self.summarize && n > 2 * EDGE {
            (0..EDGE).map(Some).chain([None]).chain((n - EDGE..n).map(Some)).collect()
        } else {
            (0..n).map(Some).collect()
        }
    }

    fn render(&self, dim: usize, base: usize, indent: usize) -> String {
        let nd = self.shape.len();
        let stride: usize = self.shape[dim + 1..].iter().product();
        let n = self.shape[dim];
        if dim == nd - 1 {
            let data: Vec<String> =
                self.kept(n).iter().map(|k| k.map_or(" ...".to_string(), |i| self.elem(base + i))).collect();
            let per_line = ((LINEWIDTH.saturating_sub(indent)) / (self.width + 2)).max(1);
            let lines: Vec<String> = data.chunks(per_line).map(|c| c.join(", ")).collect();
            return format!("[{}]", lines.join(&format!(",\n{}", " ".repeat(indent + 1))));
        }
        let parts: Vec<String> = self
            .kept(n)
            .iter()
            .map(|k| k.map_or("...".to_string(), |i| self.render(dim + 1, base + i * stride, indent + 1)))
            .collect();
        format!("[{}]", parts.join(&format!(",{}{}", "\n".repeat(nd - dim - 1), " ".repeat(indent + 1))))
    }
}

fn summarized_flat(shape: &[usize], summarize: bool) -> Vec<usize> {
    // Flat indices of the elements that will be printed, to size the formatter on them.
    let mut idx = vec![0usize];
    for (d, &n) in shape.iter().enumerate() {
        let stride: usize = shape[d + 1..].iter().product();
        let keep: Vec<usize> =
            if summarize && n > 2 * EDGE { (0..EDGE).chain(n - EDGE..n).collect() } else { (0..n).collect() };
        idx = idx.iter().flat_map(|&b| keep.iter().map(move |&k| b + k * stride)).collect();
    }
    idx
}

/// `size=(2, 3)`, as a Python tuple (`(4,)` for one dim).
fn size(shape: &[usize]) -> String {
    let dims = shape.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
    format!("size=({dims}{})", if shape.len() == 1 { "," } else { "" })
}

/// A meta tensor has no values: PyTorch prints its device, size and (when not the
/// default float) dtype.
fn fmt_meta(t: &Tensor, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "tensor(..., device='meta', {}", size(&t.shape()))?;
    if t.dtype() != DType::default_float() {
        write!(f, ", dtype={}", t.dtype())?;
    }
    write!(f, ")")
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_meta() {
            return fmt_meta(self, f);
        }
        let shape = self.shape();
        let dtype = self.dtype();
        let numel = self.numel();
        let vals: Vec<f64> = if dtype.is_float() || dtype == DType::Bool { self.to_vec::<f64>() } else { vec![] };
        let ints: Vec<i64> = if dtype.is_float() || dtype == DType::Bool { vec![] } else { self.to_vec::<i64>() };
        let summarize = numel > THRESHOLD;
        let shown = summarized_flat(&shape, summarize);
        let shown_vals: Vec<f64> = if ints.is_empty() { shown.iter().map(|&i| vals[i]).collect() } else { vec![] };
        let fmt_ = Fmt::build(dtype, &shown_vals);
        let width = shown
            .iter()
            .map(|&i| if matches!(fmt_, Fmt::Int) { ints[i].to_string().len() } else { fmt_.fmt(vals[i]).len() })
            .max()
            .unwrap_or(0);
        let p = Printer { shape: shape.clone(), vals, ints, dtype, summarize, fmt: fmt_, width };
        let body = if numel == 0 {
            "[]".to_string()
        } else if shape.is_empty() {
            p.elem(0).trim_start().to_string()
        } else {
            p.render(0, 0, 7)
        };
        let mut suffix = vec![];
        if numel == 0 && shape != [0] {
            suffix.push(size(&shape));
        }
        if !matches!(p.dtype, DType::F32 | DType::I64 | DType::Bool) {
            suffix.push(format!("dtype={}", p.dtype));
        }
        write!(f, "tensor({body}")?;
        for s in suffix {
            write!(f, ", {s}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
