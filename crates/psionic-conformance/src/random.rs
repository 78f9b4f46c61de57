//! Random-number conformance: replays `fixtures/conformance/random.json` (written by
//! `oracle/gen_random.py`), PyTorch's CPU streams for fixed seeds (family `random`) and
//! MLX's key-based samples for fixed keys (family `ops_numeric`, where MLX's random tests
//! live). A case passes only when every value is bit-identical (and every serialised
//! generator state byte-identical); a difference fails with where it starts.

use crate::report::{CaseResult, Status};
use psionic_array::random::{self, keys, Generator};
use psionic_array::{DType, Tensor};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;

/// The torch cases and module constructions reseed the process-wide generator; one
/// user at a time.
pub(crate) static GLOBAL: Mutex<()> = Mutex::new(());

fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn dt(v: &Value) -> DType {
    DType::from_name(v.as_str().unwrap()).unwrap()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

enum Out {
    T(Tensor),
    State(Tensor),
}

fn hex(t: &Tensor) -> String {
    t.to_vec::<u8>().iter().map(|b| format!("{b:02x}")).collect()
}

fn torch_call(c: &Value) -> Vec<Out> {
    let op = c["op"].as_str().unwrap();
    let f = |k: &str| c[k].as_f64().unwrap();
    let i = |k: &str| c[k].as_i64().unwrap();
    let t = |x: Tensor| vec![Out::T(x)];
    match op {
        "rand" => t(random::rand(&shape(&c["shape"]), dt(&c["dtype"]), None)),
        "randn" => t(random::randn(&shape(&c["shape"]), dt(&c["dtype"]), None)),
        "normal_" => t(Tensor::zeros(&shape(&c["shape"]), dt(&c["dtype"])).normal_(f("mean"), f("std"), None).clone()),
        "uniform_" => t(Tensor::zeros(&shape(&c["shape"]), dt(&c["dtype"])).uniform_(f("from"), f("to"), None).clone()),
        "exponential_" => t(Tensor::zeros(&shape(&c["shape"]), dt(&c["dtype"])).exponential_(f("lambd"), None).clone()),
        "normal_t" | "uniform_t" => {
            let base = Tensor::zeros(&shape(&c["shape"]), DType::F32);
            let v = base.t();
            if op == "normal_t" {
                v.normal_(f("mean"), f("std"), None);
            } else {
                v.uniform_(f("from"), f("to"), None);
            }
            t(v.contiguous())
        }
        "normal_tensors" => {
            let m = Tensor::from_vec(floats(&c["mean"]), &[5]).to_dtype(DType::F32);
            let s = Tensor::from_vec(floats(&c["std"]), &[5]).to_dtype(DType::F32);
            t(random::normal(&m, &s, None))
        }
        "randint" => t(random::randint(i("low"), i("high"), &shape(&c["shape"]), dt(&c["dtype"]), None)),
        "randperm" => t(random::randperm(i("n") as usize, DType::I64, None)),
        "bernoulli_" => t(Tensor::zeros(&shape(&c["shape"]), dt(&c["dtype"])).bernoulli_(f("p"), None).clone()),
        "bernoulli" => {
            let p = floats(&c["p"]);
            t(random::bernoulli(&Tensor::from_vec(p.clone(), &[p.len()]).to_dtype(dt(&c["dtype"])), None))
        }
        "multinomial" => {
            let rows: Vec<Vec<f64>> = c["probs"].as_array().unwrap().iter().map(floats).collect();
            let mut p = Tensor::from_vec(rows.concat(), &[rows.len(), rows[0].len()]).to_dtype(dt(&c["dtype"]));
            if c["flat"].as_bool() == Some(true) {
                p = p.reshape(&[-1]);
            }
            t(random::multinomial(&p, i("n") as usize, c["replacement"].as_bool().unwrap(), None))
        }
        "dropout" => {
            let d = dt(&c["dtype"]);
            let x = Tensor::arange(0.0, 42.0, 1.0).to_dtype(d).reshape(&[6, 7]).div(7.0).sub(2.0);
            t(random::dropout(&x, f("p"), true, None))
        }
        "state" => vec![Out::State(random::get_rng_state())],
        "generator_objects" => {
            let g = Generator::new();
            g.manual_seed(7);
            let a = random::rand(&[4], DType::F32, Some(&g));
            let s = g.get_state();
            let b = random::randn(&[3], DType::F64, Some(&g));
            g.set_state(&s).unwrap();
            let c2 = random::randn(&[3], DType::F64, Some(&g));
            let d = random::rand(&[3], DType::F32, Some(&Generator::new()));
            vec![Out::T(a), Out::T(b), Out::T(c2), Out::T(d), Out::State(s)]
        }
        o => panic!("unknown op {o}"),
    }
}

/// Why `got` differs from the fixture output `want`, if it does.
fn differs(got: &Out, want: &Value) -> Option<String> {
    match got {
        Out::State(s) => (hex(s) != want["state"].as_str().unwrap()).then(|| "state bytes differ".into()),
        Out::T(t) => {
            if t.shape() != shape(&want["shape"]) {
                return Some(format!("shape {:?} vs {}", t.shape(), want["shape"]));
            }
            let g = t.to_vec::<f64>();
            let w = floats(&want["data"]);
            let bad: Vec<usize> =
                (0..g.len()).filter(|&k| g[k].to_bits() != w[k].to_bits() && !(g[k] == 0.0 && w[k] == 0.0)).collect();
            bad.first().map(|&k| format!("{} of {} differ, first at {k}: {} vs {}", bad.len(), g.len(), g[k], w[k]))
        }
    }
}

fn mlx_call(c: &Value) -> Vec<Tensor> {
    let op = c["op"].as_str().unwrap();
    let key = keys::key(c["seed"].as_u64().unwrap_or(0));
    let k = Some(&key);
    let sh = || shape(&c["shape"]);
    let d = || c.get("dtype").map_or(DType::F32, dt);
    let f = |n: &str| c[n].as_f64().unwrap();
    let matrix = |v: &Value| {
        let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(floats).collect();
        Tensor::from_vec(rows.concat(), &[rows.len(), rows[0].len()]).to_dtype(DType::F32)
    };
    match op {
        "key" => vec![keys::key(c["seed"].as_u64().unwrap())],
        "split" => vec![keys::split(&key, c["num"].as_u64().unwrap() as usize)],
        "split_pair" => {
            let (a, b) = keys::split2(&key);
            vec![a, b]
        }
        "uniform" => vec![keys::uniform(f("low"), f("high"), &sh(), d(), k)],
        "normal" => vec![keys::normal(&sh(), d(), c["loc"].as_f64(), c["scale"].as_f64(), k)],
        "truncated_normal" => vec![keys::truncated_normal(f("lower"), f("upper"), &sh(), d(), k)],
        "gumbel" => vec![keys::gumbel(&sh(), d(), k)],
        "randint" => vec![keys::randint(c["low"].as_i64().unwrap(), c["high"].as_i64().unwrap(), &sh(), DType::I32, k)],
        "bernoulli" => {
            let p = floats(&c["p"]);
            let p = Tensor::from_vec(p.clone(), &[p.len()]).to_dtype(DType::F32);
            let p = if p.numel() == 1 { p.reshape(&[]) } else { p };
            vec![keys::bernoulli(&p, Some(&sh()), k)]
        }
        "categorical" => {
            let mut l = matrix(&c["logits"]);
            if c["flat"].as_bool() == Some(true) {
                l = l.reshape(&[-1]);
            }
            let axis = c["axis"].as_i64().unwrap_or(-1);
            let s = c.get("shape").map(shape);
            let draws = match (c["num_samples"].as_u64(), &s) {
                (Some(n), _) => keys::Draws::Samples(n as usize),
                (None, Some(s)) => keys::Draws::Shape(s),
                _ => keys::Draws::One,
            };
            vec![keys::categorical(&l, axis, draws, k)]
        }
        "permutation" => vec![keys::permutation(c["n"].as_u64().unwrap() as usize, k)],
        "permutation_array" => {
            let a = Tensor::arange(0i64, 12i64, 1i64).reshape(&[3, 4]);
            vec![keys::permute(&a, c["axis"].as_i64().unwrap(), k)]
        }
        o => panic!("unknown op {o}"),
    }
}

fn outcome(family: &str, id: &str, op: &str, dtype: &str, fails: Vec<String>) -> CaseResult {
    let status = if fails.is_empty() { Status::Pass } else { Status::Fail };
    CaseResult {
        id: id.into(),
        op: op.into(),
        family: family.into(),
        dtype: dtype.into(),
        status,
        detail: fails.join("; "),
    }
}

/// Runs `f`, turning a panic (an op's refusal) into a failure message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    crate::run::guarded(f).map_err(|e| match e {
        crate::run::Abort::Refused(m) | crate::run::Abort::Unsupported(m) | crate::run::Abort::Panic(m) => m,
    })
}

/// The PyTorch cases, one result each; `op` filters on `random.<op>`.
pub fn torch_results(path: &Path, op: Option<&str>) -> Result<Vec<CaseResult>, String> {
    let fx = load(path)?;
    let _g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = vec![];
    for case in fx["torch_cases"].as_array().ok_or("no torch_cases")? {
        let calls = case["calls"].as_array().ok_or("case without calls")?;
        let name = format!("random.{}", calls[0]["op"].as_str().unwrap_or("?"));
        if op.is_some_and(|o| o != name) {
            continue;
        }
        let id = case["name"].as_str().unwrap_or("?");
        let dtype = calls[0]["dtype"].as_str().unwrap_or("-");
        random::manual_seed(case["seed"].as_i64().unwrap_or(0) as u64);
        let fails = match guarded(|| calls.iter().flat_map(torch_call).collect::<Vec<Out>>()) {
            Err(e) => vec![e],
            Ok(outs) => compare_all(&outs, case["outputs"].as_array().map_or(&[][..], Vec::as_slice)),
        };
        out.push(outcome("random", id, &name, dtype, fails));
    }
    Ok(out)
}

/// The MLX cases (family `ops_numeric`), one result each.
pub fn mlx_results(path: &Path, op: Option<&str>) -> Result<Vec<CaseResult>, String> {
    let fx = load(path)?;
    let mut out = vec![];
    for case in fx["mlx_cases"].as_array().ok_or("no mlx_cases")? {
        let call = &case["call"];
        let name = format!("random.{}", call["op"].as_str().unwrap_or("?"));
        if op.is_some_and(|o| o != name) {
            continue;
        }
        let id = format!("mlx.{}", case["name"].as_str().unwrap_or("?"));
        let dtype = call["dtype"].as_str().unwrap_or("-");
        let fails = match guarded(|| mlx_call(call).into_iter().map(Out::T).collect::<Vec<Out>>()) {
            Err(e) => vec![e],
            Ok(outs) => compare_all(&outs, case["outputs"].as_array().map_or(&[][..], Vec::as_slice)),
        };
        out.push(outcome("ops_numeric", &id, &name, dtype, fails));
    }
    Ok(out)
}

fn compare_all(outs: &[Out], want: &[Value]) -> Vec<String> {
    if outs.len() != want.len() {
        return vec![format!("{} outputs, expected {}", outs.len(), want.len())];
    }
    outs.iter()
        .zip(want)
        .enumerate()
        .filter_map(|(k, (o, w))| differs(o, w).map(|why| format!("output {k}: {why}")))
        .collect()
}
