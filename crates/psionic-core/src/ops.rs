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
    Sigmoid,
    /// `log(x / (1 - x))`, with x clamped to `[eps, 1 - eps]` when eps is given.
    Logit(Option<f64>),
    Relu,
    /// Exact (erf) GELU.
    Gelu,
    /// Tanh approximation of GELU.
    GeluTanh,
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
}

impl BinaryOp {
    pub fn out_is_bool(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge | LogicalAnd | LogicalOr | LogicalXor)
    }

    pub fn float_only(self) -> bool {
        use BinaryOp::*;
        matches!(self, Div | Atan2 | Hypot | Copysign | LogAddExp | Xlogy)
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
