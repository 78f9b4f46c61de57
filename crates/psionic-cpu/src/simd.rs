//! Runtime choice of instruction set for the kernels.
//!
//! The crate is compiled for the baseline of its target (SSE2 on x86-64), so a plain loop
//! vectorises 4 lanes wide. A kernel opts in by running its loop through [`dispatch`] as
//! an `#[inline(always)]` closure: the closure is then compiled inside a function built
//! for AVX2 + FMA (8 lanes), taken when the CPU has them, without the loop being written
//! twice. [`dispatch_wide`] does the same with AVX-512 (16 lanes) for arithmetic-bound
//! kernels.
//!
//! Results do not depend on which path runs: Rust never fuses a multiply and an add on its
//! own, explicit `mul_add`s are exact on either path, and kernels that accumulate keep
//! their own fixed lane structure, so both widths perform the same operations in the same
//! order.

/// Runs `f`, compiled for AVX2 + FMA when this CPU supports them.
#[inline]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features `avx2_fma` is compiled for (checked above).
            return unsafe { avx2_fma(f) };
        }
    }
    f()
}

/// Runs `f`, compiled for AVX-512 when this CPU supports it, else as [`dispatch`] does.
/// For kernels bound by arithmetic (polynomial transcendentals): twice the lanes per
/// instruction. Streaming kernels stay on [`dispatch`]: on the Zen 4 cores measured here,
/// 512-bit loads and stores made a memory-bound `a * b` about 20% slower than 256-bit ones.
#[inline]
pub fn dispatch_wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU supports the features `avx512` is compiled for (checked above).
            return unsafe { avx512(f) };
        }
    }
    dispatch(f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Sum in 32 interleaved partial sums: element `k` goes to lane `k % 32`; lanes are
/// combined as `((a0 + a1) + (a2 + a3))` over the four 8-lane groups, then within the
/// remaining 8 as `((v0 + v4) + (v1 + v5)) + ((v2 + v6) + (v3 + v7))`; the tail past a
/// multiple of 32 is added last, in order. [`sum_f32`] follows the same steps.
#[inline(always)]
pub fn sum_lanes<A: num_traits::Float>(s: &[A]) -> A {
    let mut acc = [[A::zero(); 8]; 4];
    let chunks = s.chunks_exact(32);
    let rem = chunks.remainder();
    for c in chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            for i in 0..8 {
                a[i] = a[i] + c[j * 8 + i];
            }
        }
    }
    let v: [A; 8] = std::array::from_fn(|i| (acc[0][i] + acc[1][i]) + (acc[2][i] + acc[3][i]));
    let mut t = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    for &r in rem {
        t = t + r;
    }
    t
}

/// [`sum_lanes`] for f32 in AVX2 intrinsics (bit-identical to it), or `None` where the
/// CPU lacks AVX2.
#[inline]
pub fn sum_f32(s: &[f32]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above).
            return Some(unsafe { sum_f32_avx2(s) });
        }
    }
    let _ = s;
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_f32_avx2(s: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let chunks = s.chunks_exact(32);
    let rem = chunks.remainder();
    let mut a = [_mm256_setzero_ps(); 4];
    for c in chunks {
        let p = c.as_ptr();
        for (j, acc) in a.iter_mut().enumerate() {
            // SAFETY: `c` holds 32 floats, so `p + 8j .. p + 8j + 8` is in bounds.
            *acc = _mm256_add_ps(*acc, unsafe { _mm256_loadu_ps(p.add(8 * j)) });
        }
    }
    let v = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
    let w = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let mut l = [0f32; 4];
    // SAFETY: `l` has room for 4 floats.
    unsafe { _mm_storeu_ps(l.as_mut_ptr(), w) };
    let mut t = (l[0] + l[1]) + (l[2] + l[3]);
    for &r in rem {
        t += r;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_f32_matches_the_portable_order_bit_for_bit() {
        for n in [0, 1, 31, 32, 33, 100, 4096, 4099] {
            let v: Vec<f32> =
                (0..n).map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.37 + (i as f32).sin() * 1e3).collect();
            if let Some(t) = sum_f32(&v) {
                assert_eq!(t.to_bits(), sum_lanes(&v).to_bits(), "n = {n}");
            }
        }
    }
}
