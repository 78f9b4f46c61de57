//! f32 transcendental functions written without branches or calls, so a loop over them
//! vectorises (libm's are scalar calls, which stop LLVM from vectorising the loop around
//! them). Each is within a few ulp of the exact value (`tests` measures it against f64
//! libm); f64 kernels keep libm.

/// 1.5 * 2^23: adding it rounds an f32 of magnitude below 2^22 to an integer, and the
/// integer can be read back from the low mantissa bits.
pub(crate) const ROUND: f32 = 12_582_912.0;

/// `1/k!`, the Taylor coefficients of `e^r`.
pub(crate) const EXP_TAYLOR: [f32; 8] = [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];

/// ln 2 in two parts: the first is 355/512 (9 significant bits), so its product with
/// any exponent `n` of [`exp`] is exact.
pub(crate) const LN2_HI: f32 = 0.693_359_4;
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x`. Overflows to inf past 88.72, underflows through the subnormals to 0 below
/// -103.97, and passes NaN through.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Inputs below -104 (the masked -inf of attention scores) give 0; they are computed
    // as 0 and replaced, because the scaling below would make a subnormal of each, and
    // on this CPU a product with a subnormal result is slow: a softmax over causally
    // masked rows ran at half the speed of one over unmasked rows. Capping above keeps
    // 2^n representable (the comparisons let NaN through).
    let under = x < -104.0;
    let x = if under {
        0.0
    } else if x > 88.8 {
        88.8
    } else {
        x
    };
    let t = x.mul_add(std::f32::consts::LOG2_E, ROUND);
    let n = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let nf = t - ROUND;
    // Cody-Waite reduction: ln 2 in two parts, the first exact in a product with n.
    let r = nf.mul_add(-LN2_HI, x);
    let r = nf.mul_add(-LN2_LO, r);
    // |r| <= ln2/2: the degree-7 Taylor remainder is below 5e-9 relative.
    let p = exp_poly(&EXP_TAYLOR, r);
    // 2^n in two halves so each stays a normal float while n runs over [-150, 128].
    let n1 = n >> 1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n - n1 + 127) as u32) << 23);
    if under {
        0.0
    } else {
        p * s1 * s2
    }
}

/// Where the first of erf's two polynomials ends: `t = x²` below it (|x| < 2.12, every
/// GELU input within 3 standard deviations) takes [`ERF_MID`] alone.
pub const ERF_MID_T: f32 = 4.5;

/// Monomial coefficients in `u = (t - 2.25) / 2.25` of `erf(sqrt(t)) / sqrt(t)` on `t`
/// in [0, 4.5] (from a Chebyshev interpolant; 2e-9 relative, Horner in f32 within 2 ulp).
#[allow(clippy::excessive_precision)]
const ERF_MID: [f32; 11] = [
    6.440700977e-01,
    -2.625699178e-01,
    1.300291428e-01,
    -5.818362918e-02,
    2.268815272e-02,
    -7.720675531e-03,
    2.313566297e-03,
    -6.137962979e-04,
    1.475391309e-04,
    -3.565107093e-05,
    6.997133539e-06,
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
pub(crate) const TANH_CHEB: [f32; 6] =
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

/// `c[0] + c[1] t + ... + c[7] t^7` for [`exp`]'s reduced argument, as
/// `c[0] + t (c[1] + t Q(t))` with `Q` in pairs (`Q = q23 + t² (q45 + t² q67)`). Its
/// longest chain of dependent operations is 5 long against Horner's 7, which is what
/// bounds a loop of `exp` (each vector's chain waits on the ones before it in the
/// out-of-order window). The two largest terms are added last, each in one rounding,
/// as Horner adds them: pairing them early (plain Estrin) left a third of the results
/// one ulp off.
#[inline(always)]
fn exp_poly(c: &[f32; 8], t: f32) -> f32 {
    let t2 = t * t;
    let q = t2.mul_add(t.mul_add(c[7], c[6]), t.mul_add(c[5], c[4]));
    let q = t2.mul_add(q, t.mul_add(c[3], c[2]));
    t.mul_add(t.mul_add(q, c[1]), c[0])
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

/// The error function: `x * g(x²)`, with `g` a polynomial in a rescaled `t = x²` for
/// `t <` [`ERF_MID_T`] and another up to |x| = 4, past which erf rounds to ±1 in f32.
/// Both are computed and one selected, which keeps the loop branch-free; loops whose
/// block of inputs all lie below the bound call [`erf_mid`], the first alone.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let (xc, t) = clamped_square(x);
    let mid = erf_mid_factor(t);
    let large = horner(&ERF_LARGE, (t - 9.0) * (1.0 / 7.0));
    let y = xc * if t < ERF_MID_T { mid } else { large };
    y.clamp(-1.0, 1.0)
}

/// [`erf`] of an `x` with `x² <` [`ERF_MID_T`] ([`erf_takes_mid`]): the same operations
/// on the same value, so the same bits, without the second polynomial.
#[inline(always)]
pub fn erf_mid(x: f32) -> f32 {
    let (xc, t) = clamped_square(x);
    (xc * erf_mid_factor(t)).clamp(-1.0, 1.0)
}

/// Whether [`erf_mid`] computes `erf(x)` (false for NaN).
#[inline(always)]
pub fn erf_takes_mid(x: f32) -> bool {
    clamped_square(x).1 < ERF_MID_T
}

/// erf's argument clamped to ±4 (past which it rounds to ±1), and its square.
#[inline(always)]
fn clamped_square(x: f32) -> (f32, f32) {
    let xc = x.clamp(-4.0, 4.0);
    (xc, xc * xc)
}

/// `erf(sqrt(t)) / sqrt(t)` by the first polynomial.
#[inline(always)]
fn erf_mid_factor(t: f32) -> f32 {
    split_poly(&ERF_MID, (t - 2.25) * (1.0 / 2.25))
}

/// `c[0] + c[1] u + ... + c[10] u^10` as `c[0] + u (c[1] + u (c[2] + u Q(u)))` with `Q`
/// in pairs and pairs of pairs: a chain of 6 dependent operations against Horner's 10,
/// which bound a GELU loop. The three largest terms are added last as Horner adds them,
/// which keeps it as accurate.
#[inline(always)]
fn split_poly(c: &[f32; 11], u: f32) -> f32 {
    let u2 = u * u;
    let u4 = u2 * u2;
    let low = u2.mul_add(u.mul_add(c[6], c[5]), u.mul_add(c[4], c[3]));
    let high = u2.mul_add(u.mul_add(c[10], c[9]), u.mul_add(c[8], c[7]));
    let q = u4.mul_add(high, low);
    u.mul_add(u.mul_add(u.mul_add(q, c[2]), c[1]), c[0])
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
        assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp(-104.5).to_bits(), 0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-100.0) > 0.0 && exp(-100.0) < f32::MIN_POSITIVE);
    }

    /// The share of a sweep on which `ours` is correctly rounded.
    fn rounded_share(lo: f32, hi: f32, ours: fn(f32) -> f32, exact: fn(f64) -> f64) -> f64 {
        let (mut right, mut all) = (0usize, 0usize);
        sweep(lo, hi, |x| {
            right += (ours(x) == exact(x as f64) as f32) as usize;
            all += 1;
        });
        right as f64 / all as f64
    }

    /// Guards the polynomials' evaluation order: an order that rounds more often near
    /// the result stays within the ulp bounds but leaves many more results one ulp off
    /// (plain Estrin took exp from 94% correctly rounded to 66%).
    #[test]
    fn exp_and_erf_round_correctly_as_often_as_horner_did() {
        let share = rounded_share(-87.0, 88.0, exp, f64::exp);
        assert!(share > 0.93, "exp correctly rounded on {share:.3} of the sweep");
        let share = rounded_share(-2.12, 2.12, erf, libm::erf);
        assert!(share > 0.37, "erf correctly rounded on {share:.3} of the sweep");
    }

    /// The first polynomial alone gives erf's bits wherever it is the one erf selects,
    /// out to the bound from both sides, and is never selected for NaN.
    #[test]
    fn erf_mid_is_erf_where_it_applies() {
        let mut taken = 0;
        sweep(-3.0, 3.0, |x| {
            if erf_takes_mid(x) {
                taken += 1;
                assert_eq!(erf_mid(x).to_bits(), erf(x).to_bits(), "at {x}");
            }
        });
        assert!(taken > 0 && erf_takes_mid(2.12) && !erf_takes_mid(2.13) && !erf_takes_mid(-2.13));
        assert!(!erf_takes_mid(f32::NAN));
    }

    #[test]
    fn erf_within_three_ulp() {
        // 2.8 ulp at worst, near |x| = 0.22.
        let (e, at) = worst(-6.0, 6.0, erf, libm::erf);
        assert!(e <= 3.0, "erf: {e} ulp at {at}");
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
