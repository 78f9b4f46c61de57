//! The gamma family: `lgamma` (libm's), the digamma function, the Hurwitz zeta function
//! and the polygamma functions built on it, in f64, with PyTorch's values at the poles.

use num_traits::Float;
use std::f64::consts::PI;

/// `ln |Γ(x)|`: libm's (the musl algorithm); `inf` at 0 and the negative integers.
pub fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// `ψ(x) = Γ'(x) / Γ(x)`. Below 10 the recurrence `ψ(x) = ψ(x + 1) - 1/x` lifts the
/// argument; from 10 on the asymptotic series `ln x - 1/(2x) - Σ B₂ₖ / (2k x²ᵏ)`
/// (seven terms: under 1e-18 there). Negative arguments use the reflection
/// `ψ(x) = ψ(1 - x) - π / tan(πx)`. Poles as PyTorch gives them: `∓inf` at `±0`, NaN at
/// the negative integers.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x == 0.0 {
        return if x.is_sign_negative() { f64::INFINITY } else { f64::NEG_INFINITY };
    }
    if x < 0.0 {
        if x == x.trunc() {
            return f64::NAN;
        }
        // tan(πx) of the fractional part keeps the argument small.
        return digamma(1.0 - x) - PI / (PI * (x - x.floor())).tan();
    }
    let (mut x, mut acc) = (x, 0.0);
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let z = 1.0 / (x * x);
    // B₂ₖ / 2k for k = 1..7, highest first (Horner in 1/x²).
    let series = z
        * (1.0 / 12.0
            - z * (1.0 / 120.0
                - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0 - z * (691.0 / 32760.0 - z / 12.0))))));
    acc + x.ln() - 0.5 / x - series
}

/// `B₂ⱼ / (2j)!` for j = 1..10: the Euler-Maclaurin coefficients of [`zeta`].
const EM: [f64; 10] = [
    1.0 / 12.0,
    -1.0 / 720.0,
    1.0 / 30_240.0,
    -1.0 / 1_209_600.0,
    1.0 / 47_900_160.0,
    -691.0 / 1_307_674_368_000.0,
    1.0 / 74_724_249_600.0,
    -3617.0 / 10_670_622_842_880_000.0,
    43_867.0 / 5_109_094_217_170_944_000.0,
    -174_611.0 / 802_857_662_698_291_200_000.0,
];

/// The Hurwitz zeta function `ζ(s, q) = Σₖ (q + k)^-s` for `s > 1`: the terms up to where
/// `q + N` reaches 10, then the Euler-Maclaurin tail at `a = q + N`:
/// `a^(1-s) / (s-1) + a^-s / 2 + Σⱼ B₂ⱼ/(2j)! s(s+1)...(s+2j-2) a^(-s-2j+1)`.
/// As Cephes (and so PyTorch) define it off that domain: `inf` at `s = 1` and at the
/// non-positive integers `q`, NaN for `s < 1` and for `q < 0` with a non-integer `s`.
pub fn zeta(s: f64, q: f64) -> f64 {
    if s.is_nan() || q.is_nan() {
        return f64::NAN;
    }
    if s == 1.0 {
        return f64::INFINITY;
    }
    if s < 1.0 {
        return f64::NAN;
    }
    if q <= 0.0 {
        if q == q.floor() {
            return f64::INFINITY;
        }
        if s != s.floor() {
            return f64::NAN;
        }
    }
    let (mut a, mut sum) = (q, 0.0);
    while a < 10.0 {
        sum += a.powf(-s);
        a += 1.0;
    }
    let a2 = a * a;
    sum += a.powf(1.0 - s) / (s - 1.0) + 0.5 * a.powf(-s);
    // s (s+1) ... (s+2j-2) a^(-s-2j+1), for j = 1 first.
    let mut t = s * a.powf(-s - 1.0);
    for (j, c) in EM.iter().enumerate() {
        let term = c * t;
        sum += term;
        if term.abs() <= 1e-17 * sum.abs() {
            break;
        }
        let k = 2.0 * j as f64;
        t *= (s + k + 1.0) * (s + k + 2.0) / a2;
    }
    sum
}

/// `ψ'(x)` computed as PyTorch's CPU kernel computes it, in the element's own precision:
/// the reflection `ψ'(1 - x) + ψ'(x) = π² / sin²(πx)` below 1/2, six steps of the
/// recurrence `ψ'(x) = ψ'(x + 1) + 1/x²`, then the asymptotic series through the `x⁻⁷`
/// term. That truncation (up to 5e-10 relative in f64) and the f32 reflection's rounding
/// (2e-5 relative a twentieth from a pole) are PyTorch's values, which `polygamma(1, x)`
/// and digamma's gradient keep so that results agree with it; higher orders go through
/// the Hurwitz zeta function, as PyTorch's do.
pub fn trigamma<F: Float>(x: F) -> F {
    let k = |v: f64| F::from(v).unwrap();
    let (one, pi) = (F::one(), k(PI));
    let (mut x, mut sign, mut result) = (x, one, F::zero());
    if x < k(0.5) {
        sign = -one;
        let s = (pi * x).sin();
        result = result - pi * pi / (s * s);
        x = one - x;
    }
    for _ in 0..6 {
        result = result + one / (x * x);
        x = x + one;
    }
    let ixx = one / (x * x);
    let tail = one + one / (k(2.0) * x) + ixx * (k(1.0 / 6.0) - ixx * (k(1.0 / 30.0) - ixx * k(1.0 / 42.0)));
    sign * (result + tail / x)
}

/// `ψ⁽ⁿ⁾(x)`, the n-th derivative of digamma: `digamma` for `n = 0`, [`trigamma`] for 1,
/// else `(-1)^(n+1) n! ζ(n + 1, x)`.
pub fn polygamma(n: u32, x: f64) -> f64 {
    if n == 0 {
        return digamma(x);
    }
    if n == 1 {
        return trigamma(x);
    }
    let factorial: f64 = (1..=n).map(f64::from).product();
    let sign = if n % 2 == 1 { 1.0 } else { -1.0 };
    sign * factorial * zeta(f64::from(n) + 1.0, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, what: &str) {
        assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "{what}: {got} vs {want}");
    }

    /// Values in closed form: ψ(1) = -γ, ψ(1/2) = -γ - 2 ln 2, ψ'(1) = π²/6,
    /// ψ'(1/2) = π²/2, ψ''(1) = -2ζ(3), ψ'''(1) = π⁴/15, ln Γ(1/2) = ln √π.
    #[test]
    fn closed_forms() {
        let euler = 0.577_215_664_901_532_9;
        close(digamma(1.0), -euler, "digamma(1)");
        close(digamma(0.5), -euler - 2.0 * std::f64::consts::LN_2, "digamma(1/2)");
        close(digamma(-0.5), digamma(1.5) - PI / (-0.5 * PI).tan(), "digamma(-1/2)");
        // Within PyTorch's truncation of the trigamma series.
        let near = |got: f64, want: f64| assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
        near(polygamma(1, 1.0), PI * PI / 6.0);
        near(polygamma(1, 0.5), PI * PI / 2.0);
        close(polygamma(2, 1.0), -2.0 * 1.202_056_903_159_594_3, "polygamma(2, 1)");
        close(polygamma(3, 1.0), PI.powi(4) / 15.0, "polygamma(3, 1)");
        close(zeta(2.0, 1.0), PI * PI / 6.0, "zeta(2, 1)");
        close(zeta(4.0, 1.0), PI.powi(4) / 90.0, "zeta(4, 1)");
        close(lgamma(0.5), 0.5 * PI.ln(), "lgamma(1/2)");
        close(lgamma(-0.5), (2.0 * PI.sqrt()).ln(), "lgamma(-1/2)");
    }

    /// The recurrences hold everywhere off the poles, negative arguments included:
    /// `ψ⁽ⁿ⁾(x + 1) - ψ⁽ⁿ⁾(x) = (-1)ⁿ n! / x^(n+1)`.
    #[test]
    fn recurrences() {
        for i in -60..60 {
            let x = i as f64 * 0.37 + 0.011;
            for n in 0..4u32 {
                let f: f64 = (1..=n).map(f64::from).product();
                let step = if n % 2 == 0 { 1.0 } else { -1.0 } * f / x.powi(n as i32 + 1);
                let (a, b) = (polygamma(n, x + 1.0), polygamma(n, x));
                // Trigamma carries PyTorch's series truncation (`trigamma`).
                let tol = if n == 1 { 1e-9 } else { 1e-11 };
                assert!(
                    ((a - b) - step).abs() <= tol * (a.abs() + b.abs() + step.abs()),
                    "n={n} x={x}: {a} - {b} vs {step}"
                );
            }
        }
    }

    #[test]
    fn poles_follow_pytorch() {
        assert_eq!(digamma(0.0), f64::NEG_INFINITY);
        assert_eq!(digamma(-0.0), f64::INFINITY);
        assert!(digamma(-2.0).is_nan() && digamma(f64::NAN).is_nan());
        assert_eq!(digamma(f64::INFINITY), f64::INFINITY);
        assert_eq!(lgamma(0.0), f64::INFINITY);
        assert_eq!(lgamma(-3.0), f64::INFINITY);
        assert_eq!(polygamma(1, 0.0), f64::INFINITY);
        assert_eq!(polygamma(2, -1.0), -f64::INFINITY);
        assert!(zeta(0.5, 1.0).is_nan() && zeta(2.5, -0.5).is_nan());
        assert_eq!(zeta(1.0, 2.0), f64::INFINITY);
    }
}
