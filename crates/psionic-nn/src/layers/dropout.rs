//! Dropout modules: active in training, the identity in evaluation.

use crate::functional as F;
use crate::module::{Forward, Training};
use crate::Module;
use psionic_array::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropoutKind {
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    AlphaDropout,
    FeatureAlphaDropout,
}

#[derive(Module)]
#[module(name = kind_name, repr = repr_args)]
pub struct Dropout {
    #[training]
    training: Training,
    pub p: f64,
    pub kind: DropoutKind,
}

impl Dropout {
    pub fn new(p: f64) -> Dropout {
        Dropout::of(DropoutKind::Dropout, p)
    }

    pub fn of(kind: DropoutKind, p: f64) -> Dropout {
        assert!((0.0..=1.0).contains(&p), "dropout probability has to be between 0 and 1, but got {p}");
        Dropout { p, kind, training: Training::default() }
    }
}

impl Dropout {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        match self.kind {
            DropoutKind::Dropout => "Dropout",
            DropoutKind::Dropout1d => "Dropout1d",
            DropoutKind::Dropout2d => "Dropout2d",
            DropoutKind::Dropout3d => "Dropout3d",
            DropoutKind::AlphaDropout => "AlphaDropout",
            DropoutKind::FeatureAlphaDropout => "FeatureAlphaDropout",
        }
    }

    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("p={}", self.p)
    }
}

impl Forward for Dropout {
    fn forward(&self, x: &Tensor) -> Tensor {
        let t = self.training.get();
        match self.kind {
            DropoutKind::Dropout => F::dropout(x, self.p, t, None),
            DropoutKind::Dropout1d => F::dropout1d(x, self.p, t, None),
            DropoutKind::Dropout2d => F::dropout2d(x, self.p, t, None),
            DropoutKind::Dropout3d => F::dropout3d(x, self.p, t, None),
            DropoutKind::AlphaDropout => F::alpha_dropout(x, self.p, t, None),
            DropoutKind::FeatureAlphaDropout => F::feature_alpha_dropout(x, self.p, t, None),
        }
    }
}
