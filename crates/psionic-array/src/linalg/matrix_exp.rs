//! `torch.linalg.matrix_exp`, by PyTorch's algorithm so that rounding follows it: the
//! optimized Taylor polynomials of degree 1, 2, 4, 8, 12 and 18 of Bader, Blanes & Casas
//! (2019, "Computing the matrix exponential with an optimized Taylor polynomial
//! approximation"), the degree picked per matrix from its 1-norm, and scaling and
//! squaring beyond the degree-18 threshold. Gradients differentiate the polynomial and
//! the squarings. The choice of degree needs the values, so it does not run under vmap
//! or compile.

// The constants are quoted with all the digits the paper gives them.
#![allow(clippy::excessive_precision)]

use super::eye_like;
use crate::autocast;
use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

/// Largest 1-norm each degree is accurate for (1, 2, 4, 8, 12, 18), per precision.
const THETA_F32: [f64; 6] = [
    1.192092800768788e-07,
    5.978858893805233e-04,
    5.116619363445086e-02,
    5.800524627688768e-01,
    1.461661507209034e+00,
    3.010066362817634e+00,
];
const THETA_F64: [f64; 6] = [
    2.220446049250313e-16,
    2.580956802971767e-08,
    3.397168839976962e-04,
    4.991228871115323e-02,
    2.996158913811580e-01,
    1.090863719290036e+00,
];

/// Degree 12: `B_i = sum_j b_ij A^j` over `[I, A, A^2, A^3]`; `A6 = B_3^2 + B_2`;
/// `T = B_0 + (B_1 + A6) A6`.
const B12: [[f64; 4]; 4] = [
    [9.0198e-16, 0.46932117595418237389, -0.20099424927047284052, -0.04623946134063071740],
    [5.31597895759871264183, 1.19926790417132231573, 0.01179296240992997031, 0.01108844528519167989],
    [0.18188869982170434744, 0.05502798439925399070, 0.09351590770535414968, 0.00610700528898058230],
    [-2.0861320e-13, -0.13181061013830184015, -0.02027855540589259079, -0.00675951846863086359],
];

/// Degree 18: `B_i` over `[I, A, A^2, A^3, A^6]`; `A9 = B_0 B_4 + B_3`;
/// `T = B_1 + (B_2 + A9) A9`.
const B18: [[f64; 5]; 5] = [
    [0., -1.00365581030144618291e-01, -8.02924648241156932449e-03, -8.92138498045729985177e-04, 0.],
    [
        0.,
        3.97849749499645077844e-01,
        1.36783778460411720168e+00,
        4.98289622525382669416e-01,
        -6.37898194594723280150e-04,
    ],
    [
        -1.09676396052962061844e+01,
        1.68015813878906206114e+00,
        5.71779846478865511061e-02,
        -6.98210122488052056106e-03,
        3.34975017086070470649e-05,
    ],
    [
        -9.04316832390810593223e-02,
        -6.76404519071381882256e-02,
        6.75961301770459654925e-02,
        2.95552570429315521194e-02,
        -1.39180257516060693404e-05,
    ],
    [0., 0., -9.23364619367118555360e-02, -1.69364939002081722752e-02, -1.40086798182036094347e-05],
];

/// `torch.linalg.matrix_exp(A)`. f16 and bf16 are computed in f32 (PyTorch's own half
/// path reads its coefficients at the wrong width and returns NaN).
#[track_caller]
pub fn matrix_exp(a: &Tensor) -> Tensor {
    // On neither autocast list: its products run in its input's dtype.
    if let Some(y) = autocast::casting(|| matrix_exp(a)) {
        return y;
    }
    let s = a.shape();
    if s.len() < 2 || s[s.len() - 1] != s[s.len() - 2] {
        raise(Error::shape("linalg.matrix_exp", format!("A must be batches of square matrices, got {s:?}")));
    }
    if !a.dtype().is_float() {
        raise(Error::dtype("linalg.matrix_exp", format!("Expected a floating point tensor. Got {}", a.dtype().name())));
    }
    if a.numel() == 0 {
        return a.deep_clone();
    }
    if matches!(a.dtype(), DType::F16 | DType::BF16) {
        return matrix_exp(&a.to_dtype(DType::F32)).to_dtype(a.dtype());
    }
    let n = s[s.len() - 1];
    if n == 1 {
        return a.exp();
    }
    let theta = if a.dtype() == DType::F32 { THETA_F32 } else { THETA_F64 };
    let flat = a.reshape(&[-1, n as i64, n as i64]);
    let norms = flat.detach().abs().sum(vec![-2], false).amax(vec![-1], false).to_dtype(DType::F64).to_vec::<f64>();
    // Each matrix by the lowest degree accurate for its norm: PyTorch's intervals, where
    // a norm at or above the degree-12 threshold (or NaN) goes to degree 18.
    let degree = |v: f64| if v < theta[4] { (0..4).find(|&i| v <= theta[i]).unwrap_or(4) } else { 5 };
    let mut out = flat.zeros_like();
    for d in 0..6 {
        let members: Vec<usize> = (0..norms.len()).filter(|&i| degree(norms[i]) == d).collect();
        if members.is_empty() {
            continue;
        }
        let idx = Tensor::from_vec(members.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[members.len()]);
        let sub = flat.index_select(0, &idx);
        let piece = if d < 5 {
            taylor(&sub, d)
        } else {
            scale_square(&sub, &members.iter().map(|&i| norms[i]).collect::<Vec<_>>(), theta[5])
        };
        out = out.index_copy(0, &idx, &piece);
    }
    out.reshape(&crate::ops::args::dims_i64(&s))
}

/// `sum_j c_j x_j`, accumulated in order, with the coefficients at the tensors' width
/// (PyTorch stores them as its scalar type).
fn combine(xs: &[&Tensor], c: &[f64]) -> Tensor {
    let width = |c: f64| if xs[0].dtype() == DType::F32 { c as f32 as f64 } else { c };
    let mut acc = xs[0] * width(c[0]);
    for (x, &c) in xs.iter().zip(c).skip(1) {
        acc = &acc + &(*x * width(c));
    }
    acc
}

/// The Taylor approximation of degree 1, 2, 4, 8 or 12 (index `d`), in Bader et al.'s
/// evaluation schemes.
fn taylor(a: &Tensor, d: usize) -> Tensor {
    let id = eye_like(a);
    let a2 = || a.matmul(a);
    match d {
        0 => &id + a,
        1 => &(&id + a) + &a2().div(2.0),
        2 => {
            let a2 = a2();
            let inner = combine(&[&id, a, &a2], &[1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0]);
            &(&id + a) + &a2.matmul(&inner)
        }
        3 => taylor8(a, &id, &a2()),
        _ => {
            let a2 = a2();
            let a3 = a.matmul(&a2);
            let powers = [&id, a, &a2, &a3];
            let b: Vec<Tensor> = B12.iter().map(|row| combine(&powers, row)).collect();
            let a6 = &b[2] + &b[3].matmul(&b[3]);
            &b[0] + &(&b[1] + &a6).matmul(&a6)
        }
    }
}

/// Degree 8: `A4 = A2 (x1 A + x2 A2)`, `A8 = (x3 A2 + A4)(x4 I + x5 A + x6 A2 + x7 A4)`,
/// `T = I + A + y2 A2 + A8`.
fn taylor8(a: &Tensor, id: &Tensor, a2: &Tensor) -> Tensor {
    let sqrt_177 = 0.1330413469565007072504e+2;
    let x3 = 2.0 / 3.0;
    let x1 = x3 * ((1.0 + sqrt_177) / 88.0);
    let x2 = x3 * ((1.0 + sqrt_177) / 352.0);
    let x4 = (-271.0 + 29.0 * sqrt_177) / (315.0 * x3);
    let x5 = (-11.0 + 11.0 * sqrt_177) / (1260.0 * x3);
    let x6 = (-99.0 + 11.0 * sqrt_177) / (5040.0 * x3);
    let x7 = (89.0 - sqrt_177) / (5040.0 * x3);
    let y2 = (857.0 - 58.0 * sqrt_177) / 630.0;
    let a4 = a2.matmul(&combine(&[a, a2], &[x1, x2]));
    let a8 = combine(&[a2, &a4], &[x3, 1.0]).matmul(&combine(&[id, a, a2, &a4], &[x4, x5, x6, x7]));
    combine(&[id, a, a2, &a8], &[1.0, 1.0, y2, 1.0])
}

/// Degree 18 of `A / 2^s`, squared `s` times, with `s = max(0, ceil(log2(norm / theta)))`
/// per matrix.
fn scale_square(a: &Tensor, norms: &[f64], theta: f64) -> Tensor {
    let s: Vec<u32> = norms.iter().map(|&v| (v / theta).log2().ceil().max(0.0) as u32).collect();
    let scale: Vec<f64> = s.iter().map(|&k| 2f64.powi(k as i32)).collect();
    let scale = Tensor::from_vec(scale, &[s.len(), 1, 1]).to_dtype(a.dtype());
    let x = a / &scale;
    let id = eye_like(&x);
    let x2 = x.matmul(&x);
    let x3 = x.matmul(&x2);
    let x6 = x3.matmul(&x3);
    let powers = [&id, &x, &x2, &x3, &x6];
    let b: Vec<Tensor> = B18.iter().map(|row| combine(&powers, row)).collect();
    let x9 = &b[3] + &b[0].matmul(&b[4]);
    let mut r = &b[1] + &(&b[2] + &x9).matmul(&x9);
    let most = s.iter().copied().max().unwrap_or(0);
    for p in 0..most {
        // Matrices that need fewer squarings keep their value.
        let more: Vec<bool> = s.iter().map(|&k| k > p).collect();
        let more = Tensor::from_vec(more, &[s.len(), 1, 1]);
        r = Tensor::where_(&more, r.matmul(&r), &r);
    }
    r
}
