//! Activation modules: one [`Activation`] type whose variant is the PyTorch class
//! (`ReLU`, `GELU`, `Softmax`, ...), and [`PReLU`], which has a parameter.

use super::param;
use crate::module::{Forward, Training};
use crate::Module;
use psionic_array::Tensor;

/// A parameter-free activation; `type_name` is the PyTorch class it stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum ActivationKind {
    ReLU,
    ReLU6,
    LeakyReLU {
        negative_slope: f64,
    },
    ELU {
        alpha: f64,
    },
    CELU {
        alpha: f64,
    },
    SELU,
    /// `approximate` is `"none"` or `"tanh"`.
    GELU {
        approximate: &'static str,
    },
    SiLU,
    Mish,
    Sigmoid,
    Tanh,
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Softsign,
    Tanhshrink,
    Hardshrink {
        lambd: f64,
    },
    Softshrink {
        lambd: f64,
    },
    Hardtanh {
        min_val: f64,
        max_val: f64,
    },
    Hardsigmoid,
    Hardswish,
    LogSigmoid,
    Threshold {
        threshold: f64,
        value: f64,
    },
    Softmax {
        dim: i64,
    },
    LogSoftmax {
        dim: i64,
    },
    Softmin {
        dim: i64,
    },
    GLU {
        dim: i64,
    },
    /// Randomized leaky ReLU: in evaluation, the mean slope `(lower + upper) / 2`.
    RReLU {
        lower: f64,
        upper: f64,
    },
}

/// A module applying one [`ActivationKind`].
#[derive(Module)]
#[module(name = kind_name)]
pub struct Activation {
    #[training]
    training: Training,
    pub kind: ActivationKind,
}

impl Activation {
    pub fn new(kind: ActivationKind) -> Activation {
        Activation { kind, training: Training::default() }
    }
    pub fn relu() -> Activation {
        Activation::new(ActivationKind::ReLU)
    }
    pub fn gelu() -> Activation {
        Activation::new(ActivationKind::GELU { approximate: "none" })
    }
    pub fn tanh() -> Activation {
        Activation::new(ActivationKind::Tanh)
    }
    pub fn sigmoid() -> Activation {
        Activation::new(ActivationKind::Sigmoid)
    }
    pub fn silu() -> Activation {
        Activation::new(ActivationKind::SiLU)
    }
    pub fn softmax(dim: i64) -> Activation {
        Activation::new(ActivationKind::Softmax { dim })
    }
}

impl Activation {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        use ActivationKind::*;
        match self.kind {
            ReLU => "ReLU",
            ReLU6 => "ReLU6",
            LeakyReLU { .. } => "LeakyReLU",
            ELU { .. } => "ELU",
            CELU { .. } => "CELU",
            SELU => "SELU",
            GELU { .. } => "GELU",
            SiLU => "SiLU",
            Mish => "Mish",
            Sigmoid => "Sigmoid",
            Tanh => "Tanh",
            Softplus { .. } => "Softplus",
            Softsign => "Softsign",
            Tanhshrink => "Tanhshrink",
            Hardshrink { .. } => "Hardshrink",
            Softshrink { .. } => "Softshrink",
            Hardtanh { .. } => "Hardtanh",
            Hardsigmoid => "Hardsigmoid",
            Hardswish => "Hardswish",
            LogSigmoid => "LogSigmoid",
            Threshold { .. } => "Threshold",
            Softmax { .. } => "Softmax",
            LogSoftmax { .. } => "LogSoftmax",
            Softmin { .. } => "Softmin",
            GLU { .. } => "GLU",
            RReLU { .. } => "RReLU",
        }
    }
}

impl Forward for Activation {
    fn forward(&self, x: &Tensor) -> Tensor {
        use ActivationKind::*;
        match &self.kind {
            ReLU => x.relu(),
            ReLU6 => x.relu6(),
            LeakyReLU { negative_slope } => x.leaky_relu(*negative_slope),
            ELU { alpha } => x.elu(*alpha),
            CELU { alpha } => x.celu(*alpha),
            SELU => x.selu(),
            GELU { approximate } => x.gelu(approximate),
            SiLU => x.silu(),
            Mish => x.mish(),
            Sigmoid => x.sigmoid(),
            Tanh => x.tanh(),
            Softplus { beta, threshold } => x.softplus(*beta, *threshold),
            Softsign => x.softsign(),
            Tanhshrink => x.tanhshrink(),
            Hardshrink { lambd } => x.hardshrink(*lambd),
            Softshrink { lambd } => x.softshrink(*lambd),
            Hardtanh { min_val, max_val } => x.hardtanh(*min_val, *max_val),
            Hardsigmoid => x.hardsigmoid(),
            Hardswish => x.hardswish(),
            LogSigmoid => x.logsigmoid(),
            Threshold { threshold, value } => x.threshold(*threshold, *value),
            Softmax { dim } => x.softmax(*dim),
            LogSoftmax { dim } => x.log_softmax(*dim),
            Softmin { dim } => x.softmin(*dim),
            GLU { dim } => x.glu(*dim),
            RReLU { lower, upper } => {
                if self.training.get() {
                    rrelu_train(x, *lower, *upper)
                } else {
                    x.leaky_relu((lower + upper) / 2.0)
                }
            }
        }
    }
}

/// Training-mode RReLU: each negative element gets its own slope drawn from
/// `U(lower, upper)`.
fn rrelu_train(x: &Tensor, lower: f64, upper: f64) -> Tensor {
    let slopes = Tensor::empty(&x.shape(), x.dtype());
    slopes.uniform_(lower, upper, None);
    Tensor::where_(&x.ge(0.0), x, x.mul(&slopes))
}

/// `max(0, x) + a * min(0, x)` with learned slopes `a` (one, or one per channel),
/// initialised to `init` (PyTorch's 0.25).
#[derive(Module)]
pub struct PReLU {
    #[param]
    pub weight: Tensor,
}

impl PReLU {
    pub fn new(num_parameters: usize, init: f64) -> PReLU {
        let weight = param(&[num_parameters]);
        crate::init::constant_(&weight, init);
        PReLU { weight }
    }
}

impl Forward for PReLU {
    fn forward(&self, x: &Tensor) -> Tensor {
        crate::functional::prelu(x, &self.weight)
    }
}
