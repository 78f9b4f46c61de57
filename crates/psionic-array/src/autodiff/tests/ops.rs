//! Every differentiable op of the core engine, gradchecked in f64 against central
//! differences (the smooth ones also gradgradchecked), its jvp checked against its vjp,
//! and its vmap (and the vmap of its vjp) checked against a loop over examples.

use super::check::{data, gradcheck, gradgradcheck, jvp_check, vmap_check};
use crate::{NormOrd, Tensor};

type F = Box<dyn Fn(&[Tensor]) -> Tensor>;

fn x1(shape: &[usize], lo: f64, hi: f64) -> Vec<Tensor> {
    vec![data(shape, lo, hi, 1)]
}

fn run(cases: Vec<(&str, F, Vec<Tensor>)>, second: bool) {
    for (name, f, ins) in &cases {
        gradcheck(name, f.as_ref(), ins);
        jvp_check(name, f.as_ref(), ins);
        // as_strided addresses storage, which has no per-example meaning: refused in vmap.
        if *name != "as_strided" {
            vmap_check(name, f.as_ref(), ins);
        }
        if second {
            gradgradcheck(name, f.as_ref(), ins);
        }
    }
}

macro_rules! unary_cases {
    ($lo:expr, $hi:expr; $($name:literal => $f:expr),* $(,)?) => {
        vec![$(($name, Box::new(|x: &[Tensor]| ($f)(&x[0])) as F, x1(&[2, 3], $lo, $hi))),*]
    };
}

#[test]
fn smooth_unary_ops() {
    let mut cases = unary_cases!(-2.0, 2.0;
        "neg" => |x: &Tensor| x.neg(), "square" => |x: &Tensor| x.square(), "exp" => |x: &Tensor| x.exp(),
        "exp2" => |x: &Tensor| x.exp2(), "expm1" => |x: &Tensor| x.expm1(), "sin" => |x: &Tensor| x.sin(),
        "cos" => |x: &Tensor| x.cos(), "atan" => |x: &Tensor| x.atan(), "sinh" => |x: &Tensor| x.sinh(),
        "cosh" => |x: &Tensor| x.cosh(), "tanh" => |x: &Tensor| x.tanh(), "asinh" => |x: &Tensor| x.asinh(),
        "erf" => |x: &Tensor| x.erf(), "erfc" => |x: &Tensor| x.erfc(), "sigmoid" => |x: &Tensor| x.sigmoid(),
        "gelu" => |x: &Tensor| x.gelu("none"), "gelu_tanh" => |x: &Tensor| x.gelu("tanh"),
        "silu" => |x: &Tensor| x.silu(), "mish" => |x: &Tensor| x.mish(), "softplus" => |x: &Tensor| x.softplus(1.5, 20.0),
        "selu" => |x: &Tensor| x.selu(), "elu" => |x: &Tensor| x.elu(0.7), "celu" => |x: &Tensor| x.celu(0.5),
        "ndtr" => |x: &Tensor| x.ndtr(), "log_ndtr" => |x: &Tensor| x.log_ndtr(),
        "i0" => |x: &Tensor| x.i0(), "i0e" => |x: &Tensor| x.i0e(), "i1" => |x: &Tensor| x.i1(),
        "i1e" => |x: &Tensor| x.i1e(), "erfcx" => |x: &Tensor| x.erfcx(),
        "sinc" => |x: &Tensor| x.sinc(), "deg2rad" => |x: &Tensor| x.deg2rad(), "rad2deg" => |x: &Tensor| x.rad2deg(),
        "logsigmoid" => |x: &Tensor| x.logsigmoid(), "tanhshrink" => |x: &Tensor| x.tanhshrink(),
        "float_power" => |x: &Tensor| x.float_power(3),
    );
    cases.extend(unary_cases!(0.2, 3.0;
        "sqrt" => |x: &Tensor| x.sqrt(), "rsqrt" => |x: &Tensor| x.rsqrt(), "reciprocal" => |x: &Tensor| x.reciprocal(),
        "log" => |x: &Tensor| x.log(), "log2" => |x: &Tensor| x.log2(), "log10" => |x: &Tensor| x.log10(),
        "log1p" => |x: &Tensor| x.log1p(), "acosh" => |x: &Tensor| x.add(1.0).acosh(), "pow_scalar" => |x: &Tensor| x.pow(2.5),
        "lgamma" => |x: &Tensor| x.lgamma(), "digamma" => |x: &Tensor| x.digamma(),
        "polygamma_1" => |x: &Tensor| x.polygamma(1), "polygamma_2" => |x: &Tensor| x.polygamma(2),
        "mvlgamma_3" => |x: &Tensor| x.add(1.0).mvlgamma(3), "entr" => |x: &Tensor| x.entr(),
        "xlog1py" => |x: &Tensor| x.xlog1py(x.mul(0.5)),
        "zeta_q" => |x: &Tensor| x.ones_like().mul(3.0).zeta(x),
    ));
    // Negative arguments between the poles.
    cases.extend(unary_cases!(-2.8, -2.2;
        "lgamma_neg" => |x: &Tensor| x.lgamma(), "digamma_neg" => |x: &Tensor| x.digamma(),
        "polygamma_1_neg" => |x: &Tensor| x.polygamma(1),
    ));
    cases.extend(unary_cases!(-0.9, 0.9;
        "tan" => |x: &Tensor| x.tan(), "asin" => |x: &Tensor| x.asin(), "acos" => |x: &Tensor| x.acos(),
        "atanh" => |x: &Tensor| x.atanh(), "erfinv" => |x: &Tensor| x.erfinv(),
        "logit" => |x: &Tensor| x.mul(0.4).add(0.5).logit(None), "logit_eps" => |x: &Tensor| x.mul(0.4).add(0.5).logit(Some(0.05)),
        "ndtri" => |x: &Tensor| x.mul(0.45).add(0.5).ndtri(),
        // Across the kernels' switches between series and asymptotic forms.
        "i0_large" => |x: &Tensor| x.mul(5.0).add(25.0).i0().mul(1e-10), "i1e_large" => |x: &Tensor| x.mul(5.0).add(25.0).i1e(),
        "erfcx_tail" => |x: &Tensor| x.mul(5.0).add(10.0).erfcx(), "log_ndtr_tail" => |x: &Tensor| x.mul(3.0).sub(8.0).log_ndtr(),
    ));
    run(cases, true);
}

#[test]
fn piecewise_unary_ops() {
    // Away from the kinks, first derivatives only.
    let cases = unary_cases!(-4.0, 4.0;
        "abs" => |x: &Tensor| x.abs(), "relu" => |x: &Tensor| x.relu(), "relu6" => |x: &Tensor| x.mul(2.0).relu6(),
        "leaky_relu" => |x: &Tensor| x.leaky_relu(0.1), "hardtanh" => |x: &Tensor| x.hardtanh(-1.5, 2.5),
        "hardsigmoid" => |x: &Tensor| x.hardsigmoid(), "hardswish" => |x: &Tensor| x.hardswish(),
        "clamp" => |x: &Tensor| x.clamp(Some(-1.5), Some(1.0)), "clamp_min" => |x: &Tensor| x.clamp(Some(0.5), None::<f64>),
        "floor" => |x: &Tensor| x.floor(), "ceil" => |x: &Tensor| x.ceil(), "round" => |x: &Tensor| x.round(),
        "trunc" => |x: &Tensor| x.trunc(), "frac" => |x: &Tensor| x.frac(), "sign" => |x: &Tensor| x.sign(),
        "nan_to_num" => |x: &Tensor| x.nan_to_num(0.0, None, None), "round_decimals" => |x: &Tensor| x.round_decimals(1),
        "softsign" => |x: &Tensor| x.softsign(), "hardshrink" => |x: &Tensor| x.hardshrink(0.5),
        "softshrink" => |x: &Tensor| x.softshrink(0.5),
    );
    run(cases, false);
}

/// relu's backward is its own kind (`ReluGrad`): its rule gives relu second derivatives
/// (of relu composed with smooth functions, away from the kink) and forward-mode ones.
#[test]
fn relu_backward_differentiates() {
    let cases = unary_cases!(-4.0, 4.0;
        "relu_cubed" => |x: &Tensor| x.relu().pow(3.0), "relu_of_sin" => |x: &Tensor| x.mul(2.0).sin().relu().mul(x),
    );
    run(cases, true);
    // NaN and -0 inputs give a zero gradient, as PyTorch's threshold_backward does.
    let x = Tensor::from_vec(vec![f32::NAN, -0.0, 0.0, -1.0, 2.0], &[5]).requires_grad_(true).clone();
    x.relu().sum_all().backward();
    let g = x.grad().unwrap().to_vec::<f32>();
    assert_eq!(g, vec![0.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(g.iter().all(|v| v.is_sign_positive()));
}

fn x2(sa: &[usize], sb: &[usize], lo: f64, hi: f64) -> Vec<Tensor> {
    vec![data(sa, lo, hi, 1), data(sb, lo, hi, 2)]
}

#[test]
fn binary_ops_with_broadcasting() {
    let b2 = |name: &'static str, f: fn(&Tensor, &Tensor) -> Tensor, lo: f64, hi: f64| {
        (name, Box::new(move |x: &[Tensor]| f(&x[0], &x[1])) as F, x2(&[2, 3], &[3], lo, hi))
    };
    let smooth = vec![
        b2("add", |a, b| a + b, -2.0, 2.0),
        b2("sub", |a, b| a - b, -2.0, 2.0),
        b2("mul", |a, b| a * b, -2.0, 2.0),
        b2("div", |a, b| a / b, 0.5, 2.0),
        b2("pow", |a, b| a.pow(b), 0.5, 2.0),
        b2("atan2", |a, b| a.atan2(b), 0.5, 2.0),
        b2("hypot", |a, b| a.hypot(b), 0.5, 2.0),
        b2("logaddexp", |a, b| a.logaddexp(b), -2.0, 2.0),
        b2("xlogy", |a, b| a.xlogy(b), 0.5, 2.0),
        b2("add_alpha", |a, b| a.add_alpha(b, 2.5), -2.0, 2.0),
        b2("lerp", |a, b| a.lerp(b, 0.3), -2.0, 2.0),
        b2("rsub_scalar", |a, b| (2.0 - a) * b, -2.0, 2.0),
    ];
    run(smooth, true);
    let piecewise = vec![
        b2("maximum", |a, b| a.maximum(b), -2.0, 2.0),
        b2("minimum", |a, b| a.minimum(b), -2.0, 2.0),
        b2("fmax", |a, b| a.fmax(b), -2.0, 2.0),
        b2("fmin", |a, b| a.fmin(b), -2.0, 2.0),
        b2("copysign", |a, b| a.copysign(b), 0.5, 2.0),
        b2("remainder", |a, b| a.mul(3.0).remainder(b), 0.5, 2.0),
        b2("fmod", |a, b| a.mul(3.0).fmod(b), 0.5, 2.0),
        b2("where", |a, b| Tensor::where_(&a.gt(b), a, b.mul(2.0)), -2.0, 2.0),
        b2("div_trunc", |a, b| a.div_mode(b, Some("trunc")).add(a), 0.5, 2.0),
    ];
    run(piecewise, false);
    let three = |name: &'static str, f: fn(&[Tensor]) -> Tensor| {
        (name, Box::new(f) as F, vec![data(&[2, 3], 0.5, 2.0, 1), data(&[3], 0.5, 2.0, 2), data(&[2, 1], 0.5, 2.0, 3)])
    };
    run(
        vec![
            three("addcmul", |x| x[0].addcmul(&x[1], &x[2], 0.5)),
            three("addcdiv", |x| x[0].addcdiv(&x[1], &x[2], 0.5)),
            three("lerp_tensor", |x| x[0].lerp(&x[1], x[2].mul(0.3))),
        ],
        true,
    );
}

#[test]
fn reductions_and_scans() {
    let r = |name: &'static str, f: fn(&Tensor) -> Tensor, lo: f64, hi: f64| {
        (name, Box::new(move |x: &[Tensor]| f(&x[0])) as F, x1(&[3, 4], lo, hi))
    };
    let smooth = vec![
        r("sum_all", |x| x.sum_all(), -2.0, 2.0),
        r("sum_dim", |x| x.sum(0, false), -2.0, 2.0),
        r("sum_keep", |x| x.sum(1, true), -2.0, 2.0),
        r("mean", |x| x.mean(-1, false), -2.0, 2.0),
        r("prod", |x| x.prod(1, false), 0.5, 1.5),
        r("prod_all", |x| x.prod_all(), 0.5, 1.5),
        r("var", |x| x.var(1, 1.0, false), -2.0, 2.0),
        r("var_all_c0", |x| x.var(Vec::<i64>::new(), 0.0, false), -2.0, 2.0),
        r("std", |x| x.std(0, 1.0, true), -2.0, 2.0),
        r("logsumexp", |x| x.logsumexp(1, false), -2.0, 2.0),
        r("softmax", |x| x.softmax(1), -2.0, 2.0),
        r("log_softmax", |x| x.log_softmax(0), -2.0, 2.0),
        // Both kernel paths: lines along the last dim, and gathered lines along another.
        r("softmax_dim0", |x| x.softmax(0), -2.0, 2.0),
        r("log_softmax_last", |x| x.log_softmax(-1), -2.0, 2.0),
        r("softmax_strided", |x| x.t().softmax(-1), -2.0, 2.0),
        r("norm2", |x| x.norm(NormOrd::Fro, Vec::<i64>::new(), false), -2.0, 2.0),
        r("norm3_dim", |x| x.norm(NormOrd::P(3.0), 1, false), 0.2, 2.0),
        r("cumsum", |x| x.cumsum(1), -2.0, 2.0),
        r("cumprod", |x| x.cumprod(1), 0.5, 1.5),
        r("logcumsumexp", |x| x.logcumsumexp(0), -2.0, 2.0),
    ];
    run(smooth, true);
    let piecewise = vec![
        r("amax", |x| x.amax(1, false), -2.0, 2.0),
        r("amin", |x| x.amin(0, true), -2.0, 2.0),
        r("max_all", |x| x.max_all(), -2.0, 2.0),
        r("max_dim", |x| x.max_dim(1, false).0, -2.0, 2.0),
        r("min_dim", |x| x.min_dim(0, false).0, -2.0, 2.0),
        r("norm1", |x| x.norm(NormOrd::P(1.0), 1, false), 0.2, 2.0),
        r("norm_inf", |x| x.norm(NormOrd::Inf, Vec::<i64>::new(), false), -2.0, 2.0),
        r("cummax", |x| x.cummax(1).0, -2.0, 2.0),
        r("cummin", |x| x.cummin(0).0, -2.0, 2.0),
    ];
    run(piecewise, false);
}

#[test]
fn products_with_zeros_stay_exact() {
    let z = Tensor::from_vec(vec![0.5, 0.0, 2.0, 1.5, -1.0, 0.0, 0.7, 1.2, 0.0, 0.9, 1.1, -0.4], &[3, 4]);
    let cases: Vec<(&str, F, Vec<Tensor>)> = vec![
        ("prod_zero", Box::new(|x: &[Tensor]| x[0].prod(1, false)), vec![z.clone()]),
        ("prod_all_zero", Box::new(|x: &[Tensor]| x[0].prod_all()), vec![z.clone()]),
        ("cumprod_zero", Box::new(|x: &[Tensor]| x[0].cumprod(1)), vec![z.clone()]),
    ];
    run(cases, false);
}

#[test]
fn views_and_shape_ops() {
    let v = |name: &'static str, f: fn(&Tensor) -> Tensor| {
        (name, Box::new(move |x: &[Tensor]| f(&x[0])) as F, x1(&[3, 4], -2.0, 2.0))
    };
    let cases = vec![
        v("reshape", |x| x.reshape(&[4, 3]).mul(2.0)),
        v("view_t_reshape", |x| x.t().reshape(&[-1])),
        v("permute", |x| x.unsqueeze(0).permute(&[2, 0, 1])),
        v("transpose", |x| x.transpose(0, 1)),
        v("slice_step", |x| x.slice(1, Some(1), None, 2)),
        v("narrow", |x| x.narrow(0, 1, 2)),
        v("select", |x| x.select(1, -1)),
        v("expand", |x| x.narrow(0, 0, 1).expand(&[3, -1]).mul(x)),
        v("squeeze", |x| x.unsqueeze(1).squeeze()),
        v("diagonal", |x| x.diagonal(1, 0, 1)),
        v("unfold", |x| x.unfold(1, 3, 1)),
        v("unfold_step", |x| x.unfold(1, 2, 2)),
        v("as_strided", |x| x.contiguous().as_strided(&[2, 2], &[1, 4], Some(1))),
        v("flip", |x| x.flip(&[0, 1])),
        v("roll", |x| x.roll(&[1, -1], &[0, 1])),
        v("repeat", |x| x.repeat(&[2, 1, 2])),
        v("tile", |x| x.tile(&[2])),
        v("repeat_interleave", |x| x.repeat_interleave(2, Some(0))),
        v("cat", |x| Tensor::cat(&[x, &x.mul(2.0)], 1)),
        v("stack", |x| Tensor::stack(&[x, &x.square()], 0)),
        v("split", |x| x.split(3, 1)[0].mul(x.split(3, 1)[1].sum_all())),
        v("chunk_unbind", |x| &x.chunk(2, 0)[1] + &x.unbind(0)[0]),
        v("tril", |x| x.tril(0)),
        v("triu", |x| x.triu(1)),
        v("diag", |x| x.diag(0).diag(0)),
        v("diag_embed", |x| x.diag_embed(0, -2, -1)),
        v("contiguous", |x| x.t().contiguous()),
        v("movedim", |x| x.unsqueeze(0).movedim(&[0], &[2])),
        v("flatten_unflatten", |x| x.flatten(0, -1).unflatten(0, &[2, 6])),
        v("hstack_vstack", |x| Tensor::vstack(&[&Tensor::hstack(&[x, x]), &x.repeat(&[1, 2])])),
    ];
    run(cases, false);
}

#[test]
fn matmul_family() {
    let m = |name: &'static str, f: fn(&Tensor, &Tensor) -> Tensor, sa: &[usize], sb: &[usize]| {
        (name, Box::new(move |x: &[Tensor]| f(&x[0], &x[1])) as F, x2(sa, sb, -1.5, 1.5))
    };
    let cases = vec![
        m("matmul", |a, b| a.matmul(b), &[2, 3], &[3, 4]),
        m("matmul_batched_bcast", |a, b| a.matmul(b), &[2, 2, 3], &[3, 2]),
        m("matmul_vec", |a, b| a.matmul(b), &[2, 3], &[3]),
        m("vec_matmul", |a, b| a.matmul(b), &[3], &[3, 2]),
        m("mm", |a, b| a.mm(b), &[2, 3], &[3, 2]),
        // Operands stored transposed take the other orientation of the vjp.
        m("matmul_transposed_b", |a, b| a.matmul(&b.t()), &[2, 3], &[4, 3]),
        m("matmul_transposed_a", |a, b| a.t().matmul(b), &[3, 2], &[3, 4]),
        m("matmul_transposed_both", |a, b| a.mT().matmul(&b.mT()), &[2, 3, 2], &[2, 4, 3]),
        m("bmm", |a, b| a.bmm(b), &[2, 2, 3], &[2, 3, 2]),
        m("mv", |a, b| a.mv(b), &[2, 3], &[3]),
        m("dot", |a, b| a.dot(b), &[3], &[3]),
        m("outer", |a, b| a.outer(b), &[3], &[2]),
        m("addmm", |a, b| a.matmul(b).addmm(a, b, 0.5, 2.0), &[3, 3], &[3, 3]),
        m("einsum", |a, b| Tensor::einsum("ij,kj->ik", &[a, b]), &[2, 3], &[4, 3]),
        m("einsum_trace", |a, b| Tensor::einsum("ii,ij->j", &[a, b]), &[3, 3], &[3, 2]),
        m("tensordot", |a, b| a.tensordot(b, &[1], &[0]), &[2, 3], &[3, 2]),
        m("kron", |a, b| a.kron(b), &[2, 2], &[2, 1]),
        m("trace", |a, b| a.mm(b).trace(), &[2, 3], &[3, 2]),
    ];
    run(cases, true);
}

/// A weight used as `w.t()` (a linear layer) gets its gradient dense straight from the
/// product, before any leaf makes it dense, and its values are `g^T @ x`.
#[test]
fn transposed_weight_gets_dense_gradient() {
    let x = data(&[5, 3], -1.0, 1.0, 7);
    let w = data(&[4, 3], -1.0, 1.0, 8);
    w.requires_grad_(true);
    let g = data(&[5, 4], -1.0, 1.0, 9);
    let y = (x.matmul(&w.t()) * &g).sum_all();
    let gw = crate::autodiff::autograd::grad(&[&y], &[&w], Default::default())[0].clone().unwrap();
    assert!(gw.is_contiguous());
    let (xv, gv, gwv) = (x.to_vec::<f64>(), g.to_vec::<f64>(), gw.to_vec::<f64>());
    for o in 0..4 {
        for i in 0..3 {
            let want: f64 = (0..5).map(|r| gv[r * 4 + o] * xv[r * 3 + i]).sum();
            assert!((gwv[o * 3 + i] - want).abs() < 1e-12, "{o},{i}: {} vs {want}", gwv[o * 3 + i]);
        }
    }
}

/// GELU's fused backward (`UnaryOp::GeluGrad`) takes the float steps of the composite it
/// replaced, so its f32 gradient has the same bits, out past where φ underflows.
#[test]
fn gelu_backward_matches_its_composite_bit_for_bit() {
    use std::f64::consts::{FRAC_1_SQRT_2, PI};
    let v: Vec<f32> = (0..4001).map(|i| (i as f32 - 2000.0) * 0.006).collect();
    let x = Tensor::from_vec(v, &[4001]).requires_grad_(true).clone();
    x.gelu("none").sum_all().backward();
    let xd = x.detach();
    let cdf = xd.mul(FRAC_1_SQRT_2).erf().add(1.0).mul(0.5);
    let pdf = xd.square().mul(-0.5).exp().mul(1.0 / (2.0 * PI).sqrt());
    let want = &cdf + &(&xd * &pdf);
    let bits = |t: &Tensor| t.to_vec::<f32>().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&x.grad().unwrap()), bits(&want));
}

/// The fused GELU backward reads a strided input (a transposed view) as its values: the
/// gradient through `a.t()` is, element for element, the one through `a`.
#[test]
fn gelu_backward_of_a_strided_input() {
    let v: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.13).collect();
    let a = Tensor::from_vec(v.clone(), &[6, 10]).requires_grad_(true).clone();
    let b = Tensor::from_vec(v, &[6, 10]).requires_grad_(true).clone();
    let at = a.t();
    assert!(!at.is_contiguous());
    at.gelu("none").sum_all().backward();
    b.gelu("none").sum_all().backward();
    let bits = |t: &Tensor| t.to_vec::<f32>().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.grad().unwrap()), bits(&b.grad().unwrap()));
}
