//! Autocast's policy, op by op, against PyTorch's (`fixtures/autocast.json`, written by
//! `oracle/gen_autocast.py` under `torch.autocast("cpu", dtype=torch.bfloat16)`): the
//! result's dtype from f32 inputs and from bf16 inputs, and its values from f32 inputs.
//! Writes the precision-policy report `docs/autocast.md` from the results
//! (`PSIONIC_UPDATE_DOCS=1`) and fails when the committed report is stale.

use psionic::autocast::autocast;
use psionic::nn::functional::{self as F, KlReduction, Reduction};
use psionic::prelude::*;
use psionic::{GridMode, GridPadding, Interpolation, PadMode, Padding, Pool};
use serde_json::Value;

/// `sin(0.37 i + k) * 1.5` over the flat index, in f64 and rounded once: the oracle's.
fn t(shape: &[usize], dt: DType, k: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.37 + k).sin() * 1.5).collect();
    Tensor::from_vec(v, shape).to_dtype(dt)
}

fn pos_def(d: DType) -> Tensor {
    let a = t(&[3, 3], DType::F64, 0.0);
    (&a.matmul(&a.t()) + &Tensor::eye(3, None, DType::F64)).to_dtype(d)
}

fn classes() -> Tensor {
    Tensor::from_vec(vec![0i64, 1, 2, 4], &[4])
}

type Probe = fn(DType) -> Tensor;

/// Psionic's side of every probe the oracle writes.
fn probe(op: &str) -> Option<Probe> {
    use Reduction::Mean;
    let p: Probe = match op {
        "matmul" => |d| t(&[4, 8], d, 0.0).matmul(&t(&[8, 3], d, 1.0)),
        "mm" => |d| t(&[4, 8], d, 0.0).mm(&t(&[8, 3], d, 1.0)),
        "bmm" => |d| t(&[2, 4, 8], d, 0.0).bmm(&t(&[2, 8, 3], d, 1.0)),
        "addmm" => |d| t(&[4, 3], d, 2.0).addmm(&t(&[4, 8], d, 0.0), &t(&[8, 3], d, 1.0), 1.0, 1.0),
        "baddbmm" => |d| t(&[2, 4, 3], d, 2.0).baddbmm(&t(&[2, 4, 8], d, 0.0), &t(&[2, 8, 3], d, 1.0), 1.0, 1.0),
        "linear" => |d| t(&[4, 8], d, 0.0).linear(&t(&[3, 8], d, 1.0), Some(&t(&[3], d, 2.0))),
        "conv1d" => |d| {
            t(&[1, 2, 9], d, 0.0).conv(
                &t(&[3, 2, 3], d, 1.0),
                Some(&t(&[3], d, 2.0)),
                &[1],
                Padding::Explicit(vec![0]),
                &[1],
                1,
            )
        },
        "conv2d" => |d| {
            let w = t(&[3, 2, 3, 3], d, 1.0);
            t(&[1, 2, 5, 5], d, 0.0).conv(&w, Some(&t(&[3], d, 2.0)), &[1], Padding::Explicit(vec![0]), &[1], 1)
        },
        "conv_transpose2d" => {
            |d| t(&[1, 2, 5, 5], d, 0.0).conv_transpose(&t(&[2, 3, 3, 3], d, 1.0), None, &[1], &[0], &[0], 1, &[1])
        }
        "prelu" => |d| F::prelu(&t(&[2, 3, 4], d, 0.0), &t(&[3], d, 1.0)),
        "scaled_dot_product_attention" => |d| {
            let [q, k, v] = [0.0, 1.0, 2.0].map(|k| t(&[1, 2, 4, 8], d, k));
            F::scaled_dot_product_attention(&q, &k, &v, &Default::default())
        },
        "mse_loss" => |d| t(&[4, 3], d, 0.0).mse_loss(&t(&[4, 3], d, 1.0), Mean),
        "l1_loss" => |d| t(&[4, 3], d, 0.0).l1_loss(&t(&[4, 3], d, 1.0), Mean),
        "smooth_l1_loss" => |d| t(&[4, 3], d, 0.0).smooth_l1_loss(&t(&[4, 3], d, 1.0), Mean, 1.0),
        "huber_loss" => |d| t(&[4, 3], d, 0.0).huber_loss(&t(&[4, 3], d, 1.0), Mean, 1.0),
        "nll_loss" => |d| F::nll_loss(&t(&[4, 5], d, 0.0), &classes(), &Default::default()),
        "cross_entropy" => |d| F::cross_entropy(&t(&[4, 5], d, 0.0), &classes(), &Default::default()),
        "binary_cross_entropy" => {
            |d| F::binary_cross_entropy(&t(&[4, 3], d, 0.0).sigmoid(), &t(&[4, 3], d, 1.0).sigmoid(), None, Mean)
        }
        "binary_cross_entropy_with_logits" => |d| {
            F::binary_cross_entropy_with_logits(&t(&[4, 3], d, 0.0), &t(&[4, 3], d, 1.0).sigmoid(), None, None, Mean)
        },
        "kl_div" => |d| F::kl_div(&t(&[4, 3], d, 0.0), &t(&[4, 3], d, 1.0).abs(), KlReduction::BatchMean, false),
        "soft_margin_loss" => |d| F::soft_margin_loss(&t(&[4, 3], d, 0.0), &t(&[4, 3], d, 1.0).sign(), Mean),
        "margin_ranking_loss" => {
            |d| F::margin_ranking_loss(&t(&[4], d, 0.0), &t(&[4], d, 1.0), &t(&[4], d, 2.0).sign(), 0.0, Mean)
        }
        "hinge_embedding_loss" => {
            |d| F::hinge_embedding_loss(&t(&[4, 3], d, 0.0), &t(&[4, 3], d, 1.0).sign(), 1.0, Mean)
        }
        "poisson_nll_loss" => {
            |d| F::poisson_nll_loss(&t(&[4, 3], d, 0.0), &t(&[4, 3], d, 1.0).abs(), true, false, 1e-8, Mean)
        }
        "cosine_embedding_loss" => {
            |d| F::cosine_embedding_loss(&t(&[4, 3], d, 0.0), &t(&[4, 3], d, 1.0), &t(&[4], d, 2.0).sign(), 0.0, Mean)
        }
        "triplet_margin_loss" => |d| {
            let [a, p, n] = [0.0, 1.0, 2.0].map(|k| t(&[4, 3], d, k));
            F::triplet_margin_loss(&a, &p, &n, 1.0, 2.0, 1e-6, false, Mean)
        },
        "multi_margin_loss" => |d| F::multi_margin_loss(&t(&[4, 5], d, 0.0), &classes(), 1, 1.0, None, Mean),
        "prod" => |d| t(&[4, 3], d, 0.0).prod_all(),
        "trace" => |d| t(&[4, 4], d, 0.0).trace(),
        "inverse" => |d| psionic::linalg::inv(&pos_def(d)),
        "cholesky" => |d| psionic::linalg::cholesky(&pos_def(d), false),
        "quantile" => {
            |d| t(&[10], d, 0.0).quantile(&Tensor::scalar(0.3).to_dtype(d), None, false, Interpolation::Linear)
        }
        "avg_pool3d" => {
            |d| t(&[1, 1, 4, 4, 4], d, 0.0).avg_pool(&Pool::new(3, &[2], &[], &[0], &[1], false), true, None)
        }
        "max_pool3d" => |d| t(&[1, 1, 4, 4, 4], d, 0.0).max_pool(&Pool::new(3, &[2], &[], &[0], &[1], false)).0,
        "adaptive_avg_pool3d" => |d| t(&[1, 1, 4, 4, 4], d, 0.0).adaptive_avg_pool(&[2, 2, 2]),
        "reflection_pad1d" => |d| t(&[1, 2, 5], d, 0.0).pad(&[2, 2], PadMode::Reflect, 0.0),
        "replication_pad2d" => |d| t(&[1, 2, 5, 5], d, 0.0).pad(&[1, 1, 1, 1], PadMode::Replicate, 0.0),
        "grid_sample" => |d| {
            t(&[1, 1, 4, 4], d, 0.0).grid_sample(
                &t(&[1, 3, 3, 2], d, 1.0).tanh(),
                GridMode::Bilinear,
                GridPadding::Zeros,
                false,
            )
        },
        "linalg_solve" => |d| psionic::linalg::solve(&pos_def(d), &t(&[3, 2], d, 1.0), true),
        "linalg_lstsq" => |d| psionic::linalg::lstsq(&pos_def(d), &t(&[3, 2], d, 1.0), None, None).solution,
        "matrix_exp" => |d| psionic::linalg::matrix_exp(&t(&[3, 3], d, 0.0).mul(0.3)),
        "qr" => |d| psionic::linalg::qr(&pos_def(d), psionic::linalg::QrMode::Reduced).1,
        "svdvals" => |d| psionic::linalg::svdvals(&t(&[3, 4], d, 0.0)),
        "eigvalsh" => |d| psionic::linalg::eigvalsh(&pos_def(d), false),
        "matrix_power" => |d| psionic::linalg::matrix_power(&t(&[3, 3], d, 0.0), 3),
        "einsum" => |d| Tensor::einsum("ij,jk->ik", &[&t(&[3, 4], d, 0.0), &t(&[4, 2], d, 1.0)]),
        "tensordot" => |d| t(&[3, 4], d, 0.0).tensordot(&t(&[4, 2], d, 1.0), &[1], &[0]),
        "adaptive_avg_pool2d" => |d| t(&[1, 1, 5, 5], d, 0.0).adaptive_avg_pool(&[3, 3]),
        "interpolate_bicubic" => {
            |d| t(&[1, 1, 4, 4], d, 0.0).interpolate(Some(&[6, 6]), None, psionic::Resize::Bicubic, None, false)
        }
        "add" => |d| &t(&[4], d, 0.0) + &t(&[4], d, 1.0),
        "exp" => |d| t(&[4], d, 0.0).exp(),
        "softmax" => |d| t(&[4, 5], d, 0.0).softmax(-1),
        "log_softmax" => |d| t(&[4, 5], d, 0.0).log_softmax(-1),
        "layer_norm" => |d| F::layer_norm(&t(&[4, 5], d, 0.0), &[5], None, None, 1e-5),
        "gelu" => |d| t(&[4], d, 0.0).gelu("none"),
        "sum" => |d| t(&[4, 3], d, 0.0).sum_all(),
        "mean" => |d| t(&[4, 3], d, 0.0).mean_all(),
        "cumsum" => |d| t(&[4], d, 0.0).cumsum(0),
        "max_pool2d" => |d| t(&[1, 1, 4, 4], d, 0.0).max_pool(&Pool::new(2, &[2], &[], &[0], &[1], false)).0,
        "mv" => |d| t(&[4, 8], d, 0.0).mv(&t(&[8], d, 1.0)),
        "cat_mixed" => |d| Tensor::cat(&[&t(&[2], d, 0.0), &t(&[2], DType::BF16, 0.0)], 0),
        _ => return None,
    };
    Some(p)
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::BF16 => "bfloat16",
        DType::F64 => "float64",
        DType::F16 => "float16",
        _ => "other",
    }
}

/// PyTorch's list for an op, read from its probe: lower precision, float32, or neither.
fn list(from32: &str, from16: &str) -> &'static str {
    match (from32, from16) {
        ("bfloat16", _) => "lower precision",
        (_, "float32") => "float32",
        _ => "runs in its inputs' dtype",
    }
}

#[test]
fn autocast_follows_pytorch_op_by_op_and_the_report_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/autocast.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut rows = vec![];
    let mut failures = vec![];
    for case in fixture["cases"].as_array().unwrap() {
        let op = case["op"].as_str().unwrap();
        let (want32, want16) = (case["from_float32"].as_str().unwrap(), case["from_bfloat16"].as_str().unwrap());
        let Some(f) = probe(op) else {
            rows.push(format!("| `{op}` | {} | not in Psionic | | |", list(want32, want16)));
            continue;
        };
        let (y32, y16) = autocast(DType::BF16, || (f(DType::F32), f(DType::BF16)));
        let (got32, got16) = (dtype_name(y32.dtype()), dtype_name(y16.dtype()));
        let want: Vec<f64> = case["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let got = y32.to_dtype(DType::F64).to_vec::<f64>();
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs() / scale).fold(0.0, f64::max);
        // A bf16 result carries 8 bits; products summed in another order round apart.
        let tol = if got32 == "bfloat16" { 3e-2 } else { 1e-5 };
        let ok = got32 == want32 && got16 == want16 && got.len() == want.len() && err <= tol;
        if !ok {
            failures.push(format!("{op}: {got32}/{got16} (PyTorch {want32}/{want16}), value error {err:.2e}"));
        }
        let status = if ok { "same" } else { "**differs**" };
        rows.push(format!("| `{op}` | {} | {got32} / {got16} | {err:.1e} | {status} |", list(want32, want16)));
    }
    let torch = fixture["torch"].as_str().unwrap();
    let report = format!(
        "# Autocast precision policy\n\n\
         Generated by `crates/psionic/tests/autocast_policy.rs` from its results; do not edit by hand.\n\
         Each op runs under `psionic::autocast::autocast(DType::BF16, ..)` from f32 inputs and from bf16\n\
         inputs, beside PyTorch {torch} under `torch.autocast(\"cpu\", dtype=torch.bfloat16)`\n\
         (`fixtures/autocast.json`, `oracle/gen_autocast.py`). The list is PyTorch's, read from the\n\
         dtypes its results had; the error is the largest difference from PyTorch's values (f32\n\
         inputs) over the largest magnitude of them.\n\n\
         | op | PyTorch's list | Psionic's result dtype (from f32 / from bf16) | error | against PyTorch |\n\
         |---|---|---|---:|---|\n{}\n",
        rows.join("\n")
    );
    let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/autocast.md");
    if std::env::var_os("PSIONIC_UPDATE_DOCS").is_some() {
        std::fs::write(doc, &report).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let committed = std::fs::read_to_string(doc).unwrap_or_default();
    assert!(committed == report, "docs/autocast.md is stale: rerun with PSIONIC_UPDATE_DOCS=1");
}

#[test]
fn gradients_reach_f32_parameters_in_f32_and_backward_runs_without_autocast() {
    let w = t(&[3, 8], DType::F32, 1.0);
    w.requires_grad_(true);
    let x = t(&[4, 8], DType::F32, 0.0);
    let y = autocast(DType::BF16, || {
        let h = x.linear(&w, None);
        assert_eq!(h.dtype(), DType::BF16);
        let loss = h.sum_all().to_dtype(DType::F32);
        loss.backward();
        loss
    });
    assert_eq!(y.dtype(), DType::F32);
    let g = w.grad().unwrap();
    assert_eq!(g.dtype(), DType::F32);
    // d(sum x w^T)/dw = column sums of x, each rounded to bf16 on its way.
    let want = x.to_dtype(DType::BF16).sum(0, false).to_dtype(DType::F32).expand(&[3, 8]);
    assert_eq!(g.to_vec::<f32>(), want.contiguous().to_vec::<f32>());
    // f64 is never cast.
    let z = autocast(DType::BF16, || t(&[2, 2], DType::F64, 0.0).matmul(&t(&[2, 2], DType::F64, 1.0)));
    assert_eq!(z.dtype(), DType::F64);
}

#[test]
fn autocast_takes_bf16_or_f16_only() {
    let e = fallible(|| autocast(DType::F32, || ())).unwrap_err();
    assert!(e.to_string().contains("CPU Autocast only supports"), "{e}");
}

#[test]
fn a_compiled_function_traces_again_inside_and_outside_autocast() {
    let f = compile(|x: &[Tensor]| vec![x[0].matmul(&x[0])]);
    let x = t(&[4, 4], DType::F32, 0.0);
    assert_eq!(f.call(std::slice::from_ref(&x))[0].dtype(), DType::F32);
    assert_eq!(autocast(DType::BF16, || f.call(std::slice::from_ref(&x)))[0].dtype(), DType::BF16);
    assert_eq!(f.call(std::slice::from_ref(&x))[0].dtype(), DType::F32);
    assert_eq!(f.traces(), 2);
}

#[test]
fn a_gpt_trains_under_autocast_eager_and_compiled_alike() {
    use psionic::nn::models::{Gpt, GptConfig};
    use psionic::optim::{Adam, CompiledStep, Optim, Optimizer};
    let make = || {
        psionic::random::manual_seed(4);
        let model =
            Gpt::new(GptConfig { vocab_size: 17, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16, dropout: 0.0 });
        let opt = Optim::for_module(&model, Adam::adamw(3e-3));
        (model, opt)
    };
    let idx = Tensor::arange(0, 4 * 9, 1).remainder(17).reshape(&[4, 9]);
    let (x, y) = (idx.narrow(1, 0, 8).contiguous(), idx.narrow(1, 1, 8).contiguous());
    let (model, mut opt) = make();
    let full = model.loss(&x, &y).item::<f32>();
    let mut eager = vec![];
    for _ in 0..4 {
        let l = autocast(DType::BF16, || model.loss(&x, &y));
        assert_eq!(l.dtype(), DType::F32, "the loss is on the float32 list");
        l.backward();
        opt.step();
        opt.zero_grad();
        eager.push(l.item::<f32>());
    }
    // bf16 products move the first loss by well under a percent.
    assert!((eager[0] - full).abs() <= 1e-2 * full.abs(), "{} vs {full}", eager[0]);
    assert!(eager[3] < eager[0], "{eager:?}");
    let (m2, o2) = make();
    let step = CompiledStep::new(m2, o2, |m: &Gpt, b: &[Tensor], opt: &mut Optim<Adam>| {
        let l = autocast(DType::BF16, || m.loss(&b[0], &b[1]));
        l.backward();
        opt.step();
        opt.zero_grad();
        vec![l.detach()]
    });
    let compiled: Vec<f32> = (0..4).map(|_| step.call(&[x.clone(), y.clone()])[0].item::<f32>()).collect();
    assert_eq!(compiled, eager);
    assert_eq!(step.traces(), 2);
}
