//! Dropout modules: active in training, the identity in evaluation.

use crate::functional as F;
use crate::module::{Forward, Member, Module, Training};
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

pub struct Dropout {
    pub p: f64,
    pub kind: DropoutKind,
    training: Training,
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

impl Module for Dropout {
    fn type_name(&self) -> &'static str {
        match self.kind {
            DropoutKind::Dropout => "Dropout",
            DropoutKind::Dropout1d => "Dropout1d",
            DropoutKind::Dropout2d => "Dropout2d",
            DropoutKind::Dropout3d => "Dropout3d",
            DropoutKind::AlphaDropout => "AlphaDropout",
            DropoutKind::FeatureAlphaDropout => "FeatureAlphaDropout",
        }
    }
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        f("training", Member::Training(&self.training));
    }
    fn extra_repr(&self) -> String {
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
