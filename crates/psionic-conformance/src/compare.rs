//! Comparing Psionic's results with the oracle's, with DESIGN.md section 4's tolerances:
//! f64 rtol 1e-10; f32 rtol 1e-5, 1e-4 for families that sum long axes (reductions,
//! linear algebra, and gradients summed over broadcast dimensions); f16/bf16 1e-2;
//! integers and bools exactly. NaNs match NaNs and infinities match infinities of the
//! same sign.

use psionic_array::Tensor;
use psionic_core::DType;

/// Whether a family's (or an op's) results are sums over long axes: reductions, linear
/// algebra, convolutions (a matmul over channels times kernel positions) and attention
/// (a product over the head dim, then one over the keys).
pub fn sums_long_axes(family: &str, op: &str) -> bool {
    matches!(family, "reductions" | "linalg")
        || op.starts_with("nn.functional.conv")
        || op == "nn.functional.scaled_dot_product_attention"
}

/// `(atol, rtol)` for results of `dtype`; `long_sums`: the values are sums over long
/// axes, where the order of summation moves f32 results by more than an ulp or two.
pub fn tolerance(dtype: DType, long_sums: bool) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-10, 1e-10),
        DType::F32 if long_sums => (1e-5, 1e-4),
        DType::F32 => (1e-6, 1e-5),
        DType::F16 | DType::BF16 => (1e-2, 1e-2),
        _ => (0.0, 0.0),
    }
}

/// `Ok` when `got` matches `want` in shape, dtype and values; otherwise why not.
pub fn compare(got: &Tensor, want: &Tensor, long_sums: bool) -> Result<(), String> {
    compare_tol(got, want, tolerance(want.dtype(), long_sums))
}

/// [`compare`] with explicit `(atol, rtol)`.
pub fn compare_tol(got: &Tensor, want: &Tensor, (atol, rtol): (f64, f64)) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {}, expected {}", got.dtype(), want.dtype()));
    }
    let (g, w) = (got.to_vec::<f64>(), want.to_vec::<f64>());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let same = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= atol + rtol * b.abs();
        if !same {
            return Err(format!("element {i}: {a}, expected {b} (atol {atol:e}, rtol {rtol:e})"));
        }
    }
    Ok(())
}
