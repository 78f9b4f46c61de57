//! `torch.nn.init`: PyTorch's initialisers with its fan modes and gains. Each fills a
//! tensor in place without recording gradients and draws from the given generator or the
//! global one, in PyTorch's order, so a seeded run fills the same values as PyTorch's.

use psionic_array::autodiff::no_grad;
use psionic_array::linalg::{self, QrMode};
use psionic_array::random::Generator;
use psionic_array::Tensor;
use psionic_core::Error;

/// Which fan `kaiming_*` scales by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
}

/// The nonlinearities `calculate_gain` knows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    Linear,
    Conv,
    Sigmoid,
    Tanh,
    Relu,
    /// With its negative slope (PyTorch's default 0.01 when none is given).
    LeakyRelu(f64),
    Selu,
}

/// `calculate_gain`: the recommended scale for a nonlinearity.
pub fn calculate_gain(n: Nonlinearity) -> f64 {
    match n {
        Nonlinearity::Linear | Nonlinearity::Conv | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

/// `(fan_in, fan_out)`: `size(1)` and `size(0)` times the receptive field (the product
/// of the dims after the first two).
pub fn fans(t: &Tensor) -> Result<(usize, usize), Error> {
    let s = t.shape();
    if s.len() < 2 {
        return Err(Error::invalid(
            "init",
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions",
        ));
    }
    let receptive: usize = s[2..].iter().product();
    Ok((s[1] * receptive, s[0] * receptive))
}

fn fan(t: &Tensor, mode: FanMode) -> f64 {
    let (fan_in, fan_out) = fans(t).unwrap_or_else(|e| panic!("{e}"));
    (match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    }) as f64
}

pub fn uniform_<'a>(t: &'a Tensor, a: f64, b: f64, g: Option<&Generator>) -> &'a Tensor {
    no_grad(|| t.uniform_(a, b, g));
    t
}

pub fn normal_<'a>(t: &'a Tensor, mean: f64, std: f64, g: Option<&Generator>) -> &'a Tensor {
    no_grad(|| t.normal_(mean, std, g));
    t
}

pub fn constant_(t: &Tensor, value: f64) -> &Tensor {
    no_grad(|| t.fill_(value));
    t
}

pub fn zeros_(t: &Tensor) -> &Tensor {
    constant_(t, 0.0)
}

pub fn ones_(t: &Tensor) -> &Tensor {
    constant_(t, 1.0)
}

/// `eye_`: the identity in a 2-d tensor.
pub fn eye_(t: &Tensor) -> &Tensor {
    let s = t.shape();
    assert!(s.len() == 2, "Only tensors with 2 dimensions are supported");
    no_grad(|| t.copy_(&Tensor::eye(s[0], Some(s[1]), t.dtype())));
    t
}

/// `dirac_`: convolution weights `[out, in, k...]` that pass input channels through
/// (in `groups` blocks), the centre tap of each kernel set to one.
pub fn dirac_(t: &Tensor, groups: usize) -> &Tensor {
    let s = t.shape();
    assert!((3..=5).contains(&s.len()), "Only tensors with 3, 4, or 5 dimensions are supported");
    assert!(groups > 0 && s[0].is_multiple_of(groups), "dim 0 must be divisible by groups");
    let per = s[0] / groups;
    let min = per.min(s[1]);
    let mut v = vec![0.0f64; t.numel()];
    let strides: Vec<usize> = (0..s.len()).map(|d| s[d + 1..].iter().product()).collect();
    for g in 0..groups {
        for d in 0..min {
            let mut at = (g * per + d) * strides[0] + d * strides[1];
            for k in 2..s.len() {
                at += (s[k] / 2) * strides[k];
            }
            v[at] = 1.0;
        }
    }
    no_grad(|| t.copy_(&Tensor::from_vec(v, &s).to_dtype(t.dtype())));
    t
}

/// `xavier_uniform_`: `U(-a, a)` with `a = gain * sqrt(6 / (fan_in + fan_out))`.
pub fn xavier_uniform_<'a>(t: &'a Tensor, gain: f64, g: Option<&Generator>) -> &'a Tensor {
    let (i, o) = fans(t).unwrap_or_else(|e| panic!("{e}"));
    let a = gain * (6.0 / (i + o) as f64).sqrt();
    uniform_(t, -a, a, g)
}

/// `xavier_normal_`: `N(0, gain² * 2 / (fan_in + fan_out))`.
pub fn xavier_normal_<'a>(t: &'a Tensor, gain: f64, g: Option<&Generator>) -> &'a Tensor {
    let (i, o) = fans(t).unwrap_or_else(|e| panic!("{e}"));
    normal_(t, 0.0, gain * (2.0 / (i + o) as f64).sqrt(), g)
}

/// `kaiming_uniform_`: `U(-b, b)` with `b = gain * sqrt(3 / fan)`.
pub fn kaiming_uniform_<'a>(t: &'a Tensor, mode: FanMode, n: Nonlinearity, g: Option<&Generator>) -> &'a Tensor {
    if t.numel() == 0 {
        return t;
    }
    let bound = 3f64.sqrt() * calculate_gain(n) / fan(t, mode).sqrt();
    uniform_(t, -bound, bound, g)
}

/// `kaiming_normal_`: `N(0, gain² / fan)`.
pub fn kaiming_normal_<'a>(t: &'a Tensor, mode: FanMode, n: Nonlinearity, g: Option<&Generator>) -> &'a Tensor {
    if t.numel() == 0 {
        return t;
    }
    normal_(t, 0.0, calculate_gain(n) / fan(t, mode).sqrt(), g)
}

/// `trunc_normal_`: `N(mean, std²)` restricted to `[a, b]`, by inverting the normal CDF
/// of uniforms drawn between the bounds' CDF values (PyTorch's method and draws).
pub fn trunc_normal_<'a>(t: &'a Tensor, mean: f64, std: f64, a: f64, b: f64, g: Option<&Generator>) -> &'a Tensor {
    let cdf = |x: f64| (1.0 + erf(x / 2f64.sqrt())) / 2.0;
    let (l, u) = (cdf((a - mean) / std), cdf((b - mean) / std));
    no_grad(|| {
        t.uniform_(2.0 * l - 1.0, 2.0 * u - 1.0, g);
        t.copy_(&t.erfinv().mul(std * 2f64.sqrt()).add(mean).clamp(Some(a), Some(b)));
    });
    t
}

/// `orthogonal_`: a (semi-)orthogonal matrix from the QR of a standard normal draw,
/// signs fixed by `R`'s diagonal, times `gain`; dims after the first are flattened.
pub fn orthogonal_<'a>(t: &'a Tensor, gain: f64, g: Option<&Generator>) -> &'a Tensor {
    let s = t.shape();
    assert!(s.len() >= 2, "Only tensors with 2 or more dimensions are supported");
    if t.numel() == 0 {
        return t;
    }
    let rows = s[0];
    let cols = t.numel() / rows;
    no_grad(|| {
        let flat = Tensor::empty(&[rows, cols], t.dtype());
        flat.normal_(0.0, 1.0, g);
        let m = if rows < cols { flat.t() } else { flat };
        let (q, r) = linalg::qr(&m, QrMode::Reduced);
        let q = q.mul(r.diagonal(0, -2, -1).sign());
        let q = if rows < cols { q.t() } else { q };
        t.copy_(&q.mul(gain).reshape_as(t));
    });
    t
}

/// `sparse_`: a 2-d `N(0, std²)` matrix with a fraction `sparsity` of each column zeroed
/// (the rows to zero are drawn from the global generator, as PyTorch does).
pub fn sparse_<'a>(t: &'a Tensor, sparsity: f64, std: f64, g: Option<&Generator>) -> &'a Tensor {
    let s = t.shape();
    assert!(s.len() == 2, "Only tensors with 2 dimensions are supported");
    let (rows, cols) = (s[0], s[1]);
    let zeros = (sparsity * rows as f64).ceil() as usize;
    no_grad(|| {
        t.normal_(0.0, std, g);
        for c in 0..cols {
            // PyTorch draws the rows to zero from the global generator.
            let perm = psionic_array::random::randperm(rows, psionic_array::DType::I64, None);
            let idx = perm.narrow(0, 0, zeros);
            let col = t.select(1, c as i64);
            col.copy_(&col.index_fill(0, &idx, 0.0));
        }
    });
    t
}

/// erf of one f64 value, through the tensor kernel.
fn erf(x: f64) -> f64 {
    Tensor::scalar(x).erf().item::<f64>()
}
