//! The GPT from the library API in a page: tokenize, batch, train with AdamW and a
//! warm-up + cosine schedule, then sample. (`psionic demo` is the full version with a
//! progress bar, held-out evaluation, a checkpoint and a loss plot.)
//!
//! `cargo run --release -p psionic --example gpt [-- STEPS]`

use psionic::data::readers::text::{CharTokenizer, TokenWindows};
use psionic::data::DataLoader;
use psionic::nn::models::{Gpt, GptConfig};
use psionic::nn::ModuleExt;
use psionic::optim::{Adam, LrScheduler, Optim, Optimizer, Schedule, Scheduler, SequentialLR};
use psionic::prelude::*;
use psionic::random::{self, Generator};

fn main() {
    let steps: i64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/shakespeare.txt"))
        .expect("the corpus");
    let tok = CharTokenizer::fit(&text);
    let ids = tok.encode(&text).expect("every character is in the vocabulary");
    random::manual_seed(0);
    let model = Gpt::new(GptConfig {
        vocab_size: tok.vocab_size(),
        block_size: 48,
        n_layer: 2,
        n_head: 4,
        n_embd: 96,
        dropout: 0.0,
    });
    let mut opt = Optim::for_module(&model, Adam::adamw(3e-3));
    let warm = LrScheduler::new(&mut opt, Schedule::Linear { start_factor: 0.05, end_factor: 1.0, total_iters: 20 });
    let cos = LrScheduler::new(&mut opt, Schedule::CosineAnnealing { t_max: steps - 20, eta_min: 3e-4 });
    let mut sched = SequentialLR::new(&mut opt, vec![warm, cos], vec![20]);
    let data = TokenWindows::new(Tensor::from_vec(ids.clone(), &[ids.len()]), 48);
    let loader = DataLoader::new(data).batch_size(32).shuffle(true).generator(Generator::with_seed(0));
    for (step, (x, y)) in loader.iter().take(steps as usize).enumerate() {
        let loss = model.loss(&x, &y);
        loss.backward();
        opt.step();
        opt.zero_grad();
        sched.step(&mut opt);
        if step % 20 == 0 {
            println!("step {step:>4}  loss {:.3}  lr {:.2e}", loss.item::<f32>(), sched.last_lr()[0]);
        }
    }
    model.eval();
    let start = Tensor::from_vec(tok.encode("ROMEO:").expect("in the vocabulary"), &[1, 6]);
    let out = model.generate(&start, 200, 0.8, Some(10), &Generator::with_seed(1));
    println!("{}", tok.decode(&out.to_vec::<i64>()).expect("ids from the vocabulary"));
}
