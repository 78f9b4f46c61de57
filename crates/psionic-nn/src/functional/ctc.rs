//! `ctc_loss`: the connectionist temporal classification loss, by the forward
//! (alpha) recursion in log space over the blank-extended targets, every sample of the
//! batch advanced together one time step at a time. Written with tensor ops, so its
//! gradient with respect to the log-probabilities comes from autograd.

use psionic_array::mode::raise;
use psionic_array::{DType, Reduction, Tensor};
use psionic_core::Error;

/// Stands in for log(0): finite, so that sums of impossible paths keep zero gradients
/// instead of NaN (`exp(NEG - x)` is exactly zero in f32 and f64).
const NEG: f64 = -1e30;

fn invalid(msg: impl Into<String>) -> ! {
    raise(Error::invalid("ctc_loss", msg.into()))
}

/// `ctc_loss(log_probs [T, N, C] (or [T, C]), targets, input_lengths, target_lengths)`.
/// Targets are `[N, S]` padded or one concatenated 1-d tensor. `mean` divides each
/// sample's loss by its target length (at least 1) before averaging; `zero_infinity`
/// replaces impossible alignments' losses (and gradients) by zero.
pub fn ctc_loss(
    log_probs: &Tensor,
    targets: &Tensor,
    input_lengths: &[usize],
    target_lengths: &[usize],
    blank: usize,
    reduction: Reduction,
    zero_infinity: bool,
) -> Tensor {
    let unbatched = log_probs.dim() == 2;
    let lp = if unbatched { log_probs.unsqueeze(1) } else { log_probs.clone() };
    if lp.dim() != 3 {
        invalid(format!("log_probs must be 2-d or 3-d, got {}-d", log_probs.dim()));
    }
    let (t_max, n, c) = (lp.size(0), lp.size(1), lp.size(2));
    if input_lengths.len() != n || target_lengths.len() != n {
        invalid(format!("input_lengths and target_lengths must have {n} entries"));
    }
    if blank >= c {
        invalid(format!("blank must be in label range, got {blank} for {c} classes"));
    }
    let labels = targets.to_dtype(DType::I64).to_vec::<i64>();
    let per_sample: Vec<Vec<i64>> = if !unbatched && targets.dim() == 1 {
        let mut at = 0;
        target_lengths
            .iter()
            .map(|&l| {
                let s =
                    labels.get(at..at + l).unwrap_or_else(|| invalid("targets are shorter than the target lengths"));
                at += l;
                s.to_vec()
            })
            .collect()
    } else {
        let width = if targets.dim() == 0 { 0 } else { targets.size(-1) };
        (0..n)
            .map(|i| {
                let l = target_lengths[i];
                if l > width {
                    invalid(format!("Expected tensor to have size at least {l} at dimension 1, but got size {width}"));
                }
                labels[i * width..i * width + l].to_vec()
            })
            .collect()
    };
    for (i, &len) in input_lengths.iter().enumerate() {
        if len > t_max {
            invalid(format!("Expected input_lengths to have value at most {t_max}, but got value {len}"));
        }
        if per_sample[i].iter().any(|&l| l < 0 || l as usize >= c) {
            invalid("target label out of range");
        }
    }
    // Blank-extended targets `b l1 b l2 ... b`, padded with blanks to a common length.
    let s_max = 2 * target_lengths.iter().copied().max().unwrap_or(0) + 1;
    let mut ext = vec![blank as i64; n * s_max];
    let mut skip = vec![0.0f64; n * s_max];
    for i in 0..n {
        for (j, &l) in per_sample[i].iter().enumerate() {
            let s = 2 * j + 1;
            ext[i * s_max + s] = l;
            if j > 0 && per_sample[i][j - 1] != l {
                skip[i * s_max + s] = 1.0;
            }
        }
    }
    let dt = lp.dtype();
    let ext = Tensor::from_vec(ext, &[n, s_max]);
    let skip = Tensor::from_vec(skip, &[n, s_max]).to_dtype(DType::Bool);
    // Every step's log-probabilities of the extended labels, gathered once.
    let emitted = lp.gather(2, &ext.unsqueeze(0).expand(&[t_max as i64, n as i64, s_max as i64]));
    let emit = |t: usize| emitted.select(0, t as i64);
    let start: Vec<f64> = (0..n * s_max).map(|k| if k % s_max < 2 { 0.0 } else { NEG }).collect();
    let start = Tensor::from_vec(start, &[n, s_max]).to_dtype(dt);
    let mut alpha = start.add(emit(0)).maximum(Tensor::full(&[], NEG, dt));
    let pad = |a: &Tensor, k: usize| {
        let fill = Tensor::full(&[n, k], NEG, dt);
        Tensor::cat(&[&fill, &a.narrow(1, 0, s_max - k)], 1)
    };
    let lens = Tensor::from_vec(input_lengths.iter().map(|&l| l as i64).collect::<Vec<_>>(), &[n, 1]);
    let neg = Tensor::full(&[], NEG, dt);
    for t in 1..t_max {
        let one = pad(&alpha, 1);
        let two =
            if s_max > 2 { Tensor::where_(&skip, pad(&alpha, 2), &neg) } else { neg.expand(&[n as i64, s_max as i64]) };
        let next = Tensor::stack(&[&alpha, &one, &two], 0).logsumexp(0, false).add(emit(t));
        alpha = Tensor::where_(&lens.gt(t as i64), next.maximum(&neg), &alpha);
    }
    // The two admissible end states: the last label and the trailing blank.
    let ends: Vec<i64> = (0..n)
        .flat_map(|i| {
            let last = 2 * target_lengths[i];
            [last as i64, last.saturating_sub(1) as i64]
        })
        .collect();
    let ends = Tensor::from_vec(ends, &[n, 2]);
    let mut pick = alpha.gather(1, &ends);
    if target_lengths.contains(&0) {
        let empty: Vec<bool> = target_lengths.iter().flat_map(|&l| [false, l == 0]).collect();
        pick = pick.masked_fill(&Tensor::from_vec(empty, &[n, 2]), NEG);
    }
    let loss = pick.logsumexp(1, false).neg();
    // PyTorch's ctc backward returns the gradient with respect to the logits of a
    // log_softmax (`exp(log_probs)` plus the gradient of the loss), not with respect to
    // `log_probs` themselves; a zero-valued term with gradient `exp(log_probs)` over
    // each sample's valid steps reproduces it.
    let valid = Tensor::arange(0, t_max as i64, 1).unsqueeze(1).lt(lens.reshape(&[1, n as i64])).unsqueeze(2);
    let shift = lp.exp().detach().mul(&lp).mul(valid.to_dtype(dt)).sum(&[0i64, 2][..], false);
    let loss = loss.add(shift.sub(shift.detach()));
    let impossible = loss.ge(-NEG / 2.0);
    let loss = if zero_infinity {
        Tensor::where_(&impossible, Tensor::zeros(&[], dt), &loss)
    } else {
        Tensor::where_(&impossible, Tensor::full(&[], f64::INFINITY, dt), &loss)
    };
    let loss = match reduction {
        Reduction::None => loss,
        Reduction::Sum => loss.sum_all(),
        Reduction::Mean => {
            let tl: Vec<f64> = target_lengths.iter().map(|&l| l.max(1) as f64).collect();
            loss.div(Tensor::from_vec(tl, &[n]).to_dtype(dt)).mean_all()
        }
    };
    if unbatched && reduction == Reduction::None {
        loss.reshape(&[])
    } else {
        loss
    }
}
