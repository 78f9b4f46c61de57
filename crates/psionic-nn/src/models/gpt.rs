//! A decoder-only transformer language model in the GPT-2 layout (pre-norm blocks,
//! learned positions, GELU MLP, causal self-attention), small enough to train on a CPU.
//!
//! The parameter names are those of the PyTorch definition in
//! `oracle/models/gpt.py`, so a checkpoint saved there loads here by name and back.

use crate::functional::{self as F, ClassLoss, Sdpa};
use crate::init;
use crate::layers::{Dropout, Embedding, LayerNorm, Linear};
use crate::module::{Forward, ModuleExt};
use crate::Module;
use psionic_array::autodiff::no_grad;
use psionic_array::random::Generator;
use psionic_array::{Reduction, Tensor};

/// The model's sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct GptConfig {
    pub vocab_size: usize,
    /// The longest context the position table covers.
    pub block_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub dropout: f64,
}

/// One pre-norm block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Module)]
#[module(name = "Block")]
pub struct GptBlock {
    #[child]
    pub ln_1: LayerNorm,
    #[child(name = "attn.c_attn")]
    pub c_attn: Linear,
    #[child(name = "attn.c_proj")]
    pub attn_proj: Linear,
    #[child]
    pub ln_2: LayerNorm,
    #[child(name = "mlp.c_fc")]
    pub c_fc: Linear,
    #[child(name = "mlp.c_proj")]
    pub mlp_proj: Linear,
    #[child]
    dropout: Dropout,
    n_head: usize,
}

impl GptBlock {
    fn new(c: &GptConfig) -> GptBlock {
        let d = c.n_embd;
        GptBlock {
            ln_1: LayerNorm::new(&[d]),
            c_attn: Linear::new(d, 3 * d),
            attn_proj: Linear::new(d, d),
            ln_2: LayerNorm::new(&[d]),
            c_fc: Linear::new(d, 4 * d),
            mlp_proj: Linear::new(4 * d, d),
            n_head: c.n_head,
            dropout: Dropout::new(c.dropout),
        }
    }

    /// Causal self-attention over `x [B, T, C]`.
    fn attention(&self, x: &Tensor) -> Tensor {
        let (b, t, c) = (x.size(0) as i64, x.size(1) as i64, x.size(2) as i64);
        let h = self.n_head as i64;
        let qkv = self.c_attn.forward(x).reshape(&[b, t, 3, h, c / h]).permute(&[2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2));
        let p = if self.dropout.is_training() { self.dropout.p } else { 0.0 };
        let y = F::scaled_dot_product_attention(&q, &k, &v, &Sdpa { is_causal: true, dropout_p: p, ..Sdpa::default() });
        let y = y.transpose(1, 2).reshape(&[b, t, c]);
        self.dropout.forward(&self.attn_proj.forward(&y))
    }

    fn mlp(&self, x: &Tensor) -> Tensor {
        self.dropout.forward(&self.mlp_proj.forward(&self.c_fc.forward(x).gelu("none")))
    }
}

impl Forward for GptBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x + &self.attention(&self.ln_1.forward(x));
        &x + &self.mlp(&self.ln_2.forward(&x))
    }
}

/// Token and position embeddings, `n_layer` blocks, a final LayerNorm and an untied
/// vocabulary head. Names follow GPT-2 (`wte`, `wpe`, `h.{i}.attn.c_attn`, `ln_f`,
/// `lm_head`).
#[derive(Module)]
#[module(name = "GPT", repr = repr_args)]
pub struct Gpt {
    pub config: GptConfig,
    #[child]
    pub wte: Embedding,
    #[child]
    pub wpe: Embedding,
    #[child]
    pub h: Vec<GptBlock>,
    #[child]
    pub ln_f: LayerNorm,
    #[child]
    pub lm_head: Linear,
    #[child]
    dropout: Dropout,
}

impl Gpt {
    /// A model initialised as GPT-2 is: weights `N(0, 0.02)`, biases zero, and the
    /// projections that write into the residual stream scaled by `1/sqrt(2 n_layer)` so
    /// its variance does not grow with depth.
    pub fn new(config: GptConfig) -> Gpt {
        assert!(
            config.n_head > 0 && config.n_embd.is_multiple_of(config.n_head),
            "n_embd must be a multiple of n_head"
        );
        let gpt = Gpt {
            wte: Embedding::new(config.vocab_size, config.n_embd),
            wpe: Embedding::new(config.block_size, config.n_embd),
            h: (0..config.n_layer).map(|_| GptBlock::new(&config)).collect(),
            ln_f: LayerNorm::new(&[config.n_embd]),
            lm_head: Linear::with_bias(config.n_embd, config.vocab_size, false),
            dropout: Dropout::new(config.dropout),
            config,
        };
        let residual_std = 0.02 / (2.0 * gpt.config.n_layer as f64).sqrt();
        for (name, p) in gpt.named_parameters() {
            if name.ends_with("c_proj.weight") {
                init::normal_(&p, 0.0, residual_std, None);
            } else if name.ends_with("bias") && !name.contains("ln_") {
                init::zeros_(&p);
            } else if !name.contains("ln_") {
                init::normal_(&p, 0.0, 0.02, None);
            }
        }
        gpt
    }

    /// Logits `[B, T, vocab]` for token ids `idx [B, T]` (T at most `block_size`).
    pub fn logits(&self, idx: &Tensor) -> Tensor {
        let t = idx.size(1);
        assert!(
            t <= self.config.block_size,
            "sequence of {t} tokens is longer than block_size {}",
            self.config.block_size
        );
        let pos = Tensor::arange(0, t as i64, 1);
        let mut x = self.dropout.forward(&(&self.wte.forward(idx) + &self.wpe.forward(&pos)));
        for block in &self.h {
            x = block.forward(&x);
        }
        self.lm_head.forward(&self.ln_f.forward(&x))
    }

    /// Mean next-token cross-entropy of `idx [B, T]` against `targets [B, T]`.
    pub fn loss(&self, idx: &Tensor, targets: &Tensor) -> Tensor {
        let logits = self.logits(idx);
        let v = self.config.vocab_size as i64;
        let o = ClassLoss { reduction: Reduction::Mean, ..ClassLoss::default() };
        F::cross_entropy(&logits.reshape(&[-1, v]), &targets.reshape(&[-1]), &o)
    }

    /// Extends `idx [1, T]` by `n` tokens, each drawn from the softmax of the last
    /// logits divided by `temperature`, restricted to the `top_k` most likely when given.
    pub fn generate(&self, idx: &Tensor, n: usize, temperature: f64, top_k: Option<usize>, gen: &Generator) -> Tensor {
        no_grad(|| {
            let mut idx = idx.clone();
            for _ in 0..n {
                let t = idx.size(1);
                let ctx = idx.narrow(1, t.saturating_sub(self.config.block_size) as i64, t.min(self.config.block_size));
                let last = self.logits(&ctx).select(1, -1).div(temperature.max(1e-6));
                let last = match top_k {
                    Some(k) if k < self.config.vocab_size => {
                        let kth = last.topk(k, -1, true).0.narrow(-1, k as i64 - 1, 1);
                        last.masked_fill(&last.lt(&kth), f64::NEG_INFINITY)
                    }
                    _ => last,
                };
                let next = psionic_array::random::multinomial(&last.softmax(-1), 1, false, Some(gen));
                idx = Tensor::cat(&[&idx, &next], 1);
            }
            idx
        })
    }
}

impl Gpt {
    /// The configuration shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        let c = &self.config;
        format!(
            "vocab_size={}, block_size={}, n_layer={}, n_head={}, n_embd={}",
            c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd
        )
    }
}
