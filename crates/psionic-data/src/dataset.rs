//! Map-style and iterable datasets and the ways to combine them (PyTorch's
//! `torch.utils.data.Dataset` family).

use crate::collate::Stack;
use crate::error::{DataError, Result};
use psionic_array::random::{randperm, Generator};
use psionic_array::{DType, Tensor};
use std::sync::Arc;

/// A map-style dataset: `len` items, any of which can be built by index, from any
/// thread (workers call `get` concurrently).
pub trait Dataset: Send + Sync {
    type Item: Send + 'static;
    fn len(&self) -> usize;
    fn get(&self, index: usize) -> Self::Item;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The items at `indices` under the default collate: what a loader built with
    /// [`DataLoader::new`](crate::DataLoader::new) asks for (PyTorch's `__getitems__`). A
    /// dataset that can read a whole batch at once (one gather per tensor instead of a
    /// view per item and a stack) overrides it; the result must equal the default's.
    fn get_batch(&self, indices: &[usize]) -> <Self::Item as Stack>::Batch
    where
        Self::Item: Stack,
    {
        Stack::stack(indices.iter().map(|&i| self.get(i)).collect())
    }
}

/// `indices` as an `int64` vector, for reading a batch with one gather.
pub(crate) fn index_tensor(indices: &[usize]) -> Tensor {
    Tensor::from_vec(indices.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[indices.len()])
}

/// A stream of items with no random access (PyTorch's `IterableDataset`). The iterator
/// owns what it reads (clone an `Arc` into it), so a loader can run it on another thread.
pub trait IterableDataset: Send + Sync {
    type Item: Send + 'static;
    fn iter(&self) -> Box<dyn Iterator<Item = Self::Item> + Send>;
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> D::Item {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> <D::Item as Stack>::Batch
    where
        D::Item: Stack,
    {
        (**self).get_batch(indices)
    }
}

impl<T: Clone + Send + Sync + 'static> Dataset for Vec<T> {
    type Item = T;
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn get(&self, index: usize) -> T {
        self[index].clone()
    }
}

/// The indices themselves: a loader over `0..n` yields batches of indices.
impl Dataset for std::ops::Range<usize> {
    type Item = usize;
    fn len(&self) -> usize {
        ExactSizeIterator::len(self)
    }
    fn get(&self, index: usize) -> usize {
        self.start + index
    }
}

/// Rows of tensors that share their first dimension: item `i` is `[t[i] for t in tensors]`.
#[derive(Clone)]
pub struct TensorDataset {
    pub tensors: Vec<Tensor>,
}

impl TensorDataset {
    pub fn new(tensors: Vec<Tensor>) -> TensorDataset {
        let n = tensors.first().map(|t| t.size(0));
        assert!(tensors.iter().all(|t| Some(t.size(0)) == n), "Size mismatch between tensors");
        TensorDataset { tensors }
    }
}

impl Dataset for TensorDataset {
    type Item = Vec<Tensor>;
    fn len(&self) -> usize {
        self.tensors.first().map_or(0, |t| t.size(0))
    }
    fn get(&self, index: usize) -> Vec<Tensor> {
        self.tensors.iter().map(|t| t.select(0, index as i64)).collect()
    }
    /// Each tensor's rows in one gather: the stack of the items' views, without them.
    fn get_batch(&self, indices: &[usize]) -> Vec<Tensor> {
        if indices.is_empty() {
            return <Vec<Tensor> as Stack>::stack(vec![]); // what the default gives
        }
        let idx = index_tensor(indices);
        self.tensors.iter().map(|t| t.index_select(0, &idx)).collect()
    }
}

/// The items of `dataset` at `indices`, in that order.
#[derive(Clone)]
pub struct Subset<D> {
    pub dataset: Arc<D>,
    pub indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    pub fn new(dataset: Arc<D>, indices: Vec<usize>) -> Subset<D> {
        Subset { dataset, indices }
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> D::Item {
        self.dataset.get(self.indices[index])
    }
    fn get_batch(&self, indices: &[usize]) -> <D::Item as Stack>::Batch
    where
        D::Item: Stack,
    {
        self.dataset.get_batch(&indices.iter().map(|&i| self.indices[i]).collect::<Vec<_>>())
    }
}

/// Datasets one after another.
pub struct ConcatDataset<T> {
    parts: Vec<Arc<dyn Dataset<Item = T>>>,
    /// Running totals of the parts' lengths (PyTorch's `cumulative_sizes`).
    pub cumulative_sizes: Vec<usize>,
}

impl<T: Send + 'static> ConcatDataset<T> {
    pub fn new(parts: Vec<Arc<dyn Dataset<Item = T>>>) -> ConcatDataset<T> {
        assert!(!parts.is_empty(), "datasets should not be an empty iterable");
        let cumulative_sizes = parts
            .iter()
            .scan(0, |acc, d| {
                *acc += d.len();
                Some(*acc)
            })
            .collect();
        ConcatDataset { parts, cumulative_sizes }
    }
}

impl<T: Send + 'static> Dataset for ConcatDataset<T> {
    type Item = T;
    fn len(&self) -> usize {
        self.cumulative_sizes.last().copied().unwrap_or(0)
    }
    fn get(&self, index: usize) -> T {
        let part = self.cumulative_sizes.partition_point(|&end| end <= index);
        let start = if part == 0 { 0 } else { self.cumulative_sizes[part - 1] };
        self.parts[part].get(index - start)
    }
}

/// How [`random_split`] divides a dataset.
#[derive(Clone, Debug)]
pub enum Split {
    Lengths(Vec<usize>),
    /// Fractions summing to 1; floors, with the remainder handed out one by one from
    /// the first part on (PyTorch's rule).
    Fractions(Vec<f64>),
}

/// Splits `dataset` into disjoint random subsets, the permutation drawn as PyTorch's
/// `random_split` draws it (`randperm(n, generator)`), so a seeded split picks the same
/// items.
pub fn random_split<D: Dataset>(
    dataset: Arc<D>,
    split: &Split,
    generator: Option<&Generator>,
) -> Result<Vec<Subset<D>>> {
    let n = dataset.len();
    let lengths = match split {
        Split::Lengths(l) => l.clone(),
        Split::Fractions(f) => {
            let total: f64 = f.iter().sum();
            if (total - 1.0).abs() > 1e-9 || f.iter().any(|&x| !(0.0..=1.0).contains(&x)) {
                return Err(DataError::format(
                    "random_split",
                    format!("fractions {f:?} must lie in [0, 1] and sum to 1"),
                ));
            }
            let mut l: Vec<usize> = f.iter().map(|&x| (n as f64 * x).floor() as usize).collect();
            let remainder = n - l.iter().sum::<usize>();
            for i in 0..remainder {
                let k = i % l.len();
                l[k] += 1;
            }
            l
        }
    };
    if lengths.iter().sum::<usize>() != n {
        return Err(DataError::format(
            "random_split",
            "Sum of input lengths does not equal the length of the input dataset!",
        ));
    }
    let perm: Vec<usize> = randperm(n, DType::I64, generator).to_vec::<i64>().into_iter().map(|i| i as usize).collect();
    let mut offset = 0;
    Ok(lengths
        .iter()
        .map(|&len| {
            let s = Subset::new(dataset.clone(), perm[offset..offset + len].to_vec());
            offset += len;
            s
        })
        .collect())
}
