//! The machine's f32 peak on one core: the rate of independent fused multiply-adds on the
//! widest vectors the CPU has, with nothing loaded or stored. Matmul rates are reported
//! as a fraction of it.

use std::time::Instant;

/// Measured peak in GFLOP/s (a fused multiply-add counts as two operations) and the
/// instruction set it ran on: the best of `tries` timed runs, since anything else on the
/// machine can only slow a run down.
pub fn measure(tries: usize) -> (f64, &'static str) {
    let (lanes, isa) = widest();
    let iters = 20_000_000 / lanes;
    run(lanes, iters / 10);
    let best = (0..tries.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(run(lanes, iters));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (2.0 * (CHAINS * lanes * iters) as f64 / best / 1e9, isa)
}

/// Independent accumulator chains: enough to cover the FMA latency on both FMA pipes of
/// current cores (4 cycles x 2 pipes), with room to spare.
const CHAINS: usize = 12;

fn widest() -> (usize, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return (16, "AVX-512F FMA");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return (8, "AVX2 FMA");
        }
    }
    (1, "scalar")
}

fn run(lanes: usize, iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `widest` chose each width only where the CPU reports the features.
        match lanes {
            16 => return unsafe { x86::fma512(iters) },
            8 => return unsafe { x86::fma256(iters) },
            _ => {}
        }
    }
    let mut acc = [1.0f32; CHAINS];
    for _ in 0..iters {
        for a in &mut acc {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    macro_rules! chains {
        ($name:ident, $feat:literal, $ty:ty, $set:ident, $fma:ident, $add:ident, $store:ident, $lanes:expr) => {
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(iters: usize) -> f32 {
                let (a, b) = ($set(0.999_999), $set(1e-7));
                let mut acc: [$ty; CHAINS] = [$set(1.0); CHAINS];
                for _ in 0..iters {
                    // Fully unrolled over a constant count, so every chain lives in a register.
                    for c in acc.iter_mut() {
                        *c = $fma(*c, a, b);
                    }
                }
                let s = acc.iter().fold($set(0.0), |s, &c| $add(s, c));
                let mut out = [0f32; $lanes];
                $store(out.as_mut_ptr(), s);
                out.iter().sum()
            }
        };
    }
    chains!(fma512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16);
    chains!(fma256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8);
}

#[cfg(test)]
mod tests {
    /// The probe returns a finite, positive rate (its size is the machine's business).
    #[test]
    fn peak_is_a_positive_rate() {
        let (gflops, isa) = super::measure(1);
        assert!(gflops.is_finite() && gflops > 0.0, "{gflops} GFLOP/s on {isa}");
    }
}
