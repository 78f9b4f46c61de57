//! Loss modules (`MSELoss`, `CrossEntropyLoss`, ...): one [`Loss`] type holding the
//! loss's options and, for weighted losses, the class weights as buffers (PyTorch keeps
//! them in `state_dict`).

use crate::functional::{self as F, ClassLoss, KlReduction};
use crate::module::Member;
use crate::Module;
use psionic_array::{DType, Reduction, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub enum LossKind {
    MSE,
    L1,
    SmoothL1 { beta: f64 },
    Huber { delta: f64 },
    CrossEntropy { ignore_index: i64, label_smoothing: f64 },
    NLL { ignore_index: i64 },
    BCE,
    BCEWithLogits,
    KLDiv { batchmean: bool, log_target: bool },
    PoissonNLL { log_input: bool, full: bool, eps: f64 },
    GaussianNLL { full: bool, eps: f64 },
    MarginRanking { margin: f64 },
    HingeEmbedding { margin: f64 },
    MultiLabelMargin,
    MultiLabelSoftMargin,
    MultiMargin { p: u32, margin: f64 },
    SoftMargin,
    CosineEmbedding { margin: f64 },
    TripletMargin { margin: f64, p: f64, eps: f64, swap: bool },
    CTC { blank: usize, zero_infinity: bool },
}

#[derive(Module)]
#[module(name = kind_name)]
pub struct Loss {
    pub kind: LossKind,
    pub reduction: Reduction,
    /// Class weights (CrossEntropy, NLL, BCE, BCEWithLogits, MultiLabelSoftMargin,
    /// MultiMargin).
    #[module(visit = visit_weights)]
    pub weight: Option<Tensor>,
    /// BCEWithLogits' weight of positive examples.
    pub pos_weight: Option<Tensor>,
}

impl Loss {
    /// The loss with `reduction="mean"` and no weights.
    pub fn new(kind: LossKind) -> Loss {
        Loss { kind, reduction: Reduction::Mean, weight: None, pos_weight: None }
    }

    pub fn reduction(mut self, r: Reduction) -> Loss {
        self.reduction = r;
        self
    }

    pub fn weight(mut self, w: Tensor) -> Loss {
        self.weight = Some(w);
        self
    }

    /// `forward(input, target)`; three-argument losses (MarginRanking, CosineEmbedding,
    /// TripletMargin, GaussianNLL) take their third tensor in `extra`, CTC its input and
    /// target lengths.
    pub fn forward(&self, input: &Tensor, target: &Tensor, extra: &[&Tensor]) -> Tensor {
        use LossKind::*;
        let r = self.reduction;
        let w = self.weight.as_ref();
        let third = || *extra.first().unwrap_or_else(|| panic!("{} takes a third tensor", self.type_name()));
        match &self.kind {
            MSE => input.mse_loss(target, r),
            L1 => input.l1_loss(target, r),
            SmoothL1 { beta } => input.smooth_l1_loss(target, r, *beta),
            Huber { delta } => input.huber_loss(target, r, *delta),
            CrossEntropy { ignore_index, label_smoothing } => F::cross_entropy(
                input,
                target,
                &ClassLoss { weight: w, ignore_index: *ignore_index, reduction: r, label_smoothing: *label_smoothing },
            ),
            NLL { ignore_index } => F::nll_loss(
                input,
                target,
                &ClassLoss { weight: w, ignore_index: *ignore_index, reduction: r, label_smoothing: 0.0 },
            ),
            BCE => F::binary_cross_entropy(input, target, w, r),
            BCEWithLogits => F::binary_cross_entropy_with_logits(input, target, w, self.pos_weight.as_ref(), r),
            KLDiv { batchmean, log_target } => {
                let kr = match (r, batchmean) {
                    (_, true) => KlReduction::BatchMean,
                    (Reduction::None, _) => KlReduction::None,
                    (Reduction::Sum, _) => KlReduction::Sum,
                    (Reduction::Mean, _) => KlReduction::Mean,
                };
                F::kl_div(input, target, kr, *log_target)
            }
            PoissonNLL { log_input, full, eps } => F::poisson_nll_loss(input, target, *log_input, *full, *eps, r),
            GaussianNLL { full, eps } => F::gaussian_nll_loss(input, target, third(), *full, *eps, r),
            MarginRanking { margin } => F::margin_ranking_loss(input, target, third(), *margin, r),
            HingeEmbedding { margin } => F::hinge_embedding_loss(input, target, *margin, r),
            MultiLabelMargin => F::multilabel_margin_loss(input, target, r),
            MultiLabelSoftMargin => F::multilabel_soft_margin_loss(input, target, w, r),
            MultiMargin { p, margin } => F::multi_margin_loss(input, target, *p, *margin, w, r),
            SoftMargin => F::soft_margin_loss(input, target, r),
            CosineEmbedding { margin } => F::cosine_embedding_loss(input, target, third(), *margin, r),
            TripletMargin { margin, p, eps, swap } => {
                F::triplet_margin_loss(input, target, third(), *margin, *p, *eps, *swap, r)
            }
            CTC { blank, zero_infinity } => {
                let lens = |t: &Tensor| {
                    t.to_dtype(DType::I64).to_vec::<i64>().into_iter().map(|v| v.max(0) as usize).collect::<Vec<_>>()
                };
                let (il, tl) = (lens(extra[0]), lens(extra[1]));
                F::ctc_loss(input, target, &il, &tl, *blank, r, *zero_infinity)
            }
        }
    }
}

impl Loss {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        use LossKind::*;
        match self.kind {
            MSE => "MSELoss",
            L1 => "L1Loss",
            SmoothL1 { .. } => "SmoothL1Loss",
            Huber { .. } => "HuberLoss",
            CrossEntropy { .. } => "CrossEntropyLoss",
            NLL { .. } => "NLLLoss",
            BCE => "BCELoss",
            BCEWithLogits => "BCEWithLogitsLoss",
            KLDiv { .. } => "KLDivLoss",
            PoissonNLL { .. } => "PoissonNLLLoss",
            GaussianNLL { .. } => "GaussianNLLLoss",
            MarginRanking { .. } => "MarginRankingLoss",
            HingeEmbedding { .. } => "HingeEmbeddingLoss",
            MultiLabelMargin => "MultiLabelMarginLoss",
            MultiLabelSoftMargin => "MultiLabelSoftMarginLoss",
            MultiMargin { .. } => "MultiMarginLoss",
            SoftMargin => "SoftMarginLoss",
            CosineEmbedding { .. } => "CosineEmbeddingLoss",
            TripletMargin { .. } => "TripletMarginLoss",
            CTC { .. } => "CTCLoss",
        }
    }
    /// The weights PyTorch registers as buffers for this kind of loss.
    fn visit_weights<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        use LossKind::*;
        if matches!(
            self.kind,
            CrossEntropy { .. } | NLL { .. } | BCE | BCEWithLogits | MultiLabelSoftMargin | MultiMargin { .. }
        ) {
            f("weight", Member::Buffer(self.weight.as_ref(), true));
        }
        if self.kind == BCEWithLogits {
            f("pos_weight", Member::Buffer(self.pos_weight.as_ref(), true));
        }
    }
}
