//! The trait itself, called directly: each backend allocates, copies and evaluates.

use super::{of, Buffer};
use crate::node::Node;
use crate::prim::{Meta, Prim};
use psionic_core::ops::BinaryOp;
use psionic_core::{DType, Device, Error, Scalar};
use psionic_cpu::CpuArray;

#[test]
fn the_cpu_backend_allocates_copies_and_evaluates() {
    let cpu = of(Device::Cpu).unwrap();
    assert_eq!(cpu.device(), Device::Cpu);
    let meta = Meta::new(vec![2, 2], DType::F32);
    let twos = cpu.full(&meta, Scalar::Float(2.0)).unwrap();
    let host = CpuArray::from_vec(vec![1f32, 2., 3., 4.], &[2, 2]);
    let x = cpu.upload(host, &meta).unwrap();
    let nodes = [Node::stored(x, meta.clone(), Device::Cpu), Node::stored(twos, meta.clone(), Device::Cpu)];
    let sum = cpu.eval(&Prim::Binary(BinaryOp::Add), &nodes, &meta).unwrap();
    assert_eq!(cpu.download(&sum, "test").unwrap().to_vec::<f32>(), vec![3., 4., 5., 6.]);
}

#[test]
fn the_meta_backend_holds_nothing_and_refuses_values() {
    let m = of(Device::Meta).unwrap();
    assert_eq!(m.device(), Device::Meta);
    let meta = Meta::new(vec![1 << 30, 1 << 30], DType::F64);
    let b = m.full(&meta, Scalar::Int(0)).unwrap();
    assert!(matches!(b, Buffer::Meta));
    let node = Node::stored(b, meta.clone(), Device::Meta);
    let out = m.eval(&Prim::Binary(BinaryOp::Mul), &[node.clone(), node], &meta).unwrap();
    assert!(out.cpu().is_none());
    assert!(matches!(m.download(&out, "test"), Err(Error::NoData { .. })));
}

#[test]
fn the_cpu_backend_refuses_an_input_without_host_values() {
    let meta = Meta::new(vec![2], DType::F32);
    let m = Node::stored(Buffer::Meta, meta.clone(), Device::Meta);
    let e = of(Device::Cpu).unwrap().eval(&Prim::Unary(psionic_core::ops::UnaryOp::Neg), &[m], &meta);
    assert!(matches!(e, Err(Error::DeviceMismatch { .. })));
}

#[test]
fn only_built_backends_exist() {
    assert!(matches!(of(Device::Cuda(0)), Err(Error::NoBackend { .. })));
}
