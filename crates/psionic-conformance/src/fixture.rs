//! A family's fixtures: `<family>.json` (the manifest) and `<family>.safetensors` (every
//! tensor the manifest names), as `oracle/conformance/torch_opinfo.py` writes them.

use crate::value::{dtype_from_torch, Value};
use psionic_array::Tensor;
use psionic_core::DType;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One upstream case: an op applied to decoded inputs, with the oracle's outputs and, for
/// differentiable cases, a cotangent per differentiable output and the gradients.
pub struct Case {
    pub id: String,
    pub op: String,
    pub variant: String,
    pub family: String,
    pub dtype: DType,
    pub input: Value,
    pub args: Vec<Value>,
    pub kwargs: BTreeMap<String, Value>,
    /// Tensors among input, args and kwargs, in manifest order.
    pub tensors: Vec<Tensor>,
    pub outputs: Vec<Value>,
    pub cotangents: Vec<Tensor>,
    /// Gradient per differentiable input (index into `tensors`); `None`: not reached.
    pub grads: BTreeMap<usize, Option<Tensor>>,
    /// OpInfo's gradcheck wrapper the oracle called the op through, if any.
    pub wrapper: Option<String>,
    /// The sample's output_process_fn_grad (its qualified name), if not the identity.
    pub process: Option<String>,
    /// Module and optimizer cases (`torch_modules.py`): the module's state_dict or the
    /// optimizer's initial parameters, by name.
    pub state: Vec<(String, Tensor)>,
    /// Module cases: the parameters' gradients, and the buffers after the forward call.
    pub state_grads: BTreeMap<String, Tensor>,
    pub buffers_after: Vec<(String, Tensor)>,
    /// Optimizer cases: the gradients fed at each step.
    pub steps: Vec<Vec<(String, Tensor)>>,
    /// Module cases: run in eval mode; keyword arguments of the forward call.
    pub eval: bool,
    pub call_kwargs: BTreeMap<String, Value>,
    /// Module cases: the state_dict of the module built right after seeding the global
    /// generator with `seed` (PyTorch's default initialisation).
    pub seed: Option<u64>,
    pub init_state: Vec<(String, Tensor)>,
}

pub struct Family {
    pub name: String,
    pub cases: Vec<Case>,
}

/// Where the committed PyTorch fixtures live.
pub fn pytorch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance/pytorch")
}

/// The family names present in `dir`, sorted.
pub fn families_in(dir: &Path) -> Result<Vec<String>, String> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "json") {
            out.push(p.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

pub fn load(dir: &Path, family: &str) -> Result<Family, String> {
    let read = |ext: &str| {
        let p = dir.join(format!("{family}.{ext}"));
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let store = load_tensors(&read("safetensors")?, family)?;
    let manifest: Json = serde_json::from_slice(&read("json")?).map_err(|e| format!("{family}.json: {e}"))?;
    let get = |k: &str| store.get(k).cloned().ok_or_else(|| format!("tensor {k} missing from {family}.safetensors"));
    let mut cases = vec![];
    for c in manifest["cases"].as_array().ok_or("manifest has no cases")? {
        cases.push(case(c, &get).map_err(|e| format!("{family}: case {}: {e}", c["id"]))?);
    }
    Ok(Family { name: family.to_string(), cases })
}

/// Every tensor of a family's safetensors file, by name.
pub fn load_tensors(bytes: &[u8], family: &str) -> Result<HashMap<String, Tensor>, String> {
    let (named, _) = psionic_io::safetensors::read(bytes).map_err(|e| format!("{family}.safetensors: {e}"))?;
    Ok(named.into_iter().collect())
}

fn case(c: &Json, get: &dyn Fn(&str) -> Result<Tensor, String>) -> Result<Case, String> {
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    let mut tensors = vec![];
    let input = Value::decode(&c["input"], get, &mut tensors)?;
    let args = match Value::decode(&c["args"], get, &mut tensors)? {
        Value::List(v) => v,
        _ => return Err("args is not a list".into()),
    };
    let mut kwargs = BTreeMap::new();
    for (k, v) in c["kwargs"].as_object().into_iter().flatten() {
        kwargs.insert(k.clone(), Value::decode(v, get, &mut tensors)?);
    }
    let mut ignore = vec![];
    let outputs = c["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| Value::decode(o, get, &mut ignore))
        .collect::<Result<_, _>>()?;
    let key = |j: &Json| j["t"].as_str().map(get).transpose();
    let cotangents = c["cotangents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| key(j).and_then(|t| t.ok_or("bad cotangent".into())))
        .collect::<Result<_, String>>()?;
    let mut grads = BTreeMap::new();
    for (i, g) in c["grads"].as_object().into_iter().flatten() {
        grads.insert(i.parse::<usize>().map_err(|e| e.to_string())?, key(g)?);
    }
    let named = |j: &Json| -> Result<Vec<(String, Tensor)>, String> {
        j.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| Ok((k.clone(), key(v)?.ok_or(format!("no tensor for {k}"))?)))
            .collect()
    };
    let steps = c["steps"].as_array().into_iter().flatten().map(|s| named(&s["grads"])).collect::<Result<_, _>>()?;
    let mut call_kwargs = BTreeMap::new();
    for (k, v) in c["call"].as_object().into_iter().flatten() {
        call_kwargs.insert(k.clone(), Value::decode(v, get, &mut ignore)?);
    }
    Ok(Case {
        id: s("id"),
        op: s("op"),
        variant: s("variant"),
        family: s("family"),
        dtype: dtype_from_torch(&s("dtype"))?,
        input,
        args,
        kwargs,
        tensors,
        outputs,
        cotangents,
        grads,
        wrapper: c["wrapper"].as_str().map(str::to_string),
        process: c["process"].as_str().map(str::to_string),
        state: named(&c["state"])?,
        state_grads: named(&c["state_grads"])?.into_iter().collect(),
        buffers_after: named(&c["buffers_after"])?,
        steps,
        eval: c["eval"].as_bool().unwrap_or(false),
        call_kwargs,
        seed: c["seed"].as_u64(),
        init_state: named(&c["init_state"])?,
    })
}
