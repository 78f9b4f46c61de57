//! Replays `fixtures/autodiff.json` (written by `oracle/gen_autodiff.py`): composite
//! functions built from primitives, whose values and gradients must match
//! `torch.autograd`, and whose `mx.grad`, `mx.vmap(mx.grad)` and `mx.jvp` results must
//! match MLX's. The functions below are the same formulas as in the generator.
//!
//! Tolerances: torch's float64 math is correctly rounded to within a few ulps, so its
//! values are matched to 1e-9 relative. MLX's CPU `exp` (and what is built on it:
//! softmax, logsumexp) uses a fast approximation even in float64, good to about 1e-8
//! relative, so MLX's values are matched to 1e-6 relative plus 1e-7 absolute (values here are
//! of order one).

use super::check::{assert_close, assert_close_tol};
use crate::autodiff::{grad, grad_argnums, jvp, vmap};
use crate::Tensor;
use serde_json::Value;

type F = fn(&[Tensor]) -> Tensor;

fn mlp_loss(x: &[Tensor]) -> Tensor {
    let h = (&x[0].matmul(&x[1]) + &x[2]).tanh();
    let d = &(&h.matmul(&x[3]) + &x[4]) - &x[5];
    (&d * &d).sum_all().div(d.numel() as f64)
}

fn softmax_xent(x: &[Tensor]) -> Tensor {
    (&x[1] * &x[0].log_softmax(-1)).sum_all().neg().div(x[0].size(0) as f64)
}

fn layer_norm(x: &[Tensor]) -> Tensor {
    let c = &x[0] - &x[0].mean(-1, true);
    let var = (&c * &c).mean(-1, true);
    let y = &(&(&c / &var.add(1e-5).sqrt()) * &x[1]) + &x[2];
    (&y * &x[3]).sum_all()
}

fn attention(x: &[Tensor]) -> Tensor {
    let d = x[0].size(-1) as f64;
    let s = x[0].matmul(&x[1].transpose(-1, -2)).div(d.sqrt());
    (&s.softmax(-1).matmul(&x[2]) * &x[3]).sum_all()
}

fn function(name: &str) -> F {
    match name {
        "mlp_loss" => mlp_loss,
        "softmax_xent" => softmax_xent,
        "layer_norm" => layer_norm,
        "attention" => attention,
        other => panic!("fixture names unknown function {other}"),
    }
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f64> = v["data"].as_array().unwrap().iter().map(|d| d.as_f64().unwrap()).collect();
    Tensor::from_vec(data, &shape)
}

fn tensors(v: &Value) -> Vec<Tensor> {
    v.as_array().unwrap().iter().map(tensor).collect()
}

const MLX: (f64, f64) = (1e-7, 1e-6);

fn close(what: &str, got: f64, want: f64, (atol, rtol): (f64, f64)) {
    assert!((got - want).abs() <= atol + rtol * want.abs(), "{what}: got {got}, want {want}");
}

fn mlx_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_close_tol(what, got, want, MLX.0, MLX.1);
}

#[test]
fn composite_gradients_match_torch_and_mlx() {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/autodiff.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(p).expect("fixtures/autodiff.json")).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let f = function(name);
        let xs = tensors(&c["inputs"]);
        let diff: Vec<usize> = c["diff"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let (torch, mlx) = (&c["torch"], &c["mlx"]);
        close(
            &format!("{name}: value vs torch"),
            f(&xs).item::<f64>(),
            torch["value"].as_f64().unwrap(),
            (1e-12, 1e-9),
        );
        close(&format!("{name}: value vs mlx"), f(&xs).item::<f64>(), mlx["value"].as_f64().unwrap(), MLX);

        // MLX face: grad over the differentiable inputs.
        let gs = grad_argnums(f, &diff)(&xs);
        for (k, (g, (tw, mw))) in
            gs.iter().zip(tensors(&torch["grads"]).iter().zip(&tensors(&mlx["grads"]))).enumerate()
        {
            assert_close(&format!("{name}: grad {k} vs torch.autograd"), g, tw);
            mlx_close(&format!("{name}: grad {k} vs mx.grad"), g, mw);
        }
        // PyTorch face: backward into .grad.
        let leaves: Vec<Tensor> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| if diff.contains(&i) { x.deep_clone().requires_grad_(true).clone() } else { x.clone() })
            .collect();
        f(&leaves).backward();
        for (k, (&i, tw)) in diff.iter().zip(&tensors(&torch["grads"])).enumerate() {
            assert_close(&format!("{name}: backward grad {k} vs torch"), &leaves[i].grad().unwrap(), tw);
        }

        // Forward mode along the fixture's tangents.
        let with = |d: &[Tensor]| {
            let mut args = xs.clone();
            for (&i, v) in diff.iter().zip(d) {
                args[i] = v.clone();
            }
            args
        };
        let primals: Vec<Tensor> = diff.iter().map(|&i| xs[i].clone()).collect();
        let (_, jt) = jvp(|d| vec![f(&with(d))], &primals, &tensors(&mlx["jvp"]["tangents"]));
        close(&format!("{name}: jvp vs mx.jvp"), jt[0].item::<f64>(), mlx["jvp"]["out"].as_f64().unwrap(), MLX);

        // Per-example gradients of the first differentiable input: vmap of grad.
        let first = diff[0];
        let per_example = vmap(
            |a: &[Tensor]| {
                let g = grad(|b: &[Tensor]| {
                    let mut args = xs.clone();
                    args[first] = b[0].clone();
                    f(&args)
                });
                vec![g(a)]
            },
            &[Some(0)],
            &[Some(0)],
        );
        let got = per_example(&[tensor(&mlx["vmap_grad"]["batch"])]).remove(0);
        mlx_close(&format!("{name}: vmap(grad) vs mx.vmap(mx.grad)"), &got, &tensor(&mlx["vmap_grad"]["out"]));
    }
}
