//! MultiheadAttention with PyTorch's parameters (`in_proj_weight` packing q, k, v, or
//! separate `q/k/v_proj_weight` when key/value widths differ; `out_proj`), its mask
//! conventions (boolean `true` = may not attend) and `add_bias_kv` / `add_zero_attn`.

use super::{param, Linear};
use crate::module::Training;
use crate::Module;
use psionic_array::{DType, Tensor};

/// What [`MultiheadAttention::forward`] returns.
pub struct MhaOutput {
    /// `[L, N, E]` (`[N, L, E]` with batch_first, `[L, E]` unbatched).
    pub output: Tensor,
    /// `[N, L, S]` averaged over heads, or `[N, H, L, S]`; `None` unless asked for.
    pub weights: Option<Tensor>,
}

#[derive(Module)]
pub struct MultiheadAttention {
    #[param]
    pub in_proj_weight: Option<Tensor>,
    #[param]
    pub q_proj_weight: Option<Tensor>,
    #[param]
    pub k_proj_weight: Option<Tensor>,
    #[param]
    pub v_proj_weight: Option<Tensor>,
    #[param]
    pub in_proj_bias: Option<Tensor>,
    #[child]
    pub out_proj: Linear,
    #[param]
    pub bias_k: Option<Tensor>,
    #[param]
    pub bias_v: Option<Tensor>,
    #[training]
    training: Training,
    pub embed_dim: usize,
    pub num_heads: usize,
    pub dropout: f64,
    pub batch_first: bool,
    pub add_zero_attn: bool,
}

/// Options of [`MultiheadAttention::forward`] (PyTorch's defaults via `Default`, except
/// that weights are only returned when `need_weights` is set).
#[derive(Clone, Default)]
pub struct MhaCall<'a> {
    /// `[N, S]`: `true` (or `-inf`) hides that key of that sample.
    pub key_padding_mask: Option<&'a Tensor>,
    /// `[L, S]` or `[N * H, L, S]`: `true` (or `-inf`) hides; floats are added.
    pub attn_mask: Option<&'a Tensor>,
    pub need_weights: bool,
    /// With `need_weights`: average the weights over heads.
    pub average_attn_weights: bool,
    /// Without a mask: hide the keys after each query's position.
    pub is_causal: bool,
}

impl MultiheadAttention {
    pub fn new(embed_dim: usize, num_heads: usize) -> MultiheadAttention {
        MultiheadAttention::with(embed_dim, num_heads, 0.0, true, false, false, None, None, false)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn with(
        embed_dim: usize,
        num_heads: usize,
        dropout: f64,
        bias: bool,
        add_bias_kv: bool,
        add_zero_attn: bool,
        kdim: Option<usize>,
        vdim: Option<usize>,
        batch_first: bool,
    ) -> MultiheadAttention {
        assert!(num_heads > 0 && embed_dim.is_multiple_of(num_heads), "embed_dim must be divisible by num_heads");
        let (kdim, vdim) = (kdim.unwrap_or(embed_dim), vdim.unwrap_or(embed_dim));
        let same = kdim == embed_dim && vdim == embed_dim;
        let e = embed_dim;
        let m = MultiheadAttention {
            embed_dim,
            num_heads,
            dropout,
            batch_first,
            in_proj_weight: same.then(|| param(&[3 * e, e])),
            q_proj_weight: (!same).then(|| param(&[e, e])),
            k_proj_weight: (!same).then(|| param(&[e, kdim])),
            v_proj_weight: (!same).then(|| param(&[e, vdim])),
            in_proj_bias: bias.then(|| param(&[3 * e])),
            // PyTorch creates out_proj (drawing its default init) before resetting the rest.
            out_proj: Linear::with_bias(e, e, bias),
            bias_k: add_bias_kv.then(|| param(&[1, 1, e])),
            bias_v: add_bias_kv.then(|| param(&[1, 1, e])),
            add_zero_attn,
            training: Training::default(),
        };
        use crate::init::{constant_, xavier_normal_, xavier_uniform_};
        for w in [&m.in_proj_weight, &m.q_proj_weight, &m.k_proj_weight, &m.v_proj_weight].into_iter().flatten() {
            xavier_uniform_(w, 1.0, None);
        }
        if let Some(b) = &m.in_proj_bias {
            constant_(b, 0.0);
            constant_(m.out_proj.bias.as_ref().unwrap(), 0.0);
        }
        for b in [&m.bias_k, &m.bias_v].into_iter().flatten() {
            xavier_normal_(b, 1.0, None);
        }
        m
    }

    fn projections(&self) -> [(Tensor, Option<Tensor>); 3] {
        let e = self.embed_dim;
        let bias = |i: usize| self.in_proj_bias.as_ref().map(|b| b.narrow(0, (i * e) as i64, e));
        match &self.in_proj_weight {
            Some(w) => [0, 1, 2].map(|i| (w.narrow(0, (i * e) as i64, e), bias(i))),
            None => [
                (self.q_proj_weight.clone().unwrap(), bias(0)),
                (self.k_proj_weight.clone().unwrap(), bias(1)),
                (self.v_proj_weight.clone().unwrap(), bias(2)),
            ],
        }
    }

    /// `forward(query, key, value, ...)`.
    pub fn forward(&self, query: &Tensor, key: &Tensor, value: &Tensor, o: &MhaCall) -> MhaOutput {
        let unbatched = query.dim() == 2;
        let seq_first = |t: &Tensor| {
            if unbatched {
                t.unsqueeze(1)
            } else if self.batch_first {
                t.transpose(0, 1)
            } else {
                t.clone()
            }
        };
        let (q, k, v) = (seq_first(query), seq_first(key), seq_first(value));
        let (l, n, e) = (q.size(0), q.size(1), self.embed_dim);
        let (h, hd) = (self.num_heads, self.embed_dim / self.num_heads);
        let [(wq, bq), (wk, bk), (wv, bv)] = self.projections();
        let q = q.linear(&wq, bq.as_ref());
        let mut k = k.linear(&wk, bk.as_ref());
        let mut v = v.linear(&wv, bv.as_ref());
        let dt = q.dtype();
        // Masks become additive floats: -inf where attending is not allowed.
        let additive = |m: &Tensor| {
            if m.dtype() == DType::Bool {
                Tensor::zeros(&m.shape(), dt).masked_fill(m, f64::NEG_INFINITY)
            } else {
                m.to_dtype(dt)
            }
        };
        let p = if self.training.get() { self.dropout } else { 0.0 };
        // Without weights to return, masks or dropout (a causal mask alone is a flag, when
        // no padded key sits past the last position), attention is sdpa's fused kernel,
        // as PyTorch's module calls sdpa there: the L x S weights are never made.
        let padded = self.bias_k.is_some() || self.add_zero_attn;
        let fused = !o.need_weights
            && o.attn_mask.is_none()
            && o.key_padding_mask.is_none()
            && p == 0.0
            && !(o.is_causal && padded);
        let mut attn_mask = o.attn_mask.map(additive);
        if attn_mask.is_none() && o.is_causal && !fused {
            attn_mask = Some(crate::functional::causal_bias(l, k.size(0), dt));
        }
        let mut kpm = o.key_padding_mask.map(|m| if unbatched { additive(m).unsqueeze(0) } else { additive(m) });
        let pad_col = |m: Option<Tensor>| m.map(|m| m.pad(&[0, 1], psionic_array::PadMode::Constant, 0.0));
        if let (Some(bk), Some(bv)) = (&self.bias_k, &self.bias_v) {
            k = Tensor::cat(&[&k, &bk.expand(&[1, n as i64, e as i64])], 0);
            v = Tensor::cat(&[&v, &bv.expand(&[1, n as i64, e as i64])], 0);
            attn_mask = pad_col(attn_mask);
            kpm = pad_col(kpm);
        }
        let heads = |t: &Tensor| t.reshape(&[t.size(0) as i64, (n * h) as i64, hd as i64]).transpose(0, 1);
        let (q, mut k, mut v) = (heads(&q), heads(&k), heads(&v));
        if self.add_zero_attn {
            let z = Tensor::zeros(&[n * h, 1, hd], dt);
            k = Tensor::cat(&[&k, &z], 1);
            v = Tensor::cat(&[&v, &z], 1);
            attn_mask = pad_col(attn_mask);
            kpm = pad_col(kpm);
        }
        let s = k.size(1) as i64;
        let mut bias = attn_mask.map(|m| if m.dim() == 2 { m.unsqueeze(0) } else { m });
        if let Some(p) = kpm {
            let p =
                p.reshape(&[n as i64, 1, 1, s]).expand(&[n as i64, h as i64, 1, s]).reshape(&[(n * h) as i64, 1, s]);
            bias = Some(match bias {
                Some(b) => b.add(&p),
                None => p,
            });
        }
        let (attended, w) = if fused {
            let call = crate::functional::Sdpa { is_causal: o.is_causal, ..Default::default() };
            (crate::functional::scaled_dot_product_attention(&q, &k, &v, &call), None)
        } else {
            let scores = q.mul(1.0 / (hd as f64).sqrt()).matmul(&k.transpose(1, 2));
            let scores = match &bias {
                Some(b) => scores.add(b),
                None => scores,
            };
            let w = scores.softmax(-1);
            let wd = crate::functional::dropout(&w, p, true, None);
            (wd.matmul(&v), Some(w))
        };
        let out = attended.transpose(0, 1).reshape(&[(l * n) as i64, e as i64]);
        let out =
            out.linear(&self.out_proj.weight, self.out_proj.bias.as_ref()).reshape(&[l as i64, n as i64, e as i64]);
        let out = if unbatched {
            out.squeeze_dims(&[1])
        } else if self.batch_first {
            out.transpose(0, 1)
        } else {
            out
        };
        let weights = w.filter(|_| o.need_weights).map(|w| {
            let w = w.reshape(&[n as i64, h as i64, l as i64, s]);
            let w = if o.average_attn_weights { w.mean(1, false) } else { w };
            if unbatched {
                w.squeeze_dims(&[0])
            } else {
                w
            }
        });
        MhaOutput { output: out, weights }
    }
}
