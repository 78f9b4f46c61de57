//! A chain of elementwise primitives run as one kernel: what compile's fusion makes of a
//! group of unary, binary, ternary, `where` and cast steps that share one output shape.
//! The CPU evaluates it a tile at a time (`psionic_cpu::fused`), running each step's own
//! kernel on the tile, so the values are the eager ops' to the bit while the chain's
//! intermediates stay in cache. Its rules are those of the chain written with the same
//! primitives (its composite), which the transforms differentiate and batch.

use super::fused_rows::{row_fusible, row_plan, RowPlan};
use super::{BatchCtx, Jvp, JvpCtx, Meta, Prim, Primitive, Saves, VjpCtx};
use crate::mode::check;
use crate::tensor::Tensor;
use psionic_core::{DType, Error, Result};
use psionic_cpu::fused::FloatStep;
use psionic_cpu::fused_jit::JitCache;
use psionic_cpu::CpuArray;
use std::borrow::Cow;
use std::sync::Arc;

/// Where a step of a fused chain reads a value: input `i` of the node, or an earlier
/// step's result.
pub use psionic_cpu::fused::Operand as FusedArg;

/// One elementwise primitive of the chain on earlier values.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedStep {
    pub prim: Prim,
    pub args: Vec<FusedArg>,
}

/// A fused chain: its steps in order (the last one's value is the output), with per
/// step its dtype and the last step reading its value, worked out when it is built.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused(Arc<Chain>);

#[derive(Debug, PartialEq)]
struct Chain {
    steps: Vec<FusedStep>,
    n_inputs: usize,
    dtypes: Vec<DType>,
    last_use: Vec<usize>,
    /// The chain as float steps with slice kernels, when every step is one and every
    /// value is f32 (or every value f64): run by `psionic_cpu::fused::run_float`.
    float: Option<Vec<(FloatStep, Vec<FusedArg>)>>,
    /// A chain with reductions along the last dim: run row by row
    /// (`psionic_cpu::fused_rows`).
    rows: Option<RowPlan>,
    /// The generated code of `float`'s runs, built on first use.
    jit: JitCache,
}

/// Whether compile's fusion may put a primitive into a chain: those whose value at each
/// position depends only on the inputs' values at that position.
pub fn fusible(prim: &Prim) -> bool {
    matches!(prim, Prim::Unary(_) | Prim::Binary(_) | Prim::Ternary(_) | Prim::Where(_) | Prim::Cast(_))
}

impl Fused {
    /// The chain of `steps` over inputs of these metas; refuses a step that is not
    /// elementwise (or, in a chain that runs row by row, a reduction along the rows or a
    /// reshape of per-row values), an argument that is not an earlier value, and any
    /// step whose inference fails.
    pub fn new(steps: Vec<FusedStep>, inputs: &[&Meta]) -> Result<Fused> {
        let metas = infer_steps(&steps, inputs)?;
        let rows = row_plan(&steps, &metas, inputs);
        if rows.is_none() {
            if let Some((k, s)) = steps.iter().enumerate().find(|(_, s)| !fusible(&s.prim)) {
                let why = format!("step {k} ({:?}) is not elementwise and the chain does not run by rows", s.prim);
                return Err(Error::invalid("fused", why));
            }
        }
        let mut last_use = vec![0; steps.len()];
        for (k, s) in steps.iter().enumerate() {
            for a in &s.args {
                if let FusedArg::Step(j) = a {
                    last_use[*j] = k;
                }
            }
        }
        let dtypes: Vec<DType> = metas.iter().map(|m| m.dtype).collect();
        let one_float = [DType::F32, DType::F64]
            .into_iter()
            .any(|d| dtypes.iter().chain(inputs.iter().map(|m| &m.dtype)).all(|&x| x == d));
        let float = steps
            .iter()
            .map(|s| {
                let step = if let Prim::Unary(op) = s.prim {
                    FloatStep::Unary(op)
                } else if let Prim::Binary(op) = s.prim {
                    FloatStep::Binary(op)
                } else {
                    return None;
                };
                step.has_kernel().then(|| (step, s.args.clone()))
            })
            .collect::<Option<Vec<_>>>()
            .filter(|_| one_float);
        let jit = JitCache::default();
        Ok(Fused(Arc::new(Chain { steps, n_inputs: inputs.len(), dtypes, last_use, float, rows, jit })))
    }

    /// The chain evaluated step by step on whole arrays, as the unfused graph would.
    fn eval_unfused(&self, inputs: &[&CpuArray]) -> Result<CpuArray> {
        let mut vals: Vec<CpuArray> = Vec::with_capacity(self.0.steps.len());
        for s in &self.0.steps {
            let ins: Vec<&CpuArray> = s
                .args
                .iter()
                .map(|a| match *a {
                    FusedArg::Input(i) => inputs[i],
                    FusedArg::Step(j) => &vals[j],
                })
                .collect();
            let metas: Vec<Meta> = ins.iter().map(|x| Meta::new(x.shape(), x.dtype())).collect();
            let m = s.prim.def().infer(&metas.iter().collect::<Vec<_>>())?;
            let v = s.prim.def().eval_cpu(&ins, &m)?;
            vals.push(v);
        }
        Ok(vals.pop().expect("a fused chain has steps"))
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[FusedStep] {
        &self.0.steps
    }

    /// Whether the chain runs row by row (at the shapes it was built for).
    pub fn runs_by_rows(&self) -> bool {
        self.0.rows.is_some()
    }

    /// The chain written with its primitives on `x` (unfused): what the rules transform.
    fn composite(&self, x: &[Tensor]) -> Tensor {
        let mut vals: Vec<Tensor> = Vec::with_capacity(self.0.steps.len());
        for s in &self.0.steps {
            let ins: Vec<&Tensor> = s
                .args
                .iter()
                .map(|a| match *a {
                    FusedArg::Input(i) => &x[i],
                    FusedArg::Step(j) => &vals[j],
                })
                .collect();
            let v = check(Tensor::make(s.prim.clone(), &ins));
            vals.push(v);
        }
        vals.pop().expect("a fused chain has steps")
    }
}

/// Each step's inferred meta, checking that the chain is one.
fn infer_steps(steps: &[FusedStep], inputs: &[&Meta]) -> Result<Vec<Meta>> {
    let bad = |why: String| Error::invalid("fused", why);
    if steps.is_empty() {
        return Err(bad("a fused chain needs at least one step".into()));
    }
    let mut metas: Vec<Meta> = Vec::with_capacity(steps.len());
    for (k, s) in steps.iter().enumerate() {
        if !fusible(&s.prim) && !row_fusible(&s.prim) {
            return Err(bad(format!("step {k} ({:?}) is not elementwise", s.prim)));
        }
        let mut ins = Vec::with_capacity(s.args.len());
        for a in &s.args {
            let m = match *a {
                FusedArg::Input(i) => inputs.get(i).copied(),
                FusedArg::Step(j) => metas[..k].get(j),
            };
            ins.push(m.ok_or_else(|| bad(format!("step {k} reads {a:?}, which is not an input or an earlier step")))?);
        }
        let m = s.prim.def().infer(&ins)?;
        metas.push(m);
    }
    Ok(metas)
}

impl Primitive for Fused {
    fn backward_name(&self) -> Cow<'static, str> {
        "Fused".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        if inputs.len() != self.0.n_inputs {
            return Err(Error::invalid("fused", format!("{} inputs for a chain of {}", inputs.len(), self.0.n_inputs)));
        }
        let m = infer_steps(&self.0.steps, inputs)?.pop().expect("checked non-empty");
        Ok(Meta::new(m.shape, m.dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        let c = &*self.0;
        if let Some(p) = &c.rows {
            let as_traced = inputs.len() == p.input_shapes.len()
                && inputs.iter().zip(&p.input_shapes).all(|(x, s)| x.dtype() == p.dtype && x.shape() == &s[..]);
            if as_traced && p.dtype == DType::F32 {
                return psionic_cpu::fused_rows::run_rows::<f32>(inputs, &p.row_shape, &p.steps, &out.shape, &c.jit);
            }
            if as_traced && p.dtype == DType::F64 {
                return psionic_cpu::fused_rows::run_rows::<f64>(inputs, &p.row_shape, &p.steps, &out.shape, &c.jit);
            }
            return self.eval_unfused(inputs);
        }
        // Checked again on the arrays: the chain was built for these dtypes, but a
        // shapeless replay may see others only through its metas.
        if let Some(steps) = c.float.as_ref().filter(|_| inputs.iter().all(|x| x.dtype() == out.dtype)) {
            if out.dtype == DType::F32 {
                return psionic_cpu::fused::run_float::<f32>(inputs, &out.shape, steps, &c.jit);
            }
            if out.dtype == DType::F64 {
                return psionic_cpu::fused::run_float::<f64>(inputs, &out.shape, steps, &c.jit);
            }
        }
        psionic_cpu::fused::run_tiles(inputs, &out.shape, out.dtype, c.steps.len(), |len, x| {
            let mut vals: Vec<Option<CpuArray>> = vec![None; c.steps.len()];
            for (k, s) in c.steps.iter().enumerate() {
                let ins: Vec<&CpuArray> = s
                    .args
                    .iter()
                    .map(|a| match *a {
                        FusedArg::Input(i) => &x[i],
                        FusedArg::Step(j) => vals[j].as_ref().expect("read before its last use"),
                    })
                    .collect();
                let v = s.prim.def().eval_cpu(&ins, &Meta::new(&[len][..], c.dtypes[k]))?;
                // Dead values go back to the buffer cache at once, so the next step's
                // output reuses a buffer that is still in L1.
                for a in &s.args {
                    if let FusedArg::Step(j) = *a {
                        if c.last_use[j] == k {
                            vals[j] = None;
                        }
                    }
                }
                vals[k] = Some(v);
            }
            Ok(vals.pop().flatten().expect("the last step's value"))
        })
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        c.composite(&|x| self.composite(x))
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        c.composite(&|x| self.composite(x))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.composite(&|x| self.composite(x))
    }
    /// The composite's backward recomputes the chain from the inputs.
    fn saves(&self) -> Saves {
        Saves::ALL_INPUTS
    }
}
