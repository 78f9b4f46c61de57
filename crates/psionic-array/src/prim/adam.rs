//! One Adam step (`torch.optim.Adam`'s single-tensor arithmetic) of parameter input 0
//! with gradient input 1 and moments inputs 2 and 3 (one shape, one dtype: f32 or f64):
//! the new parameter and moments as the rows of a `[3, ...]` result, with the bits of
//! the chain of ops it stands for ([`adam_chain`]), whose derivatives and batching are
//! its own where it has no rule. An optional input 4, an f64 `[3]` tensor, carries the
//! coefficients that move from step to step (`decay`, `bc2_sqrt`, `step_size`, computed
//! on the host as the attributes would be): a compiled training step reads them as an
//! input instead of baking one step's values into its trace.

use super::{BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::{DType, Error, Result};
use psionic_cpu::adam::AdamCoeffs;
use psionic_cpu::CpuArray;
use std::borrow::Cow;

impl Primitive for AdamCoeffs {
    fn backward_name(&self) -> Cow<'static, str> {
        "FusedAdam".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        if !(4..=5).contains(&inputs.len()) {
            return Err(Error::invalid("adam_step", format!("takes 4 or 5 inputs, got {}", inputs.len())));
        }
        let (p, d) = (&inputs[0].shape, inputs[0].dtype);
        if let Some(c) = inputs.get(4) {
            if c.shape[..] != [3] || c.dtype != DType::F64 || inputs.len() != 5 {
                return Err(Error::shape("adam_step", "the step's coefficients must be an f64 tensor of shape [3]"));
            }
        }
        if inputs[..4].iter().any(|m| m.shape != *p || m.dtype != d) || !matches!(d, DType::F32 | DType::F64) {
            return Err(Error::shape(
                "adam_step",
                "the parameter, gradient and moments must be f32 or f64 tensors of one shape and dtype",
            ));
        }
        Ok(Meta::new([[3].as_slice(), p].concat(), d))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        let c = match i.get(4) {
            Some(c) => self.moved(&c.to_vec::<f64>()),
            None => *self,
        };
        psionic_cpu::adam::adam_step(i[0], i[1], i[2], i[3], &c)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        c.composite(&|x| stacked_chain(self, x))
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        c.composite(&|x| stacked_chain(self, x))
    }
    /// Elementwise over operands of one shape; the result's rows of three come first.
    /// Coefficients from an input go through the chain of ops.
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        if c.x.len() == 5 {
            return c.composite(&|x| stacked_chain(self, x));
        }
        Ok(c.same(&c.all_full())?.transpose(0, 1))
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

/// The step's composite: [`adam_chain`] of inputs `p, g, m, v`, as the kernel's rows.
/// With the moving coefficients as input 4, the chain scales by them as tensors, so
/// derivatives reach them too.
fn stacked_chain(c: &AdamCoeffs, x: &[Tensor]) -> Tensor {
    let rows = match x.get(4) {
        None => adam_chain(c, &x[0], &x[1], &x[2], &x[3]),
        Some(k) => {
            let dt = x[0].dtype();
            let [decay, bc2_sqrt, step_size] = [0, 1, 2].map(|i| k.select(0, i).to_dtype(dt));
            let p0 = if c.decay.is_some() { &x[0] * &decay } else { x[0].clone() };
            let m1 = x[2].lerp(&x[1], 1.0 - c.beta1);
            let v1 = x[3].mul(c.beta2).addcmul(&x[1], &x[1], 1.0 - c.beta2);
            let denom = (&v1.sqrt() / &bc2_sqrt).add(c.eps);
            [&p0 + &(&(&m1 / &denom) * &step_size), m1, v1]
        }
    };
    Tensor::stack(&rows.each_ref(), 0)
}

/// The chain of ops `torch.optim.Adam` runs for one parameter (`_single_tensor_adam`):
/// the new parameter and moments, which the fused step reproduces bit for bit.
pub(crate) fn adam_chain(c: &AdamCoeffs, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) -> [Tensor; 3] {
    let p0 = c.decay.map_or(p.clone(), |d| p.mul(d));
    let m1 = m.lerp(g, 1.0 - c.beta1);
    let v1 = v.mul(c.beta2).addcmul(g, g, 1.0 - c.beta2);
    let denom = v1.sqrt().div(c.bc2_sqrt).add(c.eps);
    [p0.addcdiv(&m1, &denom, c.step_size), m1, v1]
}
