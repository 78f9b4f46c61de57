//! OpInfo's gradcheck wrappers and output processing, replayed on Psionic's side: the
//! oracle called the op through them (see `torch_opinfo.py`), so the case compares what
//! they produce. Each is keyed by the name the harvester recorded; an unknown one makes
//! the case unsupported rather than compared against something else.

use super::{unsupported, R};
use crate::value::Value;
use psionic_array::Tensor;
use std::collections::BTreeMap;

/// The op's input as the wrapper hands it on.
pub fn wrap(name: &str, input: &Value, kwargs: &BTreeMap<String, Value>) -> R<Value> {
    let Some(x) = input.as_tensor() else {
        return unsupported(format!("{name} on a non-tensor input"));
    };
    Ok(Value::Tensor(match name {
        // A symmetric matrix from any square one.
        "gradcheck_wrapper_hermitian_input" => x + &x.mT(),
        // A triangular matrix with unit diagonal (a valid Cholesky factor).
        "gradcheck_wrapper_triangular_input_real_positive_diagonal" => {
            let upper = matches!(kwargs.get("upper"), Some(Value::Bool(true)));
            let d = x.diagonal(0, -2, -1);
            let t = x - &d.diag_embed(0, -2, -1) + d.ones_like().diag_embed(0, -2, -1);
            if upper {
                t.triu(0)
            } else {
                t.tril(0)
            }
        }
        _ => return unsupported(format!("gradcheck wrapper {name}")),
    }))
}

/// The outputs as the sample's `output_process_fn_grad` returns them.
pub fn process(name: &str, op: &str, input: Option<&Tensor>, outs: Vec<Tensor>) -> R<Vec<Tensor>> {
    let short = name.rsplit('.').next().unwrap_or(name);
    let scope = name.split('.').next().unwrap_or(name);
    Ok(match (scope, short) {
        ("sample_inputs_linalg_eigh", "out_fn") if outs.len() == 2 => vec![outs[0].clone(), outs[1].abs()],
        // The eigenvectors' modulus: they are (re, im) pairs.
        ("sample_inputs_linalg_eig", "out_fn") if outs.len() == 2 => {
            vec![outs[0].clone(), outs[1].square().sum(-1, false).sqrt()]
        }
        ("sample_inputs_linalg_eigh" | "sample_inputs_linalg_eig", "out_fn") => outs,
        ("sample_inputs_linalg_lu", "out_fn") if op == "linalg.lu" => outs[1..].to_vec(),
        ("sample_inputs_linalg_lu", "out_fn") => outs,
        ("sample_inputs_lu_unpack", "out_fn") => outs[1..].to_vec(),
        ("sample_inputs_svd", f) => {
            let Some(x) = input else { return unsupported("svd processing without an input") };
            let s = x.shape();
            let k = s[s.len() - 2].min(s[s.len() - 1]);
            // `uniformize`: the first k singular vectors; torch.svd returns V, linalg Vh.
            let u = outs[0].narrow(-1, 0, k);
            let vh = if op == "linalg.svd" { outs[2].clone() } else { outs[2].mT() };
            let vh = vh.narrow(-2, 0, k);
            match f {
                "fn_U" => vec![u.abs()],
                "fn_S" => vec![outs[1].clone()],
                "fn_Vh" => vec![outs[1].clone(), vh.abs()],
                "fn_UVh" => vec![u.matmul(&vh), outs[1].clone()],
                _ => return unsupported(format!("output processing {name}")),
            }
        }
        _ => return unsupported(format!("output processing {name}")),
    })
}
