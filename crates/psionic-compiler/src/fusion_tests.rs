//! Fusion: which steps it groups, and that fused results are the eager ops' bits on
//! every float dtype, strided and broadcast inputs, across tiles and threads, and under
//! the transforms.
#![allow(clippy::cloned_ref_to_slice_refs)]

use crate::{compile, Compiled};
use psionic_array::autodiff::{grad, jvp, vmap};
use psionic_array::prim::Prim;
use psionic_array::{DType, Tensor};

/// Values spread over [-3, 3), irregular enough that no two neighbours agree.
fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i as u64 * 2654435761 + seed * 7919) % 6007) as f64 / 1001.0 - 3.0).collect();
    Tensor::from_vec(v, shape)
}

/// Ten elementwise ops of several kinds over a matrix, a broadcast row and column, a
/// scalar and a comparison.
fn chain(x: &[Tensor]) -> Vec<Tensor> {
    let (a, row, col) = (&x[0], &x[1], &x[2]);
    let h = &(&a.mul(0.5) + row).tanh() * &a.sigmoid();
    let h = &h - &col.exp();
    let h = Tensor::where_(&a.gt(0.25), &h, h.square().neg());
    vec![h.gelu("none").add(1.5)]
}

fn kinds(f: &Compiled, args: &[Tensor]) -> Vec<String> {
    let g = f.graph(args).unwrap();
    g.ops
        .iter()
        .map(|s| match &s.prim {
            Prim::Fused(c) => format!("Fused{}", c.steps().len()),
            p => format!("{:?}", p).split('(').next().unwrap().to_string(),
        })
        .collect()
}

fn same_bits(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_eq!(got.dtype(), want.dtype(), "{what}");
    let (g, w) = (got.to_dtype(DType::F64).to_vec::<f64>(), want.to_dtype(DType::F64).to_vec::<f64>());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{what}: [{i}] {a} vs {b}");
    }
}

#[test]
fn an_elementwise_chain_is_one_fused_step() {
    let f = compile(chain);
    let args = [data(&[37, 113], 1), data(&[1, 113], 2), data(&[37, 1], 3)];
    // The column's exp is smaller than the output: computed once, outside the group.
    assert_eq!(kinds(&f, &args), ["Unary", "Fused12"]);
}

#[test]
fn fused_values_are_the_eager_bits_on_every_float_dtype() {
    for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        // 4181 elements: two whole tiles and a partial one.
        let args = [data(&[37, 113], 1), data(&[1, 113], 2), data(&[37, 1], 3)].map(|t| t.to_dtype(dtype));
        let f = compile(chain);
        for threads in [1, 2] {
            let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| f.call(&args));
            same_bits(&got[0], &chain(&args)[0], &format!("{dtype:?}, {threads} threads"));
        }
    }
}

#[test]
fn strided_inputs_and_casts_inside_a_chain() {
    // A transposed matrix, a column slice with a step, and a cast up and back down.
    let f = compile(|x: &[Tensor]| {
        let (a, b) = (x[0].t(), x[1].slice(1, Some(0), Some(200), 2));
        let up = &a.to_dtype(DType::F32).exp() * &b.to_dtype(DType::F32);
        vec![(&up.to_dtype(DType::F16) + &a).sqrt().abs()]
    });
    let args = [data(&[100, 60], 4).to_dtype(DType::F16), data(&[60, 200], 5).to_dtype(DType::F16)];
    let eager = |x: &[Tensor]| {
        let (a, b) = (x[0].t(), x[1].slice(1, Some(0), Some(200), 2));
        let up = &a.to_dtype(DType::F32).exp() * &b.to_dtype(DType::F32);
        (&up.to_dtype(DType::F16) + &a).sqrt().abs()
    };
    assert_eq!(kinds(&f, &args).iter().filter(|k| k.starts_with("Fused")).count(), 1, "{:?}", kinds(&f, &args));
    same_bits(&f.call(&args)[0], &eager(&args), "strided f16");
}

#[test]
fn integer_and_boolean_chains_fuse_too() {
    let f = compile(|x: &[Tensor]| {
        let i = x[0].mul(1000.0).to_dtype(DType::I32);
        let m = i.gt(0).logical_and(i.lt(2000));
        vec![Tensor::where_(&m, i.mul(3), i.neg())]
    });
    let args = [data(&[50, 90], 6)];
    let x = &args[0];
    let i = x.mul(1000.0).to_dtype(DType::I32);
    let want = Tensor::where_(&(i.gt(0).logical_and(i.lt(2000))), i.mul(3), i.neg());
    assert_eq!(f.call(&args)[0].to_vec::<i32>(), want.to_vec::<i32>());
    assert_eq!(kinds(&f, &args), ["Fused8"]);
}

#[test]
fn values_read_outside_a_group_and_reductions_bound_it() {
    // `h` is an output and feeds a sum: it stays a value of its own; the softmax-like
    // tail after the reduction (and the view that keeps its dim) is a second group.
    let f = compile(|x: &[Tensor]| {
        let h = x[0].exp().mul(2.0);
        let s = h.sum(1, true);
        vec![h.clone(), (&h / &s).log().neg()]
    });
    let args = [data(&[8, 300], 7)];
    assert_eq!(kinds(&f, &args), ["Fused2", "Reduce", "View", "Fused3"]);
    let got = f.call(&args);
    let h = args[0].exp().mul(2.0);
    same_bits(&got[0], &h, "h");
    same_bits(&got[1], &(&h / &h.sum(1, true)).log().neg(), "tail");
}

#[test]
fn a_view_of_an_intermediate_ends_its_group() {
    let f = compile(|x: &[Tensor]| vec![&x[0].exp().add(1.0).t() * &x[1].sin().cos()]);
    let args = [data(&[40, 30], 8), data(&[30, 40], 9)];
    assert_eq!(kinds(&f, &args), ["Fused2", "View", "Fused3"]);
    let want = &args[0].exp().add(1.0).t() * &args[1].sin().cos();
    same_bits(&f.call(&args)[0], &want, "through a transpose");
}

#[test]
fn fused_steps_compose_with_grad_jvp_and_vmap() {
    let f = compile(|x: &[Tensor]| vec![(&x[0].tanh() * &x[1].exp()).sigmoid().sum_all()]);
    let plain = |x: &[Tensor]| (&x[0].tanh() * &x[1].exp()).sigmoid().sum_all();
    let (a, b) = (data(&[20, 30], 10).mul(0.3), data(&[20, 30], 11).mul(0.3));
    assert!(kinds(&f, &[a.clone(), b.clone()]).contains(&"Fused4".to_string()));
    let fc = f.clone();
    let got = grad(move |x: &[Tensor]| fc.call(x).remove(0))(&[a.clone(), b.clone()]);
    let want = grad(plain)(&[a.clone(), b.clone()]);
    same_bits(&got, &want, "grad");
    // Second order: the fused step's vjp is its chain's, itself differentiable.
    let fc = f.clone();
    let gg = grad(move |x: &[Tensor]| {
        let fc = fc.clone();
        grad(move |y: &[Tensor]| fc.call(y).remove(0))(x).sum_all()
    })(&[a.clone(), b.clone()]);
    let want = grad(move |x: &[Tensor]| grad(plain)(x).sum_all())(&[a.clone(), b.clone()]);
    same_bits(&gg, &want, "grad of grad");
    let (t0, t1) = (data(&[20, 30], 12), data(&[20, 30], 13));
    let fj = f.clone();
    let (_, tan) = jvp(move |x: &[Tensor]| fj.call(x), &[a.clone(), b.clone()], &[t0.clone(), t1.clone()]);
    let (_, want) = jvp(|x: &[Tensor]| vec![plain(x)], &[a.clone(), b.clone()], &[t0, t1]);
    same_bits(&tan[0], &want[0], "jvp");
    let fv = f.clone();
    let xs = data(&[5, 20, 30], 14);
    let out = vmap(move |x: &[Tensor]| fv.call(&[x[0].clone(), b.clone()]), &[Some(0)], &[Some(0)])(&[xs.clone()]);
    for k in 0..5 {
        let one = f.call(&[xs.select(0, k), args_b()])[0].clone();
        same_bits(&out[0].select(0, k), &one, "vmap");
    }
}

fn args_b() -> Tensor {
    data(&[20, 30], 11).mul(0.3)
}

#[test]
fn shapeless_fused_chains_serve_other_shapes() {
    let f = compile(|x: &[Tensor]| vec![(&x[0].exp() + &x[1]).tanh().mul(3.0)]).shapeless(true);
    for (m, n) in [(3, 5), (70, 90), (1, 1)] {
        let args = [data(&[m, n], 15), data(&[1, n], 16)];
        let want = (&args[0].exp() + &args[1]).tanh().mul(3.0);
        same_bits(&f.call(&args)[0], &want, &format!("{m}x{n}"));
    }
    assert_eq!(f.traces(), 1);
}

#[test]
fn float_chains_on_slice_kernels_are_the_eager_bits() {
    // Unary and binary steps only, one float dtype: the block path of `run_float`, with
    // a transposed input (gathered), a broadcast row and column, a literal scalar, a
    // value read by two later steps, and a unary op of a broadcast value.
    let body = |x: &[Tensor]| {
        let (a, row, col) = (x[0].t(), &x[1], &x[2]);
        let s = &(&a * row).sin();
        let h = &(&s.exp() - &col.sigmoid()) * s;
        let h = &h.div(3.0).tanh() + &h.abs().sqrt();
        h.maximum(row.cos()).sub(0.5).neg()
    };
    // Rows of 70 run in flat blocks, rows of 300 (past `ROW_BLOCKS_FROM`) row by row.
    for (dtype, (m, n)) in [DType::F32, DType::F64].into_iter().flat_map(|d| [(d, (70, 150)), (d, (300, 40))]) {
        let args = [data(&[m, n], 17), data(&[1, m], 18), data(&[n, 1], 19)].map(|t| t.to_dtype(dtype));
        let f = compile(move |x: &[Tensor]| vec![body(x)]);
        assert!(kinds(&f, &args).iter().any(|k| k.starts_with("Fused")), "{:?}", kinds(&f, &args));
        for threads in [1, 2] {
            let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| f.call(&args));
            same_bits(&got[0], &body(&args), &format!("{dtype:?} {m}x{n}, {threads} threads"));
        }
    }
}
