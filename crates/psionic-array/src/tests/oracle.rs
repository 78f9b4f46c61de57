//! Replays `fixtures/core_ops.json` (written by `oracle/gen_fixtures.py` with real PyTorch)
//! through Psionic: same base inputs, same views (contiguous, transposed, step-sliced,
//! broadcast with stride 0), values compared with DESIGN.md's per-dtype tolerances.

use crate::{DType, NormOrd, Tensor};
use serde_json::Value;

fn load() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/core_ops.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixtures/core_ops.json")).unwrap()
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap(),
    }
}

fn dec(v: &Value) -> Tensor {
    let dt = DType::from_name(v["dtype"].as_str().unwrap()).unwrap();
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let data: Vec<f64> = v["data"].as_array().unwrap().iter().map(num).collect();
    Tensor::from_vec(data, &shape).to_dtype(dt)
}

fn view(t: &Tensor, spec: &str) -> Tensor {
    match spec {
        "contig" => t.clone(),
        "t" => t.t(),
        "step" => t.slice(1, None, None, 2),
        "bcast" => t.expand(&[3, -1]),
        s => panic!("unknown view {s}"),
    }
}

fn run(op: &str, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let a = &x[0];
    let b = x.get(1);
    let one = |t: Tensor| Some(vec![t]);
    match op {
        "neg" => one(a.neg()),
        "abs" => one(a.abs()),
        "sign" => one(a.sign()),
        "sqrt" => one(a.sqrt()),
        "rsqrt" => one(a.rsqrt()),
        "square" => one(a.square()),
        "reciprocal" => one(a.reciprocal()),
        "exp" => one(a.exp()),
        "exp2" => one(a.exp2()),
        "expm1" => one(a.expm1()),
        "log" => one(a.log()),
        "log2" => one(a.log2()),
        "log10" => one(a.log10()),
        "log1p" => one(a.log1p()),
        "sin" => one(a.sin()),
        "cos" => one(a.cos()),
        "tan" => one(a.tan()),
        "asin" => one(a.asin()),
        "acos" => one(a.acos()),
        "atan" => one(a.atan()),
        "sinh" => one(a.sinh()),
        "cosh" => one(a.cosh()),
        "tanh" => one(a.tanh()),
        "asinh" => one(a.asinh()),
        "acosh" => one((a + 1).acosh()),
        "atanh" => one(a.atanh()),
        "erf" => one(a.erf()),
        "erfc" => one(a.erfc()),
        "erfinv" => one(a.erfinv()),
        "sigmoid" => one(a.sigmoid()),
        "logit" => one((a * 0.45 + 0.5).logit(None)),
        "relu" => one(a.relu()),
        "relu6" => one(a.relu6()),
        "gelu" => one(a.gelu("none")),
        "gelu_tanh" => one(a.gelu("tanh")),
        "silu" => one(a.silu()),
        "mish" => one(a.mish()),
        "softplus" => one(a.softplus(1.0, 20.0)),
        "elu" => one(a.elu(1.0)),
        "selu" => one(a.selu()),
        "celu" => one(a.celu(0.5)),
        "leaky_relu" => one(a.leaky_relu(0.1)),
        "hardtanh" => one(a.hardtanh(-1.0, 1.0)),
        "hardsigmoid" => one(a.hardsigmoid()),
        "hardswish" => one(a.hardswish()),
        "floor" => one(a.floor()),
        "ceil" => one(a.ceil()),
        "round" => one(a.round()),
        "round_decimals" => one(a.round_decimals(2)),
        "trunc" => one(a.trunc()),
        "frac" => one(a.frac()),
        "isnan" => one(a.log().isnan()),
        "isfinite" => one(a.log().isfinite()),
        "logical_not" => one(a.logical_not()),
        "bitwise_not" => one(a.bitwise_not()),
        "nan_to_num" => one(a.log().nan_to_num(0.0, None, None)),
        "clamp" => one(a.clamp(Some(-0.5), Some(0.7))),
        _ => b.and_then(|b| run_binary(op, a, b, x)),
    }
    .or_else(|| run_more(op, a))
    .or_else(|| run_views(op, a))
}

fn run_binary(op: &str, a: &Tensor, b: &Tensor, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let one = |t: Tensor| Some(vec![t]);
    match op {
        "add" => one(a + b),
        "sub" => one(a - b),
        "mul" => one(a * b),
        "div" => one(a / b),
        "div_trunc" => one(a.div_mode(b, Some("trunc"))),
        "div_floor" => one((a - 3).div_mode(b, Some("floor"))),
        "remainder" => one((a - 3).remainder(b)),
        "fmod" => one((a - 3).fmod(b)),
        "pow" => one(a.pow(b)),
        "atan2" => one(a.atan2(b)),
        "maximum" => one(a.maximum(b)),
        "minimum" => one(a.minimum(b)),
        "fmax" => one(a.fmax(b)),
        "fmin" => one(a.fmin(b)),
        "hypot" => one(a.hypot(b)),
        "copysign" => one(a.copysign(b)),
        "logaddexp" => one(a.logaddexp(b)),
        "xlogy" => one(a.xlogy(b)),
        "logical_and" => one(a.logical_and(b)),
        "logical_or" => one(a.logical_or(b)),
        "logical_xor" => one(a.logical_xor(b)),
        "bitwise_and" => one(a.bitwise_and(b)),
        "bitwise_or" => one(a.bitwise_or(b)),
        "bitwise_xor" => one(a.bitwise_xor(b)),
        "eq" => one(a.eq(b)),
        "ne" => one(a.ne(b)),
        "lt" => one(a.lt(b)),
        "le" => one(a.le(b)),
        "gt" => one(a.gt(b)),
        "ge" => one(a.ge(b)),
        "add_alpha" => one(a.add_alpha(b, 2)),
        "lerp" => one(a.lerp(b, 0.3)),
        "where" => one(Tensor::where_(&a.gt(0), a, b)),
        "addcmul" => one(a.addcmul(b, &x[2], 0.5)),
        "addcdiv" => one(a.addcdiv(b, &(&x[2] + 3), 0.5)),
        "matmul_t" => one(a.matmul(&b.t())),
        "matmul_vec" => one(a.matmul(&b.select(0, 0))),
        "vec_matmul" => one(a.select(0, 0).matmul(&b.t())),
        "outer" => one(a.select(0, 0).outer(&b.select(0, 1))),
        "dot" => one(a.select(0, 0).dot(&b.select(0, 0))),
        "addmm" => one(a.narrow(1, 0, 3).addmm(a, &b.t().narrow(1, 0, 3), 0.5, 2.0)),
        "einsum_ij_kj" => one(Tensor::einsum("ij,kj->ik", &[a, b])),
        "einsum_ii" => one(Tensor::einsum("ij,ij->", &[a, b])),
        "einsum_bcast" => one(Tensor::einsum("...j,kj->...k", &[a, b])),
        "einsum_implicit" => one(Tensor::einsum("ij,jk", &[a, &b.t()])),
        "tensordot" => one(a.tensordot(b, &[1], &[1])),
        "bmm" => one(a.unsqueeze(0).bmm(&b.t().unsqueeze(0))),
        _ => None,
    }
}

fn run_more(op: &str, a: &Tensor) -> Option<Vec<Tensor>> {
    let one = |t: Tensor| Some(vec![t]);
    let two = |(p, q): (Tensor, Tensor)| Some(vec![p, q]);
    match op {
        "sum" => one(a.sum_all()),
        "sum_dim0" => one(a.sum(0, false)),
        "sum_dim1_keep" => one(a.sum(1, true)),
        "mean" => one(a.mean_all()),
        "mean_dim1" => one(a.mean(1, false)),
        "prod_dim1" => one(a.prod(1, false)),
        "var_dim1" => one(a.var(1, 1.0, false)),
        "var_all_c0" => one(a.var(Vec::<i64>::new(), 0.0, false)),
        "std_dim0" => one(a.std(0, 1.0, false)),
        "max_all" => one(a.max_all()),
        "max_dim1" => two(a.max_dim(1, false)),
        "min_dim0" => two(a.min_dim(0, false)),
        "amax_dim0" => one(a.amax(0, false)),
        "amin_dim1" => one(a.amin(1, false)),
        "argmax" => one(a.argmax(None, false)),
        "argmin_dim1" => one(a.argmin(Some(1), false)),
        "logsumexp_dim1" => one(a.logsumexp(1, false)),
        "all" => one(a.gt(0).all()),
        "any_dim1" => one(a.gt(1).any_dims(1, false)),
        "count_nonzero" => one(a.count_nonzero(Vec::<i64>::new())),
        "norm2" => one(a.norm(NormOrd::Fro, Vec::<i64>::new(), false)),
        "norm1_dim1" => one(a.norm(NormOrd::P(1.0), 1, false)),
        "norm_inf" => one(a.norm(NormOrd::Inf, Vec::<i64>::new(), false)),
        "norm3" => one(a.norm(NormOrd::P(3.0), Vec::<i64>::new(), false)),
        "cumsum_dim1" => one(a.cumsum(1)),
        "cumprod_dim0" => one(a.cumprod(0)),
        "cummax_dim1" => two(a.cummax(1)),
        "cummin_dim0" => two(a.cummin(0)),
        "logcumsumexp_dim1" => one(a.logcumsumexp(1)),
        "softmax_dim1" => one(a.softmax(1)),
        "log_softmax_dim0" => one(a.log_softmax(0)),
        "flip" => one(a.flip(&[0, 1])),
        "roll" => one(a.roll(&[1], &[1])),
        "roll_flat" => one(a.roll(&[5], &[])),
        "repeat" => one(a.repeat(&[2, 1, 2])),
        "tile" => one(a.tile(&[2])),
        "repeat_interleave" => one(a.repeat_interleave(2, Some(1))),
        "diagonal" => one(a.diagonal(1, 0, 1)),
        "tril" => one(a.tril(0)),
        "triu" => one(a.triu(1)),
        "cat" => one(Tensor::cat(&[a, &(a * 2)], 1)),
        "stack" => one(Tensor::stack(&[a, &(a + 1)], 1)),
        "flatten" => one(a.flatten(0, -1)),
        "unfold" => one(a.unfold(1, 2, 1)),
        "movedim" => one(a.unsqueeze(0).movedim(&[0], &[2])),
        "permute" => one(a.unsqueeze(2).permute(&[2, 1, 0])),
        "trace" => one(a.trace()),
        "diag" => one(a.diag(0)),
        "kron" => one(a.kron(&a.narrow(0, 0, 2).narrow(1, 0, 2))),
        _ => None,
    }
}

fn run_views(op: &str, a: &Tensor) -> Option<Vec<Tensor>> {
    let one = |t: Tensor| Some(vec![t]);
    let f32s = DType::F32;
    match op {
        "narrow" => one(a.narrow(1, 1, 2)),
        "narrow_neg" => one(a.narrow(-2, -2, 2)),
        "select" => one(a.select(1, -1)),
        "slice_step" => one(a.slice(0, Some(1), None, 1).slice(1, None, None, 3)),
        "split" => Some(a.split(2, 1)),
        "split_sizes" => Some(a.split_with_sizes(&[1, 2], 0)),
        "chunk" => Some(a.chunk(3, 1)),
        "tensor_split" => Some(a.tensor_split(3, 1)),
        "tensor_split_idx" => Some(a.tensor_split_indices(&[1, 3], 1)),
        "unbind" => Some(a.unbind(0)),
        "expand" => one(a.unsqueeze(0).expand(&[2, -1, -1])),
        "squeeze" => one(a.narrow(0, 0, 1).unsqueeze(2).squeeze()),
        "squeeze_dim" => one(a.narrow(0, 0, 1).squeeze_dims(&[0])),
        "unflatten" => one(a.flatten(0, -1).unflatten(0, &[2, -1])),
        "as_strided" => one(a.contiguous().as_strided(&[2, 2], &[1, 2], Some(1))),
        "mT" => one(a.unsqueeze(0).mT()),
        "reshape" => one(a.reshape(&[2, -1])),
        "hstack" => one(Tensor::hstack(&[a, a])),
        "vstack" => one(Tensor::vstack(&[a, &a.select(0, 0)])),
        "diag_embed" => one(a.diag_embed(1, -2, -1)),
        "broadcast_tensors" => Some(Tensor::broadcast_tensors(&[a, &a.narrow(0, 0, 1).narrow(1, 0, 1)])),
        "arange_f" => one(Tensor::arange(0, 5, 0.5).to_dtype(f32s)),
        "arange_i" => one(Tensor::arange(-3, 10, 2)),
        "arange_neg" => one(Tensor::arange_dtype(5.0, -1.0, -1.5, f32s)),
        "linspace" => one(Tensor::linspace(-1.0, 2.0, 7, f32s)),
        "linspace_f64" => one(Tensor::linspace(0.0, 1.0, 11, DType::F64)),
        "logspace" => one(Tensor::logspace(-2.0, 2.0, 5, 10.0, f32s)),
        "logspace_b2" => one(Tensor::logspace(0.0, 4.0, 5, 2.0, f32s)),
        "eye" => one(Tensor::eye(3, None, f32s)),
        "eye_rect" => one(Tensor::eye(2, Some(4), f32s)),
        "full_i" => one(Tensor::full(&[2, 3], 7, DType::I64)),
        "zeros_like_i" => one(Tensor::ones(&[2], DType::I32).zeros_like()),
        _ => None,
    }
}

fn tol(dt: DType) -> (f64, f64) {
    match dt {
        DType::F16 | DType::BF16 => (1e-2, 1e-2),
        DType::F32 => (1e-5, 1e-5),
        DType::F64 => (1e-10, 1e-12),
        _ => (0.0, 0.0),
    }
}

#[test]
fn pytorch_fixtures_match() {
    let fx = load();
    let cases = fx["cases"].as_array().unwrap();
    let mut failures = vec![];
    let mut passed = 0;
    for c in cases {
        let op = c["op"].as_str().unwrap();
        let spec = c["view"].as_str().unwrap();
        let bases: Vec<Tensor> = c["inputs"].as_array().unwrap().iter().map(dec).collect();
        let ins: Vec<Tensor> = bases.iter().map(|b| view(b, spec)).collect();
        let dtn = c["inputs"][0]["dtype"].as_str().unwrap();
        let label = format!("{op}[{dtn},{spec}]");
        let got = match crate::fallible(|| run(op, &ins)) {
            Ok(Some(g)) => g,
            Ok(None) => {
                failures.push(format!("{label}: op not mapped"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{label}: error {e}"));
                continue;
            }
        };
        let outs = c["outputs"].as_array().unwrap();
        if got.len() != outs.len() {
            failures.push(format!("{label}: {} outputs, want {}", got.len(), outs.len()));
            continue;
        }
        for (g, w) in got.iter().zip(outs) {
            let want = dec(w);
            if g.shape() != want.shape() || g.dtype() != want.dtype() {
                failures.push(format!(
                    "{label}: got {:?} {} want {:?} {}",
                    g.shape(),
                    g.dtype(),
                    want.shape(),
                    want.dtype()
                ));
                continue;
            }
            let (rtol, atol) = tol(want.dtype());
            // Reductions over an axis and matmul accumulate differently: 1e-4 for f32.
            let rtol =
                if want.dtype() == DType::F32 && (op.contains("norm") || op.contains("mm") || op.contains("einsum")) {
                    1e-4
                } else {
                    rtol
                };
            let (gv, wv) = (g.to_vec::<f64>(), want.to_vec::<f64>());
            let bad = gv
                .iter()
                .zip(&wv)
                .position(|(x, y)| !((x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= atol + rtol * y.abs()));
            match bad {
                Some(i) => failures.push(format!("{label}: element {i}: got {} want {}", gv[i], wv[i])),
                None => passed += 1,
            }
        }
    }
    assert!(failures.is_empty(), "{passed} outputs matched; {} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(passed > 3400, "only {passed} fixture outputs ran");
}

#[test]
fn printing_matches_pytorch_repr() {
    let fx = load();
    let mut bad = vec![];
    for r in fx["reprs"].as_array().unwrap() {
        let t = dec(&r["input"]);
        let want = r["repr"].as_str().unwrap();
        let got = format!("{t}");
        if got != want {
            bad.push(format!("{}:\n got: {got}\nwant: {want}", r["name"]));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
