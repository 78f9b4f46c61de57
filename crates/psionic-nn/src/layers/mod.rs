//! The modules, one file per family.

mod activation;
mod attention;
mod container;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod loss;
mod norm;
mod pool;
mod resample;
mod rnn;
mod transformer;

pub use activation::{Activation, ActivationKind, PReLU};
pub use attention::{MhaCall, MhaOutput, MultiheadAttention};
pub use container::{ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential};
pub use conv::{Conv, ConvOpts, ConvTranspose};
pub use dropout::{Dropout, DropoutKind};
pub use embedding::{Embedding, EmbeddingBag, EmbeddingOpts};
pub use linear::{Bilinear, Flatten, Identity, Linear, Unflatten};
pub use loss::{Loss, LossKind};
pub use norm::{BatchNorm, GroupNorm, InstanceNorm, LayerNorm, LocalResponseNorm, RMSNorm, StatNorm, Stats};
pub use pool::{AdaptivePool, PoolKind, Pooling};
pub use resample::{Padder, PixelShuffle, PixelUnshuffle, Upsample};
pub use rnn::{Cell, CellKind, Recurrent, RnnOpts, RnnState};
pub use transformer::{
    DecoderMasks, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer, TransformerOpts,
};

use psionic_array::{DType, Tensor};

/// A new parameter: an uninitialised leaf of `shape` that requires grad (the caller
/// initialises it, under no_grad, as PyTorch's `reset_parameters` does).
pub(crate) fn param(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32).requires_grad_(true).clone()
}

/// `kaiming_uniform_(a=sqrt(5))` on the weight and `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
/// on the bias: the default initialisation of Linear and the convolutions.
pub(crate) fn reset_linear_like(weight: &Tensor, bias: Option<&Tensor>) {
    use crate::init::{kaiming_uniform_, FanMode, Nonlinearity};
    kaiming_uniform_(weight, FanMode::FanIn, Nonlinearity::LeakyRelu(5f64.sqrt()), None);
    if let Some(b) = bias {
        let (fan_in, _) = crate::init::fans(weight).unwrap_or((0, 0));
        let bound = if fan_in > 0 { 1.0 / (fan_in as f64).sqrt() } else { 0.0 };
        crate::init::uniform_(b, -bound, bound, None);
    }
}
