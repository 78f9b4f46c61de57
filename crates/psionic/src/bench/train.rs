//! The training-step workloads: the MLP, demo GPT and CNN steps (forward, backward, the
//! optimizer's update, `zero_grad`), each eager and compiled whole as a
//! [`CompiledStep`] (`_compiled`; its two traces, done in the warm-up, are not timed).
//! PyTorch's twins are its eager loop and the same loop with `torch.compile`.

use super::workloads::{randn, Workload};
use psionic::nn::functional as F;
use psionic::nn::models::{Gpt, GptConfig};
use psionic::nn::prelude::*;
use psionic::optim::{Adam, CompiledStep, Optim, Optimizer, Rule, Sgd, StepState};
use psionic::prelude::*;
use psionic::random;
use psionic::Padding;

/// A model, its optimizer, one batch, and its loss.
struct Setup<M, R: Rule> {
    model: M,
    opt: Optim<R>,
    batch: Vec<Tensor>,
    loss: fn(&M, &[Tensor]) -> Tensor,
}

/// The eager loop body, which the compiled step compiles.
fn body<M, R: Rule>(loss: fn(&M, &[Tensor]) -> Tensor, m: &M, b: &[Tensor], opt: &mut Optim<R>) -> Vec<Tensor> {
    let l = loss(m, b);
    l.backward();
    opt.step();
    opt.zero_grad();
    vec![l.detach()]
}

/// The timed closure: one training step, eager or compiled.
fn run<M, R>(s: Setup<M, R>, compiled: bool) -> Box<dyn FnMut()>
where
    M: Module + Send + Sync + 'static,
    R: Rule + 'static,
    Optim<R>: StepState,
{
    let Setup { model, mut opt, batch, loss } = s;
    if compiled {
        let step = CompiledStep::new(model, opt, move |m: &M, b: &[Tensor], o: &mut Optim<R>| body(loss, m, b, o));
        Box::new(move || {
            step.call(&batch);
        })
    } else {
        Box::new(move || {
            body(loss, &model, &batch, &mut opt);
        })
    }
}

fn classify(m: &Sequential, b: &[Tensor]) -> Tensor {
    F::cross_entropy(&m.forward(&b[0]), &b[1], &Default::default())
}

fn mlp() -> Setup<Sequential, Adam> {
    random::manual_seed(0);
    let model = Sequential::new()
        .push(Linear::new(784, 512))
        .push(Activation::relu())
        .push(Linear::new(512, 512))
        .push(Activation::relu())
        .push(Linear::new(512, 10));
    let opt = Optim::for_module(&model, Adam::new(1e-3));
    let batch = vec![randn(&[128, 784], DType::F32), Tensor::arange(0, 128, 1).remainder(10)];
    Setup { model, opt, batch, loss: classify }
}

fn gpt() -> Setup<Gpt, Adam> {
    random::manual_seed(0);
    let model =
        Gpt::new(GptConfig { vocab_size: 65, block_size: 128, n_layer: 4, n_head: 4, n_embd: 128, dropout: 0.0 });
    let opt = Optim::for_module(&model, Adam::adamw(1e-3));
    let idx = Tensor::arange(0, 16 * 129, 1).remainder(65).reshape(&[16, 129]);
    let batch = vec![idx.narrow(1, 0, 128).contiguous(), idx.narrow(1, 1, 128).contiguous()];
    Setup { model, opt, batch, loss: |m, b| m.loss(&b[0], &b[1]) }
}

fn cnn() -> Setup<Sequential, Sgd> {
    random::manual_seed(0);
    let pool = || Pooling::new(PoolKind::Max, 2, &[2], &[], &[0]);
    let conv = |cin, cout| {
        Conv::new(2, cin, cout, &[3], ConvOpts { padding: Padding::Explicit(vec![1]), ..ConvOpts::default() })
    };
    let model = Sequential::new()
        .push(conv(3, 32))
        .push(Activation::relu())
        .push(pool())
        .push(conv(32, 64))
        .push(Activation::relu())
        .push(pool())
        .push(Flatten::default())
        .push(Linear::new(64 * 8 * 8, 10));
    let opt = Optim::for_module(&model, Sgd { momentum: 0.9, ..Sgd::new(0.01) });
    let batch = vec![randn(&[64, 3, 32, 32], DType::F32), Tensor::arange(0, 64, 1).remainder(10)];
    Setup { model, opt, batch, loss: classify }
}

/// The GPT step with its forward pass under bf16 autocast (backward and the update
/// outside it, as PyTorch's recipe has them).
fn gpt_bf16() -> Box<dyn FnMut()> {
    let Setup { model, mut opt, batch, loss } = gpt();
    Box::new(move || {
        let l = psionic::autocast::autocast(DType::BF16, || loss(&model, &batch));
        l.backward();
        opt.step();
        opt.zero_grad();
    })
}

/// A training step's eager and compiled rows.
macro_rules! pair {
    ($eager:literal, $compiled:literal, $reps:literal, $setup:ident) => {
        [
            Workload { name: $eager, reps: $reps, flops: 0.0, make: || run($setup(), false) },
            Workload { name: $compiled, reps: $reps, flops: 0.0, make: || run($setup(), true) },
        ]
    };
}

pub fn all() -> Vec<Workload> {
    [
        pair!("train_mlp_784_512_512_10", "train_mlp_784_512_512_10_compiled", 20, mlp),
        pair!("train_gpt_demo_b16_t128", "train_gpt_demo_b16_t128_compiled", 5, gpt),
        pair!("train_cnn_32x32_b64", "train_cnn_32x32_b64_compiled", 5, cnn),
    ]
    .into_iter()
    .flatten()
    .chain([Workload { name: "train_gpt_demo_b16_t128_autocast_bf16", reps: 5, flops: 0.0, make: gpt_bf16 }])
    .collect()
}
