//! Shapeless programs with shape-specific steps: reused at new shapes when a new trace
//! differs only in those steps' sizes, rebuilt when anything else differs, and always
//! the function's own answer at the call's shape.
// Argument lists read as `&[x.clone()]` like the calls they stand for.
#![allow(clippy::cloned_ref_to_slice_refs)]

use crate::compile;
use psionic_array::autodiff::grad;
use psionic_array::prim::{Prim, ViewOp};
use psionic_array::{DType, Tensor};

fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0 - 1.0).collect();
    Tensor::from_vec(v, shape)
}

fn same(got: &[Tensor], want: &[Tensor], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.shape(), w.shape(), "{what}");
        let bits = |t: &Tensor| t.to_vec::<f64>().into_iter().map(f64::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(g), bits(w), "{what}");
    }
}

/// Reshapes, slices and expands whose sizes the function reads from its inputs, around
/// elementwise work that fuses.
fn sized(x: &[Tensor]) -> Vec<Tensor> {
    let (a, b) = (&x[0], &x[1]);
    let (n, m) = (a.size(0) as i64, a.size(1) as i64);
    let flat = a.reshape(&[n * m]).exp().mul(0.5);
    let inner = a.narrow(1, 1, a.size(1) - 2).tanh();
    let rows = b.expand(&[n, m]);
    let mixed = (&(a * &rows).sin() + &a.cos()).reshape(&[m, n]).transpose(0, 1);
    vec![flat, inner, mixed.sum(1, false)]
}

#[test]
fn one_program_serves_sizes_read_from_the_inputs() {
    let f = compile(sized).shapeless(true);
    for (k, (n, m)) in [(3, 4), (5, 7), (2, 9), (5, 7), (1, 3)].into_iter().enumerate() {
        let args = [data(&[n, m], k as u64), data(&[1, m], 20 + k as u64)];
        same(&f.call(&args), &sized(&args), &format!("{n}x{m}"));
    }
    // Each new shape is traced (to learn its sizes); one program serves them all.
    assert_eq!((f.traces(), f.programs()), (4, 1));
    // Without `shapeless`, each shape builds its own program.
    let g = compile(sized);
    for (n, m) in [(3, 4), (5, 7)] {
        g.call(&[data(&[n, m], 1), data(&[1, m], 2)]);
    }
    assert_eq!(g.programs(), 2);
}

#[test]
fn a_trace_that_differs_otherwise_builds_its_own_program() {
    // A branch on a size changes the graph's structure.
    let branch = |x: &[Tensor]| {
        let a = x[0].reshape(&[-1]);
        vec![if x[0].size(0) > 3 { a.exp().sin() } else { a.neg() }]
    };
    let f = compile(branch).shapeless(true);
    for n in [2, 5, 3, 6] {
        let args = [data(&[n, 2], n as u64)];
        same(&f.call(&args), &branch(&args), &format!("branch {n}"));
    }
    assert_eq!((f.traces(), f.programs()), (4, 2));
    // A constant built from a size has other values at another shape.
    let counted = |x: &[Tensor]| {
        let n = x[0].size(0);
        vec![&x[0].reshape(&[-1]) + &Tensor::arange(0, 2 * n as i64, 1).to_dtype(x[0].dtype()), x[0].mul(n as f64)]
    };
    let f = compile(counted).shapeless(true);
    for n in [2, 4, 4] {
        let args = [data(&[n, 2], 3)];
        same(&f.call(&args), &counted(&args), &format!("counted {n}"));
    }
    assert_eq!((f.traces(), f.programs()), (2, 2));
    // Two slices equal at the first shape are one step there; at the next they differ.
    let merged = |x: &[Tensor]| vec![x[0].narrow(0, 0, 2).exp(), x[0].narrow(0, 0, x[0].size(0) - 1).exp()];
    let f = compile(merged).shapeless(true);
    for n in [3, 5] {
        let args = [data(&[n, 4], 5)];
        same(&f.call(&args), &merged(&args), &format!("merged {n}"));
    }
    assert_eq!(f.programs(), 2);
}

#[test]
fn reused_programs_keep_constants_that_agree_and_fused_row_chains() {
    // Literal constants are new nodes in every trace but equal values: reused. The
    // softmax written from primitives is a fused row chain fed by a reshape.
    let body = |x: &[Tensor]| {
        let (n, m) = (x[0].size(0) as i64, x[0].size(1) as i64);
        let h = x[0].reshape(&[m, n]);
        let e = (&h - &h.amax(-1, true)).exp();
        vec![&e / &e.sum(-1, true), &x[0].reshape(&[-1]) + &Tensor::from_vec(vec![0.25f64], &[1])]
    };
    let f = compile(body).shapeless(true);
    for (n, m) in [(300, 40), (310, 37), (512, 8)] {
        let args = [data(&[n, m], 9).to_dtype(DType::F32)];
        same(&f.call(&args), &body(&args), &format!("{n}x{m}"));
    }
    assert_eq!(f.programs(), 1);
    // The row chain was built again for the last shape's rows, so it runs by rows.
    let plan = f.graph(&[data(&[512, 8], 9).to_dtype(DType::F32)]).unwrap();
    let rows: Vec<_> = plan
        .ops
        .iter()
        .filter_map(|s| match &s.prim {
            Prim::Fused(c) if c.runs_by_rows() => Some(c.steps()[1].prim.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rows, [Prim::View(ViewOp::Reshape(vec![8, 1]))]);
    // -0.0 and 0.0 are different constants.
    let signed = |x: &[Tensor]| {
        let z = if x[0].size(0) == 2 { -0.0 } else { 0.0 };
        vec![&x[0].reshape(&[-1]) * &Tensor::from_vec(vec![z], &[1])]
    };
    let f = compile(signed).shapeless(true);
    for n in [2, 3] {
        let args = [data(&[n, 2], 1)];
        same(&f.call(&args), &signed(&args), &format!("signed {n}"));
    }
    assert_eq!(f.programs(), 2);
}

#[test]
fn gradients_flow_through_a_reused_program() {
    let body = |x: &[Tensor]| {
        let n = x[0].size(0) as i64;
        vec![x[0].reshape(&[n, -1]).narrow(1, 1, 2).tanh().square().sum_all()]
    };
    let f = compile(body).shapeless(true);
    for n in [2, 5] {
        let x = data(&[n, 6], n as u64);
        let (fc, b) = (f.clone(), body);
        let got = grad(move |t: &[Tensor]| fc.call(t)[0].clone())(&[x.clone()]);
        let want = grad(move |t: &[Tensor]| b(t)[0].clone())(&[x.clone()]);
        same(&[got], &[want], &format!("grad {n}"));
    }
    assert_eq!(f.programs(), 1);
}

#[test]
fn sizes_read_on_the_host_never_leak_into_another_shape() {
    // Only elementwise steps and reductions, but host code reads the size: a scale, a
    // branch, a tensor chosen by length, and constants folded from a slice of a table.
    let table = Tensor::from_vec((0..8).map(|i| i as f64 * 0.5 - 1.0).collect::<Vec<_>>(), &[8]);
    let masks: Vec<Tensor> = (0..8).map(|n| Tensor::full(&[1], n as f64, psionic_array::DType::F64)).collect();
    let body = move |x: &[Tensor]| {
        let n = x[0].size(0);
        let scaled = x[0].mul(1.0 / n as f64);
        let branch = if n > 3 { x[0].exp() } else { x[0].neg() };
        let chosen = &x[0] + &masks[n];
        let folded = &x[0] + &table.narrow(0, 0, n).exp().sum_all();
        let view = &x[0] + &table.narrow(0, 0, n).reshape(&[n as i64, 1]);
        vec![scaled, branch, chosen, folded, view]
    };
    let f = compile(body.clone()).shapeless(true);
    for n in [2, 3, 5, 2, 7] {
        let args = [data(&[n, 3], n as u64)];
        same(&f.call(&args), &body(&args), &format!("n = {n}"));
    }
    assert_eq!(f.traces(), 4);
}
