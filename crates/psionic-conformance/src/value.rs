//! Case values as the manifests encode them: tensors (by key into the family's
//! safetensors file), dtypes, numbers, strings, `None`, lists, and the slices and
//! ellipses of index expressions.

use psionic_array::Tensor;
use psionic_core::DType;
use serde_json::Value as Json;

#[derive(Clone, Debug)]
pub enum Value {
    Tensor(Tensor),
    DType(DType),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
    List(Vec<Value>),
    /// A Python slice (`start:stop:step`, each optional) in an index expression.
    Slice([Option<i64>; 3]),
    /// `...` in an index expression.
    Ellipsis,
}

impl Value {
    /// Decodes `j`, looking tensors up with `tensor`; every tensor found is also pushed
    /// onto `order` (the manifest numbers differentiable inputs in this order).
    pub fn decode(
        j: &Json,
        tensor: &dyn Fn(&str) -> Result<Tensor, String>,
        order: &mut Vec<Tensor>,
    ) -> Result<Value, String> {
        Ok(match j {
            Json::Null => Value::None,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().ok_or("number out of range")?),
            },
            Json::String(s) => Value::Str(s.clone()),
            Json::Array(v) => Value::List(v.iter().map(|x| Value::decode(x, tensor, order)).collect::<Result<_, _>>()?),
            Json::Object(m) => {
                if let Some(k) = m.get("t").and_then(Json::as_str) {
                    let t = tensor(k)?;
                    order.push(t.clone());
                    Value::Tensor(t)
                } else if let Some(d) = m.get("dtype").and_then(Json::as_str) {
                    Value::DType(dtype_from_torch(d)?)
                } else if let Some(parts) = m.get("slice").and_then(Json::as_array) {
                    let part = |i: usize| parts.get(i).and_then(Json::as_i64);
                    Value::Slice([part(0), part(1), part(2)])
                } else if m.contains_key("ellipsis") {
                    Value::Ellipsis
                } else if let Some(f) = m.get("float").and_then(Json::as_str) {
                    Value::Float(f.parse().map_err(|_| format!("bad float {f}"))?)
                } else {
                    return Err(format!("unknown value encoding {j}"));
                }
            }
        })
    }

    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }
}

/// A torch dtype name (`float32`, `int64`, `bool`, ...).
pub fn dtype_from_torch(name: &str) -> Result<DType, String> {
    Ok(match name {
        "bool" => DType::Bool,
        "uint8" => DType::U8,
        "int8" => DType::I8,
        "int16" => DType::I16,
        "int32" => DType::I32,
        "int64" => DType::I64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "float32" => DType::F32,
        "float64" => DType::F64,
        other => return Err(format!("dtype {other} has no Psionic counterpart")),
    })
}
