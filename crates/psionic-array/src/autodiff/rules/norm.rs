//! vjp rules of the fused layer_norm and batch_norm.

use crate::ops::batch_norm::channel_shape;
use crate::prim::Prim;
use crate::tensor::Tensor;

/// Input gradients of `y = xhat * w + b`, `xhat = (x - mean) * rstd` over the last `axes`
/// dims: `dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))` with `gw = g * w`; `dw`
/// and `db` sum `g * xhat` and `g` over the leading dims. Where the gradient will be
/// differentiated again (grad mode on under `create_graph`, a jvp or vmap running) `dx`
/// is built from differentiable ops (the standardised input through the same
/// primitive); elsewhere, as in every plain `backward`, by the fused `LayerNormGrad`.
/// In a training step of the demo GPT (one thread, sampled by perf) this rule's share
/// fell from 5.8% to 1.8%.
pub(super) fn layer_norm_vjp(axes: usize, eps: f64, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (input, w) = (&x[0], &x[1]);
    let r = input.dim();
    let lead: Vec<i64> = (0..r - axes).map(|d| d as i64).collect();
    // Summing over no dims would sum everything: the leading dims may be none.
    let over_lead = |t: Tensor| if lead.is_empty() { t } else { t.sum(&lead[..], false) };
    let fused = super::untraced();
    let xhat = (needs[1] || (needs[0] && !fused)).then(|| input.standardized(axes, eps));
    let gx = needs[0].then(|| match fused {
        true => crate::mode::check(Tensor::make(Prim::LayerNormGrad { axes, eps }, &[input, w, g])),
        false => layer_norm_dx(axes, eps, input, w, g, xhat.as_ref().expect("built when needed")),
    });
    let gw = needs[1].then(|| over_lead(g.mul(xhat.as_ref().expect("built when needed"))));
    let gb = needs[2].then(|| over_lead(g.clone()));
    vec![gx, gw, gb]
}

/// layer_norm's input gradient (what `LayerNormGrad` fuses) from differentiable ops, for
/// `x`'s standardised values `xhat`; `w` broadcasts against `x`.
pub(super) fn layer_norm_dx(axes: usize, eps: f64, x: &Tensor, w: &Tensor, g: &Tensor, xhat: &Tensor) -> Tensor {
    let r = x.dim();
    let norm: Vec<i64> = (r - axes..r).map(|d| d as i64).collect();
    let rstd = x.var(&norm[..], 0.0, true).add(eps).rsqrt();
    let gw = g.mul(w);
    let m1 = gw.mean(&norm[..], true);
    let m2 = gw.mul(xhat).mean(&norm[..], true);
    rstd.mul(gw.sub(m1).sub(xhat.mul(m2)))
}

/// Input gradients of training batch norm, `y = (x - mean) * rstd * w + b` per channel
/// with `mean` and `rstd = 1 / sqrt(var + eps)` the batch statistics of `x` (inputs 3
/// and 4). With `s1 = Σ g` and `s2 = Σ g (x - mean)` per channel (one pass over `g` and
/// `x`): `dx = a g + c2 x + c0` for per-channel `a = w rstd`, `c2 = -a rstd² s2 / n`,
/// `c0 = -a s1 / n - c2 mean`, which accounts for the statistics' dependence on `x`, so
/// they get no gradient of their own; `dw = rstd s2` and `db = s1`. The statistics are
/// graph values of `x`, so differentiating this again differentiates through them.
pub(super) fn batch_norm_vjp(eps: f64, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (input, w, mean, var) = (&x[0], &x[1], &x[3], &x[4]);
    let n = (input.numel() / input.size(1).max(1)) as f64;
    let rstd = var.add(eps).rsqrt();
    let sums = g.channel_sums(input, mean);
    let (s1, s2) = (sums.select(0, 0), sums.select(0, 1));
    let gx = needs[0].then(|| {
        let a = w.mul(&rstd);
        let c2 = a.mul(rstd.square()).mul(&s2).mul(-1.0 / n);
        let c0 = a.mul(&s1).mul(-1.0 / n).sub(c2.mul(mean));
        g.channel_combine(input, &a, &c2, &c0)
    });
    let gw = needs[1].then(|| s2.mul(&rstd));
    let gb = needs[2].then_some(s1);
    vec![gx, gw, gb, None, None]
}

/// Input gradients of `[Σ g, Σ g (x - m)]` per channel given the cotangent `ct`
/// (`[2, c]`): `dg = ct0 + ct1 (x - m)`, `dx = ct1 g`, `dm = -ct1 Σ g` (row 0 of `y`).
pub(super) fn channel_sums_vjp(x: &[Tensor], y: &Tensor, ct: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (g, input, m) = (&x[0], &x[1], &x[2]);
    let shape = channel_shape(input.dim());
    let (ct0, ct1) = (ct.select(0, 0), ct.select(0, 1));
    let gg = needs[0].then(|| ct0.sub(ct1.mul(m)).reshape(&shape).addcmul(input, &ct1.reshape(&shape), 1.0));
    let gx = needs[1].then(|| g.mul(ct1.reshape(&shape)));
    let gm = needs[2].then(|| ct1.mul(y.select(0, 0)).neg());
    vec![gg, gx, gm]
}

/// Input gradients of `(k + v b) + u a` (per-channel `a`, `b`, `k`) given `ct`:
/// `du = ct a`, `dv = ct b`, and the per-channel sums `da = Σ ct u`, `db = Σ ct v`,
/// `dk = Σ ct`.
pub(super) fn channel_combine_vjp(x: &[Tensor], ct: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (u, v, a, b) = (&x[0], &x[1], &x[2], &x[3]);
    let shape = channel_shape(u.dim());
    let zero = a.zeros_like();
    let su = (needs[2] || needs[4]).then(|| ct.channel_sums(u, &zero));
    let sv = needs[3].then(|| ct.channel_sums(v, &zero).select(0, 1));
    vec![
        needs[0].then(|| ct.mul(a.reshape(&shape))),
        needs[1].then(|| ct.mul(b.reshape(&shape))),
        needs[2].then(|| su.as_ref().expect("built when needed").select(0, 1)),
        sv,
        needs[4].then(|| su.as_ref().expect("built when needed").select(0, 0)),
    ]
}

/// Input gradient of per-channel `[mean, biased var]` given `ct` (`[2, c]`):
/// `dx = ct0 / n + ct1 2 (x - mean) / n`, one `addcmul` with per-channel operands.
pub(super) fn channel_moments_vjp(x: &Tensor, y: &Tensor, ct: &Tensor) -> Tensor {
    let shape = channel_shape(x.dim());
    let n = (x.numel() / x.size(1).max(1)) as f64;
    let (ct0, slope) = (ct.select(0, 0), ct.select(0, 1).mul(2.0 / n));
    ct0.mul(1.0 / n).sub(slope.mul(y.select(0, 0))).reshape(&shape).addcmul(x, &slope.reshape(&shape), 1.0)
}
