//! The register tiles of the f32 kernel ([`crate::gemm_f32`]): `c (+)= a . b` over one
//! k block for R rows of `a` (read at any row and k stride, one broadcast per row and k)
//! and one panel of `b` (`kc` rows of [`Isa::nr`] lanes side by side). Two instruction
//! sets, chosen once per CPU: AVX-512 with 64-lane panels (four vectors a row, 24
//! accumulators) and AVX2 with FMA with 16-lane panels (two vectors a row, 12
//! accumulators, as the 16 vector registers allow). Each tile sums its block from zero
//! and adds that to `c` at the end, so `c` (often in memory) is not waited for: the loop
//! fetches its lines for writing while it runs.

/// Rows of every register tile: few enough for a row-major `a` read in place to stay
/// within L1's ways at power-of-two strides. On AVX-512, 12 x 32, 7 x 64 and 8 x 48
/// measured no faster than 6 x 64.
pub(crate) const MR: usize = 6;
/// The widest panel (AVX-512's), which sizes the scratch tiles.
pub(crate) const MAX_NR: usize = 64;

/// The instruction set the f32 kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2,
}

impl Isa {
    /// Lanes of a panel of `b` (a tile's columns).
    pub(crate) const fn nr(self) -> usize {
        match self {
            Isa::Avx512 => 64,
            Isa::Avx2 => 16,
        }
    }
}

/// The instruction set this CPU runs the kernel on, if any.
pub(crate) fn isa() -> Option<Isa> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(Isa::Avx512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Some(Isa::Avx2);
        }
    }
    None
}

/// One tile of `h` rows (1 to MR): the last rows of a product run on a tile of their
/// own height, so a 64-row product (a ResNet layer's channels) is ten tiles of six and
/// one of four, not eleven of six.
///
/// # Safety
/// The CPU has `isa`; `a` reaches `kc` values of `h` rows (row `i`, step `p` at `a.0 + i
/// * a.1 + p * a.2`), `b` `kc * isa.nr()` values, and `c` `h` rows of `isa.nr()` floats
/// at stride `ldc`.
pub(crate) unsafe fn tile_rows(
    isa: Isa,
    h: usize,
    kc: usize,
    a: (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    macro_rules! rows {
        ($tile:ident) => {
            // SAFETY: the caller's contract.
            unsafe {
                match h {
                    MR => $tile::<MR>(kc, a, b, c, ldc, add),
                    5 => $tile::<5>(kc, a, b, c, ldc, add),
                    4 => $tile::<4>(kc, a, b, c, ldc, add),
                    3 => $tile::<3>(kc, a, b, c, ldc, add),
                    2 => $tile::<2>(kc, a, b, c, ldc, add),
                    _ => $tile::<1>(kc, a, b, c, ldc, add),
                }
            }
        };
    }
    match isa {
        Isa::Avx512 => rows!(tile512),
        Isa::Avx2 => rows!(tile256),
    }
}

/// Defines one R x (`$lanes` x `$nv`) register tile on one instruction set, given its
/// vector type and intrinsics, and `$unroll`: the k steps between fetches (a line of a
/// row of `a` read in place holds 16 of them).
///
/// The tile's lines of `c` are fetched for writing, one per unrolled block, over the
/// first blocks: for writing even when `c` is overwritten, since a store to a line not
/// in cache must read it first; spread out rather than all at once, so they do not hold
/// the fill buffers the stream of `b` needs. On AVX-512 that measured 3-4% at 1024 and
/// 2048 over fetching them all at the start for reading (and only when adding). Rows of
/// `a` read in place are R strided streams, each fetched two lines ahead once per block
/// (measured 1-2% at 1024 and 2048; for a packed panel it is a fetch of the panel
/// ahead). Past the end a fetch touches nothing: a prefetch never faults.
macro_rules! tile_kernel {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $vec:ty, $lanes:literal, $nv:literal, $unroll:literal,
     $zero:ident, $load:ident, $set1:ident, $fma:ident, $add:ident, $store:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// As for [`tile_rows`] with this instruction set and R rows.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const R: usize>(
            kc: usize,
            (a, ars, aks): (*const f32, usize, usize),
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            add: bool,
        ) {
            use std::arch::x86_64::*;
            const NV: usize = $nv;
            const NR: usize = $lanes * NV;
            // SAFETY: the caller's contract covers every pointer offset below.
            unsafe {
                let mut acc = [[$zero(); NV]; R];
                let c_line = |l: usize| c.add(l / NV * ldc + $lanes * (l % NV)) as *const i8;
                let rows: [*const f32; R] = std::array::from_fn(|i| a.add(i * ars));
                let mut bp = b;
                let step = |acc: &mut [[$vec; NV]; R], p: usize, bp: *const f32| {
                    let bv: [$vec; NV] = std::array::from_fn(|v| $load(bp.add($lanes * v)));
                    for (row, r) in acc.iter_mut().zip(&rows) {
                        let av = $set1(*r.add(p * aks));
                        for (x, b) in row.iter_mut().zip(&bv) {
                            *x = $fma(av, *b, *x);
                        }
                    }
                };
                let mut p = 0;
                while p + $unroll <= kc {
                    for r in &rows {
                        _mm_prefetch::<_MM_HINT_T0>(r.wrapping_add((p + 32) * aks) as *const i8);
                    }
                    if p < R * NV * $unroll {
                        _mm_prefetch::<_MM_HINT_ET0>(c_line(p / $unroll));
                    }
                    for q in 0..$unroll {
                        step(&mut acc, p + q, bp.add(q * NR));
                    }
                    bp = bp.add($unroll * NR);
                    p += $unroll;
                }
                while p < kc {
                    step(&mut acc, p, bp);
                    bp = bp.add(NR);
                    p += 1;
                }
                for (i, row) in acc.iter().enumerate() {
                    for (v, x) in row.iter().enumerate() {
                        let at = c.add(i * ldc + $lanes * v);
                        $store(at, if add { $add($load(at), *x) } else { *x });
                    }
                }
            }
        }

        #[cfg(not(target_arch = "x86_64"))]
        unsafe fn $name<const R: usize>(_: usize, _: (*const f32, usize, usize), _: *const f32, _: *mut f32, _: usize, _: bool) {
            unreachable!("no f32 kernel on this architecture")
        }
    };
}

tile_kernel!(
    /// One R x 64 tile on AVX-512: per k, four loads of the panel, R broadcasts of `a`
    /// and 4R FMAs.
    tile512, "avx512f", __m512, 16, 4, 4,
    _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps
);

tile_kernel!(
    /// One R x 16 tile on AVX2 with FMA: per k, two loads of the panel, R broadcasts of
    /// `a` and 2R FMAs (the shape of the usual 6 x 16 AVX2 kernel).
    tile256, "avx2,fma", __m256, 8, 2, 8,
    _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps
);
