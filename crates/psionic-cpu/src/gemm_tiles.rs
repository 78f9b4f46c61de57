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

/// One R x 64 tile on AVX-512.
///
/// # Safety
/// As for [`tile_rows`] with `Isa::Avx512` and R rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile512<const R: usize>(
    kc: usize,
    (a, ars, aks): (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    const NV: usize = 4;
    const NR: usize = 16 * NV;
    // SAFETY: the caller's contract covers every pointer offset below.
    unsafe {
        // The tile's lines of `c` are fetched for writing, one line per four k, over
        // the first R * NV * 4 steps: for writing even when `c` is overwritten, since a
        // store to a line not in cache must read it first; spread out rather than all
        // at once, so they do not hold the fill buffers the stream of `b` needs.
        // Measured 3-4% at 1024 and 2048 over fetching them all at the start for
        // reading (and only when adding).
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        let c_line = |l: usize| c.add(l / NV * ldc + 16 * (l % NV)) as *const i8;
        let rows: [*const f32; R] = std::array::from_fn(|i| a.add(i * ars));
        let mut bp = b;
        let step = |acc: &mut [[__m512; NV]; R], p: usize, bp: *const f32| {
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(bp.add(16 * v));
            }
            for (row, r) in acc.iter_mut().zip(&rows) {
                let av = _mm512_set1_ps(*r.add(p * aks));
                for (x, b) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, *b, *x);
                }
            }
        };
        let mut p = 0;
        while p + 4 <= kc {
            // Rows of `a` read in place are six strided streams: fetch each two lines
            // ahead (measured 1-2% at 1024 and 2048; for a packed panel it is a fetch
            // of the panel ahead). Past the end it fetches nothing useful but touches
            // nothing either: a prefetch never faults.
            for r in &rows {
                _mm_prefetch::<_MM_HINT_T0>(r.wrapping_add((p + 32) * aks) as *const i8);
            }
            if p < R * NV * 4 {
                _mm_prefetch::<_MM_HINT_ET0>(c_line(p / 4));
            }
            step(&mut acc, p, bp);
            step(&mut acc, p + 1, bp.add(NR));
            step(&mut acc, p + 2, bp.add(2 * NR));
            step(&mut acc, p + 3, bp.add(3 * NR));
            bp = bp.add(4 * NR);
            p += 4;
        }
        while p < kc {
            step(&mut acc, p, bp);
            bp = bp.add(NR);
            p += 1;
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let at = c.add(i * ldc + 16 * v);
                _mm512_storeu_ps(at, if add { _mm512_add_ps(_mm512_loadu_ps(at), *x) } else { *x });
            }
        }
    }
}

/// One R x 16 tile on AVX2 with FMA: per k, two loads of the panel, R broadcasts of `a`
/// and 2R FMAs (the shape of the usual 6 x 16 AVX2 kernel).
///
/// # Safety
/// As for [`tile_rows`] with `Isa::Avx2` and R rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile256<const R: usize>(
    kc: usize,
    (a, ars, aks): (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    const NV: usize = 2;
    const NR: usize = 8 * NV;
    // SAFETY: the caller's contract covers every pointer offset below.
    unsafe {
        // A row of the tile is one 64-byte line (two when `c` is not aligned to one):
        // both halves of each row are fetched for writing, one per eight k, as in
        // `tile512`.
        let mut acc = [[_mm256_setzero_ps(); NV]; R];
        let c_half = |l: usize| c.add(l / NV * ldc + 8 * (l % NV)) as *const i8;
        let rows: [*const f32; R] = std::array::from_fn(|i| a.add(i * ars));
        let mut bp = b;
        let step = |acc: &mut [[__m256; NV]; R], p: usize, bp: *const f32| {
            let bv = [_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8))];
            for (row, r) in acc.iter_mut().zip(&rows) {
                let av = _mm256_broadcast_ss(&*r.add(p * aks));
                for (x, b) in row.iter_mut().zip(&bv) {
                    *x = _mm256_fmadd_ps(av, *b, *x);
                }
            }
        };
        let mut p = 0;
        while p + 8 <= kc {
            // Each row of `a` two lines ahead, once per eight k (half a line read in
            // place): as in `tile512`, a prefetch past the end touches nothing.
            for r in &rows {
                _mm_prefetch::<_MM_HINT_T0>(r.wrapping_add((p + 32) * aks) as *const i8);
            }
            if p < R * NV * 8 {
                _mm_prefetch::<_MM_HINT_ET0>(c_half(p / 8));
            }
            for q in 0..8 {
                step(&mut acc, p + q, bp.add(q * NR));
            }
            bp = bp.add(8 * NR);
            p += 8;
        }
        while p < kc {
            step(&mut acc, p, bp);
            bp = bp.add(NR);
            p += 1;
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let at = c.add(i * ldc + 8 * v);
                _mm256_storeu_ps(at, if add { _mm256_add_ps(_mm256_loadu_ps(at), *x) } else { *x });
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile512<const R: usize>(
    _: usize,
    _: (*const f32, usize, usize),
    _: *const f32,
    _: *mut f32,
    _: usize,
    _: bool,
) {
    unreachable!("no f32 kernel on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile256<const R: usize>(
    _: usize,
    _: (*const f32, usize, usize),
    _: *const f32,
    _: *mut f32,
    _: usize,
    _: bool,
) {
    unreachable!("no f32 kernel on this architecture")
}
