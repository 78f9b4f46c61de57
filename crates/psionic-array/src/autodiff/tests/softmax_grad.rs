//! softmax's and log_softmax's fused backward primitive (`SoftmaxGrad`): its values
//! against the composite of elementwise ops and a sum it replaces, and its own
//! derivatives (gradcheck and gradgradcheck in f64, jvp by transposition, vmap), which
//! second-order gradients of softmax go through.

use super::check::{case, check_cases, data};
use crate::mode::check;
use crate::prim::Prim;
use crate::Tensor;
use psionic_core::DType;

/// softmax's (or log_softmax's) input gradient from output `y` and output gradient `g`.
fn fused(y: &Tensor, g: &Tensor, dim: usize, log: bool) -> Tensor {
    check(Tensor::make(Prim::SoftmaxGrad(crate::prim::SoftmaxGrad { dim, log }), &[y, g]))
}

/// The composite the primitive replaces, op for op.
fn composite(y: &Tensor, g: &Tensor, dim: usize, log: bool) -> Tensor {
    let d = dim as i64;
    if log {
        g - &(&y.exp() * &g.sum(d, true))
    } else {
        y * &(g - &(g * y).sum(d, true))
    }
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64).to_vec::<f64>().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn rows_have_the_composites_bits() {
    // Short rows over many chunks, rows past one summation block, and a strided gradient.
    let shapes: [&[usize]; 3] = [&[3000, 17], &[3, 5000], &[40, 24]];
    for dt in [DType::F32, DType::F64] {
        for (i, shape) in shapes.iter().enumerate() {
            let x = data(shape, -4.0, 4.0, 3 + i).to_dtype(dt);
            let g = data(shape, -1.0, 1.0, 9 + i).to_dtype(dt);
            let g = if i == 2 { g.t().contiguous().t() } else { g };
            for log in [false, true] {
                let y = if log { x.log_softmax(-1) } else { x.softmax(-1) };
                let want = bits(&composite(&y, &g, 1, log));
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let got = pool.install(|| bits(&fused(&y, &g, 1, log)));
                    assert_eq!(got, want, "{dt:?} {shape:?} log {log}, {threads} threads");
                }
            }
        }
    }
}

#[test]
fn other_dims_and_dtypes_match_the_composite() {
    // Lines at a stride (gathered), a transposed output, and the half types (in f32).
    let x = data(&[4, 6, 5], -3.0, 3.0, 1);
    let g = data(&[4, 6, 5], -1.0, 1.0, 2);
    for log in [false, true] {
        for dim in [0, 1] {
            let y = if log { x.log_softmax(dim as i64) } else { x.softmax(dim as i64) };
            let (got, want) = (fused(&y, &g, dim, log), composite(&y, &g, dim, log));
            assert!(got.allclose(&want, 1e-14, 1e-15, false), "dim {dim} log {log}");
        }
        let yt = if log { x.log_softmax(1) } else { x.softmax(1) }.transpose(1, 2);
        let gt = g.transpose(1, 2);
        assert!(fused(&yt, &gt, 2, log).allclose(&composite(&yt, &gt, 2, log), 1e-14, 1e-15, false), "log {log}");
        for dt in [DType::F16, DType::BF16] {
            let (yh, gh) = (x.softmax(-1).to_dtype(dt), g.to_dtype(dt));
            let got = fused(&yh, &gh, 2, log);
            assert_eq!(got.dtype(), dt);
            let want = fused(&yh.to_dtype(DType::F32), &gh.to_dtype(DType::F32), 2, log).to_dtype(dt);
            assert_eq!(bits(&got), bits(&want), "{dt:?} log {log}");
        }
    }
}

#[test]
fn softmax_backward_differentiates() {
    let cases = vec![
        case("softmax_backward", &[&[3, 4], &[3, 4]], |x| fused(&x[0].softmax(-1), &x[1], 1, false)),
        case("log_softmax_backward", &[&[3, 4], &[3, 4]], |x| fused(&x[0].log_softmax(-1), &x[1], 1, true)),
        case("softmax_backward_dim0", &[&[3, 4], &[3, 4]], |x| fused(&x[0], &x[1], 0, false)),
        case("log_softmax_backward_strided", &[&[4, 3], &[3, 4]], |x| fused(&x[0].t(), &x[1], 1, true)),
    ];
    check_cases(&cases, true, true);
}

#[test]
fn softmax_backward_refuses_mismatched_operands() {
    let y = data(&[3, 4], 0.0, 1.0, 1);
    let err = crate::mode::fallible(|| fused(&y, &data(&[4, 3], 0.0, 1.0, 2), 1, false)).unwrap_err().to_string();
    assert!(err.contains("must have one shape"), "{err}");
    let err = crate::mode::fallible(|| fused(&y, &y.to_dtype(DType::F32), 1, false)).unwrap_err().to_string();
    assert!(err.contains("softmax_backward"), "{err}");
}
