//! Training steps compiled whole (forward, backward, clipping, the optimizer's update)
//! give the eager loss curve and parameters bit for bit: the MLP, CNN and GPT steps of
//! `psionic bench`, with Adam, SGD with momentum and AdamW, and a learning-rate
//! schedule.

use psionic::nn::functional as F;
use psionic::nn::models::{Gpt, GptConfig};
use psionic::nn::prelude::*;
use psionic::optim::{clip_grad_norm_, Adam, CompiledStep, Optim, Optimizer, Rule, Sgd, StepState};
use psionic::prelude::*;
use psionic::random::{self, Generator};
use psionic::Padding;

/// The global generator seeds every model: tests that build models take turns.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn randn(shape: &[usize], seed: u64) -> Tensor {
    random::randn(shape, DType::F32, Some(&Generator::with_seed(seed)))
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>().iter().map(|x| x.to_bits()).collect()
}

/// The eager loop body every test compiles.
fn body<M: Module, R: Rule>(loss: &Tensor, m: &M, opt: &mut Optim<R>, clip: bool) -> Vec<Tensor> {
    loss.backward();
    if clip {
        clip_grad_norm_(&m.parameters(), 1.0, 2.0, false).expect("finite norm");
    }
    opt.step();
    opt.zero_grad();
    vec![loss.detach()]
}

/// Runs `steps` steps eagerly and compiled from the same start and compares every loss
/// and the final parameters bit for bit; returns how often the compiled step traced.
fn same_curve<M, R>(
    make: impl Fn() -> (M, Optim<R>),
    loss: fn(&M, &[Tensor]) -> Tensor,
    batches: &[Vec<Tensor>],
    clip: bool,
    schedule: Option<fn(usize) -> f64>,
) -> usize
where
    M: Module + Send + Sync + 'static,
    R: Rule + 'static,
{
    let _turn = SEEDED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (model, mut opt) = make();
    let mut want = vec![];
    for (k, b) in batches.iter().enumerate() {
        if let Some(lr) = schedule {
            opt.set(0, "lr", lr(k));
        }
        want.push(bits(&body(&loss(&model, b), &model, &mut opt, clip)[0]));
    }
    let (m2, o2) = make();
    let step =
        CompiledStep::new(m2, o2, move |m: &M, b: &[Tensor], opt: &mut Optim<R>| body(&loss(m, b), m, opt, clip));
    for (k, b) in batches.iter().enumerate() {
        if let Some(lr) = schedule {
            step.optimizer().set(0, "lr", lr(k));
        }
        assert_eq!(bits(&step.call(b)[0]), want[k], "loss at step {k}");
    }
    for ((name, p), (_, q)) in model.named_parameters().iter().zip(step.model().named_parameters()) {
        assert_eq!(bits(p), bits(&q), "{name} after {} steps", batches.len());
    }
    assert_eq!(step.optimizer().steps(), opt.steps(), "step counts");
    // The state left for an eager step is the eager step's: its buffers, no moving
    // coefficients, no gradients.
    let (se, sc) = (opt.state_dict(), step.optimizer().state_dict());
    for (a, b) in se.state.iter().zip(&sc.state) {
        for ((ka, va), (kb, vb)) in a.bufs.iter().zip(&b.bufs) {
            assert_eq!((ka, bits(va)), (kb, bits(vb)));
        }
    }
    assert!(step.model().parameters().iter().all(|p| p.grad().is_none() && p.is_leaf()));
    step.traces()
}

fn mlp() -> (Sequential, Optim<Adam>) {
    random::manual_seed(0);
    let model = Sequential::new()
        .push(Linear::new(20, 32))
        .push(Activation::relu())
        .push(Linear::new(32, 32))
        .push(Activation::relu())
        .push(Linear::new(32, 10));
    let opt = Optim::for_module(&model, Adam::new(1e-2));
    (model, opt)
}

fn classify(m: &Sequential, b: &[Tensor]) -> Tensor {
    F::cross_entropy(&m.forward(&b[0]), &b[1], &Default::default())
}

fn labelled(n: usize, shape: &[usize], k: u64) -> Vec<Tensor> {
    vec![randn(&[&[n], shape].concat(), k), Tensor::arange(k as i64, k as i64 + n as i64, 1).remainder(10)]
}

#[test]
fn an_mlp_trained_by_adam_compiled_gives_the_eager_curve() {
    let batches: Vec<_> = (0..8).map(|k| labelled(16, &[20], k)).collect();
    // Traced on the first call (no moments yet) and the second; replayed after.
    assert_eq!(same_curve(mlp, classify, &batches, false, None), 2);
}

#[test]
fn clipping_and_a_schedule_need_no_new_traces() {
    let batches: Vec<_> = (0..8).map(|k| labelled(16, &[20], k)).collect();
    let cosine: fn(usize) -> f64 = |k| 1e-2 * 0.5 * (1.0 + (std::f64::consts::PI * k as f64 / 8.0).cos());
    // Adam takes its rate and bias corrections from a tensor: the schedule replays.
    assert_eq!(same_curve(mlp, classify, &batches, true, Some(cosine)), 2);
}

#[test]
fn sgd_reads_its_rate_on_the_host_and_traces_again_when_it_changes() {
    let make = || {
        let (model, _) = mlp();
        let opt = Optim::for_module(&model, Sgd { momentum: 0.9, ..Sgd::new(0.05) });
        (model, opt)
    };
    let batches: Vec<_> = (0..6).map(|k| labelled(16, &[20], k)).collect();
    assert_eq!(same_curve(make, classify, &batches, false, None), 2);
    // A rate that halves every two steps: traced again at steps 0, 1, 2 and 4.
    let halving: fn(usize) -> f64 = |k| 0.05 / (1 << (k / 2)) as f64;
    assert_eq!(same_curve(make, classify, &batches, false, Some(halving)), 4);
}

#[test]
fn a_cnn_trained_by_sgd_with_momentum_compiled_gives_the_eager_curve() {
    let make = || {
        random::manual_seed(1);
        let conv = |cin, cout| {
            Conv::new(2, cin, cout, &[3], ConvOpts { padding: Padding::Explicit(vec![1]), ..ConvOpts::default() })
        };
        let model = Sequential::new()
            .push(conv(3, 8))
            .push(Activation::relu())
            .push(Pooling::new(PoolKind::Max, 2, &[2], &[], &[0]))
            .push(Flatten::default())
            .push(Linear::new(8 * 4 * 4, 10));
        let opt = Optim::for_module(&model, Sgd { momentum: 0.9, ..Sgd::new(0.01) });
        (model, opt)
    };
    let batches: Vec<_> = (0..5).map(|k| labelled(8, &[3, 8, 8], 10 + k)).collect();
    assert_eq!(same_curve(make, classify, &batches, false, None), 2);
}

/// A small GPT (`layers`, `dropout`) seeded with `seed`, with AdamW.
fn gpt(seed: u64, layers: usize, dropout: f64) -> (Gpt, Optim<Adam>) {
    random::manual_seed(seed);
    let model = Gpt::new(GptConfig { vocab_size: 17, block_size: 8, n_layer: layers, n_head: 2, n_embd: 16, dropout });
    let opt = Optim::for_module(&model, Adam::adamw(3e-3));
    (model, opt)
}

fn lm(m: &Gpt, b: &[Tensor]) -> Tensor {
    m.loss(&b[0], &b[1])
}

/// `n` batches of 4 sequences of 8 tokens and their next tokens.
fn token_batches(n: i64) -> Vec<Vec<Tensor>> {
    (0..n)
        .map(|k| {
            let idx = Tensor::arange(k, k + 4 * 9, 1).remainder(17).reshape(&[4, 9]);
            vec![idx.narrow(1, 0, 8).contiguous(), idx.narrow(1, 1, 8).contiguous()]
        })
        .collect()
}

#[test]
fn the_demo_gpt_trained_by_adamw_compiled_gives_the_eager_curve() {
    assert_eq!(same_curve(|| gpt(2, 2, 0.0), lm, &token_batches(6), true, None), 2);
}

#[test]
fn dropout_draws_fresh_masks_in_a_compiled_step() {
    // Dropout draws on the host: the step is traced afresh on every call, and the masks
    // (and so the curve) are the eager run's.
    assert_eq!(same_curve(|| gpt(3, 1, 0.2), lm, &token_batches(4), false, None), 4);
}

#[test]
fn switching_to_eval_traces_again_and_a_failed_step_changes_nothing() {
    let _turn = SEEDED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (model, mut opt) = mlp();
    let (m2, o2) = mlp();
    let step = CompiledStep::new(m2, o2, |m: &Sequential, b: &[Tensor], opt: &mut Optim<Adam>| {
        body(&classify(m, b), m, opt, false)
    });
    let good: Vec<_> = (0..4).map(|k| labelled(16, &[20], k)).collect();
    for b in &good[..2] {
        assert_eq!(bits(&step.call(b)[0]), bits(&body(&classify(&model, b), &model, &mut opt, false)[0]));
    }
    assert_eq!(step.traces(), 2);
    // A batch whose labels are out of range fails when the replay gathers with them;
    // the optimizer's step counts and moments and the model stay as they were.
    let steps = step.optimizer().steps();
    let bad = vec![good[2][0].clone(), Tensor::full(&[16], 12, DType::I64)];
    let err = psionic::fallible(|| step.call(&bad)).unwrap_err();
    assert!(err.to_string().contains("out of bounds"), "{err}");
    assert_eq!(step.optimizer().steps(), steps);
    for b in &good[2..] {
        assert_eq!(bits(&step.call(b)[0]), bits(&body(&classify(&model, b), &model, &mut opt, false)[0]));
    }
    for ((name, p), (_, q)) in model.named_parameters().iter().zip(step.model().named_parameters()) {
        assert_eq!(bits(p), bits(&q), "{name}");
    }
    // Eval mode is another graph (dropout, batch statistics): traced again.
    let traces = step.traces();
    step.model().eval();
    step.call(&good[0]);
    assert_eq!(step.traces(), traces + 1);
}
