//! Fine-tuning from a PyTorch checkpoint: the GPT weights `torch.save` wrote
//! (`fixtures/checkpoints/gpt_small.pt`, from `oracle/gen_checkpoints.py`) load by name
//! into Psionic's GPT; the embeddings are frozen, the rest trained on Shakespeare, and
//! the result saved as a `.pt` that `torch.load(weights_only=True)` reads.
//!
//! `cargo run --release -p psionic --example finetune_torch [-- STEPS]`

use psionic::data::readers::text::{CharTokenizer, TokenWindows};
use psionic::data::DataLoader;
use psionic::nn::models::{Gpt, GptConfig};
use psionic::nn::ModuleExt;
use psionic::optim::{clip_grad_norm_, Adam, Optim, Optimizer};
use psionic::prelude::*;
use psionic::random::Generator;
use std::path::PathBuf;

fn main() {
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(150);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let weights = psionic::io::load(&root.join("fixtures/checkpoints/gpt_small.pt")).expect("the PyTorch checkpoint");
    let weights = weights.into_named();
    let text = std::fs::read_to_string(root.join("data/shakespeare.txt")).expect("data/shakespeare.txt");
    let tok = CharTokenizer::fit(&text);
    let model = Gpt::new(GptConfig {
        vocab_size: tok.vocab_size(),
        block_size: 32,
        n_layer: 2,
        n_head: 4,
        n_embd: 64,
        dropout: 0.0,
    });
    let report = model.load_state_dict(&weights, true).expect("names and shapes match the PyTorch model");
    println!(
        "loaded {} tensors from PyTorch ({} missing, {} unexpected)",
        weights.len(),
        report.missing_keys.len(),
        report.unexpected_keys.len()
    );

    // Freeze the embeddings; train the blocks and the head.
    model.wte.weight.requires_grad_(false);
    model.wpe.weight.requires_grad_(false);
    let trainable: Vec<Tensor> = model.parameters().into_iter().filter(|p| p.requires_grad()).collect();
    println!(
        "training {} of {} parameters",
        trainable.iter().map(|p| p.numel()).sum::<usize>(),
        model.num_parameters()
    );
    let mut opt = Optim::new(trainable.clone(), Adam::adamw(3e-3));

    let ids = tok.encode(&text[200_000..300_000]).expect("in the vocabulary");
    let windows = TokenWindows::new(Tensor::from_vec(ids.clone(), &[ids.len()]), 32);
    let loader =
        DataLoader::new(windows).batch_size(32).shuffle(true).drop_last(true).generator(Generator::with_seed(0));
    for (step, (x, y)) in loader.iter().take(steps).enumerate() {
        let loss = model.loss(&x, &y);
        loss.backward();
        clip_grad_norm_(&trainable, 1.0, 2.0, false).expect("finite gradients");
        opt.step();
        opt.zero_grad();
        if step % 25 == 0 || step + 1 == steps {
            println!("step {step:>4}: loss {:.4}", loss.item::<f32>());
        }
    }
    let out = std::env::temp_dir().join("gpt_finetuned.pt");
    let sd = model.state_dict();
    let named: Vec<(&str, &Tensor)> = sd.iter().map(|(k, t)| (k.as_str(), t)).collect();
    psionic::io::save_named(&out, &named).expect("writing the checkpoint");
    println!("saved {} (torch.load(path, weights_only=True) reads it)", out.display());
}
