//! Arguments that may be a tensor or a host scalar, and dim lists.

use crate::tensor::Tensor;
use psionic_core::Scalar;

/// An operand of a binary op: a tensor, or a weakly typed host scalar (`t + 1.0` keeps
/// `t`'s float dtype, as in PyTorch).
#[derive(Clone)]
pub enum Arg {
    T(Tensor),
    S(Scalar),
}

impl From<&Tensor> for Arg {
    fn from(t: &Tensor) -> Self {
        Arg::T(t.clone())
    }
}
impl From<Tensor> for Arg {
    fn from(t: Tensor) -> Self {
        Arg::T(t)
    }
}
impl From<&&Tensor> for Arg {
    fn from(t: &&Tensor) -> Self {
        Arg::T((*t).clone())
    }
}
macro_rules! arg_from_scalar {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::S(Scalar::from(v))
            }
        }
    )*};
}
arg_from_scalar!(f64, f32, i64, i32, u8, usize, bool);

impl From<Scalar> for Arg {
    fn from(s: Scalar) -> Self {
        Arg::S(s)
    }
}

/// Sizes or dim indices as the `i64`s that shape arguments take.
pub(crate) fn dims_i64(s: &[usize]) -> Vec<i64> {
    s.iter().map(|&v| v as i64).collect()
}

/// The permutation that undoes `perm` (dims may be negative, counted from `nd`).
pub(crate) fn inverse_permutation(perm: &[i64], nd: usize) -> Vec<i64> {
    let mut inv = vec![0i64; perm.len()];
    for (i, &d) in perm.iter().enumerate() {
        inv[d.rem_euclid(nd.max(1) as i64) as usize] = i as i64;
    }
    inv
}

/// A set of dims for reductions: one dim, a list, or an array.
pub trait Dims {
    fn dims(&self) -> Vec<i64>;
}
impl Dims for i64 {
    fn dims(&self) -> Vec<i64> {
        vec![*self]
    }
}
impl Dims for &[i64] {
    fn dims(&self) -> Vec<i64> {
        self.to_vec()
    }
}
impl Dims for Vec<i64> {
    fn dims(&self) -> Vec<i64> {
        self.clone()
    }
}
impl<const N: usize> Dims for [i64; N] {
    fn dims(&self) -> Vec<i64> {
        self.to_vec()
    }
}
