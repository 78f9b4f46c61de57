//! The Adam family: Adam, AdamW (decoupled weight decay), Adamax, NAdam and RAdam, each
//! following the arithmetic of `torch.optim`'s single-tensor implementation.

use crate::hyper_fields;
use crate::optimizer::{Rule, State};
use crate::sgd::{decay_parts, effective_grad, shrunk};
use psionic_array::mode::raise;
use psionic_array::ops::optim::AdamCoeffs;
use psionic_array::{DType, Error, Tensor};

/// Rounds to f32: PyTorch keeps some scalar state (NAdam's `mu_product`, ASGD's `eta`
/// and `mu`) in float32 tensors whatever the parameters' dtype.
pub(crate) fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

/// Adam's moment estimates after one more gradient: `exp_avg` moved towards `g` by
/// `1 - beta1` and `exp_avg_sq` towards `g²` by `1 - beta2`, both stored.
fn moments(s: &mut State, p: &Tensor, g: &Tensor, beta1: f64, beta2: f64) -> (Tensor, Tensor) {
    let m = s.buf("exp_avg", || p.zeros_like()).lerp(g, 1.0 - beta1);
    let v = s.buf("exp_avg_sq", || p.zeros_like()).mul(beta2).addcmul(g, g, 1.0 - beta2);
    s.set("exp_avg", m.clone());
    s.set("exp_avg_sq", v.clone());
    (m, v)
}

/// Adam and AdamW (`decoupled`: weight decay shrinks the parameter instead of adding
/// to the gradient).
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    pub decoupled: bool,
    /// Divide the moments by `1 - beta^t` (PyTorch always does; MLX's `Adam` and
    /// `AdamW` default to not doing it).
    pub bias_correction: bool,
}

impl Adam {
    /// `Adam(lr)` with PyTorch's defaults.
    pub fn new(lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled: false,
            bias_correction: true,
        }
    }

    /// `AdamW(lr)` with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Adam {
        Adam { weight_decay: 0.01, decoupled: true, ..Adam::new(lr) }
    }
}

impl Rule for Adam {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "AdamW"
        } else {
            "Adam"
        }
    }
    hyper_fields! {
        "lr" => lr, "beta1" => beta1, "beta2" => beta2, "eps" => eps, "weight_decay" => weight_decay,
        "amsgrad" => amsgrad as bool, "maximize" => maximize as bool, "decoupled_weight_decay" => decoupled as bool,
        "bias_correction" => bias_correction as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let c = self.coeffs(s.step);
        // The decoupled decay factor is `c.decay`.
        let (_, g) = decay_parts(p, grad, self.maximize, self.lr, self.weight_decay, self.decoupled);
        if !self.amsgrad {
            if let Some(new) = self.fused(p, &g, c, s) {
                return new;
            }
        }
        if s.moving.is_some() {
            raise(Error::dtype(
                "Adam",
                format!(
                    "a compiled step needs the gradient in the parameter's dtype ({}), got {}",
                    p.dtype(),
                    g.dtype()
                ),
            ));
        }
        let p = shrunk(p, c.decay);
        let (m, v) = moments(s, &p, &g, self.beta1, self.beta2);
        let v = if self.amsgrad {
            let mx = s.buf("max_exp_avg_sq", || p.zeros_like()).maximum(&v);
            s.set("max_exp_avg_sq", mx.clone());
            mx
        } else {
            v
        };
        let denom = v.sqrt().div(c.bc2_sqrt).add(self.eps);
        p.addcdiv(&m, &denom, c.step_size)
    }

    /// Step `step`'s bias corrections and decay come from a tensor in a compiled step,
    /// where the fused kernel takes the step (f32 and f64 without amsgrad); the rate
    /// enters only through them.
    fn moving(&self, p: &Tensor, step: u64) -> Option<Vec<f64>> {
        let fused = !self.amsgrad && matches!(p.dtype(), DType::F32 | DType::F64);
        fused.then(|| self.coeffs(step).moving().to_vec())
    }
}

impl Adam {
    /// The scalars of step `step` (`torch.optim.Adam`'s `bias_correction1`,
    /// `bias_correction2_sqrt`, `step_size`, and AdamW's decay factor).
    fn coeffs(&self, step: u64) -> AdamCoeffs {
        let step = step as i32;
        let (bc1, bc2_sqrt) = if self.bias_correction {
            (1.0 - self.beta1.powi(step), (1.0 - self.beta2.powi(step)).sqrt())
        } else {
            (1.0, 1.0)
        };
        AdamCoeffs {
            decay: self.decoupled.then_some(1.0 - self.lr * self.weight_decay),
            beta1: self.beta1,
            beta2: self.beta2,
            bc2_sqrt,
            eps: self.eps,
            step_size: -self.lr / bc1,
        }
    }

    /// The step without amsgrad in one kernel pass ([`Tensor::fused_adam`]) from the
    /// decayed gradient `g`, the same bits as the ops of `update` (and, under autodiff or
    /// vmap, their derivatives); `None` where that kernel does not apply (other dtypes),
    /// leaving the state untouched. In a compiled step the moving coefficients come from
    /// the state's tensor.
    fn fused(&self, p: &Tensor, g: &Tensor, c: AdamCoeffs, s: &mut State) -> Option<Tensor> {
        let zeros = || p.zeros_like();
        let (m, v) = (s.bufs.get("exp_avg").cloned(), s.bufs.get("exp_avg_sq").cloned());
        let [p1, m1, v1] =
            p.fused_adam_moving(g, &m.unwrap_or_else(zeros), &v.unwrap_or_else(zeros), c, s.moving.as_ref())?;
        s.set("exp_avg", m1);
        s.set("exp_avg_sq", v1);
        Some(p1)
    }
}

/// Adamax: Adam with the infinity norm in place of the second moment.
#[derive(Clone, Debug)]
pub struct Adamax {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Adamax {
    pub fn new(lr: f64) -> Adamax {
        Adamax { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, maximize: false }
    }
}

impl Rule for Adamax {
    fn name(&self) -> &'static str {
        "Adamax"
    }
    hyper_fields! {
        "lr" => lr, "beta1" => beta1, "beta2" => beta2, "eps" => eps, "weight_decay" => weight_decay,
        "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let g = effective_grad(p, grad, self.maximize, self.weight_decay);
        let m = s.buf("exp_avg", || p.zeros_like()).lerp(&g, 1.0 - self.beta1);
        let u = s.buf("exp_inf", || p.zeros_like()).mul(self.beta2).maximum(g.abs().add(self.eps));
        s.set("exp_avg", m.clone());
        s.set("exp_inf", u.clone());
        let clr = self.lr / (1.0 - self.beta1.powi(s.step as i32));
        p.addcdiv(&m, &u, -clr)
    }
}

/// NAdam: Adam with Nesterov momentum and the momentum-decay schedule.
#[derive(Clone, Debug)]
pub struct NAdam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum_decay: f64,
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
}

impl NAdam {
    pub fn new(lr: f64) -> NAdam {
        NAdam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl Rule for NAdam {
    fn name(&self) -> &'static str {
        "NAdam"
    }
    hyper_fields! {
        "lr" => lr, "beta1" => beta1, "beta2" => beta2, "eps" => eps, "weight_decay" => weight_decay,
        "momentum_decay" => momentum_decay, "decoupled_weight_decay" => decoupled_weight_decay as bool,
        "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let (shrink, g) = decay_parts(p, grad, self.maximize, self.lr, self.weight_decay, self.decoupled_weight_decay);
        let p = shrunk(p, shrink);
        let step = s.step as f64;
        let bc2 = 1.0 - self.beta2.powf(step);
        let mu = self.beta1 * (1.0 - 0.5 * 0.96f64.powf(step * self.momentum_decay));
        let mu_next = self.beta1 * (1.0 - 0.5 * 0.96f64.powf((step + 1.0) * self.momentum_decay));
        let prev = s.bufs.get("mu_product").map_or(1.0, |t| t.item::<f32>() as f64);
        let mu_product = f32r(prev * mu);
        s.set("mu_product", Tensor::scalar(mu_product as f32));
        let (m, v) = moments(s, &p, &g, self.beta1, self.beta2);
        let denom = v.div(bc2).sqrt().add(self.eps);
        let mu_product_next = mu_product * mu_next;
        p.addcdiv(&g, &denom, -self.lr * (1.0 - mu) / (1.0 - mu_product)).addcdiv(
            &m,
            &denom,
            -self.lr * mu_next / (1.0 - mu_product_next),
        )
    }
}

/// RAdam: Adam with the variance of the adaptive learning rate rectified.
#[derive(Clone, Debug)]
pub struct RAdam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
}

impl RAdam {
    pub fn new(lr: f64) -> RAdam {
        RAdam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl Rule for RAdam {
    fn name(&self) -> &'static str {
        "RAdam"
    }
    hyper_fields! {
        "lr" => lr, "beta1" => beta1, "beta2" => beta2, "eps" => eps, "weight_decay" => weight_decay,
        "decoupled_weight_decay" => decoupled_weight_decay as bool, "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let (shrink, g) = decay_parts(p, grad, self.maximize, self.lr, self.weight_decay, self.decoupled_weight_decay);
        let p = shrunk(p, shrink);
        let (m, v) = moments(s, &p, &g, self.beta1, self.beta2);
        let step = s.step as f64;
        let bc1 = 1.0 - self.beta1.powf(step);
        let bc2 = 1.0 - self.beta2.powf(step);
        let corrected = m.div(bc1);
        let rho_inf = 2.0 / (1.0 - self.beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * step * self.beta2.powf(step) / bc2;
        if rho_t > 5.0 {
            let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).sqrt();
            let adaptive = v.sqrt().add(self.eps).reciprocal().mul(bc2.sqrt());
            p.sub(corrected.mul(self.lr).mul(&adaptive).mul(rect))
        } else {
            p.sub(corrected.mul(self.lr))
        }
    }
}
