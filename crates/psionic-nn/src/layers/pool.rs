//! Pooling modules: MaxPool, AvgPool, LPPool (1d/2d/3d) as [`Pooling`], adaptive max
//! and average pooling as [`AdaptivePool`].

use crate::module::Forward;
use crate::Module;
use psionic_array::{Pool, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    Max,
    /// `count_include_pad` (PyTorch's default true).
    Avg {
        count_include_pad: bool,
    },
    /// The power-average `(sum x^p)^(1/p)`.
    Lp {
        norm: f64,
    },
}

/// A window pooling over `dims` spatial dims.
#[derive(Module)]
#[module(name = kind_name, repr = repr_args)]
pub struct Pooling {
    pub kind: PoolKind,
    pub dims: usize,
    pub pool: Pool,
    /// AvgPool's `divisor_override`.
    pub divisor: Option<i64>,
}

impl Pooling {
    /// `kernel`, `stride` (empty: the kernel), `padding`, as PyTorch's constructors.
    pub fn new(kind: PoolKind, dims: usize, kernel: &[usize], stride: &[usize], padding: &[usize]) -> Pooling {
        Pooling::with(kind, dims, Pool::new(dims, kernel, stride, padding, &[1], false))
    }

    pub fn with(kind: PoolKind, dims: usize, pool: Pool) -> Pooling {
        assert!((1..=3).contains(&dims), "pooling over 1, 2 or 3 dims");
        Pooling { kind, dims, pool, divisor: None }
    }

    /// Max pooling's output with the flat index of each maximum (`return_indices=True`).
    pub fn forward_with_indices(&self, x: &Tensor) -> (Tensor, Tensor) {
        assert!(self.kind == PoolKind::Max, "indices come from max pooling only");
        x.max_pool(&self.pool)
    }
}

impl Pooling {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        let i = self.dims - 1;
        match self.kind {
            PoolKind::Max => ["MaxPool1d", "MaxPool2d", "MaxPool3d"][i],
            PoolKind::Avg { .. } => ["AvgPool1d", "AvgPool2d", "AvgPool3d"][i],
            PoolKind::Lp { .. } => ["LPPool1d", "LPPool2d", "LPPool3d"][i],
        }
    }

    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("kernel_size={:?}, stride={:?}, padding={:?}", self.pool.kernel, self.pool.stride, self.pool.padding)
    }
}

impl Forward for Pooling {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self.kind {
            PoolKind::Max => x.max_pool(&self.pool).0,
            PoolKind::Avg { count_include_pad } => x.avg_pool(&self.pool, count_include_pad, self.divisor),
            PoolKind::Lp { norm } => x.lp_pool(norm, &self.pool),
        }
    }
}

/// Adaptive pooling to a fixed output size.
#[derive(Module)]
#[module(name = kind_name)]
pub struct AdaptivePool {
    pub max: bool,
    pub output_size: Vec<usize>,
}

impl AdaptivePool {
    pub fn max(output_size: &[usize]) -> AdaptivePool {
        AdaptivePool { max: true, output_size: output_size.to_vec() }
    }
    pub fn avg(output_size: &[usize]) -> AdaptivePool {
        AdaptivePool { max: false, output_size: output_size.to_vec() }
    }
}

impl AdaptivePool {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        let i = self.output_size.len().clamp(1, 3) - 1;
        if self.max {
            ["AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"][i]
        } else {
            ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"][i]
        }
    }
}

impl Forward for AdaptivePool {
    fn forward(&self, x: &Tensor) -> Tensor {
        if self.max {
            x.adaptive_max_pool(&self.output_size).0
        } else {
            x.adaptive_avg_pool(&self.output_size)
        }
    }
}
