//! Complete models built from the layers, with `state_dict` names that match their
//! PyTorch twins in `oracle/` so checkpoints move between the two.

mod gpt;

pub use gpt::{Gpt, GptBlock, GptConfig};
