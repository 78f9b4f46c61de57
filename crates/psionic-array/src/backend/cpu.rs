//! The CPU backend: host buffers and the kernels of `psionic-cpu`, reached through each
//! primitive's `eval_cpu`.

use super::{Backend, Buffer};
use crate::node::Node;
use crate::prim::{Meta, Prim};
use psionic_core::{Device, Error, Result, Scalar};
use psionic_cpu::{CpuArray, Element, Storage};
use smallvec::SmallVec;
use std::sync::Arc;

pub(super) struct Cpu;

impl Backend for Cpu {
    fn device(&self) -> Device {
        Device::Cpu
    }

    fn full(&self, meta: &Meta, value: Scalar) -> Result<Buffer> {
        let n = psionic_core::numel(&meta.shape);
        let storage = psionic_cpu::with_dtype!(meta.dtype, T => {
            let v: T = match value {
                Scalar::Bool(b) => T::from_bool(b),
                Scalar::Int(i) => T::from_i64(i),
                Scalar::Float(f) => T::from_f64(f),
            };
            Storage::filled::<T>(n, v)
        });
        Ok(Buffer::Cpu(CpuArray::new(storage, &meta.shape)))
    }

    fn upload(&self, host: CpuArray, _: &Meta) -> Result<Buffer> {
        Ok(Buffer::Cpu(host))
    }

    fn download(&self, buf: &Buffer, op: &'static str) -> Result<CpuArray> {
        buf.cpu().cloned().ok_or(Error::NoData { op, device: Device::Meta })
    }

    fn eval(&self, prim: &Prim, inputs: &[Arc<Node>], out: &Meta) -> Result<Buffer> {
        let mut arrays: SmallVec<[&CpuArray; 4]> = SmallVec::new();
        for n in inputs {
            match n.data.get() {
                Some(Buffer::Cpu(a)) => arrays.push(a),
                // Unreachable through the build path, which puts an op with a meta input
                // on the meta device and evaluates inputs first; an error for other callers.
                _ => return Err(Error::DeviceMismatch { op: "eval", a: Device::Cpu, b: n.device }),
            }
        }
        Ok(Buffer::Cpu(prim.eval_cpu(&arrays, out)?))
    }
}
