//! MLX conformance: cases written from MLX's Python test families and evaluated by real
//! `mlx.core` (`oracle/conformance/mlx_harvest.py`), replayed here by interpreting each
//! case's program on Psionic. A case MLX refuses passes when Psionic refuses it too.

mod ops;
pub mod program;
mod reduce;
mod select;
mod shape;
mod train;
mod transforms;
pub mod value;

use crate::compare::compare_tol;
use crate::fixture::load_tensors;
use crate::report::{CaseResult, Status};
use crate::run::{guarded, Abort};
use crate::torch::Miss;
use program::{eval, Env, Store};
use psionic_array::{DType, Tensor};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Case {
    pub id: String,
    pub family: String,
    /// The upstream test function (`test_sum`): the report's unit, as OpInfo names are.
    pub test: String,
    pub program: Json,
    pub inputs: Vec<Tensor>,
    /// `None`: MLX refused the program.
    pub outputs: Option<Vec<Tensor>>,
    store: Store,
}

/// Where the committed MLX fixtures live.
pub fn mlx_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance/mlx")
}

pub fn load(dir: &Path, family: &str) -> Result<Vec<Case>, String> {
    let read = |ext: &str| {
        let p = dir.join(format!("{family}.{ext}"));
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let store: Store = Arc::new(load_tensors(&read("safetensors")?, family)?);
    let manifest: Json = serde_json::from_slice(&read("json")?).map_err(|e| format!("{family}.json: {e}"))?;
    let get = |j: &Json| -> Result<Tensor, String> {
        let k = j["t"].as_str().ok_or("tensor reference expected")?;
        store.get(k).cloned().ok_or_else(|| format!("tensor {k} missing from {family}.safetensors"))
    };
    let mut cases = vec![];
    for c in manifest["cases"].as_array().ok_or("manifest has no cases")? {
        let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
        let list = |k: &str| c[k].as_array().into_iter().flatten().map(get).collect::<Result<Vec<_>, _>>();
        let id = s("id");
        cases.push(Case {
            test: id.split('/').nth(1).unwrap_or("").to_string(),
            family: s("family"),
            program: c["program"].clone(),
            inputs: list("inputs").map_err(|e| format!("{id}: {e}"))?,
            outputs: if s("expect") == "error" {
                None
            } else {
                Some(list("outputs").map_err(|e| format!("{id}: {e}"))?)
            },
            store: store.clone(),
            id,
        });
    }
    Ok(cases)
}

fn result(case: &Case, status: Status, detail: impl Into<String>) -> CaseResult {
    let dtype = case.outputs.as_ref().and_then(|o| o.first()).map_or("-", |t| t.dtype().name());
    CaseResult {
        id: case.id.clone(),
        op: case.test.clone(),
        family: case.family.clone(),
        dtype: dtype.to_string(),
        status,
        detail: detail.into(),
    }
}

/// Runs the program on the case's inputs; the result's arrays, flattened.
fn replay(case: &Case) -> Result<Vec<Tensor>, Miss> {
    let env: Env = Arc::new(HashMap::new());
    let f = eval(&case.program, &env, &case.store)?;
    let args: Vec<value::Val> = case.inputs.iter().cloned().map(value::Val::T).collect();
    let out = f.func()?(&args)?;
    let mut flat = vec![];
    out.flatten(&mut flat)?;
    Ok(flat)
}

/// MLX's tolerances: DESIGN.md's f32 and half ones; its float64 transcendental functions
/// are approximations good to about 1e-8 relative (measured), so f64 compares at 1e-7.
fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-7, 1e-6),
        DType::F32 => (1e-5, 1e-4),
        DType::F16 | DType::BF16 => (1e-2, 1e-2),
        _ => (0.0, 0.0),
    }
}

pub fn run_case(case: &Case, outputs_override: Option<&dyn Fn(Vec<Tensor>) -> Vec<Tensor>>) -> CaseResult {
    let got = match guarded(|| replay(case)) {
        Err(Abort::Refused(e)) if case.outputs.is_none() => return result(case, Status::Pass, format!("refused: {e}")),
        Ok(Err(Miss::Unsupported(why))) => return result(case, Status::Unsupported, why),
        Err(e) => return e.into_result(|s, d| result(case, s, d)),
        Ok(Ok(v)) => v,
    };
    let Some(want) = &case.outputs else {
        return result(case, Status::Fail, "MLX refuses this program; Psionic returned a value");
    };
    let got = match outputs_override {
        Some(f) => f(got),
        None => got,
    };
    if got.len() != want.len() {
        return result(case, Status::Fail, format!("{} outputs, expected {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // MLX's uint32 results (indices) are stored as int64: Psionic has no uint32.
        match guarded(|| compare_tol(g, w, tolerance(w.dtype()))) {
            Err(e) => return e.into_result(|s, d| result(case, s, d)),
            Ok(Err(e)) => return result(case, Status::Fail, format!("output {i}: {e}")),
            Ok(Ok(())) => {}
        }
    }
    result(case, Status::Pass, "")
}
