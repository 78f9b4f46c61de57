//! Special functions that neither std nor libm provide: erfinv, and the scaled
//! complementary error function and normal distribution functions built on libm's erfc.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Inverse error function, f64. A rational first guess (Giles, "Approximating the erfinv
/// function", 2010) refined by two Newton steps on erf, which brings it to within a few
/// ulp over the whole domain.
// Coefficients are kept at the digits the published table gives.
#[allow(clippy::excessive_precision)]
pub fn erfinv(y: f64) -> f64 {
    if y.is_nan() || !(-1.0..=1.0).contains(&y) {
        return f64::NAN;
    }
    if y == 1.0 {
        return f64::INFINITY;
    }
    if y == -1.0 {
        return f64::NEG_INFINITY;
    }
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let mut x = if w < 6.25 {
        let w = w - 3.125;
        let mut p = -3.6444120640178196996e-21;
        for c in [
            -1.685059138182016589e-19,
            1.2858480715256400167e-18,
            1.115787767802518096e-17,
            -1.333171662854620906e-16,
            2.0972767875968561637e-17,
            6.6376381343583238325e-15,
            -4.0545662729752068639e-14,
            -8.1519341976054721522e-14,
            2.6335093153082322977e-12,
            -1.2975133253453532498e-11,
            -5.4154120542946279317e-11,
            1.051212273321532285e-09,
            -4.1126339803469836976e-09,
            -2.9070369957882005086e-08,
            4.2347877827932403518e-07,
            -1.3654692000834678645e-06,
            -1.3882523362786468719e-05,
            0.0001867342080340571352,
            -0.00074070253416626697512,
            -0.0060336708714301490533,
            0.24015818242558961693,
            1.6536545626831027356,
        ] {
            p = c + p * w;
        }
        p * y
    } else if w < 16.0 {
        let w = w.sqrt() - 3.25;
        let mut p = 2.2137376921775787049e-09;
        for c in [
            9.0756561938885390979e-08,
            -2.7517406297064545428e-07,
            1.8239629214389227755e-08,
            1.5027403968909827627e-06,
            -4.013867526981545969e-06,
            2.9234449089955446044e-06,
            1.2475304481671778723e-05,
            -4.7318229009055733981e-05,
            6.8284851459573175448e-05,
            2.4031110387097893999e-05,
            -0.0003550375203628474796,
            0.00095328937973738049703,
            -0.0016882755560235047313,
            0.0024914420961078508066,
            -0.0037512085075692412107,
            0.005370914553590063617,
            1.0052589676941592334,
            3.0838856104922207635,
        ] {
            p = c + p * w;
        }
        p * y
    } else {
        let w = w.sqrt() - 5.0;
        let mut p = -2.7109920616438573243e-11;
        for c in [
            -2.5556418169965252055e-10,
            1.5076572693500548083e-09,
            -3.7894654401267369937e-09,
            7.6157012080783393804e-09,
            -1.4960026627149240478e-08,
            2.9147953450901080826e-08,
            -6.7711997758452339498e-08,
            2.2900482228026654717e-07,
            -9.9298272942317002539e-07,
            4.5260625972231537039e-06,
            -1.9681778105531670567e-05,
            7.5995277030017761139e-05,
            -0.00021503011930044477347,
            -0.00013871931833623122026,
            1.0103004648645343977,
            4.8499064014085844221,
        ] {
            p = c + p * w;
        }
        p * y
    };
    // Newton on f(x) = erf(x) - y, f'(x) = 2/sqrt(pi) exp(-x^2).
    for _ in 0..2 {
        let err = libm::erf(x) - y;
        x -= err / (std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp());
    }
    x
}

/// `exp(x^2)` without the rounding of `x * x` magnified by the exponent: the square is
/// split into its rounded value and the exact remainder (by FMA).
fn exp_square(x: f64) -> f64 {
    let hi = x * x;
    let lo = x.mul_add(x, -hi);
    hi.exp() * (1.0 + lo)
}

/// The scaled complementary error function `exp(x^2) erfc(x)`.
pub fn erfcx(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 10.0 {
        if x < -26.7 {
            return f64::INFINITY;
        }
        return exp_square(x) * libm::erfc(x);
    }
    if x.is_infinite() {
        return 0.0;
    }
    // erfcx(x) ~ 1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k; at x >= 10 the terms
    // shrink for a hundred steps, far past an ulp.
    let r = 1.0 / (2.0 * x * x);
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    let mut k = 1.0;
    while term.abs() > 1e-17 {
        term *= -(2.0 * k - 1.0) * r;
        sum += term;
        k += 1.0;
    }
    sum / (x * PI.sqrt())
}

/// The standard normal CDF in the lower half, `erfc(-x / sqrt 2) / 2`, accurate to
/// relative precision however small.
fn ndtr(x: f64) -> f64 {
    0.5 * libm::erfc(-x * FRAC_1_SQRT_2)
}

/// The inverse of the standard normal CDF (`torch.special.ndtri`): a first guess from
/// Abramowitz and Stegun 26.2.23 (within 4.5e-4) refined by Halley steps on the CDF,
/// always in the lower tail (the upper by symmetry, `1 - p` being exact there), where
/// the CDF keeps full relative precision.
pub fn ndtri(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return -ndtri(1.0 - p);
    }
    let t = (-2.0 * p.ln()).sqrt();
    let mut x = -(t
        - (2.515517 + 0.802853 * t + 0.010328 * t * t)
            / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t));
    for _ in 0..4 {
        let density = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
        if density == 0.0 {
            break;
        }
        let u = (ndtr(x) - p) / density;
        x -= u / (1.0 + 0.5 * x * u);
    }
    x
}

/// `ln Φ(x)` (`torch.special.log_ndtr`): through `erfcx` in the lower tail, where Φ
/// itself underflows, and `log1p` of the upper tail's complement above 0.
pub fn log_ndtr(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 0.0 {
        return (-0.5 * libm::erfc(x * FRAC_1_SQRT_2)).ln_1p();
    }
    if x > -1.0 {
        return ndtr(x).ln();
    }
    (0.5 * erfcx(-x * FRAC_1_SQRT_2)).ln() - 0.5 * x * x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rtol: f64) -> bool {
        a == b || (a - b).abs() <= rtol * b.abs()
    }

    #[test]
    fn erfinv_inverts_erf() {
        for i in -999..=999 {
            let y = i as f64 / 1000.0;
            let x = erfinv(y);
            assert!((libm::erf(x) - y).abs() < 1e-15, "y={y} x={x}");
        }
        assert_eq!(erfinv(0.0), 0.0);
        assert!(erfinv(1.5).is_nan());
        assert_eq!(erfinv(-1.0), f64::NEG_INFINITY);
    }

    // Reference values from scipy.special.
    #[test]
    fn erfcx_is_continuous_and_matches_its_definition() {
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 0.427583576155807),
            (-1.0, 5.008980080762283),
            (5.0, 0.11070463773306861),
            (9.999, 0.05614655260396594),
            (10.001, 0.05613543397942035),
            (30.0, 0.018795888861416754),
            (1e10, 5.641895835477563e-11),
            (-26.0, 7.657724931490568e293),
        ] {
            assert!(close(erfcx(x), want, 1e-13), "erfcx({x}) = {} want {want}", erfcx(x));
        }
        assert_eq!(erfcx(-30.0), f64::INFINITY);
        assert_eq!(erfcx(f64::INFINITY), 0.0);
    }

    #[test]
    fn ndtri_inverts_the_cdf_into_both_tails() {
        for (p, want) in [
            (0.5, 0.0),
            (0.975, 1.959963984540054),
            (0.025, -1.959963984540054),
            (1e-10, -6.361340902404056),
            (1e-300, -37.0470962993612),
            (1.0 - 1e-10, 6.361340889697422),
        ] {
            assert!(
                close(ndtri(p), want, 1e-12) || (want == 0.0 && ndtri(p).abs() < 1e-16),
                "ndtri({p}) = {}",
                ndtri(p)
            );
        }
        // The lower tail, where the CDF's value carries full relative precision (above
        // it, p near 1 holds too few digits of x to round-trip).
        for k in 1..110 {
            let x = -9.0 + k as f64 * 0.09;
            assert!((ndtri(ndtr(x)) - x).abs() <= 1e-12 * x.abs().max(1e-3), "round trip at {x}");
        }
        assert_eq!(ndtri(0.0), f64::NEG_INFINITY);
        assert_eq!(ndtri(1.0), f64::INFINITY);
        assert!(ndtri(1.5).is_nan() && ndtri(-0.1).is_nan());
    }

    #[test]
    fn log_ndtr_keeps_both_tails() {
        for (x, want) in [
            (0.0, -std::f64::consts::LN_2),
            (1.0, -0.1727537790234499),
            (-0.5, -1.1759117615936188),
            (-1.0, -1.8410216450092634),
            (-10.0, -53.23128515051248),
            (-40.0, -804.6084420137539),
            (10.0, -7.61985302416047e-24),
        ] {
            assert!(close(log_ndtr(x), want, 1e-13), "log_ndtr({x}) = {} want {want}", log_ndtr(x));
        }
        assert_eq!(log_ndtr(f64::INFINITY), 0.0);
        assert_eq!(log_ndtr(f64::NEG_INFINITY), f64::NEG_INFINITY);
    }
}
