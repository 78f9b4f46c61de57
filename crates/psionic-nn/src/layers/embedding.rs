//! Embedding and EmbeddingBag: a `[num_embeddings, embedding_dim]` table initialised
//! from `N(0, 1)` (the padding row zeroed).

use super::param;
use crate::module::Forward;
use crate::Module;
use psionic_array::{Bags, Lookup, Tensor};

/// Constructor options shared by both (PyTorch's defaults via `Default`).
pub type EmbeddingOpts = Lookup;

/// The table, its padding row (already made non-negative by [`normalized`]) zeroed.
fn table(num: usize, dim: usize, o: &Lookup) -> Tensor {
    let weight = param(&[num, dim]);
    crate::init::normal_(&weight, 0.0, 1.0, None);
    if let Some(row) = o.padding_idx {
        assert!((0..num as i64).contains(&row), "Padding_idx must be within num_embeddings");
        psionic_array::autodiff::no_grad(|| {
            weight.select(0, row).fill_(0.0);
        });
    }
    weight
}

fn normalized(o: &Lookup, num: usize) -> Lookup {
    let mut o = o.clone();
    o.padding_idx = o.padding_idx.map(|p| if p < 0 { p + num as i64 } else { p });
    o
}

/// Looks rows of `weight` up by integer index.
#[derive(Module)]
#[module(repr = repr_args)]
pub struct Embedding {
    #[param]
    pub weight: Tensor,
    pub opts: EmbeddingOpts,
}

impl Embedding {
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Embedding {
        Embedding::with(num_embeddings, embedding_dim, Lookup::default())
    }

    pub fn with(num_embeddings: usize, embedding_dim: usize, opts: EmbeddingOpts) -> Embedding {
        let opts = normalized(&opts, num_embeddings);
        Embedding { weight: table(num_embeddings, embedding_dim, &opts), opts }
    }

    /// `Embedding.from_pretrained`: a table holding `weights`, frozen unless `freeze` is false.
    pub fn from_pretrained(weights: &Tensor, freeze: bool, opts: EmbeddingOpts) -> Embedding {
        let weight = weights.detach().deep_clone();
        weight.requires_grad_(!freeze);
        Embedding { opts: normalized(&opts, weights.size(0)), weight }
    }
}

impl Embedding {
    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        let s = self.weight.shape();
        format!("{}, {}", s[0], s[1])
    }
}

impl Forward for Embedding {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.weight.embedding_with(x, &self.opts)
    }
}

/// Sums, averages or takes the max of bags of embeddings.
#[derive(Module)]
pub struct EmbeddingBag {
    #[param]
    pub weight: Tensor,
    pub opts: EmbeddingOpts,
    pub mode: psionic_array::BagMode,
    pub include_last_offset: bool,
}

impl EmbeddingBag {
    pub fn new(
        num_embeddings: usize,
        embedding_dim: usize,
        mode: psionic_array::BagMode,
        opts: EmbeddingOpts,
    ) -> EmbeddingBag {
        let opts = normalized(&opts, num_embeddings);
        EmbeddingBag { weight: table(num_embeddings, embedding_dim, &opts), opts, mode, include_last_offset: false }
    }

    /// `forward(input, offsets, per_sample_weights)`.
    pub fn forward(&self, input: &Tensor, offsets: Option<&Tensor>, per_sample_weights: Option<&Tensor>) -> Tensor {
        let bags = Bags { offsets, mode: self.mode, per_sample_weights, include_last_offset: self.include_last_offset };
        self.weight.embedding_bag(input, &bags, &self.opts)
    }
}
