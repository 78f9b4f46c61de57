//! The gamma family at the tensor level: closed-form values in f64 and f32, polygamma's
//! orders, mvlgamma against its definition, and the refusals.

use crate::{fallible, DType, Tensor};
use std::f64::consts::{LN_2, PI};

const EULER: f64 = 0.577_215_664_901_532_9;

fn close(got: &Tensor, want: &[f64], tol: f64, what: &str) {
    let got = got.to_dtype(DType::F64).to_vec::<f64>();
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}: {got:?} vs {want:?}");
    }
}

#[test]
fn closed_forms_in_f64_and_f32() {
    for (dt, tol) in [(DType::F64, 1e-13), (DType::F32, 1e-6)] {
        let x = Tensor::from_vec(vec![1.0f64, 0.5, -0.5], &[3]).to_dtype(dt);
        let lg = [0.0, 0.5 * PI.ln(), (2.0 * PI.sqrt()).ln()];
        close(&x.lgamma(), &lg, tol, "lgamma");
        let psi = [-EULER, -EULER - 2.0 * LN_2, -EULER - 2.0 * LN_2 + 2.0];
        close(&x.digamma(), &psi, tol, "digamma");
        close(&x.polygamma(0), &psi, tol, "polygamma(0)");
        // ψ'(1) = π²/6, ψ'(1/2) = π²/2, ψ'(-1/2) = π²/2 + 4.
        // Within PyTorch's truncation of the trigamma series, which it keeps.
        close(&x.polygamma(1), &[PI * PI / 6.0, PI * PI / 2.0, PI * PI / 2.0 + 4.0], tol.max(1e-9), "trigamma");
        assert_eq!(x.polygamma(2).dtype(), dt);
        // Integer inputs are promoted to the default float.
        assert_eq!(Tensor::from_vec(vec![1i64, 2], &[2]).lgamma().dtype(), DType::F32);
    }
}

#[test]
fn mvlgamma_is_a_sum_of_lgammas() {
    let x = Tensor::from_vec(vec![1.5f64, 2.0, 3.25], &[3]);
    close(&x.mvlgamma(1), &x.lgamma().to_vec::<f64>(), 1e-14, "p = 1");
    let want: Vec<f64> = x
        .to_vec::<f64>()
        .iter()
        .map(|&v| 0.5 * PI.ln() + psionic_cpu::gamma::lgamma(v) + psionic_cpu::gamma::lgamma(v - 0.5))
        .collect();
    close(&x.mvlgamma(2), &want, 1e-14, "p = 2");
    let e = fallible(|| x.mvlgamma(4)).unwrap_err().to_string();
    assert!(e.contains("All elements must be greater than (p-1)/2 = 1.5"), "{e}");
    let e = fallible(|| x.mvlgamma(0)).unwrap_err().to_string();
    assert!(e.contains("p has to be greater than or equal to 1"), "{e}");
}

#[test]
fn composed_special_functions() {
    let x = Tensor::from_vec(vec![0.0f64, 0.5, 2.0, -1.0, f64::NAN], &[5]);
    let e = x.entr().to_vec::<f64>();
    assert_eq!(e[0], 0.0);
    assert!((e[1] - 0.5 * 2f64.ln()).abs() < 1e-15 && (e[2] + 2.0 * 2f64.ln()).abs() < 1e-15);
    assert_eq!(e[3], f64::NEG_INFINITY);
    assert!(e[4].is_nan());
    // Φ(0) = 1/2, Φ(1.96) = 0.975002104851780, Φ(-8) = 6.22096057427178e-16 (the tail
    // keeps its digits).
    let n = Tensor::from_vec(vec![0.0f64, 1.96, -8.0], &[3]).ndtr().to_vec::<f64>();
    assert!((n[0] - 0.5).abs() < 1e-16 && (n[1] - 0.975_002_104_851_780).abs() < 1e-14);
    assert!((n[2] / 6.220_960_574_271_78e-16 - 1.0).abs() < 1e-12, "{}", n[2]);
    // xlog1py: 0 at x = 0 unless y is NaN; promotes like a binary op.
    let y = Tensor::from_vec(vec![-2.0f64, 1.0, f64::NAN], &[3]);
    let z = Tensor::from_vec(vec![0.0f64, 3.0, 0.0], &[3]).xlog1py(&y).to_vec::<f64>();
    assert_eq!(z[0], 0.0);
    assert!((z[1] - 3.0 * 2f64.ln()).abs() < 1e-15 && z[2].is_nan());
    assert_eq!(Tensor::from_vec(vec![1i64], &[1]).xlog1py(1).dtype(), DType::F32);
}

#[test]
fn hurwitz_zeta() {
    for (dt, tol) in [(DType::F64, 1e-13), (DType::F32, 1e-6)] {
        let s = Tensor::from_vec(vec![2.0f64, 3.0, 4.0], &[3]).to_dtype(dt);
        let q = Tensor::from_vec(vec![1.0f64, 2.0, 0.5], &[3]).to_dtype(dt);
        // ζ(2) = π²/6, ζ(3, 2) = ζ(3) - 1, ζ(4, 1/2) = 15 ζ(4) = π⁴/6.
        close(&s.zeta(&q), &[PI * PI / 6.0, 1.202_056_903_159_594_3 - 1.0, PI.powi(4) / 6.0], tol, "zeta");
    }
    // A scalar q, and the integer promotion of a binary float op.
    close(&Tensor::from_vec(vec![2i64], &[1]).zeta(1.0), &[PI * PI / 6.0], 1e-6, "scalar q");
    // As in PyTorch, zeta has a derivative in q only.
    let x = Tensor::from_vec(vec![2.0f64], &[1]).requires_grad_(true).clone();
    let e = fallible(|| x.zeta(1.0).sum_all().backward()).unwrap_err().to_string();
    assert!(e.contains("the derivative for 'self' is not implemented"), "{e}");
}

/// Strided and broadcast operands read through their views give the values of the
/// contiguous copies.
#[test]
fn strided_inputs() {
    let base = Tensor::from_vec((0..12).map(|i| 0.3 + i as f64 * 0.4).collect::<Vec<_>>(), &[3, 4]);
    let t = base.t();
    assert!(!t.is_contiguous());
    let dense = t.contiguous();
    type Op = fn(&Tensor) -> Tensor;
    let ops: [(&str, Op); 14] = [
        ("lgamma", |x| x.lgamma()),
        ("i0", |x| x.i0()),
        ("i0e", |x| x.i0e()),
        ("i1", |x| x.neg().i1()),
        ("i1e", |x| x.i1e()),
        ("erfcx", |x| x.sub(2.0).erfcx()),
        ("ndtri", |x| x.div(5.0).ndtri()),
        ("log_ndtr", |x| x.sub(3.0).log_ndtr()),
        ("digamma", |x| x.digamma()),
        ("polygamma", |x| x.polygamma(2)),
        ("mvlgamma", |x| x.add(1.0).mvlgamma(2)),
        ("entr", |x| x.entr()),
        ("ndtr", |x| x.ndtr()),
        ("xlog1py", |x| x.xlog1py(x.narrow(0, 0, 1))),
    ];
    for (name, f) in ops {
        assert_eq!(f(&t).to_vec::<f64>(), f(&dense).to_vec::<f64>(), "{name}");
    }
    // zeta with a broadcast (stride-0) q.
    let q = Tensor::from_vec(vec![1.5f64], &[1]).expand(&[4, 3]);
    assert_eq!(t.add(1.0).zeta(&q).to_vec::<f64>(), dense.add(1.0).zeta(q.contiguous()).to_vec::<f64>());
}

/// Values of the Bessel and normal-distribution functions against scipy.special (the
/// oracle venv's pinned version), in f64 and f32, with their edge values.
#[test]
fn bessel_and_normal_functions_match_scipy() {
    let x = [-3.5f64, -0.25, 0.0, 0.75, 12.0];
    type Case = (&'static str, fn(&Tensor) -> Tensor, [f64; 5]);
    let cases: [Case; 6] = [
        ("i0", Tensor::i0, [7.3782034322254795, 1.015686141223608, 1.0, 1.1456467780440016, 18948.92534929631]),
        ("i0e", Tensor::i0e, [0.22280243801077917, 0.7910171621397195, 1.0, 0.5411652192034955, 0.11642622121344044]),
        ("i1", Tensor::i1, [-6.205834922258364, -0.12597910894546785, 0.0, 0.40199246158092217, 18141.348781638833]),
        ("i1e", Tensor::i1e, [-0.18739997660304997, -0.0981126286973682, 0.0, 0.189887793304855, 0.111464299290181]),
        ("erfcx", Tensor::erfcx, [417962.42244577035, 1.3586423701047217, 1.0, 0.506937650293145, 0.04685422101489376]),
        (
            "log_ndtr",
            Tensor::log_ndtr,
            [-8.366065308344094, -0.913061764811135, -LN_2, -0.25699426683836524, -1.776482112077653e-33],
        ),
    ];
    for (dt, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-6)] {
        let t = Tensor::from_vec(x.to_vec(), &[5]).to_dtype(dt);
        for (name, f, want) in &cases {
            let y = f(&t);
            assert_eq!(y.dtype(), dt, "{name}");
            close(&y, want, tol, name);
        }
        let p = Tensor::from_vec(vec![0.0f64, 1e-12, 0.3, 0.5, 1.0], &[5]).to_dtype(dt);
        let want = [f64::NEG_INFINITY, -7.034483825301131, -0.5244005127080409, 0.0, f64::INFINITY];
        let got = p.ndtri().to_dtype(DType::F64).to_vec::<f64>();
        assert!(got[0] == want[0] && got[4] == want[4], "ndtri ends: {got:?}");
        close(&p.ndtri().narrow(0, 1, 3), &want[1..4], tol, "ndtri");
    }
    let edge = Tensor::from_vec(vec![f64::INFINITY, f64::NEG_INFINITY, f64::NAN], &[3]);
    assert_eq!(edge.i0().to_vec::<f64>()[..2], [f64::INFINITY, f64::INFINITY]);
    assert_eq!(edge.i1().to_vec::<f64>()[..2], [f64::INFINITY, f64::NEG_INFINITY]);
    assert_eq!(edge.i0e().to_vec::<f64>()[..2], [0.0, 0.0]);
    assert_eq!(edge.erfcx().to_vec::<f64>()[..2], [0.0, f64::INFINITY]);
    assert_eq!(edge.log_ndtr().to_vec::<f64>()[..2], [0.0, f64::NEG_INFINITY]);
    for f in [Tensor::i0, Tensor::i1e, Tensor::erfcx, Tensor::ndtri, Tensor::log_ndtr] {
        assert!(f(&edge).to_vec::<f64>()[2].is_nan());
    }
    let out_of_range = Tensor::from_vec(vec![-0.5f64, 1.5], &[2]).ndtri().to_vec::<f64>();
    assert!(out_of_range.iter().all(|v| v.is_nan()));
    // Integers promote to the default float.
    assert_eq!(Tensor::from_vec(vec![1i64, 2], &[2]).i0().dtype(), DType::F32);
}

/// `torch.special`'s names are the methods, argument order included.
#[test]
fn the_special_namespace_names_the_methods() {
    use crate::special;
    let x = Tensor::from_vec(vec![0.3f64, 1.7, 4.0], &[3]);
    let same = |a: Tensor, b: Tensor| assert_eq!(a.to_vec::<f64>(), b.to_vec::<f64>());
    same(special::gammaln(&x), x.lgamma());
    same(special::psi(&x), x.digamma());
    same(special::polygamma(2, &x), x.polygamma(2));
    same(special::multigammaln(&x.add(2.0), 3), x.add(2.0).mvlgamma(3));
    same(special::expit(&x), x.sigmoid());
    same(special::i1e(&x), x.i1e());
    same(special::xlog1py(&x, 0.5), x.xlog1py(0.5));
    same(special::zeta(&x.add(1.5), &x), x.add(1.5).zeta(&x));
    same(special::logsumexp(&x, 0, false), x.logsumexp(0, false));
}

/// xlog1py at x = 0: the value is +0 and x's gradient is log1p(y), except where
/// y <= -1 (PyTorch's rule).
#[test]
fn xlog1py_at_zero_keeps_the_gradient_of_x() {
    let x = Tensor::zeros(&[3], DType::F64).requires_grad_(true).clone();
    let y = Tensor::from_vec(vec![-0.5f64, 2.0, -3.0], &[3]);
    let out = x.xlog1py(&y);
    let v = out.to_vec::<f64>();
    assert!(v.iter().all(|z| *z == 0.0 && z.is_sign_positive()), "{v:?}");
    out.sum_all().backward();
    let g = x.grad().unwrap().to_vec::<f64>();
    assert_eq!(g, vec![(-0.5f64).ln_1p(), 2f64.ln_1p(), 0.0]);
}
