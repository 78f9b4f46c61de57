//! `scaled_dot_product_attention`, as PyTorch's reference math defines it: scores
//! `(q √scale)(k √scale)ᵀ` plus a bias from the causal and given masks, softmax over keys,
//! dropout on the weights, then the weighted sum of values.

use psionic_array::autocast;
use psionic_array::mode::raise;
use psionic_array::random::Generator;
use psionic_array::{DType, Tensor};
use psionic_core::{broadcast_shapes, Error};

/// Options of [`scaled_dot_product_attention`]; `Default` is PyTorch's.
#[derive(Clone, Default)]
pub struct Sdpa<'a> {
    /// Boolean (true = attend) or additive float mask, broadcast to `[..., L, S]`.
    pub attn_mask: Option<&'a Tensor>,
    pub dropout_p: f64,
    /// Each query attends to keys at its position or before (upper-left aligned).
    pub is_causal: bool,
    /// Defaults to `1 / sqrt(E)`.
    pub scale: Option<f64>,
    /// Grouped-query attention: key/value heads are repeated to the query's head count.
    pub enable_gqa: bool,
    pub generator: Option<&'a Generator>,
}

/// The additive `[L, S]` bias of a causal mask: 0 on and below the diagonal, -inf above.
pub fn causal_bias(l: usize, s: usize, dtype: DType) -> Tensor {
    let above = Tensor::ones(&[l, s], DType::Bool).triu(1);
    Tensor::zeros(&[l, s], dtype).masked_fill(&above, f64::NEG_INFINITY)
}

/// `query [..., L, E]`, `key [..., S, E]`, `value [..., S, Ev]` -> `[..., L, Ev]`.
/// Without a mask or dropout, f32 and f64 run as one fused kernel (`Tensor::attention`)
/// that never makes the `L x S` weights; otherwise as PyTorch's math path. f16 and bf16
/// are computed in f32 and rounded once, as PyTorch's CPU kernels do (its math path
/// upcasts them unless reductions in half precision are allowed): products and softmax
/// rounded to 8 or 11 bits at every step moved outputs by 4% on its OpInfo samples.
pub fn scaled_dot_product_attention(q: &Tensor, k: &Tensor, v: &Tensor, o: &Sdpa) -> Tensor {
    let op = "scaled_dot_product_attention";
    // On autocast's lower-precision list, a float mask included.
    let (qa, ka, va) = (autocast::lower(q), autocast::lower(k), autocast::lower(v));
    let mask = o.attn_mask.map(autocast::lower);
    let cast = Sdpa { attn_mask: mask.as_ref(), ..o.clone() };
    if let Some(y) = autocast::casting(|| scaled_dot_product_attention(&qa, &ka, &va, &cast)) {
        return y;
    }
    if q.dim() < 2 || k.dim() < 2 || v.dim() < 2 {
        raise(Error::shape(op, "query, key and value need at least 2 dims"));
    }
    if o.is_causal && o.attn_mask.is_some() {
        raise(Error::invalid(
            op,
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True",
        ));
    }
    let dt = q.dtype();
    if matches!(dt, DType::F16 | DType::BF16) && k.dtype() == dt && v.dtype() == dt {
        let up = |t: &Tensor| t.to_dtype(DType::F32);
        let mask = o.attn_mask.map(|m| if m.dtype() == DType::Bool { m.clone() } else { up(m) });
        let wide = Sdpa { attn_mask: mask.as_ref(), ..o.clone() };
        return scaled_dot_product_attention(&up(q), &up(k), &up(v), &wide).to_dtype(dt);
    }
    let (l, s) = (q.size(-2), k.size(-2));
    let scale = o.scale.unwrap_or_else(|| 1.0 / (q.size(-1) as f64).sqrt());
    let (k, v) = if o.enable_gqa && q.dim() >= 3 {
        let (hq, hk) = (q.size(-3), k.size(-3));
        if hk == 0 || hq % hk != 0 {
            raise(Error::shape(op, format!("number of query heads {hq} is not a multiple of key heads {hk}")));
        }
        (k.repeat_interleave(hq / hk, Some(-3)), v.repeat_interleave(hq / hk, Some(-3)))
    } else {
        (k.clone(), v.clone())
    };
    if let Some((q, k, v)) = fusable(q, &k, &v, o) {
        return q.attention(&k, &v, scale, o.is_causal);
    }
    // PyTorch's math path scales `q` and `k` by the root of the scale before the product
    // (a negative scale on `q`): two passes over the inputs instead of one over the
    // `L x S` scores, and the same rounding as its reference.
    let root = scale.abs().sqrt();
    let q = q.mul(if scale < 0.0 { -root } else { root });
    let scores = q.matmul(&k.mul(root).transpose(-2, -1));
    let scores = if o.is_causal { scores.add(causal_bias(l, s, scores.dtype())) } else { scores };
    let scores = match o.attn_mask {
        Some(m) if m.dtype() == DType::Bool => scores.masked_fill(&m.logical_not(), f64::NEG_INFINITY),
        Some(m) => scores.add(m),
        None => scores,
    };
    let w = scores.softmax(-1);
    let w = psionic_array::random::dropout(&w, o.dropout_p, true, o.generator);
    w.matmul(&v)
}

/// `q`, `k` and `v` broadcast to one leading shape (views; ranks may differ, as in a
/// matmul), when the fused kernel can take them: f32 or f64, matching sizes, no mask or
/// dropout.
fn fusable(q: &Tensor, k: &Tensor, v: &Tensor, o: &Sdpa) -> Option<(Tensor, Tensor, Tensor)> {
    let dt = q.dtype();
    let plain = o.attn_mask.is_none() && o.dropout_p == 0.0;
    if !plain || !matches!(dt, DType::F32 | DType::F64) || k.dtype() != dt || v.dtype() != dt {
        return None;
    }
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let (rq, rk, rv) = (qs.len(), ks.len(), vs.len());
    // Mismatched sizes fail in the math path, with its errors.
    if qs[rq - 1] != ks[rk - 1] || ks[rk - 2] != vs[rv - 2] {
        return None;
    }
    let lead = broadcast_shapes("scaled_dot_product_attention", &qs[..rq - 2], &ks[..rk - 2]).ok()?;
    let lead = broadcast_shapes("scaled_dot_product_attention", &lead, &vs[..rv - 2]).ok()?;
    let to = |t: &Tensor, s: &[usize]| t.broadcast_to(&[&lead[..], &s[s.len() - 2..]].concat());
    Some((to(q, &qs), to(k, &ks), to(v, &vs)))
}
