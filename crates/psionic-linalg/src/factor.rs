//! One matrix at a time: faer factors it, and the result is written row-major into the
//! packed output slice. A factorization that fails (not positive definite, no
//! convergence on non-finite input) writes NaN rather than stale memory.

use faer::linalg::triangular_solve as tri;
use faer::{Mat, MatRef, Par, Side};

/// The float types faer factors for us.
pub(crate) trait Real: faer::traits::RealField + Copy + Send + Sync {
    fn from_f64(v: f64) -> Self;
    fn sqrt(self) -> Self;
}
impl Real for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}
impl Real for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

fn nan<T: Real>() -> T {
    T::from_f64(f64::NAN)
}

fn to_mat<T: Real>(a: &[T], m: usize, n: usize) -> Mat<T> {
    Mat::from_fn(m, n, |i, j| a[i * n + j])
}

/// Writes `x` row-major into `o`.
fn put<T: Real>(x: MatRef<'_, T>, o: &mut [T]) {
    let n = x.ncols();
    for i in 0..x.nrows() {
        for j in 0..n {
            o[i * n + j] = x[(i, j)];
        }
    }
}

/// `[L (n*n), info]`.
pub(crate) fn cholesky<T: Real>(n: usize, a: &[T], o: &mut [T]) {
    match to_mat(a, n, n).llt(Side::Lower) {
        Ok(f) => {
            let l = f.L();
            for i in 0..n {
                for j in 0..n {
                    o[i * n + j] = if j <= i { l[(i, j)] } else { T::from_f64(0.0) };
                }
            }
            o[n * n] = T::from_f64(0.0);
        }
        Err(faer::linalg::cholesky::llt::factor::LltError::NonPositivePivot { index }) => {
            o[..n * n].fill(nan());
            o[n * n] = T::from_f64((index + 1) as f64);
        }
    }
}

/// `[LU (m*n), pivots (k), info]` in LAPACK's conventions (unit L strictly below the
/// diagonal, U on and above it, 1-based row swaps).
pub(crate) fn lu<T: Real>(m: usize, n: usize, a: &[T], o: &mut [T]) {
    let k = m.min(n);
    let f = to_mat(a, m, n).partial_piv_lu();
    let (l, u) = (f.L(), f.U());
    for i in 0..m {
        for j in 0..n {
            o[i * n + j] = if i > j { l[(i, j)] } else { u[(i, j)] };
        }
    }
    // faer gives the whole permutation (row `i` of P A is row `fwd[i]` of A); LAPACK
    // records it as the sequence of swaps that builds it, which is unique: swap `i` is
    // whichever row must land in position `i`.
    let (fwd, _) = f.P().arrays();
    let mut pos: Vec<usize> = (0..m).collect(); // current position of each original row
    let mut at: Vec<usize> = (0..m).collect(); // original row at each position
    for i in 0..k {
        let j = pos[fwd[i]];
        o[m * n + i] = T::from_f64((j + 1) as f64);
        let (ri, rj) = (at[i], at[j]);
        at.swap(i, j);
        pos[ri] = j;
        pos[rj] = i;
    }
    let info = (0..k).find(|&i| u[(i, i)] == T::from_f64(0.0)).map_or(0, |i| i + 1);
    o[m * n + k] = T::from_f64(info as f64);
}

/// `A X = B` (left) or `X A = B`, reading only `A`'s triangle (and not its diagonal when
/// `unit`).
pub(crate) fn triangular_solve<T: Real>(n: usize, a: &[T], b: &[T], o: &mut [T], upper: bool, left: bool, unit: bool) {
    let a = to_mat(a, n, n);
    let cols = b.len() / n.max(1);
    // X A = B is A^T X^T = B^T, and A^T's triangle is the other one.
    let (a, lower) = if left { (a.as_ref(), !upper) } else { (a.transpose(), upper) };
    let mut x = if left { to_mat(b, n, cols) } else { to_mat(b, cols, n).transpose().to_owned() };
    let rhs = x.as_mut();
    match (lower, unit) {
        (true, false) => tri::solve_lower_triangular_in_place(a, rhs, Par::Seq),
        (true, true) => tri::solve_unit_lower_triangular_in_place(a, rhs, Par::Seq),
        (false, false) => tri::solve_upper_triangular_in_place(a, rhs, Par::Seq),
        (false, true) => tri::solve_unit_upper_triangular_in_place(a, rhs, Par::Seq),
    }
    if left {
        put(x.as_ref(), o);
    } else {
        put(x.transpose(), o);
    }
}

/// `[Q, R]`, reduced or complete.
pub(crate) fn qr<T: Real>(m: usize, n: usize, a: &[T], o: &mut [T], complete: bool) {
    let k = m.min(n);
    let f = to_mat(a, m, n).qr();
    let q = if complete { f.compute_Q() } else { f.compute_thin_Q() };
    let rows = q.ncols();
    put(q.as_ref(), &mut o[..m * rows]);
    let r = f.thin_R();
    let o = &mut o[m * rows..];
    for i in 0..rows {
        for j in 0..n {
            o[i * n + j] = if i < k && i <= j { r[(i, j)] } else { T::from_f64(0.0) };
        }
    }
}

/// `[values, vectors]` (or the values) of the lower triangle, ascending.
pub(crate) fn eigh<T: Real>(n: usize, a: &[T], o: &mut [T], vectors: bool) {
    let a = to_mat(a, n, n);
    if !vectors {
        match a.self_adjoint_eigenvalues(Side::Lower) {
            Ok(v) => o[..n].copy_from_slice(&v),
            Err(_) => o.fill(nan()),
        }
        return;
    }
    match a.self_adjoint_eigen(Side::Lower) {
        Ok(e) => {
            let s = e.S();
            for i in 0..n {
                o[i] = s[i];
            }
            put(e.U(), &mut o[n..]);
        }
        Err(_) => o.fill(nan()),
    }
}

/// `[U, S, Vh]` (or S), descending.
pub(crate) fn svd<T: Real>(m: usize, n: usize, a: &[T], o: &mut [T], full: bool, vectors: bool) {
    let k = m.min(n);
    let a = to_mat(a, m, n);
    if !vectors {
        match a.singular_values() {
            Ok(v) => o[..k].copy_from_slice(&v),
            Err(_) => o.fill(nan()),
        }
        return;
    }
    let f = if full { a.svd() } else { a.thin_svd() };
    match f {
        Ok(f) => {
            let (u, s, v) = (f.U(), f.S(), f.V());
            let ku = u.ncols();
            put(u, &mut o[..m * ku]);
            for i in 0..k {
                o[m * ku + i] = s[i];
            }
            put(v.transpose(), &mut o[m * ku + k..]);
        }
        Err(_) => o.fill(nan()),
    }
}

/// `[values (n, 2), vectors (n, n, 2)]` of a general real matrix, each complex number as
/// its `(re, im)` pair.
pub(crate) fn eig<T: Real>(n: usize, a: &[T], o: &mut [T]) {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::{evd_real, evd_scratch, ComputeEigenvectors};
    let a = to_mat(a, n, n);
    let (mut re, mut im) = (faer::diag::Diag::<T>::zeros(n), faer::diag::Diag::<T>::zeros(n));
    let mut u = Mat::<T>::zeros(n, n);
    let scratch = evd_scratch::<T>(n, ComputeEigenvectors::No, ComputeEigenvectors::Yes, Par::Seq, Default::default());
    let done = evd_real(
        a.as_ref(),
        re.as_mut(),
        im.as_mut(),
        None,
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    );
    if done.is_err() {
        o.fill(nan());
        return;
    }
    for j in 0..n {
        o[2 * j] = re[j];
        o[2 * j + 1] = im[j];
    }
    put_eigenvectors(n, u.as_ref(), im.as_ref(), &mut o[2 * n..]);
}

/// Unpacks LAPACK-style real eigenvectors (a complex pair `j, j+1` stores the real part
/// of vector `j` in column `j` and its imaginary part in column `j+1`; vector `j+1` is
/// the conjugate) into `(re, im)` pairs, normalized as [`eig`] promises.
fn put_eigenvectors<T: Real>(n: usize, u: MatRef<'_, T>, im: faer::diag::DiagRef<'_, T>, o: &mut [T]) {
    let zero = T::from_f64(0.0);
    let mut j = 0;
    while j < n {
        let pair = im[j] != zero && j + 1 < n;
        let mut col: Vec<(T, T)> = (0..n).map(|i| (u[(i, j)], if pair { u[(i, j + 1)] } else { zero })).collect();
        normalize(&mut col);
        for (i, &(r, c)) in col.iter().enumerate() {
            let at = 2 * (i * n + j);
            o[at] = r;
            o[at + 1] = c;
            if pair {
                o[at + 2] = r;
                o[at + 3] = -c;
            }
        }
        j += if pair { 2 } else { 1 };
    }
}

/// Scales a complex vector to unit norm and rotates it so that its first component of
/// largest modulus is real and positive (LAPACK's `geev` makes it real; fixing the sign
/// too makes the choice unique).
fn normalize<T: Real>(v: &mut [(T, T)]) {
    let zero = T::from_f64(0.0);
    let abs2 = |&(r, c): &(T, T)| r * r + c * c;
    let mut norm2 = zero;
    let mut top = 0;
    for (i, x) in v.iter().enumerate() {
        norm2 += abs2(x);
        if abs2(x) > abs2(&v[top]) {
            top = i;
        }
    }
    let (pr, pc) = v[top];
    let scale = norm2.sqrt() * abs2(&v[top]).sqrt();
    if scale == zero {
        return;
    }
    // Multiply by conj(v[top]) / (|v[top]| * |v|).
    for x in v.iter_mut() {
        let (r, c) = *x;
        *x = ((r * pr + c * pc) / scale, (c * pr - r * pc) / scale);
    }
}
