//! RNN, LSTM and GRU (multi-layer, bidirectional, batch_first) and their cells, with
//! PyTorch's gate order (LSTM `i f g o`, GRU `r z n`), parameter names
//! (`weight_ih_l0`, `bias_hh_l1_reverse`, ...) and initialisation `U(-1/sqrt(H), 1/sqrt(H))`.
//! The input projection of a whole sequence is one matmul; the recurrence runs step by
//! step with tensor ops, so autograd differentiates through time.

use super::param;
use crate::module::{Member, ModuleExt, Training};
use crate::Module;
use psionic_array::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Elman RNN, `tanh` (or `relu`) nonlinearity.
    Rnn {
        relu: bool,
    },
    Lstm,
    Gru,
}

impl CellKind {
    fn gates(self) -> usize {
        match self {
            CellKind::Rnn { .. } => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
}

/// Weights of one layer and direction (or one cell), under a cell's names; an RNN's
/// layers add a suffix (`weight_ih_l0_reverse`).
#[derive(Module)]
struct Weights {
    #[param(name = "weight_ih")]
    w_ih: Tensor,
    #[param(name = "weight_hh")]
    w_hh: Tensor,
    #[param(name = "bias_ih")]
    b_ih: Option<Tensor>,
    #[param(name = "bias_hh")]
    b_hh: Option<Tensor>,
}

impl Weights {
    fn new(kind: CellKind, input: usize, hidden: usize, bias: bool) -> Weights {
        let g = kind.gates() * hidden;
        Weights {
            w_ih: param(&[g, input]),
            w_hh: param(&[g, hidden]),
            b_ih: bias.then(|| param(&[g])),
            b_hh: bias.then(|| param(&[g])),
        }
    }
}

/// One step: `gi` is the input's projection `x W_ihᵀ + b_ih`; returns the new `h`
/// (and `c` for LSTM).
fn step(kind: CellKind, w: &Weights, gi: &Tensor, h: &Tensor, c: Option<&Tensor>) -> (Tensor, Option<Tensor>) {
    let gh = h.linear(&w.w_hh, w.b_hh.as_ref());
    match kind {
        CellKind::Rnn { relu } => {
            let a = gi.add(&gh);
            (if relu { a.relu() } else { a.tanh() }, None)
        }
        CellKind::Lstm => {
            let g = gi.add(&gh).chunk(4, -1);
            let (i, f, gg, o) = (g[0].sigmoid(), g[1].sigmoid(), g[2].tanh(), g[3].sigmoid());
            let c = f.mul(c.expect("LSTM state")).add(i.mul(&gg));
            (o.mul(c.tanh()), Some(c))
        }
        CellKind::Gru => {
            let (a, b) = (gi.chunk(3, -1), gh.chunk(3, -1));
            let r = a[0].add(&b[0]).sigmoid();
            let z = a[1].add(&b[1]).sigmoid();
            let n = a[2].add(r.mul(&b[2])).tanh();
            (n.sub(z.mul(&n)).add(z.mul(h)), None)
        }
    }
}

/// PyTorch's `reset_parameters`: every parameter, in order, from `U(-1/sqrt(H), 1/sqrt(H))`.
fn reset(params: &[Tensor], hidden: usize) {
    let b = 1.0 / (hidden as f64).sqrt();
    for p in params {
        crate::init::uniform_(p, -b, b, None);
    }
}

/// Constructor options of [`Recurrent`] (PyTorch's defaults via `Default`).
#[derive(Clone, Debug)]
pub struct RnnOpts {
    pub num_layers: usize,
    pub bias: bool,
    pub batch_first: bool,
    pub dropout: f64,
    pub bidirectional: bool,
}

impl Default for RnnOpts {
    fn default() -> Self {
        RnnOpts { num_layers: 1, bias: true, batch_first: false, dropout: 0.0, bidirectional: false }
    }
}

/// Hidden state: `h` `[layers * directions, N, H]`, and `c` for LSTM.
#[derive(Clone)]
pub struct RnnState {
    pub h: Tensor,
    pub c: Option<Tensor>,
}

/// RNN, LSTM or GRU over a sequence.
#[derive(Module)]
#[module(name = kind_name, repr = repr_args)]
pub struct Recurrent {
    pub kind: CellKind,
    pub input_size: usize,
    pub hidden_size: usize,
    pub opts: RnnOpts,
    /// Per layer, per direction.
    #[module(visit = visit_layers)]
    layers: Vec<Vec<Weights>>,
    #[training]
    training: Training,
}

impl Recurrent {
    pub fn new(kind: CellKind, input_size: usize, hidden_size: usize, opts: RnnOpts) -> Recurrent {
        assert!(opts.num_layers > 0, "num_layers must be positive");
        let dirs = if opts.bidirectional { 2 } else { 1 };
        let layers: Vec<Vec<Weights>> = (0..opts.num_layers)
            .map(|l| {
                let input = if l == 0 { input_size } else { hidden_size * dirs };
                (0..dirs).map(|_| Weights::new(kind, input, hidden_size, opts.bias)).collect()
            })
            .collect();
        let r = Recurrent { kind, input_size, hidden_size, opts, layers, training: Training::default() };
        reset(&r.parameters(), hidden_size);
        r
    }

    /// `forward(input, hx)`: input `[T, N, in]` (`[N, T, in]` with batch_first, `[T, in]`
    /// unbatched); returns the last layer's outputs `[T, N, D * H]` and the final state.
    pub fn forward(&self, input: &Tensor, state: Option<&RnnState>) -> (Tensor, RnnState) {
        let unbatched = input.dim() == 2;
        let x = if unbatched {
            input.unsqueeze(1)
        } else if self.opts.batch_first {
            input.transpose(0, 1)
        } else {
            input.clone()
        };
        let (t_len, n) = (x.size(0), x.size(1));
        let dirs = self.layers[0].len();
        let lstm = self.kind == CellKind::Lstm;
        let zeros = || Tensor::zeros(&[self.opts.num_layers * dirs, n, self.hidden_size], x.dtype());
        let (h0, c0) = match state {
            Some(s) => {
                let fix = |t: &Tensor| if unbatched { t.unsqueeze(1) } else { t.clone() };
                (fix(&s.h), s.c.as_ref().map(fix))
            }
            None => (zeros(), lstm.then(zeros)),
        };
        let (mut hs, mut cs) = (vec![], vec![]);
        let mut layer_in = x;
        for (l, layer) in self.layers.iter().enumerate() {
            let mut outs = vec![];
            for (d, w) in layer.iter().enumerate() {
                let k = (l * dirs + d) as i64;
                let mut h = h0.select(0, k);
                let mut c = c0.as_ref().map(|c| c.select(0, k));
                let gi = layer_in.linear(&w.w_ih, w.b_ih.as_ref());
                let mut seq: Vec<Option<Tensor>> = vec![None; t_len];
                for s in 0..t_len {
                    let t = if d == 0 { s } else { t_len - 1 - s };
                    let (nh, nc) = step(self.kind, w, &gi.select(0, t as i64), &h, c.as_ref());
                    h = nh;
                    c = nc;
                    seq[t] = Some(h.clone());
                }
                outs.push(Tensor::stack(&seq.iter().flatten().collect::<Vec<_>>(), 0));
                hs.push(h);
                if let Some(c) = c {
                    cs.push(c);
                }
            }
            layer_in =
                if outs.len() == 1 { outs.pop().unwrap() } else { Tensor::cat(&outs.iter().collect::<Vec<_>>(), 2) };
            if l + 1 < self.layers.len() && self.opts.dropout > 0.0 {
                layer_in = crate::functional::dropout(&layer_in, self.opts.dropout, self.training.get(), None);
            }
        }
        let stack = |v: &[Tensor]| {
            let t = Tensor::stack(&v.iter().collect::<Vec<_>>(), 0);
            if unbatched {
                t.squeeze_dims(&[1])
            } else {
                t
            }
        };
        let out = if unbatched {
            layer_in.squeeze_dims(&[1])
        } else if self.opts.batch_first {
            layer_in.transpose(0, 1)
        } else {
            layer_in
        };
        (out, RnnState { h: stack(&hs), c: lstm.then(|| stack(&cs)) })
    }
}

impl Recurrent {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        match self.kind {
            CellKind::Rnn { .. } => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
    /// Each layer's weights, named as PyTorch's `_flat_weights_names` are.
    fn visit_layers<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        for (l, layer) in self.layers.iter().enumerate() {
            for (d, w) in layer.iter().enumerate() {
                let suffix = if d == 0 { format!("l{l}") } else { format!("l{l}_reverse") };
                w.visit(&mut |name, m| f(&format!("{name}_{suffix}"), m));
            }
        }
    }
    /// The sizes shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("{}, {}, num_layers={}", self.input_size, self.hidden_size, self.opts.num_layers)
    }
}

/// RNNCell, LSTMCell or GRUCell: one step.
#[derive(Module)]
#[module(name = kind_name)]
pub struct Cell {
    pub kind: CellKind,
    #[child(flatten)]
    w: Weights,
    pub hidden_size: usize,
}

impl Cell {
    pub fn new(kind: CellKind, input_size: usize, hidden_size: usize, bias: bool) -> Cell {
        let cell = Cell { kind, w: Weights::new(kind, input_size, hidden_size, bias), hidden_size };
        reset(&cell.parameters(), hidden_size);
        cell
    }

    /// `forward(input [N, in] or [in], state)`: the new `h` (and `c` for LSTMCell).
    pub fn forward(&self, input: &Tensor, state: Option<&RnnState>) -> RnnState {
        let unbatched = input.dim() == 1;
        let x = if unbatched { input.unsqueeze(0) } else { input.clone() };
        let zeros = Tensor::zeros(&[x.size(0), self.hidden_size], x.dtype());
        let fix = |t: &Tensor| if unbatched { t.unsqueeze(0) } else { t.clone() };
        let h = state.map_or(zeros.clone(), |s| fix(&s.h));
        let c = match state.and_then(|s| s.c.as_ref()) {
            Some(c) => Some(fix(c)),
            None => (self.kind == CellKind::Lstm).then(|| zeros.clone()),
        };
        let gi = x.linear(&self.w.w_ih, self.w.b_ih.as_ref());
        let (h, c) = step(self.kind, &self.w, &gi, &h, c.as_ref());
        let un = |t: Tensor| if unbatched { t.squeeze_dims(&[0]) } else { t };
        RnnState { h: un(h), c: c.map(un) }
    }
}

impl Cell {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        match self.kind {
            CellKind::Rnn { .. } => "RNNCell",
            CellKind::Lstm => "LSTMCell",
            CellKind::Gru => "GRUCell",
        }
    }
}
