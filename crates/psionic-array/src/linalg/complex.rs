//! Complex matrices as pairs of real tensors, for the few places (the general
//! eigendecomposition and its gradient) where complex numbers arise before Psionic has a
//! complex dtype. Outside this module a complex tensor travels in `torch.view_as_real`'s
//! layout: a trailing dim of 2 holding `(re, im)`.

use crate::tensor::Tensor;
use psionic_core::DType;

/// `re + i im`, both real tensors of one shape.
#[derive(Clone)]
pub(crate) struct Cx {
    pub re: Tensor,
    pub im: Tensor,
}

impl Cx {
    /// From the `(re, im)` layout (`[..., 2]`).
    pub fn from_pairs(t: &Tensor) -> Cx {
        Cx { re: t.select(-1, 0), im: t.select(-1, 1) }
    }

    pub fn real(re: &Tensor) -> Cx {
        Cx { re: re.clone(), im: re.zeros_like() }
    }

    /// Conjugate transpose of the last two dims.
    pub fn mh(&self) -> Cx {
        Cx { re: self.re.mT(), im: self.im.mT().neg() }
    }

    pub fn conj(&self) -> Cx {
        Cx { re: self.re.clone(), im: self.im.neg() }
    }

    pub fn matmul(&self, o: &Cx) -> Cx {
        Cx { re: &self.re.matmul(&o.re) - &self.im.matmul(&o.im), im: &self.re.matmul(&o.im) + &self.im.matmul(&o.re) }
    }

    /// Elementwise product (broadcasting).
    pub fn mul(&self, o: &Cx) -> Cx {
        Cx { re: &(&self.re * &o.re) - &(&self.im * &o.im), im: &(&self.re * &o.im) + &(&self.im * &o.re) }
    }

    pub fn sub(&self, o: &Cx) -> Cx {
        Cx { re: &self.re - &o.re, im: &self.im - &o.im }
    }

    /// `self / o` off the diagonal of the last two dims, where `self` is nonzero; 0
    /// elsewhere. As with the real eigenvalue gaps, an unused term stays zero even when
    /// `o` (a gap between equal eigenvalues) is zero, and the masked denominators are
    /// replaced before dividing so differentiating this never meets 0 * (1/0).
    pub fn gap_divide(&self, o: &Cx) -> Cx {
        let n = self.re.shape()[self.re.dim() - 1];
        let off = Tensor::eye(n, None, DType::Bool).logical_not();
        let keep = self.re.ne(0.0).logical_or(self.im.ne(0.0)).logical_and(off);
        let (dr, di) = (Tensor::where_(&keep, &o.re, 1.0), Tensor::where_(&keep, &o.im, 0.0));
        let den = &dr.square() + &di.square();
        // (a + ib) / (c + id) = ((ac + bd) + i(bc - ad)) / (c^2 + d^2)
        let re = &(&(&self.re * &dr) + &(&self.im * &di)) / &den;
        let im = &(&(&self.im * &dr) - &(&self.re * &di)) / &den;
        Cx { re: Tensor::where_(&keep, &re, 0.0), im: Tensor::where_(&keep, &im, 0.0) }
    }

    pub fn diag_embed(&self) -> Cx {
        Cx { re: self.re.diag_embed(0, -2, -1), im: self.im.diag_embed(0, -2, -1) }
    }

    pub fn unsqueeze(&self, dim: i64) -> Cx {
        Cx { re: self.re.unsqueeze(dim), im: self.im.unsqueeze(dim) }
    }

    /// `A X = B` for square `A` (self): the real system `[[Ar, -Ai], [Ai, Ar]] [Xr; Xi] =
    /// [Br; Bi]` of twice the size, solved by the real `solve` (and differentiated by it).
    pub fn solve(&self, b: &Cx) -> Cx {
        let top = Tensor::cat(&[&self.re, &self.im.neg()], -1);
        let bottom = Tensor::cat(&[&self.im, &self.re], -1);
        let a = Tensor::cat(&[&top, &bottom], -2);
        let x = super::solve(&a, &Tensor::cat(&[&b.re, &b.im], -2), true);
        let n = b.re.shape()[b.re.dim() - 2];
        Cx { re: x.narrow(-2, 0, n), im: x.narrow(-2, n as i64, n) }
    }
}
