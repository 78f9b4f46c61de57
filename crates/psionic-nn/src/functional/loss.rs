//! Classification, ranking and likelihood losses (`torch.nn.functional` names) with
//! PyTorch's reductions and normalisations. Regression losses (mse, l1, smooth_l1,
//! huber) live on `Tensor` in psionic-array and are re-exported here.
//!
//! Integer targets are data, read where a loss needs them; everything floating is built
//! from tensor ops, so gradients (to any order) come from the pieces.

use super::{channel_shape, times};
use psionic_array::autocast;
use psionic_array::mode::raise;
use psionic_array::{DType, Reduction, Tensor};
use psionic_core::Error;

fn invalid(op: &'static str, msg: impl Into<String>) -> ! {
    raise(Error::invalid(op, msg.into()))
}

/// Options of [`nll_loss`] and [`cross_entropy`] (PyTorch's defaults via `Default`).
#[derive(Clone)]
pub struct ClassLoss<'a> {
    pub weight: Option<&'a Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub label_smoothing: f64,
}

impl Default for ClassLoss<'_> {
    fn default() -> Self {
        ClassLoss { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 }
    }
}

/// `nll_loss`: minus the log-probability of each target class (`input` `[N, C, d...]`,
/// `[C]` unbatched; `target` class indices `[N, d...]`), times its class weight; targets
/// equal to `ignore_index` count zero. `mean` divides by the summed weights of the
/// counted targets.
pub fn nll_loss(input: &Tensor, target: &Tensor, o: &ClassLoss) -> Tensor {
    let (i, w) = (autocast::full(input), o.weight.map(autocast::full));
    let wide = ClassLoss { weight: w.as_ref(), ..o.clone() };
    if let Some(y) = autocast::casting(|| nll_loss(&i, target, &wide)) {
        return y;
    }
    let op = "nll_loss";
    if input.dim() < 1 {
        invalid(op, format!("Expected 1 or more dimensions (got {})", input.dim()));
    }
    if target.dtype().is_float() || target.dtype() == DType::Bool {
        raise(Error::dtype(op, format!("expected scalar type Long but found {}", target.dtype().name())));
    }
    let class_dim = if input.dim() == 1 { 0 } else { 1 };
    let c = input.size(class_dim as i64);
    let mut want = input.shape();
    want.remove(class_dim);
    if target.shape() != want {
        if input.dim() >= 2 && target.dim() >= 1 && target.size(0) != input.size(0) {
            invalid(
                op,
                format!(
                    "Expected input batch_size ({}) to match target batch_size ({}).",
                    input.size(0),
                    target.size(0)
                ),
            );
        }
        raise(Error::shape(op, format!("Expected target size {want:?}, got {:?}", target.shape())));
    }
    if let Some(w) = o.weight {
        if w.dim() != 1 || w.numel() != c {
            invalid(op, format!("weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?}", w.shape()));
        }
    }
    let (safe, w) = target_weights(op, target, o, c, input.dtype());
    let picked = input.gather(class_dim as i64, &safe.unsqueeze(class_dim as i64)).squeeze_dims(&[class_dim as i64]);
    let losses = picked.neg().mul(&w);
    match o.reduction {
        Reduction::None => losses,
        Reduction::Sum => losses.sum_all(),
        Reduction::Mean => losses.sum_all().div(w.sum_all()),
    }
}

/// The targets with ignored ones replaced by class 0 (safe to gather with), and each
/// target's class weight (1 without weights), zero where ignored: the terms of
/// `nll_loss` and the normaliser of its `mean`.
fn target_weights(op: &'static str, target: &Tensor, o: &ClassLoss, c: usize, dtype: DType) -> (Tensor, Tensor) {
    let target = target.to_dtype(DType::I64);
    let kept = target.ne(o.ignore_index);
    let safe = target.masked_fill(&kept.logical_not(), 0);
    let bad = safe.lt(0).logical_or(safe.ge(c as i64));
    // Traced (compile, vmap) the targets have no values yet: the gather below checks
    // its indices when it runs.
    if psionic_array::graph::values_available(&bad) && bad.any().item::<bool>() {
        invalid(
            op,
            format!("Target {} is out of bounds.", target.masked_select(&bad).flatten(0, -1).to_vec::<i64>()[0]),
        );
    }
    let w = match o.weight {
        Some(w) => w.to_dtype(dtype).index_select(0, &safe.flatten(0, -1)).reshape_as(&safe),
        None => Tensor::ones(&[], dtype).expand_as(&safe),
    };
    (safe, w.mul(kept.to_dtype(dtype)))
}

/// `cross_entropy`: `nll_loss` of `log_softmax` over the class dim, for class-index
/// targets; a target of the input's shape is read as class probabilities. Label
/// smoothing mixes in the uniform distribution as PyTorch does (for index targets, the
/// smoothing term is normalised like the nll term).
pub fn cross_entropy(input: &Tensor, target: &Tensor, o: &ClassLoss) -> Tensor {
    let (i, t, w) = (autocast::full(input), autocast::full(target), o.weight.map(autocast::full));
    let wide = ClassLoss { weight: w.as_ref(), ..o.clone() };
    if let Some(y) = autocast::casting(|| cross_entropy(&i, &t, &wide)) {
        return y;
    }
    let op = "cross_entropy";
    if !(0.0..=1.0).contains(&o.label_smoothing) {
        invalid(op, format!("label_smoothing must be between 0.0 and 1.0. Got: {}", o.label_smoothing));
    }
    let class_dim = if input.dim() == 1 { 0 } else { 1 };
    let n_classes = input.size(class_dim as i64) as f64;
    let logp = input.log_softmax(class_dim as i64);
    let weight = o.weight.map(|w| w.to_dtype(input.dtype()).reshape(&channel_shape(input.dim(), class_dim)));
    if target.shape() == input.shape() {
        if !target.dtype().is_float() {
            raise(Error::dtype(
                op,
                format!(
                    "Expected floating point type for target with class probabilities, got {}",
                    target.dtype().name()
                ),
            ));
        }
        if o.ignore_index >= 0 {
            invalid(op, "ignore_index is not supported for floating point target");
        }
        let t = if o.label_smoothing > 0.0 {
            target.mul(1.0 - o.label_smoothing).add(o.label_smoothing / n_classes)
        } else {
            target.clone()
        };
        let prod = times(logp.mul(&t), weight.as_ref());
        return match o.reduction {
            Reduction::None => prod.sum(class_dim as i64, false).neg(),
            Reduction::Sum => prod.sum_all().neg(),
            Reduction::Mean => prod.sum_all().neg().div(input.numel() as f64 / n_classes),
        };
    }
    let nll = nll_loss(&logp, target, &ClassLoss { label_smoothing: 0.0, ..o.clone() });
    if o.label_smoothing == 0.0 {
        return nll;
    }
    // The smoothing term is normalised like nll's mean: by the counted targets' weights.
    let smooth = times(logp, weight.as_ref()).sum(class_dim as i64, false).neg();
    let smooth = smooth.masked_fill(&target.to_dtype(DType::I64).eq(o.ignore_index), 0.0);
    let smooth = match o.reduction {
        Reduction::None => smooth,
        Reduction::Sum => smooth.sum_all(),
        Reduction::Mean => {
            smooth.sum_all().div(target_weights(op, target, o, n_classes as usize, input.dtype()).1.sum_all())
        }
    };
    nll.mul(1.0 - o.label_smoothing).add(smooth.mul(o.label_smoothing / n_classes))
}

fn same_shape(op: &'static str, input: &Tensor, target: &Tensor) {
    if input.shape() != target.shape() {
        invalid(
            op,
            format!(
                "Using a target size ({:?}) that is different to the input size ({:?}) is deprecated. Please ensure they have the same size.",
                target.shape(),
                input.shape()
            ),
        );
    }
}

/// `binary_cross_entropy`: `-w (t log x + (1 - t) log(1 - x))` for probabilities `x`,
/// each log clamped at -100 as PyTorch clamps it.
pub fn binary_cross_entropy(input: &Tensor, target: &Tensor, weight: Option<&Tensor>, reduction: Reduction) -> Tensor {
    let (i, t, w) = (autocast::full(input), autocast::full(target), weight.map(autocast::full));
    if let Some(y) = autocast::casting(|| binary_cross_entropy(&i, &t, w.as_ref(), reduction)) {
        return y;
    }
    same_shape("binary_cross_entropy", input, target);
    let lo = input.log().clamp(Some(-100.0), None::<f64>);
    let hi = input.neg().add(1.0).log().clamp(Some(-100.0), None::<f64>);
    let l = target.mul(&lo).add(target.neg().add(1.0).mul(&hi)).neg();
    reduction.apply(times(l, weight))
}

/// `binary_cross_entropy_with_logits`: the sigmoid folded into the loss stably,
/// `(1 - t) x + (1 + (p - 1) t) (log1p(exp(-|x|)) + max(-x, 0))` with `p` the positive
/// weight (1 when absent).
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Tensor {
    let (i, t, w, p) =
        (autocast::full(input), autocast::full(target), weight.map(autocast::full), pos_weight.map(autocast::full));
    if let Some(y) = autocast::casting(|| binary_cross_entropy_with_logits(&i, &t, w.as_ref(), p.as_ref(), reduction)) {
        return y;
    }
    same_shape("binary_cross_entropy_with_logits", input, target);
    let softplus_neg = input.abs().neg().exp().log1p().add(input.neg().relu());
    let scale = match pos_weight {
        Some(p) => p.sub(1.0).mul(target).add(1.0),
        None => Tensor::ones(&[], input.dtype()),
    };
    let l = target.neg().add(1.0).mul(input).add(scale.mul(&softplus_neg));
    reduction.apply(times(l, weight))
}

/// Reductions `kl_div` takes: the usual three and `batchmean` (sum over batch size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KlReduction {
    None,
    Mean,
    Sum,
    BatchMean,
}

/// `kl_div(input, target)`: `target (log target - input)` for log-probabilities `input`
/// (`target` as log-probabilities too with `log_target`), zero where `target` is zero.
pub fn kl_div(input: &Tensor, target: &Tensor, reduction: KlReduction, log_target: bool) -> Tensor {
    let (i, t) = (autocast::full(input), autocast::full(target));
    if let Some(y) = autocast::casting(|| kl_div(&i, &t, reduction, log_target)) {
        return y;
    }
    let l = if log_target { target.exp().mul(target.sub(input)) } else { target.xlogy(target).sub(target.mul(input)) };
    match reduction {
        KlReduction::None => l,
        KlReduction::Mean => l.mean_all(),
        KlReduction::Sum => l.sum_all(),
        KlReduction::BatchMean if input.dim() == 0 => l.sum_all(),
        KlReduction::BatchMean => l.sum_all().div(input.size(0) as f64),
    }
}

/// `poisson_nll_loss`: `exp(x) - t x` for a log rate (`log_input`), else
/// `x - t log(x + eps)`; `full` adds Stirling's term `t log t - t + log(2 pi t) / 2`
/// where `t > 1`.
pub fn poisson_nll_loss(
    input: &Tensor,
    target: &Tensor,
    log_input: bool,
    full: bool,
    eps: f64,
    reduction: Reduction,
) -> Tensor {
    let (i, t) = (autocast::full(input), autocast::full(target));
    if let Some(l) = autocast::casting(|| poisson_nll_loss(&i, &t, log_input, full, eps, reduction)) {
        return l;
    }
    let l = if log_input { input.exp().sub(target.mul(input)) } else { input.sub(target.mul(input.add(eps).log())) };
    let l = if full {
        let stirling = target.xlogy(target).sub(target).add(target.mul(2.0 * std::f64::consts::PI).log().mul(0.5));
        l.add(stirling.masked_fill(&target.le(1.0), 0.0))
    } else {
        l
    };
    reduction.apply(l)
}

/// `gaussian_nll_loss`: `(log var + (x - t)² / var) / 2` (plus `log(2 pi) / 2` with
/// `full`), the variance clamped at `eps` without stopping its gradient, as PyTorch
/// clamps it under `no_grad`. `var` may omit the last dim or have size 1 there.
pub fn gaussian_nll_loss(
    input: &Tensor,
    target: &Tensor,
    var: &Tensor,
    full: bool,
    eps: f64,
    reduction: Reduction,
) -> Tensor {
    let op = "gaussian_nll_loss";
    let (is, vs) = (input.shape(), var.shape());
    let var = if vs == is {
        var.clone()
    } else if is.len() == vs.len() + 1 && is[..is.len() - 1] == vs[..] {
        var.unsqueeze(-1)
    } else if is.len() == vs.len() && is[..is.len() - 1] == vs[..vs.len() - 1] && vs[vs.len() - 1] == 1 {
        var.clone()
    } else {
        invalid(op, "var is of incorrect size")
    };
    if var.lt(0.0).any().item::<bool>() {
        invalid(op, "var has negative entry/entries");
    }
    let clamped = var.add(var.clamp(Some(eps), None::<f64>).sub(&var).detach());
    let l = clamped.log().add(input.sub(target).square().div(&clamped)).mul(0.5);
    let l = if full { l.add(0.5 * (2.0 * std::f64::consts::PI).ln()) } else { l };
    reduction.apply(l)
}

/// `margin_ranking_loss`: `max(0, -y (x1 - x2) + margin)`.
pub fn margin_ranking_loss(x1: &Tensor, x2: &Tensor, y: &Tensor, margin: f64, reduction: Reduction) -> Tensor {
    let (a, b, t) = (autocast::full(x1), autocast::full(x2), autocast::full(y));
    if let Some(l) = autocast::casting(|| margin_ranking_loss(&a, &b, &t, margin, reduction)) {
        return l;
    }
    reduction.apply(y.neg().mul(x1.sub(x2)).add(margin).relu())
}

/// `hinge_embedding_loss`: `x` where `y = 1`, `max(0, margin - x)` where `y = -1`.
pub fn hinge_embedding_loss(x: &Tensor, y: &Tensor, margin: f64, reduction: Reduction) -> Tensor {
    let (a, t) = (autocast::full(x), autocast::full(y));
    if let Some(l) = autocast::casting(|| hinge_embedding_loss(&a, &t, margin, reduction)) {
        return l;
    }
    let zeros = x.zeros_like();
    let m = Tensor::where_(&y.ne(1), x.neg().add(margin).relu(), &zeros);
    let s = Tensor::where_(&y.ne(-1), x, &zeros);
    reduction.apply(m.add(&s))
}

/// `soft_margin_loss`: `log(1 + exp(-y x))`.
pub fn soft_margin_loss(x: &Tensor, y: &Tensor, reduction: Reduction) -> Tensor {
    let (a, t) = (autocast::full(x), autocast::full(y));
    if let Some(l) = autocast::casting(|| soft_margin_loss(&a, &t, reduction)) {
        return l;
    }
    reduction.apply(y.neg().mul(x).exp().log1p())
}

/// `multilabel_soft_margin_loss`: per sample, the mean over classes of
/// `-(y logsigmoid(x) + (1 - y) logsigmoid(-x))`, class weights applied first.
pub fn multilabel_soft_margin_loss(x: &Tensor, y: &Tensor, weight: Option<&Tensor>, reduction: Reduction) -> Tensor {
    let l = y.mul(x.logsigmoid()).add(y.neg().add(1.0).mul(x.neg().logsigmoid())).neg();
    let l = times(l, weight);
    let c = x.size(-1).max(1) as f64;
    reduction.apply(l.sum(-1, false).div(c))
}

/// `multilabel_margin_loss`: for each sample, with target classes listed in `y` up to
/// the first -1, the sum over target `j` and non-target `i` of
/// `max(0, 1 - (x[j] - x[i]))`, divided by the number of classes.
pub fn multilabel_margin_loss(x: &Tensor, y: &Tensor, reduction: Reduction) -> Tensor {
    let a = autocast::full(x);
    if let Some(l) = autocast::casting(|| multilabel_margin_loss(&a, y, reduction)) {
        return l;
    }
    let op = "multilabel_margin_loss";
    if x.shape() != y.shape() || x.dim() > 2 {
        invalid(op, format!("inconsistent target size: {:?} for input of size: {:?}", y.shape(), x.shape()));
    }
    let (x2, y2) = if x.dim() < 2 { (x.reshape(&[1, -1]), y.reshape(&[1, -1])) } else { (x.clone(), y.clone()) };
    let (n, c) = (x2.size(0), x2.size(1));
    let labels = y2.to_dtype(DType::I64).to_vec::<i64>();
    // How often each class is listed (a repeated target counts each time, as in
    // PyTorch's loop) and whether it is a target at all.
    let mut count = vec![0.0f64; n * c];
    for s in 0..n {
        for &l in labels[s * c..(s + 1) * c].iter().take_while(|&&l| l >= 0) {
            if l as usize >= c {
                invalid(op, format!("target index {l} is out of bounds for {c} classes"));
            }
            count[s * c + l as usize] += 1.0;
        }
    }
    let is_target: Vec<f64> = count.iter().map(|&k| (k > 0.0) as u8 as f64).collect();
    let dt = x.dtype();
    let count = Tensor::from_vec(count, &[n, c]).to_dtype(dt);
    let other = Tensor::from_vec(is_target, &[n, c]).to_dtype(dt).neg().add(1.0);
    let margins = x2.unsqueeze(-1).neg().add(x2.unsqueeze(-2)).add(1.0).relu();
    let l = margins.mul(count.unsqueeze(-1)).mul(other.unsqueeze(-2)).sum(&[-2i64, -1][..], false).div(c as f64);
    let l = if x.dim() < 2 { l.reshape(&[]) } else { l };
    reduction.apply(l)
}

/// `multi_margin_loss`: per sample, `sum over i != y of max(0, margin - x[y] + x[i])^p`
/// times the target's class weight, divided by the number of classes.
pub fn multi_margin_loss(
    x: &Tensor,
    y: &Tensor,
    p: u32,
    margin: f64,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Tensor {
    let op = "multi_margin_loss";
    let (a, w) = (autocast::full(x), weight.map(autocast::full));
    if let Some(l) = autocast::casting(|| multi_margin_loss(&a, y, p, margin, w.as_ref(), reduction)) {
        return l;
    }
    if p != 1 && p != 2 {
        invalid(op, "only p == 1 and p == 2 supported");
    }
    let (x2, y2) = if x.dim() < 2 { (x.reshape(&[1, -1]), y.reshape(&[1])) } else { (x.clone(), y.clone()) };
    let c = x2.size(1);
    let y2 = y2.to_dtype(DType::I64);
    let picked = x2.gather(1, &y2.unsqueeze(1));
    let m = x2.sub(&picked).add(margin).relu();
    let m = if p == 2 { m.square() } else { m };
    let m = times(m, weight.map(|w| w.to_dtype(x.dtype()).index_select(0, &y2).unsqueeze(1)).as_ref());
    let not_target = y2.unsqueeze(1).ne(Tensor::arange(0, c as i64, 1).unsqueeze(0));
    let l = m.mul(not_target.to_dtype(x.dtype())).sum(1, false).div(c as f64);
    let l = if x.dim() < 2 { l.reshape(&[]) } else { l };
    reduction.apply(l)
}

/// `pairwise_distance`: `||x1 - x2 + eps||_p` over the last dim.
pub fn pairwise_distance(x1: &Tensor, x2: &Tensor, p: f64, eps: f64, keepdim: bool) -> Tensor {
    let d = x1.sub(x2).add(eps);
    let last = (x1.dim().max(x2.dim()) as i64 - 1).max(0);
    if d.dim() == 0 {
        return d.abs();
    }
    psionic_array::linalg::vector_norm(&d, p, Some(&[last]), keepdim)
}

/// `cosine_similarity` along `dim`: `x1 . x2 / max(|x1| |x2|, eps)`.
pub fn cosine_similarity(x1: &Tensor, x2: &Tensor, dim: i64, eps: f64) -> Tensor {
    let n1 = x1.square().sum(dim, false);
    let n2 = x2.square().sum(dim, false);
    let denom = n1.mul(&n2).clamp(Some(eps * eps), None::<f64>).sqrt();
    x1.mul(x2).sum(dim, false).div(&denom)
}

/// `cosine_embedding_loss`: `1 - cos(x1, x2)` where `y = 1`, `max(0, cos - margin)`
/// where `y = -1` (cosine over the last dim with PyTorch's 1e-12 guard).
pub fn cosine_embedding_loss(x1: &Tensor, x2: &Tensor, y: &Tensor, margin: f64, reduction: Reduction) -> Tensor {
    let (a, b, t) = (autocast::full(x1), autocast::full(x2), autocast::full(y));
    if let Some(l) = autocast::casting(|| cosine_embedding_loss(&a, &b, &t, margin, reduction)) {
        return l;
    }
    let d = (x1.dim().max(1) - 1) as i64;
    let dot = x1.mul(x2).sum(d, false);
    let m1 = x1.square().sum(d, false).add(1e-12);
    let m2 = x2.square().sum(d, false).add(1e-12);
    let cos = dot.div(m1.mul(&m2).sqrt());
    let zeros = cos.zeros_like();
    let pos = Tensor::where_(&y.eq(1), cos.neg().add(1.0), &zeros);
    let neg = Tensor::where_(&y.eq(-1), cos.sub(margin).relu(), &zeros);
    reduction.apply(pos.add(&neg))
}

/// `triplet_margin_loss`: `max(d(a, p) - d(a, n) + margin, 0)` with the pairwise
/// `p`-norm distance; `swap` uses `min(d(a, n), d(p, n))`.
pub fn triplet_margin_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    margin: f64,
    p: f64,
    eps: f64,
    swap: bool,
    reduction: Reduction,
) -> Tensor {
    let (a, pos, neg) = (autocast::full(anchor), autocast::full(positive), autocast::full(negative));
    if let Some(l) = autocast::casting(|| triplet_margin_loss(&a, &pos, &neg, margin, p, eps, swap, reduction)) {
        return l;
    }
    let dist = |a: &Tensor, b: &Tensor| pairwise_distance(a, b, p, eps, false);
    triplet_with(anchor, positive, negative, &dist, margin, swap, reduction)
}

/// A distance between two batches of vectors, one value per pair.
pub type Distance<'a> = dyn Fn(&Tensor, &Tensor) -> Tensor + 'a;

/// `triplet_margin_with_distance_loss`: the triplet loss under any distance function
/// (the pairwise Euclidean distance when `None`).
pub fn triplet_margin_with_distance_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    distance: Option<&Distance<'_>>,
    margin: f64,
    swap: bool,
    reduction: Reduction,
) -> Tensor {
    if margin <= 0.0 {
        invalid("triplet_margin_with_distance_loss", format!("margin must be greater than 0, got {margin}"));
    }
    let euclid = |a: &Tensor, b: &Tensor| pairwise_distance(a, b, 2.0, 1e-6, false);
    triplet_with(anchor, positive, negative, distance.unwrap_or(&euclid), margin, swap, reduction)
}

fn triplet_with(
    a: &Tensor,
    p: &Tensor,
    n: &Tensor,
    dist: &Distance<'_>,
    margin: f64,
    swap: bool,
    reduction: Reduction,
) -> Tensor {
    let d_ap = dist(a, p);
    let d_an = dist(a, n);
    let d_an = if swap { d_an.minimum(dist(p, n)) } else { d_an };
    reduction.apply(d_ap.sub(&d_an).add(margin).relu())
}
