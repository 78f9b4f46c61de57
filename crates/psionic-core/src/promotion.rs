//! PyTorch's type promotion.
//!
//! Two tensors promote by [`promote_types`] (the `torch.promote_types` table). An op over
//! several operands uses [`ResultTypeState`], which mirrors `torch.result_type`: operands
//! fall in three priority levels — tensors with dimensions, zero-dimensional tensors, and
//! wrapped host scalars (weakly typed). A lower level only changes the result when its
//! category (bool < integral < floating) is higher than everything above it, so
//! `f16_tensor + 1.0` stays f16, `i32_tensor + 0-d i64` stays i32 and `i32_tensor + 1.5`
//! becomes the default float dtype.

use crate::dtype::{Category, DType};

/// `torch.promote_types(a, b)`.
pub fn promote_types(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    let (ca, cb) = (a.category(), b.category());
    if ca != cb {
        return if ca > cb { a } else { b };
    }
    match ca {
        Category::Bool => Bool,
        Category::Integral => {
            // u8 is the only unsigned type: paired with a signed type it needs the next
            // signed width that holds 0..=255 as well as the other's range.
            let (s, u) = match (a, b) {
                (U8, o) | (o, U8) => (o, true),
                _ => (a, false),
            };
            if u {
                return match s {
                    I8 | I16 => I16,
                    I32 => I32,
                    _ => I64,
                };
            }
            if a.size() >= b.size() {
                a
            } else {
                b
            }
        }
        Category::Floating => match (a, b) {
            (F16, BF16) | (BF16, F16) => F32,
            _ => {
                if a.size() >= b.size() {
                    a
                } else {
                    b
                }
            }
        },
    }
}

/// Accumulates operands, then answers the result dtype, as `torch.result_type` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResultTypeState {
    dim: Option<DType>,
    zero_dim: Option<DType>,
    wrapped: Option<DType>,
}

fn fold(slot: &mut Option<DType>, d: DType) {
    *slot = Some(match *slot {
        None => d,
        Some(s) => promote_types(s, d),
    });
}

impl ResultTypeState {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tensor operand; `ndim == 0` puts it in the zero-dim level.
    pub fn tensor(mut self, dtype: DType, ndim: usize) -> Self {
        if ndim == 0 {
            fold(&mut self.zero_dim, dtype);
        } else {
            fold(&mut self.dim, dtype);
        }
        self
    }

    /// A host scalar operand. Python's float becomes the default float dtype, int becomes
    /// int64, bool stays bool: only its category matters in the end.
    pub fn scalar(mut self, dtype: DType) -> Self {
        let d = match dtype.category() {
            Category::Floating => DType::default_float(),
            Category::Integral => DType::I64,
            Category::Bool => DType::Bool,
        };
        fold(&mut self.wrapped, d);
        self
    }

    pub fn result(&self) -> DType {
        let mut out: Option<DType> = None;
        for level in [self.dim, self.zero_dim, self.wrapped].into_iter().flatten() {
            out = Some(match out {
                None => level,
                Some(o) if level.category() > o.category() => level,
                Some(o) => o,
            });
        }
        out.unwrap_or_else(DType::default_float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn table_matches_torch_promote_types() {
        // Spot values of torch.promote_types checked by hand against PyTorch 2.x.
        let cases = [
            (U8, I8, I16),
            (U8, I16, I16),
            (U8, I32, I32),
            (U8, I64, I64),
            (I8, I32, I32),
            (Bool, U8, U8),
            (Bool, F16, F16),
            (I64, F16, F16),
            (F16, BF16, F32),
            (BF16, F32, F32),
            (F32, F64, F64),
            (I32, F32, F32),
            (I64, BF16, BF16),
        ];
        for (a, b, want) in cases {
            assert_eq!(promote_types(a, b), want, "{a} {b}");
            assert_eq!(promote_types(b, a), want, "{b} {a}");
        }
    }

    #[test]
    fn weak_scalars_and_zero_dim() {
        let r = |s: ResultTypeState| s.result();
        assert_eq!(r(ResultTypeState::new().tensor(F16, 1).scalar(F64)), F16);
        assert_eq!(r(ResultTypeState::new().tensor(I32, 1).scalar(F64)), F32);
        assert_eq!(r(ResultTypeState::new().tensor(Bool, 1).scalar(I64)), I64);
        assert_eq!(r(ResultTypeState::new().tensor(U8, 1).scalar(I64)), U8);
        assert_eq!(r(ResultTypeState::new().tensor(I32, 1).tensor(I64, 0)), I32);
        assert_eq!(r(ResultTypeState::new().tensor(I32, 1).tensor(F64, 0)), F64);
        assert_eq!(r(ResultTypeState::new().tensor(F32, 1).tensor(F64, 0)), F32);
        assert_eq!(r(ResultTypeState::new().tensor(F32, 0).tensor(F64, 0)), F64);
        assert_eq!(r(ResultTypeState::new().tensor(I64, 0).scalar(F64)), F32);
    }

    proptest::proptest! {
        #[test]
        fn promotion_is_commutative_associative_and_idempotent(
            a in 0usize..10, b in 0usize..10, c in 0usize..10
        ) {
            let (a, b, c) = (DType::ALL[a], DType::ALL[b], DType::ALL[c]);
            proptest::prop_assert_eq!(promote_types(a, b), promote_types(b, a));
            proptest::prop_assert_eq!(promote_types(a, a), a);
            let p = promote_types(a, b);
            proptest::prop_assert!(p.category() >= a.category().max(b.category()));
            // Associativity holds in PyTorch's table except where u8 meets i8 then a
            // float16/bfloat16 pair; check it for the integral-and-bool lattice only.
            if !a.is_float() && !b.is_float() && !c.is_float() {
                proptest::prop_assert_eq!(
                    promote_types(promote_types(a, b), c),
                    promote_types(a, promote_types(b, c))
                );
            }
        }
    }
}
