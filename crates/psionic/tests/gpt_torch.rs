//! The GPT against its PyTorch twin (`oracle/models/gpt.py`, fixtures from
//! `oracle/gen_checkpoints.py`): PyTorch's saved weights load by name and give its
//! logits, and 200 AdamW steps on the batches PyTorch's seeded DataLoader drew follow
//! PyTorch's loss curve.

use psionic::prelude::*;
use psionic::random::Generator;
use psionic_data::readers::text::{CharTokenizer, TokenWindows};
use psionic_data::{DataLoader, Dataset};
use psionic_nn::models::{Gpt, GptConfig};
use psionic_nn::ModuleExt;
use psionic_optim::{clip_grad_norm_, Adam, Optim, Optimizer};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Fixture {
    json: serde_json::Value,
    model: Gpt,
    tok: CharTokenizer,
    text: String,
}

fn fixture() -> Fixture {
    let dir = root().join("fixtures/checkpoints");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gpt_small.json")).unwrap()).unwrap();
    let c = &json["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let model = Gpt::new(GptConfig {
        vocab_size: u("vocab_size"),
        block_size: u("block_size"),
        n_layer: u("n_layer"),
        n_head: u("n_head"),
        n_embd: u("n_embd"),
        dropout: 0.0,
    });
    let sd = psionic::io::load(&dir.join("gpt_small.pt")).unwrap().into_named();
    let report = model.load_state_dict(&sd, true).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    let text = std::fs::read_to_string(root().join("data/shakespeare.txt")).unwrap();
    Fixture { tok: CharTokenizer::fit(&text), json, model, text }
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn a_pytorch_checkpoint_gives_pytorchs_logits() {
    let f = fixture();
    let ids: Vec<i64> = f.json["ids"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()))
        .collect();
    let n = ids.len();
    let idx = Tensor::from_vec(ids, &[2, n / 2]);
    let ours = no_grad(|| f.model.logits(&idx)).to_dtype(DType::F64).to_vec::<f64>();
    let theirs = floats(&f.json["logits"]);
    assert_eq!(ours.len(), theirs.len());
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs() / (1e-3 + b.abs())).fold(0.0, f64::max);
    assert!(worst < 1e-4, "largest relative logit difference {worst}");
}

#[test]
fn two_hundred_adamw_steps_follow_pytorchs_loss_curve() {
    let f = fixture();
    let t = &f.json["train"];
    let chars = t["chars"].as_u64().unwrap() as usize;
    let batch = t["batch"].as_u64().unwrap() as usize;
    let ids = f.tok.encode(&f.text.chars().take(chars).collect::<String>()).unwrap();
    let windows = TokenWindows::new(Tensor::from_vec(ids.clone(), &[ids.len()]), f.model.config.block_size);

    // Our DataLoader, seeded as PyTorch's was, draws the same windows.
    let offsets: Vec<usize> = t["offsets"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let order = DataLoader::with_collate(0..windows.len(), |b: Vec<usize>| b)
        .batch_size(batch)
        .shuffle(true)
        .drop_last(true)
        .generator(Generator::with_seed(t["seed"].as_u64().unwrap()));
    let ours: Vec<usize> = order.iter().take(offsets.len() / batch).flatten().collect();
    assert_eq!(ours, offsets, "the seeded shuffle differs from PyTorch's");

    let betas = floats(&t["betas"]);
    let rule = Adam {
        beta1: betas[0],
        beta2: betas[1],
        weight_decay: t["weight_decay"].as_f64().unwrap(),
        ..Adam::adamw(t["lr"].as_f64().unwrap())
    };
    let params = f.model.parameters();
    let mut opt = Optim::new(params.clone(), rule);
    let losses = floats(&t["losses"]);
    let mut worst = 0.0f64;
    for (step, chunk) in offsets.chunks(batch).enumerate() {
        let items: Vec<(Tensor, Tensor)> = chunk.iter().map(|&i| windows.get(i)).collect();
        let (x, y) = <(Tensor, Tensor) as psionic_data::Stack>::stack(items);
        let loss = f.model.loss(&x, &y);
        loss.backward();
        clip_grad_norm_(&params, t["clip"].as_f64().unwrap(), 2.0, false).unwrap();
        opt.step();
        opt.zero_grad();
        let l = loss.item::<f32>() as f64;
        let rel = (l - losses[step]).abs() / losses[step];
        worst = worst.max(rel);
        assert!(rel < 1e-4, "step {step}: loss {l} vs PyTorch {} (relative {rel:e})", losses[step]);
    }
    eprintln!("200 steps: largest relative loss difference {worst:e}");
}
