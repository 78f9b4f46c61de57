//! PyTorch's CPU transformations from generator words to samples, per dtype: what
//! `at::uniform_real_distribution`, `normal_distribution` and the normal fill kernels do,
//! with the same roundings, so the streams match PyTorch's for the same seed.

use super::cephes_f32;
use super::generator::Engine;
use half::{bf16, f16};
use psionic_core::DType;

/// Rounds an f32 to `dt`'s precision (f16/bf16 round to nearest even; others unchanged).
pub fn round(dt: DType, x: f32) -> f32 {
    match dt {
        DType::F16 => f16::from_f32(x).to_f32(),
        DType::BF16 => bf16::from_f32(x).to_f32(),
        _ => x,
    }
}

/// A double narrowed to `dt` as C++ narrows it (through float for the 16-bit types).
pub fn narrow(dt: DType, x: f64) -> f64 {
    match dt {
        DType::F64 => x,
        _ => round(dt, x as f32) as f64,
    }
}

/// One `uniform_(from, to)` draw for floating `dt`, as f64 holding the dtype's value.
/// Doubles take 64 bits (53 used); the others take 32 (24 used) and draw in f32, the
/// 16-bit types rounding the f32 sample once. The scaling is a fused multiply-add.
pub fn uniform(e: &mut Engine, dt: DType, from: f64, to: f64) -> f64 {
    if dt == DType::F64 {
        let x = (e.u64() & ((1u64 << 53) - 1)) as f64 / (1u64 << 53) as f64;
        return x.mul_add(to - from, from);
    }
    let x = (e.u32() & ((1u32 << 24) - 1)) as f32 / (1u32 << 24) as f32;
    let (lo, hi) = (from as f32, to as f32);
    round(dt, x.mul_add(hi - lo, lo)) as f64
}

/// One `normal_distribution<double>` draw: Box–Muller on two doubles, the second value
/// cached in the generator and served by the next call.
pub fn normal_f64(e: &mut Engine, mean: f64, std: f64) -> f64 {
    if let Some(v) = e.next_double_normal.take() {
        return v * std + mean;
    }
    let u1 = uniform(e, DType::F64, 0.0, 1.0);
    let u2 = uniform(e, DType::F64, 0.0, 1.0);
    let r = (-2.0 * (-u2).ln_1p()).sqrt();
    let theta = 2.0 * std::f64::consts::PI * u1;
    e.next_double_normal = Some(r * theta.sin());
    r * theta.cos() * std + mean
}

/// PyTorch's vectorised normal fill for a contiguous tensor of at least 16 elements:
/// uniforms for every element, Box–Muller on blocks of 16 (first half paired with the
/// second), and the last 16 redrawn and transformed again when the size is not a multiple
/// of 16. The 16-bit types run the f32 kernel and round its results once; their first
/// pass draws uniforms for the whole blocks only.
pub fn normal_fill(e: &mut Engine, dt: DType, n: usize, mean: f64, std: f64) -> Vec<f64> {
    debug_assert!(n >= 16);
    let (wide, head) = match dt {
        DType::F64 => (DType::F64, n),
        DType::F32 => (DType::F32, n),
        _ => (DType::F32, n - n % 16),
    };
    let mut data: Vec<f64> = (0..head).map(|_| uniform(e, wide, 0.0, 1.0)).collect();
    data.resize(n, 0.0);
    // Under the CPU's FMA unit: without it every `mul_add` here is a software fma call.
    // The results are the same bits either way (an fma is exact).
    psionic_cpu::simd::dispatch(
        #[inline(always)]
        || {
            for start in (0..n - 15).step_by(16) {
                block16(&mut data[start..start + 16], wide, mean, std);
            }
        },
    );
    if !n.is_multiple_of(16) {
        let tail = &mut data[n - 16..];
        for v in tail.iter_mut() {
            *v = uniform(e, wide, 0.0, 1.0);
        }
        block16(tail, wide, mean, std);
    }
    if dt != wide {
        data.iter_mut().for_each(|v| *v = round(dt, *v as f32) as f64);
    }
    data
}

#[inline(always)]
fn block16(d: &mut [f64], dt: DType, mean: f64, std: f64) {
    for j in 0..8 {
        let (a, b) = (d[j], d[j + 8]);
        let (x, y) = if dt == DType::F64 {
            let radius = (-2.0 * (1.0 - a).ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * b;
            ((radius * theta.cos()).mul_add(std, mean), (radius * theta.sin()).mul_add(std, mean))
        } else {
            // The AVX2 kernel: Cephes log and sincos, fused multiply-add at the end.
            let (u1, u2) = (1.0 - a as f32, b as f32);
            let radius = (-2.0 * cephes_f32::log(u1)).sqrt();
            let theta = (2.0 * std::f64::consts::PI) as f32 * u2;
            let (s, c) = cephes_f32::sincos(theta);
            let (m, sd) = (mean as f32, std as f32);
            ((radius * c).mul_add(sd, m) as f64, (radius * s).mul_add(sd, m) as f64)
        };
        d[j] = x;
        d[j + 8] = y;
    }
}
