//! Generated code against the eager kernels, bit for bit, on values that probe every
//! branch (signed zeros, infinities, NaN, subnormals, halves for rounding).

use super::{available, supports, Program};
use crate::binary::float_binary_kernel;
use crate::elementwise::Src;
use crate::fused::{FloatStep, Operand};
use crate::unary::float_unary_kernel;
use psionic_core::ops::{BinaryOp, UnaryOp};

fn specials<F: super::JitFloat>(n: usize, seed: u64) -> Vec<F> {
    let fixed = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-310,
        -1e-40,
        3.0,
        -7.25,
        1e30,
        0.1,
    ];
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if i % 3 == 0 {
                F::from_f64(fixed[(s >> 33) as usize % fixed.len()])
            } else {
                F::from_f64(((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 8.0)
            }
        })
        .collect()
}

fn same_bits<F: super::JitFloat>(a: &[F], b: &[F], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        // NaN payloads may come from either operand of a two-NaN operation.
        let ok = x.bits64() == y.bits64() || (x.is_nan() && y.is_nan());
        assert!(ok, "{what}: element {i}: {:?} vs eager {:?}", x.to_f64(), y.to_f64());
    }
}

const UNARY: [UnaryOp; 20] = [
    UnaryOp::Exp,
    UnaryOp::Sigmoid,
    UnaryOp::Silu,
    UnaryOp::Tanh,
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Square,
    UnaryOp::Sqrt,
    UnaryOp::Rsqrt,
    UnaryOp::Reciprocal,
    UnaryOp::Relu,
    UnaryOp::LeakyRelu(0.01),
    UnaryOp::Hardtanh { min: -1.0, max: 2.0 },
    UnaryOp::Clamp { min: Some(-0.5), max: None },
    UnaryOp::Floor,
    UnaryOp::Ceil,
    UnaryOp::Round,
    UnaryOp::Trunc,
    UnaryOp::Frac,
];

const BINARY: [BinaryOp; 7] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::DivTrunc,
    BinaryOp::Copysign,
    BinaryOp::ReluGrad,
];

fn each_op<F: super::JitFloat>() {
    // Lengths around whole vectors, so the tail path runs too.
    for n in [1, 7, 8, 9, 100, 1027] {
        let x = specials::<F>(n, 1);
        let y = specials::<F>(n, 2);
        for op in UNARY {
            let step = FloatStep::Unary(op);
            if !supports(&step, F::BYTES == 4) {
                continue;
            }
            let p = Program::<F>::compile(&[false], &[(step, vec![Operand::Input(0)])], &[0])
                .expect("a supported step compiles");
            let mut got = vec![F::zero(); n];
            p.run(&p.table(|_| unreachable!()), &[&x], &mut [&mut got]);
            let mut want = vec![F::zero(); n];
            float_unary_kernel::<F>(op).1(&x, &mut want);
            same_bits(&got, &want, &format!("{op:?} n={n}"));
        }
        for op in BINARY {
            let step = [(FloatStep::Binary(op), vec![Operand::Input(0), Operand::Input(1)])];
            let k = float_binary_kernel::<F>(op).unwrap().1;
            let mut want = vec![F::zero(); n];
            let mut got = vec![F::zero(); n];
            let p = Program::<F>::compile(&[false, false], &step, &[0]).unwrap();
            p.run(&p.table(|_| unreachable!()), &[&x, &y], &mut [&mut got]);
            k(Src::Slice(&x), Src::Slice(&y), &mut want);
            same_bits(&got, &want, &format!("{op:?} n={n}"));
            // A broadcast value on either side.
            for (scalar, v) in [([true, false], y[0]), ([false, true], y[n / 2])] {
                let p = Program::<F>::compile(&scalar, &step, &[0]).unwrap();
                let t = p.table(|_| v);
                if scalar[0] {
                    p.run(&t, &[&x], &mut [&mut got]);
                    k(Src::Scalar(v), Src::Slice(&x), &mut want);
                } else {
                    p.run(&t, &[&x], &mut [&mut got]);
                    k(Src::Slice(&x), Src::Scalar(v), &mut want);
                }
                same_bits(&got, &want, &format!("{op:?} scalar {scalar:?} n={n}"));
            }
        }
    }
}

#[test]
fn each_op_matches_its_kernel() {
    if !available() {
        return;
    }
    each_op::<f32>();
    each_op::<f64>();
}

/// `h = (a*1.5 + 0.25) * a; h = (sqrt|h| - 1) * 0.5; out = -(h + a) + 2`, with `h`'s
/// first value also an output: several inputs read more than once, scalars, two stores.
#[test]
fn a_chain_with_two_outputs() {
    if !available() {
        return;
    }
    use Operand::{Input as I, Step as S};
    let b = |op| FloatStep::Binary(op);
    let u = |op| FloatStep::Unary(op);
    let steps = vec![
        (b(BinaryOp::Mul), vec![I(0), I(1)]),
        (b(BinaryOp::Add), vec![S(0), I(2)]),
        (b(BinaryOp::Mul), vec![S(1), I(0)]),
        (u(UnaryOp::Abs), vec![S(2)]),
        (u(UnaryOp::Sqrt), vec![S(3)]),
        (b(BinaryOp::Sub), vec![S(4), I(3)]),
        (b(BinaryOp::Mul), vec![S(5), I(4)]),
        (b(BinaryOp::Add), vec![S(6), I(0)]),
        (u(UnaryOp::Neg), vec![S(7)]),
        (b(BinaryOp::Sub), vec![I(5), S(8)]),
    ];
    let consts = [1.5f32, 0.25, 1.0, 0.5, 2.0];
    let scalar = [false, true, true, true, true, true];
    let p = Program::<f32>::compile(&scalar, &steps, &[2, 9]).unwrap();
    let table = p.table(|i| consts[i - 1]);
    let n = 4099;
    let x = specials::<f32>(n, 3);
    let (mut o1, mut o2) = (vec![0f32; n], vec![0f32; n]);
    p.run(&table, &[&x], &mut [&mut o1, &mut o2]);
    for i in 0..n {
        let a = x[i];
        let h = (a * 1.5 + 0.25) * a;
        let g = (h.abs().sqrt() - 1.0) * 0.5;
        let want = 2.0 - -(g + a);
        same_bits(&[o1[i], o2[i]], &[h, want], &format!("element {i}"));
    }
}

/// More live values than registers: refused, not miscompiled.
#[test]
fn too_many_live_values_are_refused() {
    if !available() {
        return;
    }
    let n_in = 8;
    let mut steps: Vec<(FloatStep, Vec<Operand>)> =
        (0..n_in).map(|i| (FloatStep::Unary(UnaryOp::Square), vec![Operand::Input(i)])).collect();
    // 8 squares all live, then 8 more from them: 16 values at once before the sum.
    for i in 0..n_in {
        steps.push((FloatStep::Unary(UnaryOp::Neg), vec![Operand::Step(i)]));
    }
    let mut acc = Operand::Step(0);
    for k in 1..2 * n_in {
        steps.push((FloatStep::Binary(BinaryOp::Add), vec![acc, Operand::Step(k)]));
        acc = Operand::Step(steps.len() - 1);
    }
    let last = steps.len() - 1;
    let scalar = vec![false; n_in];
    assert!(Program::<f32>::compile(&scalar, &steps, &[last]).is_none());
}

/// The transcendentals over their whole range: both of tanh's branches around 0.55,
/// exp's underflow below -104 and overflow past 88.7, and the subnormals between.
#[test]
fn transcendentals_match_vmath_everywhere() {
    let (x0, x1) = (FloatStep::Unary(UnaryOp::Exp), FloatStep::Unary(UnaryOp::Tanh));
    if !available() || !supports(&x0, true) || !supports(&x1, true) {
        return;
    }
    let mut x: Vec<f32> = (0..200_001).map(|i| -110.0 + i as f32 * 0.0011).collect();
    x.extend((0..20_001).map(|i| 0.54 + i as f32 * 1e-6));
    x.extend((0..20_001).map(|i| -1.0 + i as f32 * 1e-4));
    for op in [UnaryOp::Exp, UnaryOp::Sigmoid, UnaryOp::Silu, UnaryOp::Tanh] {
        let p = Program::<f32>::compile(&[false], &[(FloatStep::Unary(op), vec![Operand::Input(0)])], &[0]).unwrap();
        let (mut got, mut want) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        p.run(&p.table(|_| unreachable!()), &[&x], &mut [&mut got]);
        float_unary_kernel::<f32>(op).1(&x, &mut want);
        same_bits(&got, &want, &format!("{op:?}"));
    }
}

/// Streamed stores write the same values as plain ones, at every alignment of the output
/// and for lengths with and without a head, a whole vector or a tail.
fn streamed_matches_plain<F: super::JitFloat>() {
    let steps = [
        (FloatStep::Binary(BinaryOp::Mul), vec![Operand::Input(0), Operand::Input(1)]),
        (FloatStep::Binary(BinaryOp::Add), vec![Operand::Step(0), Operand::Input(0)]),
        (FloatStep::Unary(UnaryOp::Sqrt), vec![Operand::Step(1)]),
    ];
    let p = Program::<F>::compile(&[false, false], &steps, &[2]).unwrap();
    let t = p.table(|_| unreachable!());
    let (x, y) = (specials::<F>(300, 11), specials::<F>(300, 12));
    for shift in 0..9 {
        for n in [0, 1, 5, 8, 13, 16, 40, 203, 291 - shift] {
            let (mut want, mut got) = (vec![F::zero(); n], vec![F::zero(); n + shift]);
            p.run(&t, &[&x[..n], &y[..n]], &mut [&mut want]);
            p.run_streamed(&t, &[&x[..n], &y[..n]], &mut got[shift..]);
            same_bits(&got[shift..], &want, &format!("shift {shift} n={n}"));
        }
    }
}

#[test]
fn streamed_stores_match_plain_ones() {
    if !available() {
        return;
    }
    streamed_matches_plain::<f32>();
    streamed_matches_plain::<f64>();
}
