//! The meta backend (PyTorch's `meta` device): every value is its node's metadata and
//! nothing else. Inference already ran when the node was built, so evaluation only
//! confirms it; allocation allocates nothing; reading values is the typed refusal
//! PyTorch gives.

use super::{Backend, Buffer};
use crate::node::Node;
use crate::prim::{Meta, Prim};
use psionic_core::{Device, Error, Result, Scalar};
use psionic_cpu::CpuArray;
use std::sync::Arc;

pub(super) struct MetaDevice;

impl Backend for MetaDevice {
    fn device(&self) -> Device {
        Device::Meta
    }

    fn full(&self, _: &Meta, _: Scalar) -> Result<Buffer> {
        Ok(Buffer::Meta)
    }

    fn upload(&self, _: CpuArray, _: &Meta) -> Result<Buffer> {
        Ok(Buffer::Meta)
    }

    fn download(&self, _: &Buffer, op: &'static str) -> Result<CpuArray> {
        Err(Error::NoData { op, device: Device::Meta })
    }

    fn eval(&self, _: &Prim, _: &[Arc<Node>], _: &Meta) -> Result<Buffer> {
        Ok(Buffer::Meta)
    }
}
