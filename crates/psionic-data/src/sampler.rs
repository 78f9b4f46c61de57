//! Samplers: the order in which an epoch visits a dataset, drawn exactly as PyTorch's
//! samplers draw it so that a seeded generator gives PyTorch's order.

use psionic_array::random::{multinomial, randint, randperm, Generator};
use psionic_array::{DType, Tensor};

/// One epoch's worth of indices (or, for [`BatchSampler`], of index lists). Each call
/// to `sample` is a new epoch: random samplers advance their generator.
pub trait Sampler<T = usize>: Send + Sync {
    fn sample(&self) -> Vec<T>;
    /// How many values `sample` returns.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A shared sampler samples as the one it points to (a loader keeps its sampler in an
/// `Arc` and hands it to each epoch's batch sampler).
impl<T, S: Sampler<T> + ?Sized> Sampler<T> for std::sync::Arc<S> {
    fn sample(&self) -> Vec<T> {
        (**self).sample()
    }
    fn len(&self) -> usize {
        (**self).len()
    }
}

fn to_indices(t: &Tensor) -> Vec<usize> {
    t.to_vec::<i64>().into_iter().map(|i| i as usize).collect()
}

/// `0, 1, ..., n-1`.
pub struct SequentialSampler(pub usize);

impl Sampler for SequentialSampler {
    fn sample(&self) -> Vec<usize> {
        (0..self.0).collect()
    }
    fn len(&self) -> usize {
        self.0
    }
}

/// A random order: permutations of `0..n` (or draws with replacement), `num_samples`
/// in all.
pub struct RandomSampler {
    pub n: usize,
    pub replacement: bool,
    pub num_samples: usize,
    /// Without one, each epoch seeds a fresh generator from the global one, as PyTorch does.
    pub generator: Option<Generator>,
}

impl RandomSampler {
    pub fn new(n: usize, generator: Option<Generator>) -> RandomSampler {
        RandomSampler { n, replacement: false, num_samples: n, generator }
    }
}

impl Sampler for RandomSampler {
    fn sample(&self) -> Vec<usize> {
        let g = self.generator.clone().unwrap_or_else(|| Generator::with_seed(Generator::global().random_i64() as u64));
        let mut out = Vec::with_capacity(self.num_samples);
        if self.replacement {
            // PyTorch draws in chunks of 32.
            for _ in 0..self.num_samples / 32 {
                out.extend(to_indices(&randint(0, self.n as i64, &[32], DType::I64, Some(&g))));
            }
            out.extend(to_indices(&randint(0, self.n as i64, &[self.num_samples % 32], DType::I64, Some(&g))));
        } else if let Some(epochs) = self.num_samples.checked_div(self.n) {
            for _ in 0..epochs {
                out.extend(to_indices(&randperm(self.n, DType::I64, Some(&g))));
            }
            let rest = to_indices(&randperm(self.n, DType::I64, Some(&g)));
            out.extend_from_slice(&rest[..self.num_samples % self.n]);
        }
        out
    }
    fn len(&self) -> usize {
        self.num_samples
    }
}

/// The given indices in a random order.
pub struct SubsetRandomSampler {
    pub indices: Vec<usize>,
    pub generator: Option<Generator>,
}

impl Sampler for SubsetRandomSampler {
    fn sample(&self) -> Vec<usize> {
        let perm = to_indices(&randperm(self.indices.len(), DType::I64, self.generator.as_ref()));
        perm.into_iter().map(|i| self.indices[i]).collect()
    }
    fn len(&self) -> usize {
        self.indices.len()
    }
}

/// Indices drawn with probability proportional to `weights`.
pub struct WeightedRandomSampler {
    pub weights: Vec<f64>,
    pub num_samples: usize,
    pub replacement: bool,
    pub generator: Option<Generator>,
}

impl Sampler for WeightedRandomSampler {
    fn sample(&self) -> Vec<usize> {
        let w = Tensor::from_vec(self.weights.clone(), &[self.weights.len()]);
        to_indices(&multinomial(&w, self.num_samples, self.replacement, self.generator.as_ref()))
    }
    fn len(&self) -> usize {
        self.num_samples
    }
}

/// Groups another sampler's indices into lists of `batch_size` (the last one shorter
/// unless `drop_last`).
pub struct BatchSampler {
    pub sampler: Box<dyn Sampler>,
    pub batch_size: usize,
    pub drop_last: bool,
}

impl BatchSampler {
    pub fn new(sampler: Box<dyn Sampler>, batch_size: usize, drop_last: bool) -> BatchSampler {
        assert!(batch_size > 0, "batch_size should be a positive integer value, but got batch_size={batch_size}");
        BatchSampler { sampler, batch_size, drop_last }
    }
}

impl Sampler<Vec<usize>> for BatchSampler {
    fn sample(&self) -> Vec<Vec<usize>> {
        let idx = self.sampler.sample();
        let mut batches: Vec<Vec<usize>> = idx.chunks(self.batch_size).map(<[usize]>::to_vec).collect();
        if self.drop_last && batches.last().is_some_and(|b| b.len() < self.batch_size) {
            batches.pop();
        }
        batches
    }
    fn len(&self) -> usize {
        let n = self.sampler.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }
}
