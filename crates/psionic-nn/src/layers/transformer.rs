//! TransformerEncoderLayer, TransformerDecoderLayer, their stacks and Transformer, with
//! PyTorch's submodule names (`self_attn`, `linear1`, `norm1`, ...), post-norm by default
//! (`norm_first` for pre-norm), and stacks whose layers start as copies of one layer,
//! as PyTorch's deep copies do.

use super::{Dropout, LayerNorm, Linear, MhaCall, ModuleList, MultiheadAttention};
use crate::module::{Forward, ModuleExt};
use crate::Module;
use psionic_array::Tensor;

/// Constructor options shared by the layers (PyTorch's defaults via `Default`).
#[derive(Clone, Debug)]
pub struct TransformerOpts {
    pub dim_feedforward: usize,
    pub dropout: f64,
    /// `"relu"` or `"gelu"`.
    pub activation: &'static str,
    pub layer_norm_eps: f64,
    pub batch_first: bool,
    pub norm_first: bool,
    pub bias: bool,
}

impl Default for TransformerOpts {
    fn default() -> Self {
        TransformerOpts {
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: "relu",
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
        }
    }
}

fn attention(d: usize, h: usize, o: &TransformerOpts) -> MultiheadAttention {
    MultiheadAttention::with(d, h, o.dropout, o.bias, false, false, None, None, o.batch_first)
}

fn norm(d: usize, o: &TransformerOpts) -> LayerNorm {
    LayerNorm::with(&[d], o.layer_norm_eps, true, o.bias)
}

/// The feed-forward block: `linear2(dropout(act(linear1(x))))`.
struct FeedForward<'a> {
    linear1: &'a Linear,
    linear2: &'a Linear,
    dropout: &'a Dropout,
    activation: &'static str,
}

impl FeedForward<'_> {
    fn apply(&self, x: &Tensor) -> Tensor {
        let h = self.linear1.forward(x);
        let h = if self.activation == "gelu" { h.gelu("none") } else { h.relu() };
        self.linear2.forward(&self.dropout.forward(&h))
    }
}

#[derive(Module)]
pub struct TransformerEncoderLayer {
    #[child]
    pub self_attn: MultiheadAttention,
    #[child]
    pub linear1: Linear,
    #[child]
    pub dropout: Dropout,
    #[child]
    pub linear2: Linear,
    #[child]
    pub norm1: LayerNorm,
    #[child]
    pub norm2: LayerNorm,
    #[child]
    pub dropout1: Dropout,
    #[child]
    pub dropout2: Dropout,
    pub opts: TransformerOpts,
}

impl TransformerEncoderLayer {
    pub fn new(d_model: usize, nhead: usize, o: TransformerOpts) -> TransformerEncoderLayer {
        TransformerEncoderLayer {
            self_attn: attention(d_model, nhead, &o),
            linear1: Linear::with_bias(d_model, o.dim_feedforward, o.bias),
            dropout: Dropout::new(o.dropout),
            linear2: Linear::with_bias(o.dim_feedforward, d_model, o.bias),
            norm1: norm(d_model, &o),
            norm2: norm(d_model, &o),
            dropout1: Dropout::new(o.dropout),
            dropout2: Dropout::new(o.dropout),
            opts: o,
        }
    }

    /// `forward(src, src_mask, src_key_padding_mask, is_causal)`.
    pub fn forward_masked(
        &self,
        src: &Tensor,
        mask: Option<&Tensor>,
        key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Tensor {
        let sa = |x: &Tensor| {
            let call = MhaCall {
                attn_mask: mask,
                key_padding_mask,
                is_causal: is_causal && mask.is_none(),
                ..Default::default()
            };
            self.dropout1.forward(&self.self_attn.forward(x, x, x, &call).output)
        };
        let ff = FeedForward {
            linear1: &self.linear1,
            linear2: &self.linear2,
            dropout: &self.dropout,
            activation: self.opts.activation,
        };
        let ff = |x: &Tensor| self.dropout2.forward(&ff.apply(x));
        if self.opts.norm_first {
            let x = src.add(sa(&self.norm1.forward(src)));
            x.add(ff(&self.norm2.forward(&x)))
        } else {
            let x = self.norm1.forward(&src.add(sa(src)));
            self.norm2.forward(&x.add(ff(&x)))
        }
    }
}

impl Forward for TransformerEncoderLayer {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_masked(x, None, None, false)
    }
}

#[derive(Module)]
pub struct TransformerDecoderLayer {
    #[child]
    pub self_attn: MultiheadAttention,
    #[child]
    pub multihead_attn: MultiheadAttention,
    #[child]
    pub linear1: Linear,
    #[child]
    pub dropout: Dropout,
    #[child]
    pub linear2: Linear,
    #[child]
    pub norm1: LayerNorm,
    #[child]
    pub norm2: LayerNorm,
    #[child]
    pub norm3: LayerNorm,
    #[child]
    pub dropout1: Dropout,
    #[child]
    pub dropout2: Dropout,
    #[child]
    pub dropout3: Dropout,
    pub opts: TransformerOpts,
}

/// Masks of a decoder call.
#[derive(Clone, Default)]
pub struct DecoderMasks<'a> {
    pub tgt_mask: Option<&'a Tensor>,
    pub memory_mask: Option<&'a Tensor>,
    pub tgt_key_padding_mask: Option<&'a Tensor>,
    pub memory_key_padding_mask: Option<&'a Tensor>,
    pub tgt_is_causal: bool,
}

impl TransformerDecoderLayer {
    pub fn new(d_model: usize, nhead: usize, o: TransformerOpts) -> TransformerDecoderLayer {
        TransformerDecoderLayer {
            self_attn: attention(d_model, nhead, &o),
            multihead_attn: attention(d_model, nhead, &o),
            linear1: Linear::with_bias(d_model, o.dim_feedforward, o.bias),
            dropout: Dropout::new(o.dropout),
            linear2: Linear::with_bias(o.dim_feedforward, d_model, o.bias),
            norm1: norm(d_model, &o),
            norm2: norm(d_model, &o),
            norm3: norm(d_model, &o),
            dropout1: Dropout::new(o.dropout),
            dropout2: Dropout::new(o.dropout),
            dropout3: Dropout::new(o.dropout),
            opts: o,
        }
    }

    pub fn forward(&self, tgt: &Tensor, memory: &Tensor, m: &DecoderMasks) -> Tensor {
        let sa = |x: &Tensor| {
            let call = MhaCall {
                attn_mask: m.tgt_mask,
                key_padding_mask: m.tgt_key_padding_mask,
                is_causal: m.tgt_is_causal && m.tgt_mask.is_none(),
                ..Default::default()
            };
            self.dropout1.forward(&self.self_attn.forward(x, x, x, &call).output)
        };
        let ca = |x: &Tensor| {
            let call =
                MhaCall { attn_mask: m.memory_mask, key_padding_mask: m.memory_key_padding_mask, ..Default::default() };
            self.dropout2.forward(&self.multihead_attn.forward(x, memory, memory, &call).output)
        };
        let ff = FeedForward {
            linear1: &self.linear1,
            linear2: &self.linear2,
            dropout: &self.dropout,
            activation: self.opts.activation,
        };
        let ff = |x: &Tensor| self.dropout3.forward(&ff.apply(x));
        if self.opts.norm_first {
            let x = tgt.add(sa(&self.norm1.forward(tgt)));
            let x = x.add(ca(&self.norm2.forward(&x)));
            x.add(ff(&self.norm3.forward(&x)))
        } else {
            let x = self.norm1.forward(&tgt.add(sa(tgt)));
            let x = self.norm2.forward(&x.add(ca(&x)));
            self.norm3.forward(&x.add(ff(&x)))
        }
    }
}

/// `num_layers` layers made by `make`, every one then given the first one's weights
/// (PyTorch deep-copies one layer).
fn clones<M: Module>(make: impl Fn() -> M, num_layers: usize) -> ModuleList<M> {
    let items: Vec<M> = (0..num_layers).map(|_| make()).collect();
    if let Some(first) = items.first() {
        let state = first.state_dict();
        for m in &items[1..] {
            m.load_state_dict(&state, true).expect("clones share a structure");
        }
    }
    ModuleList::new(items)
}

#[derive(Module)]
pub struct TransformerEncoder {
    #[child]
    pub layers: ModuleList<TransformerEncoderLayer>,
    #[child]
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    pub fn new(
        make: impl Fn() -> TransformerEncoderLayer,
        num_layers: usize,
        norm: Option<LayerNorm>,
    ) -> TransformerEncoder {
        TransformerEncoder { layers: clones(make, num_layers), norm }
    }

    pub fn forward_masked(
        &self,
        src: &Tensor,
        mask: Option<&Tensor>,
        key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Tensor {
        let x = self.layers.iter().fold(src.clone(), |x, l| l.forward_masked(&x, mask, key_padding_mask, is_causal));
        match &self.norm {
            Some(n) => n.forward(&x),
            None => x,
        }
    }
}

impl Forward for TransformerEncoder {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_masked(x, None, None, false)
    }
}

#[derive(Module)]
pub struct TransformerDecoder {
    #[child]
    pub layers: ModuleList<TransformerDecoderLayer>,
    #[child]
    pub norm: Option<LayerNorm>,
}

impl TransformerDecoder {
    pub fn new(
        make: impl Fn() -> TransformerDecoderLayer,
        num_layers: usize,
        norm: Option<LayerNorm>,
    ) -> TransformerDecoder {
        TransformerDecoder { layers: clones(make, num_layers), norm }
    }

    pub fn forward(&self, tgt: &Tensor, memory: &Tensor, m: &DecoderMasks) -> Tensor {
        let x = self.layers.iter().fold(tgt.clone(), |x, l| l.forward(&x, memory, m));
        match &self.norm {
            Some(n) => n.forward(&x),
            None => x,
        }
    }
}

/// The encoder-decoder Transformer; every parameter of more than one dim is reset with
/// `xavier_uniform_`, as PyTorch's constructor does.
#[derive(Module)]
pub struct Transformer {
    #[child]
    pub encoder: TransformerEncoder,
    #[child]
    pub decoder: TransformerDecoder,
}

impl Transformer {
    pub fn new(
        d_model: usize,
        nhead: usize,
        num_encoder_layers: usize,
        num_decoder_layers: usize,
        o: TransformerOpts,
    ) -> Transformer {
        let encoder = TransformerEncoder::new(
            || TransformerEncoderLayer::new(d_model, nhead, o.clone()),
            num_encoder_layers,
            Some(norm(d_model, &o)),
        );
        let decoder = TransformerDecoder::new(
            || TransformerDecoderLayer::new(d_model, nhead, o.clone()),
            num_decoder_layers,
            Some(norm(d_model, &o)),
        );
        let t = Transformer { encoder, decoder };
        for p in t.parameters() {
            if p.dim() > 1 {
                crate::init::xavier_uniform_(&p, 1.0, None);
            }
        }
        t
    }

    /// `forward(src, tgt, ...)`: encodes `src` and decodes `tgt` against it.
    pub fn forward(&self, src: &Tensor, tgt: &Tensor, src_mask: Option<&Tensor>, m: &DecoderMasks) -> Tensor {
        let memory = self.encoder.forward_masked(src, src_mask, None, false);
        self.decoder.forward(tgt, &memory, m)
    }
}
