//! Which fused chains run row by row (`psionic_cpu::fused_rows`): those whose last value
//! is a row of the output's shape `[..., N]` and whose reductions (sum, max, min) run
//! along that last dim, every other value being a row or one value per row (`[...]` or
//! `[..., 1]`), all f32 or all f64. Built once, from the metas of the trace.

use super::{FusedStep, Meta, Prim, ViewOp};
use psionic_core::ops::ReduceOp;
use psionic_core::DType;
use psionic_cpu::fused::{FloatStep, Operand};
use psionic_cpu::fused_rows::{RowOp, RowStep};

/// Whether a primitive may join a row chain beside the elementwise ones: a sum, max or
/// min (along the last dim, checked with the metas) or a reshape (of a per-row value).
pub fn row_fusible(prim: &Prim) -> bool {
    matches!(prim, Prim::Reduce(r) if matches!(r.op, ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min))
        || matches!(prim, Prim::View(ViewOp::Reshape(_)))
}

/// A chain run row by row: the rows' shape, its steps, and the metas it was built for.
#[derive(Debug, PartialEq)]
pub struct RowPlan {
    pub row_shape: Vec<usize>,
    pub input_shapes: Vec<Vec<usize>>,
    pub steps: Vec<RowStep>,
    pub dtype: DType,
}

/// The row plan of `steps` (values `metas`) over `inputs`, or `None` when the chain is
/// not one (a value of another shape, a reduction over other dims, mixed dtypes, a
/// per-row value broadcast along the wrong dims).
pub fn row_plan(steps: &[FusedStep], metas: &[Meta], inputs: &[&Meta]) -> Option<RowPlan> {
    let root = metas.last()?;
    let r = &root.shape[..];
    let (&n, outer) = r.split_last()?;
    let dtype = root.dtype;
    let all_one_dtype = metas.iter().chain(inputs.iter().copied()).all(|m| m.dtype == dtype);
    if n < 2 || !matches!(dtype, DType::F32 | DType::F64) || !all_one_dtype {
        return None;
    }
    let keep: Vec<usize> = outer.iter().copied().chain([1]).collect();
    let per_row_shape = |s: &[usize]| s == outer || s == &keep[..];
    let numel = |s: &[usize]| s.iter().product::<usize>();
    let mut out = Vec::with_capacity(steps.len());
    for (k, s) in steps.iter().enumerate() {
        let shape = &metas[k].shape[..];
        let per_row = shape == r;
        if !per_row && !per_row_shape(shape) {
            return None;
        }
        let arg_shape = |a: Operand| -> &[usize] {
            match a {
                Operand::Input(i) => &inputs[i].shape,
                Operand::Step(j) => &metas[j].shape,
            }
        };
        let arg_per_row = |a: Operand| matches!(a, Operand::Step(j) if metas[j].shape[..] == *r);
        // Operands of an elementwise step: a row step reads rows, inputs (broadcast to
        // the rows) and per-row values of the `[..., 1]` shape (broadcast along the row);
        // a per-row step reads per-row values of its own shape and inputs that are one
        // value or broadcast per row.
        let operands_ok = |args: &[Operand]| {
            args.iter().all(|&a| {
                let sa = arg_shape(a);
                match (per_row, a) {
                    (true, Operand::Input(_)) => true,
                    (true, Operand::Step(_)) => arg_per_row(a) || sa == &keep[..] || numel(sa) == 1,
                    (false, Operand::Input(_)) => numel(sa) == 1 || shape == &keep[..],
                    (false, Operand::Step(_)) => !arg_per_row(a) && (sa == shape || numel(sa) == 1),
                }
            })
        };
        // Which primitives may join is `row_fusible` and `fusible`'s question; the
        // others end the plan here.
        let reshape_ok = |a: Operand| match a {
            Operand::Input(_) => numel(arg_shape(a)) == 1 || arg_shape(a) == &keep[..],
            Operand::Step(_) => !arg_per_row(a) && per_row_shape(arg_shape(a)),
        };
        let op = if let Prim::Unary(op) = &s.prim {
            (FloatStep::Unary(*op).has_kernel() && operands_ok(&s.args)).then_some(RowOp::Unary(*op))
        } else if let Prim::Binary(op) = &s.prim {
            (FloatStep::Binary(*op).has_kernel() && operands_ok(&s.args)).then_some(RowOp::Binary(*op))
        } else if let Prim::Reduce(red) = &s.prim {
            let along_rows = red.dims == [r.len() - 1] && arg_shape(s.args[0]) == r;
            (row_fusible(&s.prim) && !per_row && along_rows).then_some(RowOp::Reduce(red.op))
        } else if let Prim::View(ViewOp::Reshape(_)) = &s.prim {
            (!per_row && reshape_ok(s.args[0])).then_some(RowOp::Same)
        } else {
            None
        }?;
        out.push(RowStep { op, args: s.args.clone(), per_row });
    }
    // Only a chain with a reduction is worth rows; the others run on flat blocks.
    let reduces = out.iter().any(|s| matches!(s.op, RowOp::Reduce(_)));
    (reduces && out.last()?.per_row).then(|| RowPlan {
        row_shape: r.to_vec(),
        input_shapes: inputs.iter().map(|m| m.shape.to_vec()).collect(),
        steps: out,
        dtype,
    })
}
