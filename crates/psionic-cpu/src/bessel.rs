//! Modified Bessel functions of the first kind, orders 0 and 1, plain and exponentially
//! scaled, in f64 (narrower dtypes round the f64 result once).

use std::f64::consts::PI;

/// Below this `|x|` the Bessel functions sum their power series (every term positive,
/// so no cancellation); above it the asymptotic expansion, whose terms shrink until the
/// `2|x|`-th and so are far below an ulp before they turn.
const SERIES_LIMIT: f64 = 25.0;

/// `e^{-|x|} I_nu(|x|)` for `nu` in {0, 1}, `|x|` given.
fn scaled_bessel_i(nu: u32, ax: f64) -> f64 {
    if ax.is_infinite() {
        return 0.0;
    }
    if ax <= SERIES_LIMIT {
        // I_nu(x) = sum_k (x/2)^(2k+nu) / (k! (k+nu)!).
        let q = ax * ax / 4.0;
        let mut term = if nu == 0 { 1.0 } else { ax / 2.0 };
        let mut sum = term;
        let mut k = 1.0;
        while term > sum * 1e-17 {
            term *= q / (k * (k + nu as f64));
            sum += term;
            k += 1.0;
        }
        return sum * (-ax).exp();
    }
    // I_nu(x) e^{-x} ~ 1/sqrt(2 pi x) sum_k (-1)^k a_k / x^k,
    // a_k = prod_{j=1..k} (4 nu^2 - (2j-1)^2) / (k! 8^k).
    let mu = 4.0 * (nu * nu) as f64;
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    let mut k = 1.0;
    loop {
        let odd = 2.0 * k - 1.0;
        let next = -term * (mu - odd * odd) / (k * 8.0 * ax);
        if next.abs() < 1e-17 * sum.abs() || next.abs() > term.abs() {
            break;
        }
        term = next;
        sum += term;
        k += 1.0;
    }
    sum / (2.0 * PI * ax).sqrt()
}

/// `I_0(x)`.
pub fn i0(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax.is_infinite() {
        return f64::INFINITY;
    }
    // e^{|x|} overflows past ~709.8 while the product does not quite yet: split it.
    let half = (ax / 2.0).exp();
    scaled_bessel_i(0, ax) * half * half
}

/// `e^{-|x|} I_0(x)`.
pub fn i0e(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    scaled_bessel_i(0, x.abs())
}

/// `I_1(x)`, odd in `x`.
pub fn i1(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax.is_infinite() {
        return x;
    }
    let half = (ax / 2.0).exp();
    (scaled_bessel_i(1, ax) * half * half).copysign(x)
}

/// `e^{-|x|} I_1(x)`, odd in `x`.
pub fn i1e(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x == 0.0 {
        return x;
    }
    scaled_bessel_i(1, x.abs()).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rtol: f64) -> bool {
        a == b || (a - b).abs() <= rtol * b.abs()
    }

    #[test]
    fn bessel_values_match_published_tables() {
        // Reference values from scipy.special (the oracle venv's pinned version).
        for (x, want_i0, want_i1) in [
            (0.0, 1.0, 0.0),
            (0.5, 1.0634833707413234, 0.25789430539089636),
            (1.0, 1.2660658777520082, 0.5651591039924851),
            (2.0, 2.279585302336067, 1.5906368546373295),
            (10.0, 2815.716628466254, 2670.988303701255),
            (24.9, 5235629675.804421, 5129395695.925742),
            (25.1, 6369018573.803502, 6240828249.8739805),
            (50.0, 2.9325537838493355e20, 2.9030785901035566e20),
            (700.0, 1.5295933476718735e302, 1.5285003902339006e302),
        ] {
            assert!(close(i0(x), want_i0, 1e-14), "i0({x}) = {} want {want_i0}", i0(x));
            assert!(close(i1(x), want_i1, 1e-14), "i1({x}) = {} want {want_i1}", i1(x));
            assert!(close(i1(-x), -want_i1, 1e-14) && close(i0(-x), want_i0, 1e-14));
            let s = (-x).exp();
            assert!(close(i0e(x), want_i0 * s, 1e-13), "i0e({x})");
            assert!(close(i1e(-x), -want_i1 * s, 1e-13), "i1e(-{x})");
        }
        assert_eq!(i0(f64::INFINITY), f64::INFINITY);
        assert_eq!(i1(f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(i0e(f64::INFINITY), 0.0);
        assert!(i0(f64::NAN).is_nan());
    }
}
