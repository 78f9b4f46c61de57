//! Element types. The set and the names follow PyTorch (`torch.float32` ...).

use std::fmt;

/// A runtime element type. Tensors carry one of these instead of a type parameter so that
/// user code and compile times stay free of generics (DESIGN.md section 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

/// PyTorch's promotion categories, ordered: a higher category always wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Bool,
    Integral,
    Floating,
}

impl DType {
    pub const ALL: [DType; 10] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => Category::Integral,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Category::Floating,
        }
    }

    /// Machine epsilon of a floating dtype (`torch.finfo(dtype).eps`); 0 for others.
    pub fn eps(self) -> f64 {
        match self {
            DType::F16 => 2f64.powi(-10),
            DType::BF16 => 2f64.powi(-7),
            DType::F32 => f32::EPSILON as f64,
            DType::F64 => f64::EPSILON,
            _ => 0.0,
        }
    }

    pub fn is_float(self) -> bool {
        self.category() == Category::Floating
    }

    /// Integral, excluding bool (PyTorch's `is_integral(include_bool=False)`).
    pub fn is_int(self) -> bool {
        self.category() == Category::Integral
    }

    pub fn is_signed(self) -> bool {
        !matches!(self, DType::Bool | DType::U8)
    }

    /// The value below every other of this dtype (-inf for floats): what max-type
    /// reductions start from and pad with.
    pub fn lowest(self) -> crate::Scalar {
        use crate::Scalar::{Bool, Float, Int};
        match self {
            DType::Bool => Bool(false),
            DType::U8 => Int(0),
            DType::I8 => Int(i8::MIN as i64),
            DType::I16 => Int(i16::MIN as i64),
            DType::I32 => Int(i32::MIN as i64),
            DType::I64 => Int(i64::MIN),
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Float(f64::NEG_INFINITY),
        }
    }

    /// PyTorch's name without the `torch.` prefix.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses PyTorch's names (with or without `torch.`), and the common aliases.
    pub fn from_name(name: &str) -> Option<DType> {
        let n = name.strip_prefix("torch.").unwrap_or(name);
        Some(match n {
            "bool" => DType::Bool,
            "uint8" => DType::U8,
            "int8" => DType::I8,
            "int16" | "short" => DType::I16,
            "int32" | "int" => DType::I32,
            "int64" | "long" => DType::I64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return None,
        })
    }

    /// The dtype sums and products of this dtype accumulate into by default
    /// (PyTorch: bool and integers sum to int64; floats keep their dtype).
    pub fn sum_dtype(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::I64
        }
    }

    /// The float dtype an op that must produce floats (sqrt, mean, true division) uses
    /// for this input: floats keep theirs, everything else uses the default float dtype.
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::default_float()
        }
    }

    /// The dtype PyTorch's CPU kernels compute in for this one (`at::opmath_type`):
    /// f16 and bf16 widen to f32, everything else is itself.
    pub fn opmath(self) -> DType {
        match self {
            DType::F16 | DType::BF16 => DType::F32,
            d => d,
        }
    }

    /// PyTorch's default dtype (`torch.get_default_dtype()`), float32.
    pub fn default_float() -> DType {
        DType::F32
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.{}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(DType::from_name(&d.to_string()), Some(d));
        }
        assert_eq!(DType::from_name("complex64"), None);
    }

    #[test]
    fn sizes() {
        let total: usize = DType::ALL.iter().map(|d| d.size()).sum();
        assert_eq!(total, 1 + 1 + 1 + 2 + 4 + 8 + 2 + 2 + 4 + 8);
    }
}
