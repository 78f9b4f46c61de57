//! `torch.nn` module classes built from a case's constructor arguments (PyTorch's names
//! and defaults), and how each is called.

use super::{unsupported, R};
use crate::value::Value;
use psionic_array::{BagMode, DType, PadMode, Padding, Pool, Reduction, Resize, Tensor};
use psionic_nn::*;
use std::collections::BTreeMap;

type Kw = BTreeMap<String, Value>;

/// A module with how it is called.
pub enum Built {
    Forward(Box<dyn Forward>),
    Bilinear(Bilinear),
    Mha(MultiheadAttention),
    Rnn(Recurrent),
    Cell(Cell),
    Decoder(Box<TransformerDecoderLayer>),
    Loss(Loss),
    Bag(EmbeddingBag),
}

impl Built {
    pub fn module(&self) -> &dyn Module {
        match self {
            Built::Forward(m) => &**m,
            Built::Bilinear(m) => m,
            Built::Mha(m) => m,
            Built::Rnn(m) => m,
            Built::Cell(m) => m,
            Built::Decoder(m) => &**m,
            Built::Loss(m) => m,
            Built::Bag(m) => m,
        }
    }

    /// `module(*xs, **call)`, its outputs flattened as the harvester flattens them.
    pub fn run(&self, xs: &[Tensor], call: &Kw) -> R<Vec<Tensor>> {
        let x = &xs[0];
        Ok(match self {
            Built::Forward(m) => vec![m.forward(x)],
            Built::Bilinear(m) => vec![m.forward(x, &xs[1])],
            Built::Mha(m) => {
                let average = match call.get("average_attn_weights") {
                    Some(v) => v.bool()?,
                    None => true,
                };
                let o = m.forward(
                    x,
                    &xs[1],
                    &xs[2],
                    &MhaCall { need_weights: true, average_attn_weights: average, ..Default::default() },
                );
                vec![o.output, o.weights.expect("asked for")]
            }
            Built::Rnn(m) => {
                let (out, s) = m.forward(x, None);
                [vec![out, s.h], s.c.into_iter().collect()].concat()
            }
            Built::Cell(m) => {
                let s = m.forward(x, None);
                [vec![s.h], s.c.into_iter().collect()].concat()
            }
            Built::Decoder(m) => vec![m.forward(x, &xs[1], &Default::default())],
            Built::Loss(m) => vec![m.forward(x, &xs[1], &xs[2..].iter().collect::<Vec<_>>())],
            Built::Bag(m) => vec![m.forward(x, xs.get(1), None)],
        })
    }
}

fn get<'a>(kw: &'a Kw, name: &str) -> Option<&'a Value> {
    kw.get(name).filter(|v| !matches!(v, Value::None))
}
fn int(kw: &Kw, name: &str, default: i64) -> R<i64> {
    get(kw, name).map_or(Ok(default), Value::i64)
}
fn us(kw: &Kw, name: &str, default: usize) -> R<usize> {
    Ok(int(kw, name, default as i64)? as usize)
}
fn float(kw: &Kw, name: &str, default: f64) -> R<f64> {
    get(kw, name).map_or(Ok(default), Value::f64)
}
fn flag(kw: &Kw, name: &str, default: bool) -> R<bool> {
    get(kw, name).map_or(Ok(default), Value::bool)
}
fn sizes(kw: &Kw, name: &str, default: &[usize]) -> R<Vec<usize>> {
    get(kw, name).map_or(Ok(default.to_vec()), |v| Ok(v.ints()?.into_iter().map(|i| i as usize).collect()))
}
fn string<'a>(kw: &'a Kw, name: &str, default: &'a str) -> &'a str {
    match get(kw, name) {
        Some(Value::Str(s)) => s,
        _ => default,
    }
}
fn floats(v: &Value, dtype: DType) -> R<Tensor> {
    match v {
        Value::List(xs) => {
            Ok(Tensor::from_vec(xs.iter().map(Value::f64).collect::<R<Vec<f64>>>()?, &[xs.len()]).to_dtype(dtype))
        }
        Value::Tensor(t) => Ok(t.clone()),
        _ => unsupported("expected a list of floats"),
    }
}
fn dims_of(cls: &str) -> usize {
    if cls.contains("1d") {
        1
    } else if cls.contains("3d") {
        3
    } else {
        2
    }
}
fn reduction(kw: &Kw) -> R<Reduction> {
    Reduction::from_name(string(kw, "reduction", "mean")).map_or_else(|| unsupported("reduction"), Ok)
}

fn conv_opts(kw: &Kw, transposed: bool) -> R<ConvOpts> {
    let padding = match get(kw, "padding") {
        Some(Value::Str(s)) if s == "same" => Padding::Same,
        Some(Value::Str(s)) if s == "valid" => Padding::Valid,
        _ => Padding::Explicit(sizes(kw, "padding", &[0])?),
    };
    let mode = match string(kw, "padding_mode", "zeros") {
        "zeros" => "zeros",
        "reflect" => "reflect",
        "replicate" => "replicate",
        "circular" => "circular",
        m => return unsupported(format!("padding_mode {m}")),
    };
    Ok(ConvOpts {
        stride: sizes(kw, "stride", &[1])?,
        padding,
        dilation: sizes(kw, "dilation", &[1])?,
        groups: us(kw, "groups", 1)?,
        bias: flag(kw, "bias", true)?,
        padding_mode: mode,
        output_padding: if transposed { sizes(kw, "output_padding", &[0])? } else { vec![0] },
    })
}

fn activation(cls: &str, kw: &Kw) -> R<Option<ActivationKind>> {
    use ActivationKind::*;
    Ok(Some(match cls {
        "ReLU" => ReLU,
        "ReLU6" => ReLU6,
        "LeakyReLU" => LeakyReLU { negative_slope: float(kw, "negative_slope", 0.01)? },
        "ELU" => ELU { alpha: float(kw, "alpha", 1.0)? },
        "CELU" => CELU { alpha: float(kw, "alpha", 1.0)? },
        "SELU" => SELU,
        "GELU" => GELU { approximate: if string(kw, "approximate", "none") == "tanh" { "tanh" } else { "none" } },
        "SiLU" => SiLU,
        "Mish" => Mish,
        "Sigmoid" => Sigmoid,
        "Tanh" => Tanh,
        "Softplus" => Softplus { beta: float(kw, "beta", 1.0)?, threshold: float(kw, "threshold", 20.0)? },
        "Softsign" => Softsign,
        "Tanhshrink" => Tanhshrink,
        "Hardshrink" => Hardshrink { lambd: float(kw, "lambd", 0.5)? },
        "Softshrink" => Softshrink { lambd: float(kw, "lambd", 0.5)? },
        "Hardtanh" => Hardtanh { min_val: float(kw, "min_val", -1.0)?, max_val: float(kw, "max_val", 1.0)? },
        "Hardsigmoid" => Hardsigmoid,
        "Hardswish" => Hardswish,
        "LogSigmoid" => LogSigmoid,
        "Threshold" => Threshold { threshold: float(kw, "threshold", 0.0)?, value: float(kw, "value", 0.0)? },
        "Softmax" => Softmax { dim: int(kw, "dim", -1)? },
        "LogSoftmax" => LogSoftmax { dim: int(kw, "dim", -1)? },
        "Softmin" => Softmin { dim: int(kw, "dim", -1)? },
        "GLU" => GLU { dim: int(kw, "dim", -1)? },
        "RReLU" => RReLU { lower: float(kw, "lower", 1.0 / 8.0)?, upper: float(kw, "upper", 1.0 / 3.0)? },
        _ => return Ok(None),
    }))
}

fn loss(cls: &str, kw: &Kw, dtype: DType) -> R<Option<Loss>> {
    use LossKind::*;
    let kind = match cls {
        "MSELoss" => MSE,
        "L1Loss" => L1,
        "SmoothL1Loss" => SmoothL1 { beta: float(kw, "beta", 1.0)? },
        "HuberLoss" => Huber { delta: float(kw, "delta", 1.0)? },
        "CrossEntropyLoss" => CrossEntropy {
            ignore_index: int(kw, "ignore_index", -100)?,
            label_smoothing: float(kw, "label_smoothing", 0.0)?,
        },
        "NLLLoss" => NLL { ignore_index: int(kw, "ignore_index", -100)? },
        "BCELoss" => BCE,
        "BCEWithLogitsLoss" => BCEWithLogits,
        "KLDivLoss" => KLDiv {
            batchmean: string(kw, "reduction", "mean") == "batchmean",
            log_target: flag(kw, "log_target", false)?,
        },
        "PoissonNLLLoss" => PoissonNLL {
            log_input: flag(kw, "log_input", true)?,
            full: flag(kw, "full", false)?,
            eps: float(kw, "eps", 1e-8)?,
        },
        "GaussianNLLLoss" => GaussianNLL { full: flag(kw, "full", false)?, eps: float(kw, "eps", 1e-6)? },
        "MarginRankingLoss" => MarginRanking { margin: float(kw, "margin", 0.0)? },
        "HingeEmbeddingLoss" => HingeEmbedding { margin: float(kw, "margin", 1.0)? },
        "MultiLabelMarginLoss" => MultiLabelMargin,
        "MultiLabelSoftMarginLoss" => MultiLabelSoftMargin,
        "MultiMarginLoss" => MultiMargin { p: int(kw, "p", 1)? as u32, margin: float(kw, "margin", 1.0)? },
        "SoftMarginLoss" => SoftMargin,
        "CosineEmbeddingLoss" => CosineEmbedding { margin: float(kw, "margin", 0.0)? },
        "TripletMarginLoss" => TripletMargin {
            margin: float(kw, "margin", 1.0)?,
            p: float(kw, "p", 2.0)?,
            eps: float(kw, "eps", 1e-6)?,
            swap: flag(kw, "swap", false)?,
        },
        "CTCLoss" => CTC { blank: us(kw, "blank", 0)?, zero_infinity: flag(kw, "zero_infinity", false)? },
        _ => return Ok(None),
    };
    let r = if string(kw, "reduction", "mean") == "batchmean" { Reduction::Mean } else { reduction(kw)? };
    let mut l = Loss::new(kind).reduction(r);
    l.weight = get(kw, "weight").map(|v| floats(v, dtype)).transpose()?;
    l.pos_weight = get(kw, "pos_weight").map(|v| floats(v, dtype)).transpose()?;
    Ok(Some(l))
}

/// `torch.nn.<cls>(**kw)`.
pub fn build(cls: &str, kw: &Kw, dtype: DType) -> R<Built> {
    let fwd = |m: Box<dyn Forward>| Ok(Built::Forward(m));
    if let Some(kind) = activation(cls, kw)? {
        return fwd(Box::new(Activation::new(kind)));
    }
    if let Some(l) = loss(cls, kw, dtype)? {
        return Ok(Built::Loss(l));
    }
    let d = dims_of(cls);
    let rnn_opts = || -> R<RnnOpts> {
        Ok(RnnOpts {
            num_layers: us(kw, "num_layers", 1)?,
            bias: flag(kw, "bias", true)?,
            batch_first: flag(kw, "batch_first", false)?,
            dropout: float(kw, "dropout", 0.0)?,
            bidirectional: flag(kw, "bidirectional", false)?,
        })
    };
    let rnn_kind = || {
        if string(kw, "nonlinearity", "tanh") == "relu" {
            CellKind::Rnn { relu: true }
        } else {
            CellKind::Rnn { relu: false }
        }
    };
    let pool = |k: usize| -> R<Pool> {
        let kernel = sizes(kw, "kernel_size", &[1])?;
        let stride = sizes(kw, "stride", &[])?;
        Ok(Pool::new(
            k,
            &kernel,
            &stride,
            &sizes(kw, "padding", &[0])?,
            &sizes(kw, "dilation", &[1])?,
            flag(kw, "ceil_mode", false)?,
        ))
    };
    let tf_opts = || -> R<TransformerOpts> {
        Ok(TransformerOpts {
            dim_feedforward: us(kw, "dim_feedforward", 2048)?,
            dropout: float(kw, "dropout", 0.1)?,
            activation: if string(kw, "activation", "relu") == "gelu" { "gelu" } else { "relu" },
            layer_norm_eps: float(kw, "layer_norm_eps", 1e-5)?,
            batch_first: flag(kw, "batch_first", false)?,
            norm_first: flag(kw, "norm_first", false)?,
            bias: flag(kw, "bias", true)?,
        })
    };
    let momentum = || -> R<Option<f64>> {
        match kw.get("momentum") {
            Some(Value::None) => Ok(None),
            _ => Ok(Some(float(kw, "momentum", 0.1)?)),
        }
    };
    let pad_mode = |c: &str| match c {
        c if c.starts_with("Reflection") => PadMode::Reflect,
        c if c.starts_with("Replication") => PadMode::Replicate,
        c if c.starts_with("Circular") => PadMode::Circular,
        _ => PadMode::Constant,
    };
    match cls {
        "Linear" => fwd(Box::new(Linear::with_bias(
            us(kw, "in_features", 0)?,
            us(kw, "out_features", 0)?,
            flag(kw, "bias", true)?,
        ))),
        "Bilinear" => Ok(Built::Bilinear(Bilinear::new(
            us(kw, "in1_features", 0)?,
            us(kw, "in2_features", 0)?,
            us(kw, "out_features", 0)?,
            flag(kw, "bias", true)?,
        ))),
        "Identity" => fwd(Box::new(Identity)),
        "Flatten" => fwd(Box::new(Flatten { start_dim: int(kw, "start_dim", 1)?, end_dim: int(kw, "end_dim", -1)? })),
        "Unflatten" => fwd(Box::new(Unflatten {
            dim: int(kw, "dim", 0)?,
            sizes: get(kw, "unflattened_size").map_or(unsupported("unflattened_size"), Value::ints)?,
        })),
        "Embedding" => {
            let o = EmbeddingOpts {
                padding_idx: get(kw, "padding_idx").map(Value::i64).transpose()?,
                max_norm: get(kw, "max_norm").map(Value::f64).transpose()?,
                norm_type: float(kw, "norm_type", 2.0)?,
                scale_grad_by_freq: flag(kw, "scale_grad_by_freq", false)?,
            };
            fwd(Box::new(Embedding::with(us(kw, "num_embeddings", 0)?, us(kw, "embedding_dim", 0)?, o)))
        }
        "EmbeddingBag" => {
            let mode = BagMode::from_name(string(kw, "mode", "mean")).map_or(unsupported("mode"), Ok)?;
            Ok(Built::Bag(EmbeddingBag::new(
                us(kw, "num_embeddings", 0)?,
                us(kw, "embedding_dim", 0)?,
                mode,
                Default::default(),
            )))
        }
        "Conv1d" | "Conv2d" | "Conv3d" => fwd(Box::new(Conv::new(
            d,
            us(kw, "in_channels", 0)?,
            us(kw, "out_channels", 0)?,
            &sizes(kw, "kernel_size", &[1])?,
            conv_opts(kw, false)?,
        ))),
        "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => fwd(Box::new(ConvTranspose::new(
            d,
            us(kw, "in_channels", 0)?,
            us(kw, "out_channels", 0)?,
            &sizes(kw, "kernel_size", &[1])?,
            conv_opts(kw, true)?,
        ))),
        "MaxPool1d" | "MaxPool2d" | "MaxPool3d" => fwd(Box::new(Pooling::with(PoolKind::Max, d, pool(d)?))),
        "AvgPool1d" | "AvgPool2d" | "AvgPool3d" => {
            let mut p =
                Pooling::with(PoolKind::Avg { count_include_pad: flag(kw, "count_include_pad", true)? }, d, pool(d)?);
            p.divisor = get(kw, "divisor_override").map(Value::i64).transpose()?;
            fwd(Box::new(p))
        }
        "LPPool1d" | "LPPool2d" | "LPPool3d" => {
            fwd(Box::new(Pooling::with(PoolKind::Lp { norm: float(kw, "norm_type", 2.0)? }, d, pool(d)?)))
        }
        "AdaptiveAvgPool1d" | "AdaptiveAvgPool2d" | "AdaptiveAvgPool3d" | "AdaptiveMaxPool1d" | "AdaptiveMaxPool2d"
        | "AdaptiveMaxPool3d" => {
            let out = sizes(kw, "output_size", &[1])?;
            let out = if out.len() == 1 { vec![out[0]; d] } else { out };
            fwd(Box::new(if cls.contains("Max") { AdaptivePool::max(&out) } else { AdaptivePool::avg(&out) }))
        }
        "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d" => fwd(Box::new(BatchNorm::with(
            d,
            us(kw, "num_features", 0)?,
            float(kw, "eps", 1e-5)?,
            momentum()?,
            flag(kw, "affine", true)?,
            flag(kw, "track_running_stats", true)?,
        ))),
        "InstanceNorm1d" | "InstanceNorm2d" | "InstanceNorm3d" => fwd(Box::new(InstanceNorm::new(
            d,
            us(kw, "num_features", 0)?,
            float(kw, "eps", 1e-5)?,
            momentum()?,
            flag(kw, "affine", false)?,
            flag(kw, "track_running_stats", false)?,
        ))),
        "LayerNorm" => fwd(Box::new(LayerNorm::with(
            &sizes(kw, "normalized_shape", &[])?,
            float(kw, "eps", 1e-5)?,
            flag(kw, "elementwise_affine", true)?,
            flag(kw, "bias", true)?,
        ))),
        "GroupNorm" => fwd(Box::new(GroupNorm::new(
            us(kw, "num_groups", 1)?,
            us(kw, "num_channels", 0)?,
            float(kw, "eps", 1e-5)?,
            flag(kw, "affine", true)?,
        ))),
        "RMSNorm" => fwd(Box::new(RMSNorm::new(
            &sizes(kw, "normalized_shape", &[])?,
            get(kw, "eps").map(Value::f64).transpose()?,
            flag(kw, "elementwise_affine", true)?,
        ))),
        "LocalResponseNorm" => fwd(Box::new(LocalResponseNorm {
            size: us(kw, "size", 1)?,
            alpha: float(kw, "alpha", 1e-4)?,
            beta: float(kw, "beta", 0.75)?,
            k: float(kw, "k", 1.0)?,
        })),
        "PReLU" => fwd(Box::new(PReLU::new(us(kw, "num_parameters", 1)?, float(kw, "init", 0.25)?))),
        "Dropout" | "Dropout1d" | "Dropout2d" | "Dropout3d" | "AlphaDropout" | "FeatureAlphaDropout" => {
            let kind = match cls {
                "Dropout" => DropoutKind::Dropout,
                "Dropout1d" => DropoutKind::Dropout1d,
                "Dropout2d" => DropoutKind::Dropout2d,
                "Dropout3d" => DropoutKind::Dropout3d,
                "AlphaDropout" => DropoutKind::AlphaDropout,
                _ => DropoutKind::FeatureAlphaDropout,
            };
            fwd(Box::new(Dropout::of(kind, float(kw, "p", 0.5)?)))
        }
        "RNN" | "LSTM" | "GRU" => {
            let kind = match cls {
                "LSTM" => CellKind::Lstm,
                "GRU" => CellKind::Gru,
                _ => rnn_kind(),
            };
            if int(kw, "proj_size", 0)? != 0 {
                return unsupported("LSTM proj_size");
            }
            Ok(Built::Rnn(Recurrent::new(kind, us(kw, "input_size", 0)?, us(kw, "hidden_size", 0)?, rnn_opts()?)))
        }
        "RNNCell" | "LSTMCell" | "GRUCell" => {
            let kind = match cls {
                "LSTMCell" => CellKind::Lstm,
                "GRUCell" => CellKind::Gru,
                _ => rnn_kind(),
            };
            Ok(Built::Cell(Cell::new(
                kind,
                us(kw, "input_size", 0)?,
                us(kw, "hidden_size", 0)?,
                flag(kw, "bias", true)?,
            )))
        }
        "MultiheadAttention" => Ok(Built::Mha(MultiheadAttention::with(
            us(kw, "embed_dim", 0)?,
            us(kw, "num_heads", 1)?,
            float(kw, "dropout", 0.0)?,
            flag(kw, "bias", true)?,
            flag(kw, "add_bias_kv", false)?,
            flag(kw, "add_zero_attn", false)?,
            get(kw, "kdim").map(Value::i64).transpose()?.map(|v| v as usize),
            get(kw, "vdim").map(Value::i64).transpose()?.map(|v| v as usize),
            flag(kw, "batch_first", false)?,
        ))),
        "TransformerEncoderLayer" => {
            fwd(Box::new(TransformerEncoderLayer::new(us(kw, "d_model", 0)?, us(kw, "nhead", 1)?, tf_opts()?)))
        }
        "TransformerDecoderLayer" => Ok(Built::Decoder(Box::new(TransformerDecoderLayer::new(
            us(kw, "d_model", 0)?,
            us(kw, "nhead", 1)?,
            tf_opts()?,
        )))),
        "Upsample" => {
            let mode = Resize::from_name(string(kw, "mode", "nearest")).map_or(unsupported("mode"), Ok)?;
            let scale = match get(kw, "scale_factor") {
                Some(Value::List(v)) => Some(v.iter().map(Value::f64).collect::<R<Vec<_>>>()?),
                Some(v) => Some(vec![v.f64()?]),
                None => None,
            };
            fwd(Box::new(Upsample {
                size: get(kw, "size").map(|_| sizes(kw, "size", &[])).transpose()?,
                scale_factor: scale,
                mode,
                align_corners: get(kw, "align_corners").map(Value::bool).transpose()?,
            }))
        }
        "PixelShuffle" => fwd(Box::new(PixelShuffle(us(kw, "upscale_factor", 1)?))),
        "PixelUnshuffle" => fwd(Box::new(PixelUnshuffle(us(kw, "downscale_factor", 1)?))),
        c if c.ends_with("Pad1d") || c.ends_with("Pad2d") || c.ends_with("Pad3d") => {
            let pads = get(kw, "padding").map_or(unsupported("padding"), Value::ints)?;
            fwd(Box::new(Padder::new(pad_mode(c), d, &pads, float(kw, "value", 0.0)?)))
        }
        other => unsupported(format!("nn.{other}: no module mapping")),
    }
}
