//! f32 transcendental functions written without branches or calls, so a loop over them
//! vectorises (libm's are scalar calls, which stop LLVM from vectorising the loop around
//! them). Each is within a few ulp of the exact value (`tests` measures it against f64
//! libm); f64 kernels keep libm.

/// 1.5 * 2^23: adding it rounds an f32 of magnitude below 2^22 to an integer, and the
/// integer can be read back from the low mantissa bits.
const ROUND: f32 = 12_582_912.0;

/// `1/k!`, the Taylor coefficients of `e^r`.
const EXP_TAYLOR: [f32; 8] = [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];

/// `e^x`. Overflows to inf past 88.72, underflows through the subnormals to 0 below
/// -103.97, and passes NaN through.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Clamping keeps 2^n representable below (NaN passes through clamp unchanged).
    let x = x.clamp(-104.0, 88.8);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let nf = t - ROUND;
    // Cody-Waite reduction: ln 2 in two parts, the first exact in a product with n.
    let r = x - nf * 0.693_359_4 - nf * -2.121_944_4e-4;
    // |r| <= ln2/2: the degree-7 Taylor remainder is below 5e-9 relative.
    let p = horner(&EXP_TAYLOR, r);
    // 2^n in two halves so each stays a normal float while n runs over [-150, 128].
    let n1 = n >> 1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n - n1 + 127) as u32) << 23);
    p * s1 * s2
}

/// Monomial coefficients of `erf(sqrt(t)) / sqrt(t)` on `t` in [0, 2] (4e-10 relative).
#[allow(clippy::excessive_precision)]
const ERF_SMALL: [f32; 9] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    -3.761263663e-01,
    1.128376097e-01,
    -2.686456640e-02,
    5.219752562e-03,
    -8.485205147e-04,
    1.149177260e-04,
    -1.189168868e-05,
    6.910609998e-07,
];

/// Monomial coefficients in `u = (t - 9) / 7` of `erf(sqrt(t)) / sqrt(t)` on `t` in
/// [2, 16] (from a Chebyshev interpolant; 1e-8 relative, Horner in f32 within 3 ulp).
#[allow(clippy::excessive_precision)]
const ERF_LARGE: [f32; 16] = [
    3.333259692e-01,
    -1.295726118e-01,
    7.539457149e-02,
    -4.842456903e-02,
    3.217982715e-02,
    -2.144297463e-02,
    1.403873901e-02,
    -8.869692000e-03,
    5.302151753e-03,
    -3.055562840e-03,
    1.785493670e-03,
    -8.977296626e-04,
    2.846478140e-04,
    -1.434499316e-04,
    1.552152872e-04,
    -6.002973532e-05,
];

/// Chebyshev coefficients of `tanh(sqrt(t)) / sqrt(t)` on `t` in [0, 0.3025] (1e-9).
#[allow(clippy::excessive_precision)]
const TANH_CHEB: [f32; 6] =
    [9.537369147e-01, -4.494464295e-02, 1.280390385e-03, -3.695235380e-05, 1.067871305e-06, -3.083885156e-08];

/// `c[0] + c[1] t + c[2] t² + ...`
#[inline(always)]
fn horner<const N: usize>(c: &[f32; N], t: f32) -> f32 {
    let mut p = c[N - 1];
    for k in (0..N - 1).rev() {
        p = t.mul_add(p, c[k]);
    }
    p
}

/// Clenshaw's sum of `c[k] T_k(u)`: stable in f32, unlike the same polynomial in monomials.
#[inline(always)]
fn chebyshev<const N: usize>(c: &[f32; N], u: f32) -> f32 {
    let (mut b1, mut b2) = (0.0f32, 0.0f32);
    let u2 = u + u;
    for k in (1..N).rev() {
        let b0 = u2.mul_add(b1, c[k] - b2);
        b2 = b1;
        b1 = b0;
    }
    u.mul_add(b1, c[0] - b2)
}

/// The error function: `x * g(x²)`, with `g` a polynomial in `t = x²` for |x| < √2 and one in a
/// rescaled `t` up to |x| = 4, past which erf rounds to ±1
/// in f32. Both are computed and one selected, which keeps the loop branch-free.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let xc = x.clamp(-4.0, 4.0);
    let t = xc * xc;
    let small = horner(&ERF_SMALL, t);
    let large = horner(&ERF_LARGE, (t - 9.0) * (1.0 / 7.0));
    let y = xc * if t < 2.0 { small } else { large };
    y.clamp(-1.0, 1.0)
}

/// Hyperbolic tangent: a series near 0 (where `1 - e` would cancel), `(1-e)/(1+e)` with
/// `e = exp(-2|x|)` elsewhere.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let small = x * chebyshev(&TANH_CHEB, (x * x) * (2.0 / 0.3025) - 1.0);
    let e = exp(-2.0 * a);
    let big = (1.0 - e) / (1.0 + e);
    let big = if x < 0.0 { -big } else { big };
    if a < 0.55 {
        small
    } else if a >= 0.55 {
        big
    } else {
        x // NaN
    }
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in representable f32 values between `got` and the exact `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        if got as f64 == want || (got.is_nan() && want.is_nan()) {
            return 0.0;
        }
        let w = want as f32;
        if w.is_infinite() {
            return if got == w { 0.0 } else { f64::INFINITY };
        }
        let step = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        ((got as f64 - want) / step).abs()
    }

    /// Every 97th f32 in `[lo, hi]` plus the edges.
    fn sweep(lo: f32, hi: f32, mut f: impl FnMut(f32)) {
        let mut x = lo;
        while x <= hi {
            f(x);
            let b = x.to_bits();
            x = if x < 0.0 {
                if b <= 0x8000_0061 {
                    0.0
                } else {
                    f32::from_bits(b - 97)
                }
            } else {
                f32::from_bits(b + 97)
            };
        }
        f(hi);
    }

    fn worst(lo: f32, hi: f32, ours: fn(f32) -> f32, exact: fn(f64) -> f64) -> (f64, f32) {
        let mut w = (0.0, 0.0);
        sweep(lo, hi, |x| {
            let e = ulps(ours(x), exact(x as f64));
            if e > w.0 {
                w = (e, x);
            }
        });
        w
    }

    #[test]
    fn exp_within_two_ulp() {
        let (e, at) = worst(-110.0, 90.0, exp, f64::exp);
        assert!(e <= 2.0, "exp: {e} ulp at {at}");
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-100.0) > 0.0 && exp(-100.0) < f32::MIN_POSITIVE);
    }

    #[test]
    fn erf_within_four_ulp() {
        // 4.1 ulp at worst, near |x| = 1.47, just past where the second polynomial takes over.
        let (e, at) = worst(-6.0, 6.0, erf, libm::erf);
        assert!(e <= 4.5, "erf: {e} ulp at {at}");
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf(0.0), 0.0);
        assert!(erf(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_within_four_ulp() {
        let (e, at) = worst(-12.0, 12.0, tanh, f64::tanh);
        assert!(e <= 4.0, "tanh: {e} ulp at {at}");
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_within_four_ulp() {
        let (e, at) = worst(-87.0, 30.0, sigmoid, |x| 1.0 / (1.0 + (-x).exp()));
        assert!(e <= 4.0, "sigmoid: {e} ulp at {at}");
    }
}
