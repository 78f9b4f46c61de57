//! Upsample, PixelShuffle/PixelUnshuffle and the padding layers.

use crate::module::Forward;
use crate::Module;
use psionic_array::{PadMode, Resize, Tensor};

/// `Upsample(size | scale_factor, mode, align_corners)`.
#[derive(Module)]
pub struct Upsample {
    pub size: Option<Vec<usize>>,
    pub scale_factor: Option<Vec<f64>>,
    pub mode: Resize,
    pub align_corners: Option<bool>,
}

impl Forward for Upsample {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.interpolate(self.size.as_deref(), self.scale_factor.as_deref(), self.mode, self.align_corners, false)
    }
}

/// Moves `r x r` blocks of channels into space.
#[derive(Module)]
pub struct PixelShuffle(pub usize);

impl Forward for PixelShuffle {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.pixel_shuffle(self.0)
    }
}

/// Moves `r x r` blocks of space into channels.
#[derive(Module)]
pub struct PixelUnshuffle(pub usize);

impl Forward for PixelUnshuffle {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.pixel_unshuffle(self.0)
    }
}

/// The padding layers (`ZeroPad2d`, `ConstantPad1d`, `ReflectionPad3d`, ...): `pads` in
/// `F.pad`'s order (last dim first, before/after), over `dims` trailing dims.
#[derive(Module)]
#[module(name = kind_name)]
pub struct Padder {
    pub pads: Vec<i64>,
    pub mode: PadMode,
    pub value: f64,
    pub dims: usize,
}

impl Padder {
    /// `pad` as PyTorch's constructors take it: one value for every side, or a list.
    pub fn new(mode: PadMode, dims: usize, pad: &[i64], value: f64) -> Padder {
        let pads = if pad.len() == 1 { vec![pad[0]; 2 * dims] } else { pad.to_vec() };
        assert!(pads.len() == 2 * dims, "padding needs {} values", 2 * dims);
        Padder { pads, mode, value, dims }
    }
}

impl Padder {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        let i = self.dims.clamp(1, 3) - 1;
        match self.mode {
            PadMode::Constant if self.value == 0.0 => ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d"][i],
            PadMode::Constant => ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d"][i],
            PadMode::Reflect => ["ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d"][i],
            PadMode::Replicate => ["ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d"][i],
            PadMode::Circular => ["CircularPad1d", "CircularPad2d", "CircularPad3d"][i],
        }
    }
}

impl Forward for Padder {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.pad(&self.pads, self.mode, self.value)
    }
}
