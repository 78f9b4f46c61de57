//! Gradients of the functional layers against central differences in f64, and values
//! at their edges by hand. (Values against PyTorch are in the conformance families
//! nn_modules and losses.)

use psionic_array::autodiff::{autograd, GradOpts};
use psionic_array::{DType, Reduction, Tensor};
use psionic_nn::functional as F;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let g = psionic_array::random::Generator::new();
    g.manual_seed(seed);
    psionic_array::random::randn(shape, DType::F64, Some(&g))
}

/// Compares autograd's gradient of `f` at `x` with central differences.
fn gradcheck(name: &str, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor) {
    let leaf = x.deep_clone().requires_grad_(true).clone();
    let g = autograd::grad(&[&f(&leaf).sum_all()], &[&leaf], GradOpts::default())[0].clone().unwrap();
    let base = x.to_vec::<f64>();
    let got = g.to_vec::<f64>();
    let h = 1e-6;
    for i in 0..base.len() {
        let at = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            f(&Tensor::from_vec(v, &x.shape())).sum_all().item::<f64>()
        };
        let num = (at(h) - at(-h)) / (2.0 * h);
        assert!(
            (num - got[i]).abs() <= 1e-6 * (1.0 + num.abs()),
            "{name}: d/dx[{i}] = {} by autograd, {num} numerically",
            got[i]
        );
    }
}

#[test]
fn norms_differentiate() {
    let x = randn(&[2, 4, 3], 1);
    let w = randn(&[4], 2);
    gradcheck("layer_norm", &|x| F::layer_norm(x, &[3], None, None, 1e-5).mul(randn(&[2, 4, 3], 9)), &x);
    gradcheck("group_norm", &|x| F::group_norm(x, 2, Some(&w), None, 1e-5).mul(randn(&[2, 4, 3], 9)), &x);
    gradcheck("rms_norm", &|x| F::rms_norm(x, &[4, 3], None, Some(1e-6)).mul(randn(&[2, 4, 3], 9)), &x);
    gradcheck("batch_norm", &|x| F::batch_norm(x, None, Some(&w), None, true, 0.1, 1e-5).mul(randn(&[2, 4, 3], 9)), &x);
    gradcheck("local_response_norm", &|x| F::local_response_norm(x, 3, 0.1, 0.75, 1.0), &x);
}

#[test]
fn losses_differentiate() {
    let x = randn(&[4, 5], 3);
    let t = Tensor::from_vec(vec![0i64, 4, 2, 2], &[4]);
    let o = F::ClassLoss { label_smoothing: 0.1, ignore_index: 4, ..Default::default() };
    gradcheck("cross_entropy", &|x| F::cross_entropy(x, &t, &o), &x);
    let y = randn(&[4, 5], 4).sigmoid();
    gradcheck("bce_with_logits", &|x| F::binary_cross_entropy_with_logits(x, &y, None, None, Reduction::Mean), &x);
    gradcheck("multilabel_soft_margin", &|x| F::multilabel_soft_margin_loss(x, &y, None, Reduction::Sum), &x);
    let lp = randn(&[6, 2, 4], 5).log_softmax(2);
    let targets = Tensor::from_vec(vec![1i64, 2, 2, 3, 1, 0], &[2, 3]);
    gradcheck("ctc", &|lp| F::ctc_loss(&lp.log_softmax(2), &targets, &[6, 5], &[3, 2], 0, Reduction::Mean, false), &lp);
}

#[test]
fn attention_differentiates_and_masks() {
    let q = randn(&[2, 3, 4], 6);
    let k = randn(&[2, 5, 4], 7);
    let v = randn(&[2, 5, 2], 8);
    gradcheck("sdpa q", &|q| F::scaled_dot_product_attention(q, &k, &v, &Default::default()), &q);
    // A causal query at position 0 sees only key 0, so its output is value 0.
    let o = F::Sdpa { is_causal: true, ..Default::default() };
    let out = F::scaled_dot_product_attention(&q, &k, &v, &o);
    assert_eq!(out.select(1, 0).to_vec::<f64>(), v.select(1, 0).to_vec::<f64>());
}

/// Without a mask the fused kernel runs; with the same causal mask given as a boolean
/// tensor, PyTorch's math path. Values and gradients agree, leading dims broadcast
/// (one key/value head group shared by two batches).
#[test]
fn fused_attention_matches_the_math_path() {
    // Leading dims broadcast between operands of one rank, and between ranks.
    for (qs, ks, vs) in [
        (vec![2, 3, 9, 4], vec![1, 3, 7, 4], vec![1, 3, 7, 5]),
        (vec![3, 9, 4], vec![2, 3, 7, 4], vec![2, 1, 7, 5]),
        (vec![9, 4], vec![2, 7, 4], vec![7, 5]),
    ] {
        let (q, k, v) = (randn(&qs, 11), randn(&ks, 12), randn(&vs, 13));
        let mask = Tensor::ones(&[9, 7], DType::Bool).tril(0);
        let run = |o: &F::Sdpa| {
            let xs: Vec<Tensor> = [&q, &k, &v].iter().map(|t| t.detach().requires_grad_(true).clone()).collect();
            let out = F::scaled_dot_product_attention(&xs[0], &xs[1], &xs[2], o);
            let s = out.mul(randn(&out.shape(), 14)).sum_all();
            let g = autograd::grad(&[&s], &[&xs[0], &xs[1], &xs[2]], GradOpts::default());
            let mut all = out.to_vec::<f64>();
            for t in g {
                all.extend(t.unwrap().to_vec::<f64>());
            }
            all
        };
        let fused = run(&F::Sdpa { is_causal: true, scale: Some(0.4), ..Default::default() });
        let math = run(&F::Sdpa { attn_mask: Some(&mask), scale: Some(0.4), ..Default::default() });
        assert_eq!(fused.len(), math.len());
        for (i, (a, b)) in fused.iter().zip(&math).enumerate() {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{qs:?}: [{i}] {a} vs {b}");
        }
    }
}

/// f16 and bf16 attention is the f32 computation rounded once: the same bits as casting
/// the f32 result, and gradients in the input's dtype.
#[test]
fn half_precision_attention_is_computed_in_f32() {
    for dt in [DType::F16, DType::BF16] {
        let [q, k, v] = [31, 32, 33].map(|s| randn(&[2, 5, 8], s).mul(3.0).to_dtype(dt));
        for causal in [false, true] {
            let o = F::Sdpa { is_causal: causal, ..Default::default() };
            let wide = |t: &Tensor| t.to_dtype(DType::F32);
            let want = F::scaled_dot_product_attention(&wide(&q), &wide(&k), &wide(&v), &o).to_dtype(dt);
            let x = q.detach().requires_grad_(true).clone();
            let got = F::scaled_dot_product_attention(&x, &k, &v, &o);
            assert_eq!(got.dtype(), dt);
            assert_eq!(got.to_dtype(DType::F64).to_vec::<f64>(), want.to_dtype(DType::F64).to_vec::<f64>());
            let g = autograd::grad(&[&got.sum_all()], &[&x], GradOpts::default());
            assert_eq!(g[0].as_ref().unwrap().dtype(), dt);
        }
    }
}

/// MultiheadAttention without weights to return takes sdpa's fused kernel; with them,
/// its own math path. Both give the same outputs and parameter gradients (f64), causal
/// or not, batch-first or not, with a padded key (bias_kv, zero attention) where that
/// keeps the fused kernel.
#[test]
fn multihead_attention_fused_matches_its_math_path() {
    use psionic_nn::prelude::*;
    for (causal, batch_first, add_bias_kv, add_zero_attn) in [
        (true, false, false, false),
        (false, true, false, false),
        (false, false, true, true),
        (true, true, false, false),
    ] {
        psionic_array::random::manual_seed(5);
        let mha = MultiheadAttention::with(8, 2, 0.0, true, add_bias_kv, add_zero_attn, None, None, batch_first);
        mha.to_dtype(DType::F64);
        let x = randn(&[3, 5, 8], 21);
        let run = |need_weights: bool| {
            let call = MhaCall { need_weights, is_causal: causal, ..Default::default() };
            let out = mha.forward(&x, &x, &x, &call).output;
            let params: Vec<Tensor> = mha.parameters();
            let s = out.mul(randn(&[3, 5, 8], 22)).sum_all();
            let g = autograd::grad(&[&s], &params.iter().collect::<Vec<_>>(), GradOpts::default());
            let mut all = out.to_vec::<f64>();
            for t in g {
                all.extend(t.unwrap().to_vec::<f64>());
            }
            all
        };
        let (fused, math) = (run(false), run(true));
        assert_eq!(fused.len(), math.len());
        for (i, (a, b)) in fused.iter().zip(&math).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                "causal {causal}, batch_first {batch_first}: [{i}] {a} vs {b}"
            );
        }
    }
}

#[test]
fn nll_by_hand() {
    // -(w[t] * x[t]) summed, divided by the summed weights of counted targets.
    let x = Tensor::from_vec(vec![-1.0f64, -2.0, -3.0, -0.5, -1.5, -2.5], &[2, 3]);
    let t = Tensor::from_vec(vec![2i64, 0], &[2]);
    let w = Tensor::from_vec(vec![1.0f64, 2.0, 4.0], &[3]);
    let l = F::nll_loss(&x, &t, &F::ClassLoss { weight: Some(&w), ..Default::default() });
    assert!((l.item::<f64>() - (4.0 * 3.0 + 1.0 * 0.5) / 5.0).abs() < 1e-15);
    let ignored =
        F::nll_loss(&x, &t, &F::ClassLoss { ignore_index: 0, reduction: Reduction::None, ..Default::default() });
    assert_eq!(ignored.to_vec::<f64>(), vec![3.0, 0.0]);
}
