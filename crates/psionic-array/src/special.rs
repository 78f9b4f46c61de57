//! `torch.special`'s names as free functions, so code written against that namespace
//! translates line by line (`torch.special.gammaln(x)` is `special::gammaln(&x)`). Each
//! is the `Tensor` method of the same meaning; arguments keep PyTorch's order.

use crate::ops::args::{Arg, Dims};
use crate::tensor::Tensor;

macro_rules! unary {
    ($($name:ident => $method:ident, $doc:literal;)*) => {$(
        #[doc = $doc]
        #[track_caller]
        pub fn $name(input: &Tensor) -> Tensor {
            input.$method()
        }
    )*};
}

unary! {
    gammaln => lgamma, "`ln |Γ(x)|` ([`Tensor::lgamma`]).";
    digamma => digamma, "`ψ(x)` ([`Tensor::digamma`]).";
    psi => digamma, "`ψ(x)`, digamma's other name.";
    i0 => i0, "`I₀(x)` ([`Tensor::i0`]).";
    i0e => i0e, "`e^{-|x|} I₀(x)` ([`Tensor::i0e`]).";
    i1 => i1, "`I₁(x)` ([`Tensor::i1`]).";
    i1e => i1e, "`e^{-|x|} I₁(x)` ([`Tensor::i1e`]).";
    erf => erf, "The error function.";
    erfc => erfc, "`1 - erf(x)`.";
    erfcx => erfcx, "`exp(x²) erfc(x)` ([`Tensor::erfcx`]).";
    erfinv => erfinv, "The inverse error function.";
    expit => sigmoid, "The logistic sigmoid.";
    exp2 => exp2, "`2^x`.";
    expm1 => expm1, "`e^x - 1`.";
    log1p => log1p, "`ln(1 + x)`.";
    ndtr => ndtr, "The standard normal CDF ([`Tensor::ndtr`]).";
    ndtri => ndtri, "The inverse standard normal CDF ([`Tensor::ndtri`]).";
    log_ndtr => log_ndtr, "`ln Φ(x)` ([`Tensor::log_ndtr`]).";
    entr => entr, "`-x ln x` ([`Tensor::entr`]).";
    sinc => sinc, "The normalised sinc, `sin(πx) / (πx)`.";
}

/// `ψ⁽ⁿ⁾(x)`: the order comes first, as in `torch.special.polygamma(n, input)`.
#[track_caller]
pub fn polygamma(n: u32, input: &Tensor) -> Tensor {
    input.polygamma(n)
}

/// The multivariate log-gamma function of dimension `p` ([`Tensor::mvlgamma`]).
#[track_caller]
pub fn multigammaln(input: &Tensor, p: u32) -> Tensor {
    input.mvlgamma(p)
}

/// `log(p / (1 - p))`, clamped to `[eps, 1 - eps]` when `eps` is given.
#[track_caller]
pub fn logit(input: &Tensor, eps: Option<f64>) -> Tensor {
    input.logit(eps)
}

/// `x * ln(y)`, 0 where `x` is 0.
#[track_caller]
pub fn xlogy(input: &Tensor, other: impl Into<Arg>) -> Tensor {
    input.xlogy(other)
}

/// `x * ln(1 + y)`, 0 where `x` is 0.
#[track_caller]
pub fn xlog1py(input: &Tensor, other: impl Into<Arg>) -> Tensor {
    input.xlog1py(other)
}

/// The Hurwitz zeta function `ζ(x, q)`.
#[track_caller]
pub fn zeta(input: &Tensor, other: impl Into<Arg>) -> Tensor {
    input.zeta(other)
}

#[track_caller]
pub fn logsumexp(input: &Tensor, dims: impl Dims, keepdim: bool) -> Tensor {
    input.logsumexp(dims, keepdim)
}

#[track_caller]
pub fn softmax(input: &Tensor, dim: i64) -> Tensor {
    input.softmax(dim)
}

#[track_caller]
pub fn log_softmax(input: &Tensor, dim: i64) -> Tensor {
    input.log_softmax(dim)
}
