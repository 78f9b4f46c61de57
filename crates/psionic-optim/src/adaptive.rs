//! Per-coordinate adaptive methods: Adagrad, Adadelta, RMSprop, Rprop and ASGD, each
//! following the arithmetic of `torch.optim`'s single-tensor implementation.

use crate::adam::f32r;
use crate::hyper_fields;
use crate::optimizer::{Rule, State};
use crate::sgd::effective_grad;
use psionic_array::Tensor;

#[derive(Clone, Debug)]
pub struct Adagrad {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
    pub maximize: bool,
}

impl Adagrad {
    pub fn new(lr: f64) -> Adagrad {
        Adagrad { lr, lr_decay: 0.0, weight_decay: 0.0, initial_accumulator_value: 0.0, eps: 1e-10, maximize: false }
    }
}

impl Rule for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    hyper_fields! {
        "lr" => lr, "lr_decay" => lr_decay, "weight_decay" => weight_decay,
        "initial_accumulator_value" => initial_accumulator_value, "eps" => eps, "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let g = effective_grad(p, grad, self.maximize, self.weight_decay);
        let clr = self.lr / (1.0 + (s.step as f64 - 1.0) * self.lr_decay);
        let sum = s.buf("sum", || p.full_like(self.initial_accumulator_value)).addcmul(&g, &g, 1.0);
        s.set("sum", sum.clone());
        p.addcdiv(&g, &sum.sqrt().add(self.eps), -clr)
    }
}

#[derive(Clone, Debug)]
pub struct Adadelta {
    pub lr: f64,
    pub rho: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Adadelta {
    pub fn new(lr: f64) -> Adadelta {
        Adadelta { lr, rho: 0.9, eps: 1e-6, weight_decay: 0.0, maximize: false }
    }
}

impl Rule for Adadelta {
    fn reads_step(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "Adadelta"
    }
    hyper_fields! {
        "lr" => lr, "rho" => rho, "eps" => eps, "weight_decay" => weight_decay, "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let g = effective_grad(p, grad, self.maximize, self.weight_decay);
        let sq = s.buf("square_avg", || p.zeros_like()).mul(self.rho).addcmul(&g, &g, 1.0 - self.rho);
        let acc = s.buf("acc_delta", || p.zeros_like());
        let std = sq.add(self.eps).sqrt();
        let delta = acc.add(self.eps).sqrt().div(&std).mul(&g);
        s.set("square_avg", sq);
        s.set("acc_delta", acc.mul(self.rho).addcmul(&delta, &delta, 1.0 - self.rho));
        p.sub(delta.mul(self.lr))
    }
}

#[derive(Clone, Debug)]
pub struct RmsProp {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

impl RmsProp {
    pub fn new(lr: f64) -> RmsProp {
        RmsProp { lr, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false, maximize: false }
    }
}

impl Rule for RmsProp {
    fn reads_step(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "RMSprop"
    }
    hyper_fields! {
        "lr" => lr, "alpha" => alpha, "eps" => eps, "weight_decay" => weight_decay, "momentum" => momentum,
        "centered" => centered as bool, "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let g = effective_grad(p, grad, self.maximize, self.weight_decay);
        let sq = s.buf("square_avg", || p.zeros_like()).mul(self.alpha).addcmul(&g, &g, 1.0 - self.alpha);
        s.set("square_avg", sq.clone());
        let avg = if self.centered {
            let ga = s.buf("grad_avg", || p.zeros_like()).lerp(&g, 1.0 - self.alpha);
            s.set("grad_avg", ga.clone());
            sq.addcmul(&ga, &ga, -1.0).sqrt()
        } else {
            sq.sqrt()
        };
        let avg = avg.add(self.eps);
        if self.momentum > 0.0 {
            let buf = s.buf("momentum_buffer", || p.zeros_like()).mul(self.momentum).addcdiv(&g, &avg, 1.0);
            s.set("momentum_buffer", buf.clone());
            p.sub(buf.mul(self.lr))
        } else {
            p.addcdiv(&g, &avg, -self.lr)
        }
    }
}

/// Rprop: sign-based steps whose sizes grow while the gradient keeps its sign.
#[derive(Clone, Debug)]
pub struct Rprop {
    pub lr: f64,
    pub etaminus: f64,
    pub etaplus: f64,
    pub step_size_min: f64,
    pub step_size_max: f64,
    pub maximize: bool,
}

impl Rprop {
    pub fn new(lr: f64) -> Rprop {
        Rprop { lr, etaminus: 0.5, etaplus: 1.2, step_size_min: 1e-6, step_size_max: 50.0, maximize: false }
    }
}

impl Rule for Rprop {
    fn reads_step(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "Rprop"
    }
    hyper_fields! {
        "lr" => lr, "etaminus" => etaminus, "etaplus" => etaplus, "step_size_min" => step_size_min,
        "step_size_max" => step_size_max, "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let g = if self.maximize { grad.neg() } else { grad.clone() };
        let prev = s.buf("prev", || p.zeros_like());
        let size = s.buf("step_size", || p.full_like(self.lr));
        let sign = g.mul(&prev).sign();
        let factor = Tensor::where_(
            &sign.gt(0.0),
            p.full_like(self.etaplus),
            Tensor::where_(&sign.lt(0.0), p.full_like(self.etaminus), p.ones_like()),
        );
        let size = size.mul(&factor).clamp(Some(self.step_size_min), Some(self.step_size_max));
        let g = g.masked_fill(&sign.lt(0.0), 0.0);
        s.set("step_size", size.clone());
        s.set("prev", g.clone());
        p.addcmul(&g.sign(), &size, -1.0)
    }
}

/// Averaged SGD; `ax` holds the running average of the parameters.
#[derive(Clone, Debug)]
pub struct Asgd {
    pub lr: f64,
    pub lambd: f64,
    pub alpha: f64,
    pub t0: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Asgd {
    pub fn new(lr: f64) -> Asgd {
        Asgd { lr, lambd: 1e-4, alpha: 0.75, t0: 1e6, weight_decay: 0.0, maximize: false }
    }
}

impl Rule for Asgd {
    fn name(&self) -> &'static str {
        "ASGD"
    }
    hyper_fields! {
        "lr" => lr, "lambd" => lambd, "alpha" => alpha, "t0" => t0, "weight_decay" => weight_decay,
        "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let g = effective_grad(p, grad, self.maximize, self.weight_decay);
        let scalar = |s: &mut State, name, init: f64| s.buf(name, || Tensor::scalar(init as f32)).item::<f32>() as f64;
        let eta = scalar(s, "eta", self.lr);
        let mu = scalar(s, "mu", 1.0);
        let p = p.mul(1.0 - self.lambd * eta).sub(g.mul(eta));
        let ax = s.buf("ax", || p.zeros_like());
        let ax = if mu != 1.0 { ax.add(p.sub(&ax).mul(mu)) } else { p.deep_clone() };
        s.set("ax", ax);
        let step = s.step as f64;
        s.set("eta", Tensor::scalar(f32r(self.lr / (1.0 + self.lambd * self.lr * step).powf(self.alpha)) as f32));
        s.set("mu", Tensor::scalar(f32r(1.0 / (step - self.t0).max(1.0)) as f32));
        p
    }
}
