//! The op kinds a backend implements. The graph (psionic-array) decides dtypes and shapes;
//! a backend receives inputs already promoted and broadcast-ready and must honour these
//! kinds exactly. Parameters are plain numbers so backends need no graph types.

/// Elementwise ops of one input. Float-only kinds receive float inputs (the graph casts
/// integers first); `out_is_bool` kinds return bool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Square,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Exp,
    Exp2,
    Expm1,
    Log,
    Log2,
    Log10,
    Log1p,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    Erfc,
    Erfinv,
    /// `ln |Γ(x)|`.
    Lgamma,
    /// `ψ(x)`, the derivative of `lgamma`.
    Digamma,
    /// `ψ⁽ⁿ⁾(x)` for `n ≥ 1` (`n = 0` is `Digamma`).
    Polygamma(u32),
    /// `I₀(x)`, the modified Bessel function of the first kind of order 0.
    I0,
    /// `e^{-|x|} I₀(x)`.
    I0e,
    /// `I₁(x)`.
    I1,
    /// `e^{-|x|} I₁(x)`.
    I1e,
    /// `exp(x²) erfc(x)`.
    Erfcx,
    /// The inverse of the standard normal CDF.
    Ndtri,
    /// `ln Φ(x)`, the log of the standard normal CDF.
    LogNdtr,
    Sigmoid,
    /// `log(x / (1 - x))`, with x clamped to `[eps, 1 - eps]` when eps is given.
    Logit(Option<f64>),
    Relu,
    /// Exact (erf) GELU.
    Gelu,
    /// Tanh approximation of GELU.
    GeluTanh,
    /// The derivative of exact GELU, `Φ(x) + x φ(x)`: GELU's backward in one pass (the
    /// same float steps as the composite of a dozen ops it replaces).
    GeluGrad,
    Silu,
    Mish,
    Softplus {
        beta: f64,
        threshold: f64,
    },
    /// `scale * (x > 0 ? x : alpha * (exp(x * input_scale) - 1))`; covers ELU, SELU, CELU.
    Elu {
        alpha: f64,
        scale: f64,
        input_scale: f64,
    },
    LeakyRelu(f64),
    Hardtanh {
        min: f64,
        max: f64,
    },
    Hardsigmoid,
    Hardswish,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Trunc,
    Frac,
    IsNan,
    IsInf,
    IsPosInf,
    IsNegInf,
    IsFinite,
    LogicalNot,
    BitwiseNot,
    NanToNum {
        nan: f64,
        posinf: f64,
        neginf: f64,
    },
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
}

impl UnaryOp {
    /// Kinds defined only on floats: integer inputs are promoted to the default float.
    pub fn float_only(self) -> bool {
        use UnaryOp::*;
        !matches!(
            self,
            Neg | Abs
                | Sign
                | Square
                | Relu
                | Floor
                | Ceil
                | Round
                | Trunc
                | Frac
                | IsNan
                | IsInf
                | IsPosInf
                | IsNegInf
                | IsFinite
                | LogicalNot
                | BitwiseNot
                | NanToNum { .. }
                | Clamp { .. }
                | Hardtanh { .. }
                | LeakyRelu(_)
        )
    }

    pub fn out_is_bool(self) -> bool {
        use UnaryOp::*;
        matches!(self, IsNan | IsInf | IsPosInf | IsNegInf | IsFinite | LogicalNot)
    }
}

/// Elementwise ops of three float inputs of one dtype (already promoted and broadcast),
/// each one kernel with PyTorch's arithmetic: one pass instead of three binary ones,
/// and the roundings of PyTorch's CPU kernels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TernaryOp {
    /// `lerp(start, end, weight)`: `start + weight * (end - start)` for `|weight| < 0.5`,
    /// else `end - (1 - weight) * (end - start)`, each as one fused multiply-add.
    Lerp,
    /// `addcmul(input, t1, t2, value)`: `input + (value * t1) * t2`.
    Addcmul(f64),
    /// `addcdiv(input, t1, t2, value)`: `input + (value * t1) / t2`.
    Addcdiv(f64),
}

impl TernaryOp {
    pub fn name(self) -> &'static str {
        match self {
            TernaryOp::Lerp => "lerp",
            TernaryOp::Addcmul(_) => "addcmul",
            TernaryOp::Addcdiv(_) => "addcdiv",
        }
    }
}

/// Elementwise ops of two inputs of one dtype (already promoted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division (floats only).
    Div,
    /// Division rounded toward zero.
    DivTrunc,
    /// Division rounded toward negative infinity (`floor_divide`).
    DivFloor,
    /// Python-style modulus: the sign of the divisor.
    Remainder,
    /// C-style modulus: the sign of the dividend.
    Fmod,
    Pow,
    Atan2,
    Maximum,
    Minimum,
    Fmax,
    Fmin,
    Hypot,
    Copysign,
    LogAddExp,
    Xlogy,
    /// `x * log1p(y)`, 0 where `x` is 0 and `y` is not NaN.
    Xlog1py,
    /// The Hurwitz zeta function `ζ(x, q) = Σₖ (q + k)^-x`.
    Zeta,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// relu's backward, `g` where `y > 0` else `0` (`g` first, then relu's output `y`):
    /// one pass instead of a comparison and a select (PyTorch's `threshold_backward`).
    ReluGrad,
}

impl BinaryOp {
    pub fn out_is_bool(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge | LogicalAnd | LogicalOr | LogicalXor)
    }

    pub fn float_only(self) -> bool {
        use BinaryOp::*;
        matches!(self, Div | Atan2 | Hypot | Copysign | LogAddExp | Xlogy | Xlog1py | Zeta | ReluGrad)
    }

    pub fn int_only(self) -> bool {
        use BinaryOp::*;
        matches!(self, BitAnd | BitOr | BitXor | Shl | Shr)
    }

    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            DivTrunc => "div(rounding_mode='trunc')",
            DivFloor => "floor_divide",
            Remainder => "remainder",
            Fmod => "fmod",
            Pow => "pow",
            Atan2 => "atan2",
            Maximum => "maximum",
            Minimum => "minimum",
            Fmax => "fmax",
            Fmin => "fmin",
            Hypot => "hypot",
            Copysign => "copysign",
            LogAddExp => "logaddexp",
            Xlogy => "xlogy",
            Xlog1py => "xlog1py",
            Zeta => "zeta",
            ReluGrad => "threshold_backward",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
            LogicalXor => "logical_xor",
            BitAnd => "bitwise_and",
            BitOr => "bitwise_or",
            BitXor => "bitwise_xor",
            Shl => "bitwise_left_shift",
            Shr => "bitwise_right_shift",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
        }
    }
}

/// Reductions over a set of dims.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReduceOp {
    Sum,
    Prod,
    /// max/amax (NaN propagates).
    Max,
    Min,
    /// Index of the first max/min along a single dim (NaN counts as the max).
    ArgMax,
    ArgMin,
    All,
    Any,
    /// Sum of `|x|^p` (p = 0 counts nonzeros, p = inf/-inf take max/min of |x|).
    NormP(f64),
    /// Variance with the given correction (`unbiased` = 1).
    Var {
        correction: f64,
    },
}

/// Inclusive scans along one dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    CumSum,
    CumProd,
    CumMax,
    CumMin,
    LogCumSumExp,
}

/// How `scatter` combines a source value with the value its target holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterReduce {
    /// The source value replaces the target (the last write wins among duplicates).
    Assign,
    Sum,
    Prod,
    /// Sum divided by the number of values combined (floor division for integers).
    Mean,
    /// max/min; NaN propagates.
    Amax,
    Amin,
}

impl ScatterReduce {
    /// PyTorch's `reduce=` string.
    pub fn from_name(name: &str) -> Option<ScatterReduce> {
        Some(match name {
            "sum" | "add" => ScatterReduce::Sum,
            "prod" | "multiply" => ScatterReduce::Prod,
            "mean" => ScatterReduce::Mean,
            "amax" => ScatterReduce::Amax,
            "amin" => ScatterReduce::Amin,
            _ => return None,
        })
    }
}

/// Index-valued selections along one dim (the values follow by gathering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderOp {
    /// The stable sorting permutation; NaN sorts above every number.
    Argsort { descending: bool },
    /// Index of the most frequent value (the smallest among equally frequent ones; its
    /// last occurrence), with the dim kept at size 1.
    Mode,
}

/// Matrix factorizations over the last two dims (leading dims are a batch). Several
/// results are packed into one flat last dim, in the order [`LinalgOp::parts`] lists,
/// so a factorization stays one node; the ops layer hands the parts out as views.
/// Integers (pivots, failure indices) are stored as floats (exact below 2^24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinalgOp {
    /// Lower Cholesky factor of the lower triangle: parts `[L (n, n), info ()]`; `info` is
    /// the 1-based order of the first minor that is not positive definite (0: success),
    /// and L is NaN where the factorization failed.
    Cholesky,
    /// LU with partial pivoting, LAPACK's packing: parts `[LU (m, n), pivots (k), info ()]`;
    /// pivots are 1-based row swaps, info the 1-based first zero pivot (0: none).
    LuFactor,
    /// `A X = B` (`left`) or `X A = B` for triangular `A` (inputs `A`, `B`); not packed.
    TriangularSolve { upper: bool, left: bool, unit: bool },
    /// Householder QR: parts `[Q (m, m or k), R (m or k, n)]` (`complete` picks m).
    Qr { complete: bool },
    /// Symmetric eigendecomposition of the lower triangle, ascending: parts
    /// `[values (n), vectors (n, n)]`, or the values alone.
    Eigh { vectors: bool },
    /// General (non-symmetric) eigendecomposition. Eigenvalues and eigenvectors are
    /// complex; each complex number is stored as its `(re, im)` pair in a trailing dim of
    /// 2 (the layout of `torch.view_as_real`): parts `[values (n, 2), vectors (n, n, 2)]`.
    /// Eigenvectors (columns) have unit norm, and their component of largest modulus is
    /// real and positive. The vectors are always computed (the values alone come from
    /// the same Schur form, and their gradient needs the vectors), so there is no
    /// values-only form: `eigvals` is a view of this.
    Eig,
    /// Singular values, descending: parts `[U (m, m or k), S (k), Vh (n or k, n)]`, or S alone.
    Svd { full: bool, vectors: bool },
    /// The row permutation that LAPACK-style pivots (i32, `[..., k]`) apply to `m` rows,
    /// as i64 positions `[..., m]`: row `i` of `P^T A` is row `perm[i]` of `A`.
    PivotPermutation { m: usize },
}

impl LinalgOp {
    /// Shapes of the packed parts for an `m x n` input (see each variant).
    pub fn parts(&self, m: usize, n: usize) -> Vec<Vec<usize>> {
        let k = m.min(n);
        match *self {
            LinalgOp::Cholesky => vec![vec![n, n], vec![]],
            LinalgOp::LuFactor => vec![vec![m, n], vec![k], vec![]],
            LinalgOp::TriangularSolve { .. } | LinalgOp::PivotPermutation { .. } => vec![],
            LinalgOp::Qr { complete } => {
                let q = if complete { m } else { k };
                vec![vec![m, q], vec![q, n]]
            }
            LinalgOp::Eigh { vectors } => {
                if vectors {
                    vec![vec![n], vec![n, n]]
                } else {
                    vec![vec![n]]
                }
            }
            LinalgOp::Eig => vec![vec![n, 2], vec![n, n, 2]],
            LinalgOp::Svd { full, vectors } => {
                if !vectors {
                    return vec![vec![k]];
                }
                let (ku, kv) = if full { (m, n) } else { (k, k) };
                vec![vec![m, ku], vec![k], vec![kv, n]]
            }
        }
    }

    /// PyTorch's name for the op, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            LinalgOp::Cholesky => "linalg.cholesky",
            LinalgOp::LuFactor => "linalg.lu_factor",
            LinalgOp::TriangularSolve { .. } => "linalg.solve_triangular",
            LinalgOp::Qr { .. } => "linalg.qr",
            LinalgOp::Eigh { .. } => "linalg.eigh",
            LinalgOp::Eig => "linalg.eig",
            LinalgOp::Svd { .. } => "linalg.svd",
            LinalgOp::PivotPermutation { .. } => "lu_unpack",
        }
    }
}
