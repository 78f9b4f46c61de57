//! The user-facing ops, one file per family. Each builds nodes through `Tensor::make`;
//! the primitives they use live in `prim.rs`.

pub mod args;
pub mod arrange;
pub mod attention;
pub mod batch_norm;
pub mod binary;
pub mod composite;
pub mod conv;
pub mod creation;
pub mod embedding;
pub mod grid;
pub mod index;
pub mod indexing;
pub mod inplace;
pub mod linalg;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod resample;
pub mod shape;
pub mod sort;
pub mod special;
pub mod unary;
