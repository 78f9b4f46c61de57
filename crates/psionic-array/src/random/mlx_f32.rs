//! The single-precision exp, erf and erfinv that MLX's CPU backend evaluates (one lane at
//! a time on x86-64), so that key-based samples built on them (normal, truncated normal,
//! categorical) equal MLX's bit for bit. `log` is the C library's there and here. Constants are spelled as in MLX's source.
#![allow(clippy::excessive_precision, clippy::approx_constant)]

/// MLX's exp: 2^(x·log2 e) split into an integer power (exponent bits) and a Cephes
/// polynomial for the fraction; overflow to inf above 88, zero below -88.
pub fn exp(x0: f32) -> f32 {
    let x = x0 * 1.442695;
    let ipart = (x + 0.5).floor();
    let f = x - ipart;
    let mut p = 1.535336188319500e-4f32;
    for c in [
        1.339887440266574e-3,
        9.618437357674640e-3,
        5.550332471162809e-2,
        2.402264791363012e-1,
        6.931472028550421e-1,
        1.0f32,
    ] {
        p = p.mul_add(f, c);
    }
    let e = ((ipart as i32).wrapping_add(127) as u32).wrapping_shl(23);
    let r = if x0.is_nan() { x0 } else { f32::from_bits(e) * p };
    if x0 > 88.0 {
        f32::INFINITY
    } else if x0 < -88.0 {
        0.0
    } else {
        r
    }
}

/// MLX's erf: Abramowitz–Stegun 7.1.26 with fused steps and its own exp.
pub fn erf(x: f32) -> f32 {
    let t = 1.0 / 0.3275911f32.mul_add(x.abs(), 1.0);
    let mut r = 1.061405429f32.mul_add(t, -1.453152027);
    r = r.mul_add(t, 1.421413741);
    r = r.mul_add(t, -0.284496736);
    r = r.mul_add(t, 0.254829592);
    let e = -exp(-x * x);
    let res = (e * t).mul_add(r, 1.0);
    if x > 0.0 {
        res
    } else {
        -res
    }
}

/// MLX's erfinv: Giles' single-precision approximation on `log(1 - a²)`.
pub fn erfinv(a: f32) -> f32 {
    let t = a.mul_add(0.0 - a, 1.0).ln();
    let horner = |cs: &[f32]| cs[1..].iter().fold(cs[0], |p, &c| p.mul_add(t, c));
    let p = if t.abs() > 6.125 {
        horner(&[
            3.03697567e-10,
            2.93243101e-8,
            1.22150334e-6,
            2.84108955e-5,
            3.93552968e-4,
            3.02698812e-3,
            4.83185798e-3,
            -2.64646143e-1,
            8.40016484e-1,
        ])
    } else {
        horner(&[
            5.43877832e-9,
            1.43285448e-7,
            1.22774793e-6,
            1.12963626e-7,
            -5.61530760e-5,
            -1.47697632e-4,
            2.31468678e-3,
            1.15392581e-2,
            -2.32015476e-1,
            8.86226892e-1,
        ])
    };
    a * p
}
