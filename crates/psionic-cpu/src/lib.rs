//! Psionic's CPU backend.
//!
//! Data lives in [`Storage`] (one typed buffer, recycled through a size-bucketed cache
//! when dropped); a [`CpuArray`] is a storage plus a strided [`Layout`](psionic_core::Layout).
//! Kernels read strided inputs and always write a fresh contiguous output. Work is split
//! into fixed-size chunks on rayon ([`parallel`]) only past a grain size, and every
//! reduction combines fixed blocks in a fixed order, so results are bit-identical for any
//! thread count.

pub mod adam;
pub mod array;
pub mod attention;
pub mod batch_norm;
pub mod bessel;
pub mod binary;
pub mod cast;
pub mod conv;
mod conv_gemm;
mod conv_panels;
mod depthwise;
pub mod element;
pub mod elementwise;
pub mod fold;
pub mod fused;
pub mod fused_jit;
pub mod fused_rows;
pub mod gamma;
pub mod gather;
mod gemm_bf16;
mod gemm_f32;
mod gemm_tiles;
pub mod index;
pub mod jit;
pub mod matmul;
pub mod norm;
pub mod order;
pub mod parallel;
pub mod pool;
pub mod reduce;
pub mod reduce_columns;
pub mod scan;
pub mod simd;
pub mod softmax;
pub mod special;
pub mod storage;
pub mod stream;
pub mod ternary;
pub mod unary;
pub mod vmath;
pub mod window;

pub use array::CpuArray;
pub use element::Element;
pub use storage::{cache_stats, Buffer, Storage};
