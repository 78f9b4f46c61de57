//! Gradient clipping (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`).

use psionic_array::autodiff::no_grad;
use psionic_array::{DType, Tensor};
use psionic_core::Error;

/// Scales every gradient by `max_norm / (total + 1e-6)` when that is below one, where
/// `total` is the `norm_type` norm of all gradients together (the norm of the
/// per-gradient norms); returns `total`. A non-finite total is an error with
/// `error_if_nonfinite`, as in PyTorch.
pub fn clip_grad_norm_(
    params: &[Tensor],
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<Tensor, Error> {
    no_grad(|| {
        let grads: Vec<(usize, Tensor)> =
            params.iter().enumerate().filter_map(|(i, p)| p.grad().map(|g| (i, g))).collect();
        if grads.is_empty() {
            return Ok(Tensor::scalar(0.0f32));
        }
        let norm = |t: &Tensor| psionic_array::linalg::vector_norm(t, norm_type, None, false);
        let norms: Vec<Tensor> = grads.iter().map(|(_, g)| norm(g)).collect();
        let total = norm(&Tensor::stack(&norms.iter().collect::<Vec<_>>(), 0));
        if error_if_nonfinite && !total.to_dtype(DType::F64).item::<f64>().is_finite() {
            return Err(Error::invalid(
                "clip_grad_norm_",
                format!("The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"),
            ));
        }
        let coef = total.add(1e-6).reciprocal().mul(max_norm).clamp(None::<f64>, Some(1.0));
        for (i, g) in &grads {
            params[*i].set_grad(Some(g.mul(coef.to_dtype(g.dtype()))));
        }
        Ok(total)
    })
}

/// Clamps every gradient into `[-clip_value, clip_value]`.
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) {
    no_grad(|| {
        for p in params {
            if let Some(g) = p.grad() {
                p.set_grad(Some(g.clamp(Some(-clip_value), Some(clip_value))));
            }
        }
    });
}
