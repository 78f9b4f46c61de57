//! `psionic demo`: trains a character-level GPT on the Shakespeare text shipped in the
//! repository, evaluates it on a held-out tenth, saves a checkpoint, reloads it, samples
//! text from it, and plots the loss curve.

mod plot;

use indicatif::{ProgressBar, ProgressStyle};
use psionic::prelude::*;
use psionic::random::{self, Generator};
use psionic_array::mode::check;
use psionic_data::readers::text::{CharTokenizer, TokenWindows};
use psionic_data::DataLoader;
use psionic_nn::models::{Gpt, GptConfig};
use psionic_nn::ModuleExt;
use psionic_optim::{
    clip_grad_norm_, Adam, CompiledStep, LrScheduler, Optim, Optimizer, Schedule, Scheduler, SequentialLR,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The corpus, in the binary so the demo runs from any directory.
static TEXT: &str = include_str!("../../../../data/shakespeare.txt");

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Optimizer steps.
    #[arg(long, default_value_t = 4500)]
    pub steps: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Width of the residual stream.
    #[arg(long, default_value_t = 128)]
    pub embd: usize,
    /// Attention heads (must divide --embd).
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Context length in characters.
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate (AdamW; linear warm-up, then cosine decay to a tenth).
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f64,
    /// Evaluate on the held-out split every this many steps.
    #[arg(long, default_value_t = 250)]
    pub eval_every: usize,
    /// Characters to sample from the trained model.
    #[arg(long, default_value_t = 500)]
    pub sample: usize,
    /// Train eagerly, op by op, instead of through the compiled step.
    #[arg(long)]
    pub eager: bool,
    /// Seed for initialisation, batch order and sampling.
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
    /// Folder for the checkpoint, the loss curve and the sample.
    #[arg(long, default_value = "target/demo")]
    pub out: PathBuf,
}

/// Held-out batches per evaluation (the same ones every time, so evaluations compare).
const EVAL_BATCHES: usize = 8;
const WARMUP: usize = 30;

pub fn run(a: &DemoArgs) -> Result<(), String> {
    if a.heads == 0 || !a.embd.is_multiple_of(a.heads) {
        return Err(format!("--heads {} must divide --embd {}", a.heads, a.embd));
    }
    if a.steps == 0 || a.batch == 0 || a.context == 0 || a.layers == 0 {
        return Err("--steps, --batch, --context and --layers must be positive".into());
    }
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let tok = CharTokenizer::fit(TEXT);
    let ids = tok.encode(TEXT).map_err(|e| e.to_string())?;
    let n_ids = ids.len();
    let n_train = n_ids * 9 / 10;
    let tokens = Tensor::from_vec(ids, &[n_ids]);
    let train = TokenWindows::new(tokens.narrow(0, 0, n_train), a.context);
    let held_out = TokenWindows::new(tokens.narrow(0, n_train as i64, n_ids - n_train), a.context);
    println!(
        "corpus: {} characters of Shakespeare, {} distinct; {} for training, {} held out",
        n_ids,
        tok.vocab_size(),
        n_train,
        n_ids - n_train
    );

    random::manual_seed(a.seed);
    let config = GptConfig {
        vocab_size: tok.vocab_size(),
        block_size: a.context,
        n_layer: a.layers,
        n_head: a.heads,
        n_embd: a.embd,
        dropout: 0.0,
    };
    let model = Gpt::new(config.clone());
    println!(
        "model: GPT, {} layers, {} heads, width {}, context {}: {} parameters; {} threads",
        a.layers,
        a.heads,
        a.embd,
        a.context,
        model.num_parameters(),
        rayon::current_num_threads()
    );

    let mut opt = Optim::new(model.parameters(), Adam { weight_decay: 0.1, beta2: 0.99, ..Adam::adamw(a.lr) });
    // Linear warm-up, then cosine decay to a tenth of the peak rate.
    let warmup = WARMUP.min(a.steps / 2).max(1) as i64;
    let ramp = LrScheduler::new(
        &mut opt,
        Schedule::Linear { start_factor: 1.0 / warmup as f64, end_factor: 1.0, total_iters: warmup },
    );
    let decay = LrScheduler::new(
        &mut opt,
        Schedule::CosineAnnealing { t_max: (a.steps as i64 - warmup).max(1), eta_min: a.lr / 10.0 },
    );
    let mut schedule = SequentialLR::new(&mut opt, vec![ramp, decay], vec![warmup]);
    // One training step, compiled whole (forward, backward, clipping, AdamW's update)
    // unless --eager; the schedule moves the rate between steps without a new trace.
    let trainer = CompiledStep::new(model, opt, |m: &Gpt, b: &[Tensor], opt: &mut Optim<Adam>| {
        let loss = m.loss(&b[0], &b[1]);
        loss.backward();
        check(clip_grad_norm_(&m.parameters(), 1.0, 2.0, false));
        opt.step();
        opt.zero_grad();
        vec![loss.detach()]
    })
    .compiled(!a.eager);
    let model = trainer.model();
    let loader = DataLoader::new(train)
        .batch_size(a.batch)
        .shuffle(true)
        .drop_last(true)
        .generator(Generator::with_seed(a.seed))
        .num_workers(1)
        .prefetch_factor(4);
    let eval_order = Generator::new();
    let eval_loader =
        DataLoader::new(held_out).batch_size(a.batch).shuffle(true).drop_last(true).generator(eval_order.clone());

    let bar = ProgressBar::new(a.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>5}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let mut train_curve = vec![];
    let mut eval_curve = vec![];
    let tokens_per_step = (a.batch * a.context) as f64;
    let start = Instant::now();
    let mut step = 0;
    eval_curve.push((0, evaluate(model, &eval_loader, &eval_order, a.seed)));
    'epochs: loop {
        for (x, y) in loader.iter() {
            let loss = trainer.try_call(&[x, y]).map_err(|e| e.to_string())?.remove(0);
            schedule.step(&mut *trainer.optimizer());
            let l = loss.item::<f32>() as f64;
            train_curve.push((step, l));
            step += 1;
            let rate = step as f64 * tokens_per_step / start.elapsed().as_secs_f64();
            bar.set_message(format!("loss {l:.3} | {:.1}k tok/s", rate / 1e3));
            bar.inc(1);
            if step % a.eval_every == 0 || step == a.steps {
                let v = evaluate(model, &eval_loader, &eval_order, a.seed);
                eval_curve.push((step, v));
                let line = format!("step {step:>5}: train loss {l:.4}, held-out loss {v:.4}");
                // A hidden bar (output not a terminal) drops its println; print directly.
                if bar.is_hidden() {
                    println!("{line}");
                } else {
                    bar.println(line);
                }
            }
            if step == a.steps {
                break 'epochs;
            }
        }
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "trained {} steps in {:.1} s ({:.0} tokens/s); held-out loss {:.4} (uniform guess: {:.4})",
        a.steps,
        secs,
        a.steps as f64 * tokens_per_step / secs,
        eval_curve.last().map_or(f64::NAN, |p| p.1),
        (tok.vocab_size() as f64).ln()
    );

    let ckpt = a.out.join("gpt.safetensors");
    save(model, &tok, &ckpt)?;
    let restored = load(&ckpt)?;
    let seed_ids = Tensor::from_vec(tok.encode("\n").map_err(|e| e.to_string())?, &[1, 1]);
    let out = restored.0.generate(&seed_ids, a.sample, 0.8, None, &Generator::with_seed(a.seed));
    let text = restored.1.decode(&out.to_vec::<i64>()).map_err(|e| e.to_string())?;
    let sample_path = a.out.join("sample.txt");
    std::fs::write(&sample_path, &text).map_err(|e| format!("{}: {e}", sample_path.display()))?;
    println!("\n--- sampled from the reloaded checkpoint (temperature 0.8) ---{text}\n---");

    let png = a.out.join("loss.png");
    let title = format!("char-level GPT on Shakespeare ({} params)", model.num_parameters());
    plot::loss_curve(&png, &train_curve, &eval_curve, &title)?;
    println!("wrote {}, {} and {}", ckpt.display(), png.display(), sample_path.display());
    Ok(())
}

/// Mean loss over the first [`EVAL_BATCHES`] held-out batches; `order` is reseeded so
/// every evaluation sees the same batches.
fn evaluate(model: &Gpt, loader: &DataLoader<TokenWindows, (Tensor, Tensor)>, order: &Generator, seed: u64) -> f64 {
    model.eval();
    order.manual_seed(seed);
    let losses: Vec<f64> =
        no_grad(|| loader.iter().take(EVAL_BATCHES).map(|(x, y)| model.loss(&x, &y).item::<f32>() as f64).collect());
    model.train(true);
    losses.iter().sum::<f64>() / losses.len().max(1) as f64
}

/// The checkpoint: weights under their PyTorch names, with the configuration and the
/// vocabulary in the safetensors metadata so the file alone rebuilds the model.
fn save(model: &Gpt, tok: &CharTokenizer, path: &Path) -> Result<(), String> {
    let c = &model.config;
    let meta: HashMap<String, String> = [
        ("model", "gpt".to_string()),
        ("vocab_size", c.vocab_size.to_string()),
        ("block_size", c.block_size.to_string()),
        ("n_layer", c.n_layer.to_string()),
        ("n_head", c.n_head.to_string()),
        ("n_embd", c.n_embd.to_string()),
        ("vocab", tok.chars.iter().collect::<String>()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sd = model.state_dict();
    let named: Vec<(&str, &Tensor)> = sd.iter().map(|(k, t)| (k.as_str(), t)).collect();
    psionic::io::save_with_metadata(path, &named, &meta).map_err(|e| e.to_string())
}

fn load(path: &Path) -> Result<(Gpt, CharTokenizer), String> {
    let (named, meta) = psionic::io::load_with_metadata(path).map_err(|e| e.to_string())?;
    let field = |k: &str| -> Result<usize, String> {
        meta.get(k).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{}: metadata lacks {k}", path.display()))
    };
    let config = GptConfig {
        vocab_size: field("vocab_size")?,
        block_size: field("block_size")?,
        n_layer: field("n_layer")?,
        n_head: field("n_head")?,
        n_embd: field("n_embd")?,
        dropout: 0.0,
    };
    let tok = CharTokenizer::from_chars(meta.get("vocab").ok_or("metadata lacks vocab")?.chars().collect());
    let model = Gpt::new(config);
    model.load_state_dict(&named, true).map_err(|e| e.to_string())?;
    model.eval();
    Ok((model, tok))
}
