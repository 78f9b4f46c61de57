//! The default collate: PyTorch's `default_collate` for the item shapes Rust datasets
//! hold. Tensors are stacked along a new first dimension; integer labels become an
//! `int64` tensor; tuples and `Vec`s are collated field by field.

use psionic_array::Tensor;

/// How a list of items becomes one batch.
pub trait Stack: Sized {
    type Batch: Send + 'static;
    fn stack(items: Vec<Self>) -> Self::Batch;
}

impl Stack for Tensor {
    type Batch = Tensor;
    fn stack(items: Vec<Tensor>) -> Tensor {
        let refs: Vec<&Tensor> = items.iter().collect();
        Tensor::stack(&refs, 0)
    }
}

impl Stack for i64 {
    type Batch = Tensor;
    fn stack(items: Vec<i64>) -> Tensor {
        let n = items.len();
        Tensor::from_vec(items, &[n])
    }
}

impl Stack for f64 {
    type Batch = Tensor;
    fn stack(items: Vec<f64>) -> Tensor {
        let n = items.len();
        Tensor::from_vec(items, &[n])
    }
}

/// Field by field: item `i`'s field `j` goes to batch field `j`.
impl Stack for Vec<Tensor> {
    type Batch = Vec<Tensor>;
    fn stack(items: Vec<Vec<Tensor>>) -> Vec<Tensor> {
        let fields = items.first().map_or(0, Vec::len);
        assert!(items.iter().all(|it| it.len() == fields), "each element in list of batch should be of equal size");
        (0..fields)
            .map(|j| {
                let col: Vec<&Tensor> = items.iter().map(|it| &it[j]).collect();
                Tensor::stack(&col, 0)
            })
            .collect()
    }
}

impl<A: Stack, B: Stack> Stack for (A, B) {
    type Batch = (A::Batch, B::Batch);
    fn stack(items: Vec<(A, B)>) -> Self::Batch {
        let (a, b): (Vec<A>, Vec<B>) = items.into_iter().unzip();
        (A::stack(a), B::stack(b))
    }
}
