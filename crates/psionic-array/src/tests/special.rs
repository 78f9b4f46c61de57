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
        close(&x.polygamma(1), &[PI * PI / 6.0, PI * PI / 2.0, PI * PI / 2.0 + 4.0], tol, "trigamma");
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
