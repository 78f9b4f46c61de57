//! Data loading in PyTorch's shape: a [`Dataset`] answers `len` and `get(i)`, a
//! [`Sampler`] orders the indices of an epoch, and a [`DataLoader`] groups them into
//! batches, builds the batches on worker threads, and hands them out in order.
//!
//! The order of batches depends only on the sampler and its generator, never on the
//! number of workers: worker `w` builds batches `w, w + n, w + 2n, ...` and the loader
//! returns them by batch number. A seeded shuffle gives PyTorch's order for the same
//! seed (`DataLoader(shuffle=True, generator=torch.Generator().manual_seed(s))`).
//!
//! ```
//! use psionic_array::{DType, Tensor};
//! use psionic_data::{DataLoader, TensorDataset};
//! let x = Tensor::arange(0, 10, 1).to_dtype(DType::F32).reshape(&[5, 2]);
//! let y = Tensor::arange(0, 5, 1);
//! let loader = DataLoader::new(TensorDataset::new(vec![x, y])).batch_size(2);
//! let sizes: Vec<usize> = loader.iter().map(|b| b[0].size(0)).collect();
//! assert_eq!(sizes, [2, 2, 1]);
//! ```

mod collate;
mod dataset;
mod error;
mod loader;
pub mod readers;
mod sampler;

pub use collate::Stack;
pub use dataset::{random_split, ConcatDataset, Dataset, IterableDataset, Split, Subset, TensorDataset};
pub use error::{DataError, Result};
pub use loader::{Batches, DataLoader, IterableLoader};
pub use sampler::{
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
};
