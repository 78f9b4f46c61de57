//! vjp rule of the fused layer_norm.

use crate::tensor::Tensor;

/// Input gradients of `y = xhat * w + b`, `xhat = (x - mean) * rstd` over the last `axes`
/// dims: `dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))` with `gw = g * w`; `dw`
/// and `db` sum `g * xhat` and `g` over the leading dims. Built from differentiable ops
/// (the standardised input through the same primitive), so gradients of gradients work.
pub(super) fn layer_norm_vjp(axes: usize, eps: f64, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (input, w) = (&x[0], &x[1]);
    let r = input.dim();
    let norm: Vec<i64> = (r - axes..r).map(|d| d as i64).collect();
    let lead: Vec<i64> = (0..r - axes).map(|d| d as i64).collect();
    // Summing over no dims would sum everything: the leading dims may be none.
    let over_lead = |t: Tensor| if lead.is_empty() { t } else { t.sum(&lead[..], false) };
    let xhat = (needs[0] || needs[1]).then(|| input.standardized(axes, eps));
    let gx = needs[0].then(|| {
        let xhat = xhat.as_ref().expect("built when needed");
        let rstd = input.var(&norm[..], 0.0, true).add(eps).rsqrt();
        let gw = g.mul(w);
        let m1 = gw.mean(&norm[..], true);
        let m2 = gw.mul(xhat).mean(&norm[..], true);
        rstd.mul(gw.sub(m1).sub(xhat.mul(m2)))
    });
    let gw = needs[1].then(|| over_lead(g.mul(xhat.as_ref().expect("built when needed"))));
    let gb = needs[2].then(|| over_lead(g.clone()));
    vec![gx, gw, gb]
}
