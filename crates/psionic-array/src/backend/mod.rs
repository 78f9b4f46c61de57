//! Backends: where a device's values live and how primitives run there.
//!
//! Everything above this module (nodes, tensors, the transforms) reaches a device only
//! through [`Backend`]: allocation, host copies and the evaluation of one primitive on
//! its inputs' buffers. Shape, dtype and stride inference is the primitive's and runs
//! before any backend is asked, so a backend never decides what a result looks like,
//! only what it holds. A new device is one more implementation here, one more [`Buffer`]
//! variant and one more arm in [`of`]; the primitives gain an eval for it beside
//! `eval_cpu` where they are defined.
//!
//! Two exist: [`cpu`], Psionic's kernels, and [`meta`], PyTorch's `meta` device (values
//! with shape, dtype and strides and no storage), which proves the contract with an
//! implementation that holds nothing.

mod cpu;
mod meta;

use crate::node::Node;
use crate::prim::{Meta, Prim};
use psionic_core::{Device, Error, Result, Scalar};
use psionic_cpu::CpuArray;
use std::sync::Arc;

/// What a node holds once evaluated, on whichever device it lives.
#[derive(Clone, Debug)]
pub enum Buffer {
    /// Host memory, read by the CPU kernels.
    Cpu(CpuArray),
    /// Nothing: a meta value is its node's shape, dtype and strides alone.
    Meta,
}

impl Buffer {
    /// The host array, when this buffer is one.
    pub fn cpu(&self) -> Option<&CpuArray> {
        match self {
            Buffer::Cpu(a) => Some(a),
            Buffer::Meta => None,
        }
    }
}

/// One device's storage and kernels. Implementations are stateless singletons.
pub trait Backend: Sync {
    /// The device this backend serves.
    fn device(&self) -> Device;
    /// A buffer of `meta`'s shape and dtype, every element `value`: the storage behind
    /// `zeros`, `full` and `to_empty`.
    fn full(&self, meta: &Meta, value: Scalar) -> Result<Buffer>;
    /// A buffer on this device holding the values of `host` (whose layout `meta` is).
    fn upload(&self, host: CpuArray, meta: &Meta) -> Result<Buffer>;
    /// This buffer's values in host memory (same layout): what reading values, printing,
    /// saving and moving to another device go through.
    fn download(&self, buf: &Buffer, op: &'static str) -> Result<CpuArray>;
    /// `prim` evaluated on its inputs (evaluated nodes: each one's buffer and layout)
    /// into a new buffer laid out as `out`. Inputs live on this device, except 0-dim CPU
    /// tensors (wrapped scalars), which may join an op on any device, as in PyTorch.
    fn eval(&self, prim: &Prim, inputs: &[Arc<Node>], out: &Meta) -> Result<Buffer>;
}

/// The backend of `device`, or the typed refusal for a device Psionic has none for.
pub fn of(device: Device) -> Result<&'static dyn Backend> {
    match device {
        Device::Cpu => Ok(&cpu::Cpu),
        Device::Meta => Ok(&meta::MetaDevice),
        Device::Cuda(_) => Err(Error::NoBackend { op: "device", device }),
    }
}

#[cfg(test)]
mod tests;
