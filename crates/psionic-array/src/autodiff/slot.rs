//! Per-tensor autograd state, which the build path keeps on cells and nodes
//! (`crate::slot`), re-exported here with the rest of the autograd API.

pub use crate::slot::{GradSlot, Hook};
