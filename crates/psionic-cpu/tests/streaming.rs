//! Streamed output writes (`psionic_cpu::stream`) change how bytes reach memory, never
//! which bytes: every elementwise kernel that writes through `stream::lines` gives the
//! same bits with streaming forced on for every op as with it off. The threshold is
//! process-wide, so this file is its own test binary and runs its cases in one test.

use psionic_core::ops::{BinaryOp, TernaryOp, UnaryOp};
use psionic_core::{DType, Layout};
use psionic_cpu::stream::set_stream_min_bytes;
use psionic_cpu::{binary, cast, elementwise, index, ternary, unary, CpuArray, Element};

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 250.0 - 4.0).collect()
}

/// A view of `n` elements that starts `skip` elements into its storage, so outputs and
/// inputs meet lines at every offset.
fn view(n: usize, skip: usize, seed: u32) -> CpuArray {
    let base = CpuArray::from_vec(values(n + skip, seed), &[n + skip]);
    base.with_layout(Layout { shape: vec![n].into(), strides: vec![1].into(), offset: skip })
}

fn bits(a: &CpuArray) -> Vec<u64> {
    fn all<T: Element>(a: &CpuArray, f: impl Fn(T) -> u64) -> Vec<u64> {
        a.to_vec::<T>().into_iter().map(f).collect()
    }
    match a.dtype() {
        DType::F32 => all::<f32>(a, |v| v.to_bits() as u64),
        DType::F64 => all::<f64>(a, f64::to_bits),
        DType::BF16 => all::<half::bf16>(a, |v| v.to_bits() as u64),
        DType::I64 => all::<i64>(a, |v| v as u64),
        DType::U8 => all::<u8>(a, |v| v as u64),
        DType::Bool => all::<bool>(a, |v| v as u64),
        d => panic!("no bit view for {d:?}"),
    }
}

/// Runs `op` with streaming off, then forced on, and compares the bits.
fn same(what: &str, op: impl Fn() -> CpuArray) {
    set_stream_min_bytes(usize::MAX - 1);
    let plain = bits(&op());
    set_stream_min_bytes(0);
    let streamed = bits(&op());
    set_stream_min_bytes(usize::MAX);
    assert_eq!(plain, streamed, "{what}");
}

#[test]
fn streamed_kernels_write_the_same_bits() {
    // Lengths below one line, around a chunk (16384), and over several chunks, so both
    // the sequential and the parallel drivers run.
    for n in [5, 100, 16384 + 7, 70_001] {
        for skip in [0, 3] {
            let (a, b, c) = (view(n, skip, 1), view(n, skip, 2), view(n, skip, 3));
            let shape = [n];
            let scalar = CpuArray::from_vec(vec![1.5f32], &[1]);
            let case = |s: &str| format!("{s}, n {n}, skip {skip}");
            same(&case("mul"), || binary::binary(BinaryOp::Mul, &a, &b, &shape).unwrap());
            same(&case("sub by a scalar"), || binary::binary(BinaryOp::Sub, &a, &scalar, &shape).unwrap());
            same(&case("scalar over"), || binary::binary(BinaryOp::Div, &scalar, &b, &shape).unwrap());
            same(&case("compare"), || binary::binary(BinaryOp::Lt, &a, &b, &shape).unwrap());
            let (a64, b64) = (cast::cast(&a, DType::F64), cast::cast(&b, DType::F64));
            same(&case("f64 atan2"), || binary::binary(BinaryOp::Atan2, &a64, &b64, &shape).unwrap());
            let (ai, bi) = (cast::cast(&a, DType::U8), cast::cast(&b, DType::U8));
            same(&case("u8 add"), || binary::binary(BinaryOp::Add, &ai, &bi, &shape).unwrap());
            for op in [UnaryOp::Exp, UnaryOp::Gelu, UnaryOp::GeluGrad, UnaryOp::Sigmoid, UnaryOp::Neg] {
                same(&case(&format!("{op:?}")), || unary::unary(op, &a).unwrap());
                same(&case(&format!("f64 {op:?}")), || unary::unary(op, &a64).unwrap());
            }
            same(&case("addcmul"), || ternary::ternary(TernaryOp::Addcmul(0.5), &a, &b, &c, &shape).unwrap());
            same(&case("lerp"), || ternary::ternary(TernaryOp::Lerp, &a, &b, &c, &shape).unwrap());
            let mask = binary::binary(BinaryOp::Gt, &c, &scalar, &shape).unwrap();
            same(&case("where"), || index::where_(&mask, &a, &b, &shape));
            same(&case("where f64"), || index::where_(&mask, &a64, &b64, &shape));
            for to in [DType::BF16, DType::I64, DType::Bool, DType::F64] {
                same(&case(&format!("cast to {to:?}")), || cast::cast(&a, to));
            }
            same(&case("contiguous copy"), || elementwise::contiguous::<f32>(&a));
        }
    }
}
