//! Single-precision log and sincos as PyTorch's AVX2 normal sampler evaluates them (the
//! Cephes polynomials of the `avx_mathfun` kernels), lane by lane, so `randn` in f32
//! reproduces PyTorch's values bit for bit. The products that the compiler fuses with the
//! following addition in PyTorch's build are fused here (`mul_add`); the others round.
#![allow(clippy::excessive_precision, clippy::approx_constant)]

// The constants as the C source spells them, rounded to f32 by the compiler.
const SQRTHF: f32 = 0.707106781186547524;
const LOG_P: [f32; 9] = [
    7.0376836292E-2,
    -1.1514610310E-1,
    1.1676998740E-1,
    -1.2420140846E-1,
    1.4249322787E-1,
    -1.6668057665E-1,
    2.0000714765E-1,
    -2.4999993993E-1,
    3.3333331174E-1,
];
const LOG_Q1: f32 = -2.12194440e-4;
const LOG_Q2: f32 = 0.693359375;

/// Natural log of a positive, normal or subnormal `x` (NaN for `x <= 0`).
#[inline(always)]
pub fn log(x: f32) -> f32 {
    if x <= 0.0 || x.is_nan() {
        return f32::NAN;
    }
    // Subnormals are clamped to the smallest normal, as the vector kernel does.
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 0x7f) as f32 + 1.0;
    // Mantissa in [0.5, 1).
    let mut m = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
    let small = m < SQRTHF;
    let tmp = if small { m } else { 0.0 };
    m -= 1.0;
    if small {
        e -= 1.0;
    }
    m += tmp;
    let z = m * m;
    let mut y = LOG_P[0];
    for p in &LOG_P[1..] {
        y = y.mul_add(m, *p);
    }
    y *= m;
    y = y.mul_add(z, e * LOG_Q1);
    y = (-z).mul_add(0.5, y);
    e.mul_add(LOG_Q2, m + y)
}

const FOPI: f32 = 1.27323954473516;
const DP: [f32; 3] = [-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8];
const COS_P: [f32; 3] = [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002];
const SIN_P: [f32; 3] = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1];

/// `(sin x, cos x)` for moderate `|x|` (the sampler's angles lie in [0, 2π)).
#[inline(always)]
pub fn sincos(x: f32) -> (f32, f32) {
    let sign_in = x.is_sign_negative();
    let mut x = x.abs();
    let mut j = (x * FOPI) as i32;
    j = (j + 1) & !1;
    let y = j as f32;
    let swap_sin = j & 4 != 0;
    let poly_sin_is_cos = j & 2 == 0;
    for dp in DP {
        x = y.mul_add(dp, x);
    }
    let sign_cos = (!(j - 2)) & 4 != 0;
    let z = x * x;
    let mut c = COS_P[0].mul_add(z, COS_P[1]);
    c = c.mul_add(z, COS_P[2]);
    c *= z;
    c = c.mul_add(z, -(z * 0.5));
    c += 1.0;
    let mut s = SIN_P[0].mul_add(z, SIN_P[1]);
    s = s.mul_add(z, SIN_P[2]);
    s *= z;
    s = s.mul_add(x, x);
    // poly_mask set: sine takes the odd polynomial, cosine the even one.
    let (sv, cv) = if poly_sin_is_cos { (s, c) } else { (c, s) };
    let sin = if sign_in ^ swap_sin { -sv } else { sv };
    let cos = if sign_cos { -cv } else { cv };
    (sin, cos)
}
