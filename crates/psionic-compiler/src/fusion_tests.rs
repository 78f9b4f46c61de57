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
    // `h` is an output and feeds a sum: it stays a value of its own; the reduction, the
    // view that keeps its dim and the softmax-like tail after it are a row group.
    let f = compile(|x: &[Tensor]| {
        let h = x[0].exp().mul(2.0);
        let s = h.sum(1, true);
        vec![h.clone(), (&h / &s).log().neg()]
    });
    let args = [data(&[8, 300], 7)];
    assert_eq!(kinds(&f, &args), ["Fused2", "Fused5"]);
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
    assert_eq!(f.programs(), 1);
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

#[test]
fn generated_chains_are_the_eager_bits() {
    // Every step has generated code: the chain runs as one loop over the output, in
    // place when its inputs are contiguous (`y`), in blocks when one is broadcast (`row`);
    // with a zero, infinities and NaN among the values; lengths leave partial vectors.
    let body = |x: &[Tensor]| {
        let (a, b) = (&x[0], &x[1]);
        let h = &(&a.mul(1.5).add(0.25) * a) / b;
        let h = h.relu().sub(a.abs().sqrt().rsqrt()).clamp(Some(-4.0), None::<f64>);
        let h = &h.leaky_relu(0.1).hardtanh(-3.0, 2.5).frac() + &a.floor().sign();
        let h = &h.mul(7.0).round() - &(&h.ceil() * &h.trunc()).reciprocal().square();
        h.copysign(b.neg()).div_mode(b, Some("trunc")).add(b)
    };
    for dtype in [DType::F32, DType::F64] {
        for (m, n) in [(70, 33), (3, 1001)] {
            let mut v = data(&[m, n], 31).to_vec::<f64>();
            v[..4].copy_from_slice(&[0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
            let a = Tensor::from_vec(v, &[m, n]).to_dtype(dtype);
            for b in [data(&[m, n], 32), data(&[1, n], 33)] {
                let args = [a.clone(), b.to_dtype(dtype)];
                let f = compile(move |x: &[Tensor]| vec![body(x)]);
                assert!(kinds(&f, &args).iter().any(|k| k.starts_with("Fused2")), "{:?}", kinds(&f, &args));
                for threads in [1, 2] {
                    let got =
                        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| f.call(&args));
                    same_bits(
                        &got[0],
                        &body(&args),
                        &format!("{dtype:?} {m}x{n} {:?}, {threads} threads", args[1].shape()),
                    );
                }
            }
        }
    }
}

/// softmax over the last dim written from primitives.
fn softmax_prims(x: &[Tensor]) -> Vec<Tensor> {
    let e = (&x[0] - &x[0].amax(-1, true)).exp();
    vec![&e / &e.sum(-1, true)]
}

/// layer_norm over the last dim written from primitives, its input transposed when
/// `x[0]` is `[N, M]` (a sum of an input not contiguous along its rows).
fn layer_norm_prims(x: &[Tensor]) -> Vec<Tensor> {
    let a = if x[0].shape()[0] == x[1].shape()[0] { x[0].t() } else { x[0].clone() };
    let c = &a - &a.mean(-1, true);
    let var = (&c * &c).mean(-1, true);
    vec![&(&c * &var.add(1e-5).rsqrt()) * &x[1] + &x[2]]
}

#[test]
fn reductions_along_rows_fuse_with_their_elementwise_work() {
    let sm = compile(softmax_prims);
    assert_eq!(kinds(&sm, &[data(&[37, 300], 20).to_dtype(DType::F32)]), ["Fused7"]);
    let ln = compile(layer_norm_prims);
    let args = [data(&[6, 5, 200], 21), data(&[200], 22), data(&[200], 23)].map(|t| t.to_dtype(DType::F32));
    assert_eq!(kinds(&ln, &args), ["Fused13"]);
    // Short rows stay flat groups around an unfused reduction.
    assert_eq!(
        kinds(&sm, &[data(&[37, 30], 20).to_dtype(DType::F32)]),
        ["Reduce", "View", "Fused2", "Reduce", "View", "Binary"]
    );
}

#[test]
fn a_reshape_that_makes_the_rows_stays_before_the_row_group() {
    // Scores split into heads, then a softmax: the reshape is read through its strides
    // by the row chain instead of keeping the whole group from forming.
    let f = compile(|x: &[Tensor]| softmax_prims(&[x[0].reshape(&[4, 37, 300])]));
    let args = [data(&[148, 300], 24).to_dtype(DType::F32)];
    assert_eq!(kinds(&f, &args), ["View", "Fused7"]);
    same_bits(&f.call(&args)[0], &softmax_prims(&[args[0].reshape(&[4, 37, 300])])[0], "heads");
}

#[test]
fn row_fused_values_are_the_eager_bits() {
    for dtype in [DType::F32, DType::F64] {
        // Blocks of many rows and of a few (rows with a last partial vector, which the
        // generated loops take through a scratch vector), and rows longer than a block
        // and than a sum's block.
        for shape in [vec![37, 300], vec![5, 2100], vec![2, 9000]] {
            let x = [data(&shape, 24).to_dtype(dtype)];
            let f = compile(softmax_prims);
            for threads in [1, 2] {
                let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| f.call(&x));
                same_bits(&got[0], &softmax_prims(&x)[0], &format!("softmax {dtype:?} {shape:?}, {threads} threads"));
            }
        }
        // A contiguous input, and a transposed one whose sums eager takes by columns.
        for first in [vec![4, 7, 130], vec![130, 28]] {
            let args = [data(&first, 25), data(&[130], 26), data(&[130], 27)].map(|t| t.to_dtype(dtype));
            let f = compile(layer_norm_prims);
            assert!(kinds(&f, &args).iter().any(|k| k.starts_with("Fused")), "{:?}", kinds(&f, &args));
            same_bits(&f.call(&args)[0], &layer_norm_prims(&args)[0], &format!("layer_norm {dtype:?} {first:?}"));
        }
    }
}

#[test]
fn row_chains_keep_nan_and_infinity_as_eager_does() {
    let mut v = data(&[4, 100], 28).to_vec::<f64>();
    (v[3], v[150], v[250], v[251]) = (f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY);
    let x = [Tensor::from_vec(v, &[4, 100]).to_dtype(DType::F32)];
    same_bits(&compile(softmax_prims).call(&x)[0], &softmax_prims(&x)[0], "softmax with NaN and infinities");
}

#[test]
fn half_precision_row_chains_take_the_flat_groups() {
    for dtype in [DType::F16, DType::BF16] {
        let x = [data(&[9, 200], 29).to_dtype(dtype)];
        let f = compile(softmax_prims);
        assert!(!kinds(&f, &x).contains(&"Fused7".to_string()), "{:?}", kinds(&f, &x));
        same_bits(&f.call(&x)[0], &softmax_prims(&x)[0], &format!("{dtype:?}"));
    }
}

#[test]
fn row_fused_steps_compose_with_grad_and_vmap() {
    let f = compile(|x: &[Tensor]| vec![layer_norm_prims(x)[0].sin().sum_all()]);
    let plain = |x: &[Tensor]| layer_norm_prims(x)[0].sin().sum_all();
    let args = [data(&[3, 4, 100], 30), data(&[100], 31), data(&[100], 32)];
    assert!(kinds(&f, &args).iter().any(|k| k.starts_with("Fused")));
    let fc = f.clone();
    let got = grad(move |x: &[Tensor]| fc.call(x).remove(0))(&args);
    same_bits(&got, &grad(plain)(&args), "grad");
    let sm = compile(softmax_prims);
    let xs = data(&[3, 5, 120], 33);
    let out = vmap(move |x: &[Tensor]| sm.call(x), &[Some(0)], &[Some(0)])(&[xs.clone()]);
    same_bits(&out[0], &softmax_prims(&[xs])[0], "vmap");
}

#[test]
fn a_row_chain_on_other_inputs_than_its_trace_runs_step_by_step() {
    // The chain traced for f32 applied to f64: its plan does not fit, the steps run one
    // by one on whole arrays, as unfused.
    let x32 = [data(&[6, 200], 34).to_dtype(DType::F32)];
    let g = compile(softmax_prims).graph(&x32).unwrap();
    let [step] = &g.ops[..] else { panic!("one fused step: {:?}", g.ops) };
    let x64 = data(&[6, 200], 34);
    let got = psionic_array::graph::apply(step.prim.clone(), &[&x64]).unwrap();
    same_bits(&got, &softmax_prims(&[x64])[0], "f64 through an f32 row chain");
}
