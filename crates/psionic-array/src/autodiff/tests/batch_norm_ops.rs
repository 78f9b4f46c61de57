//! Training batch norm's fused primitives (`BatchNorm`, and `ChannelSums` in its
//! backward): derivatives (gradcheck and gradgradcheck in f64, jvp against vjp, vmap with
//! batched and shared operands), values against the composite of reductions and
//! broadcast ops, and the same bits for any thread count.

use super::check::{assert_close_tol, case, check_cases, data};
use crate::Tensor;
use psionic_core::DType;

fn bn(x: &Tensor, w: Option<&Tensor>, b: Option<&Tensor>) -> Tensor {
    x.batch_norm_train(w, b, 1e-5).0
}

#[test]
fn batch_norm_differentiates() {
    let cases = vec![
        case("batch_norm_4d", &[&[3, 2, 2, 3], &[2], &[2]], |x| bn(&x[0], Some(&x[1]), Some(&x[2]))),
        case("batch_norm_1d", &[&[5, 3], &[3], &[3]], |x| bn(&x[0], Some(&x[1]), Some(&x[2]))),
        case("batch_norm_3d_plain", &[&[2, 3, 4]], |x| bn(&x[0], None, None)),
        case("batch_norm_weight_only", &[&[4, 2, 3], &[2]], |x| bn(&x[0], Some(&x[1]), None)),
        // Channels of a permuted (strided) input.
        case("batch_norm_strided", &[&[3, 4, 2], &[2], &[2]], |x| bn(&x[0].transpose(1, 2), Some(&x[1]), Some(&x[2]))),
        // The backward's own primitives, differentiated directly (third derivatives of
        // batch norm go through their rules).
        case("channel_sums", &[&[3, 2, 4], &[3, 2, 4], &[2]], |x| x[0].channel_sums(&x[1], &x[2])),
        case("channel_sums_1d", &[&[5, 3], &[5, 3], &[3]], |x| x[0].channel_sums(&x[1], &x[2])),
        case("channel_moments", &[&[3, 2, 4]], |x| x[0].channel_moments()),
        case("channel_moments_1d", &[&[5, 3]], |x| x[0].channel_moments()),
        case("channel_combine", &[&[2, 3, 2, 2], &[2, 3, 2, 2], &[3], &[3], &[3]], |x| {
            x[0].channel_combine(&x[1], &x[2], &x[3], &x[4])
        }),
    ];
    check_cases(&cases, true, true);
}

/// The composite the primitive replaces: standardise with the batch statistics, then
/// scale and shift.
fn composite(x: &Tensor, w: Option<&Tensor>, b: Option<&Tensor>, eps: f64) -> Tensor {
    let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
    let shape: Vec<i64> = (0..x.dim()).map(|d| if d == 1 { -1 } else { 1 }).collect();
    let (var, mean) = x.var_mean(&dims[..], 0.0, true);
    let y = x.sub(&mean).mul(var.add(eps).rsqrt());
    let y = w.map_or(y.clone(), |w| y.mul(w.reshape(&shape)));
    b.map_or(y.clone(), |b| y.add(b.reshape(&shape)))
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64).to_vec::<f64>().iter().map(|v| v.to_bits()).collect()
}

fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn fused_batch_norm_matches_the_composite_on_any_thread_count() {
    // Planes shorter than a SIMD lane group, planes with a tail, large planes over many
    // chunks, a strided input, and no affine operands.
    let shapes: [(&[usize], bool); 5] =
        [(&[64, 5], true), (&[3, 4, 37], true), (&[8, 16, 40, 40], true), (&[6, 3, 9], false), (&[5, 7, 3], true)];
    for dt in [DType::F32, DType::F64] {
        for (i, &(shape, affine)) in shapes.iter().enumerate() {
            let x = data(shape, -3.0, 5.0, 10 + i).to_dtype(dt);
            let x = if i == 4 { x.transpose(0, 2).contiguous().transpose(0, 2) } else { x };
            let c = shape[1];
            let w = data(&[c], -2.0, 2.0, 20 + i).to_dtype(dt);
            let b = data(&[c], -1.0, 1.0, 30 + i).to_dtype(dt);
            let (w, b) = if affine { (Some(&w), Some(&b)) } else { (None, None) };
            let want = composite(&x, w, b, 1e-5);
            let (atol, rtol) = if dt == DType::F32 { (1e-5, 1e-5) } else { (1e-12, 1e-12) };
            let one = on_threads(1, || bn(&x, w, b));
            assert_close_tol(
                &format!("{dt:?} {shape:?}"),
                &one.to_dtype(DType::F64),
                &want.to_dtype(DType::F64),
                atol,
                rtol,
            );
            assert_eq!(bits(&on_threads(2, || bn(&x, w, b))), bits(&one), "{dt:?} {shape:?} at 2 threads");
            // The backward's per-channel sums, against f64 sums of the same values.
            let g = data(shape, -1.0, 1.0, 50 + i).to_dtype(dt);
            let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
            let m = x.mean(&dims[..], false);
            let sums = on_threads(1, || g.channel_sums(&x, &m));
            assert_eq!(bits(&on_threads(2, || g.channel_sums(&x, &m))), bits(&sums), "sums {dt:?} {shape:?}");
            let (g64, x64, m64) = (g.to_dtype(DType::F64), x.to_dtype(DType::F64), m.to_dtype(DType::F64));
            let bshape: Vec<i64> = (0..x.dim()).map(|d| if d == 1 { -1 } else { 1 }).collect();
            let want = Tensor::stack(
                &[&g64.sum(&dims[..], false), &g64.mul(x64.sub(m64.reshape(&bshape))).sum(&dims[..], false)],
                0,
            );
            let tol = if dt == DType::F32 { 1e-5 } else { 1e-11 };
            assert_close_tol(&format!("sums {dt:?} {shape:?}"), &sums.to_dtype(DType::F64), &want, tol, tol);
            // The statistics' kernel, against f64 var_mean of the same values.
            let moments = on_threads(1, || x.channel_moments());
            assert_eq!(bits(&on_threads(2, || x.channel_moments())), bits(&moments), "moments {dt:?} {shape:?}");
            let (v64, m64) = x64.var_mean(&dims[..], 0.0, false);
            let want = Tensor::stack(&[&m64, &v64], 0);
            assert_close_tol(&format!("moments {dt:?} {shape:?}"), &moments.to_dtype(DType::F64), &want, tol, tol);
            // The input gradient's one pass has the bits of the two addcmuls it replaces.
            let (a, k) = (data(&[c], -2.0, 2.0, 60 + i).to_dtype(dt), data(&[c], -1.0, 1.0, 70 + i).to_dtype(dt));
            let want = k.reshape(&bshape).addcmul(&x, &m.reshape(&bshape), 1.0).addcmul(&g, &a.reshape(&bshape), 1.0);
            for threads in [1, 2] {
                let got = on_threads(threads, || g.channel_combine(&x, &a, &m, &k));
                assert_eq!(bits(&got), bits(&want), "combine {dt:?} {shape:?} at {threads} threads");
            }
        }
    }
}

#[test]
fn batch_norm_returns_the_batch_statistics_and_refuses_bad_operands() {
    let x = data(&[4, 3, 5], -2.0, 2.0, 1);
    let (_, mean, var) = x.batch_norm_train(None, None, 1e-5);
    let (want_var, want_mean) = x.var_mean(&[0i64, 2][..], 0.0, false);
    assert_close_tol("mean", &mean, &want_mean, 1e-15, 1e-14);
    assert_close_tol("var", &var, &want_var, 1e-15, 1e-14);
    let w = data(&[4], -2.0, 2.0, 2);
    let err = crate::mode::fallible(|| x.batch_norm_train(Some(&w), None, 1e-5)).unwrap_err().to_string();
    assert!(err.contains("weight should contain 3 elements not 4"), "{err}");
    let err =
        crate::mode::fallible(|| data(&[4], 0.0, 1.0, 3).batch_norm_train(None, None, 1e-5)).unwrap_err().to_string();
    assert!(err.contains("Expected 2D or more input"), "{err}");
}

#[test]
fn other_dtypes_and_mixed_operands_take_the_composite() {
    let x = data(&[6, 4, 3], -2.0, 2.0, 1);
    let w = data(&[4], -2.0, 2.0, 2).to_dtype(DType::F32);
    let got = bn(&x, Some(&w), None);
    assert_close_tol("f64 input, f32 weight", &got, &composite(&x, Some(&w), None, 1e-5), 1e-12, 1e-12);
    let h = x.to_dtype(DType::BF16);
    let got = bn(&h, None, None);
    assert_eq!(got.dtype(), DType::BF16);
    let want = composite(&x, None, None, 1e-5);
    assert_close_tol("bf16", &got.to_dtype(DType::F64), &want, 0.05, 0.02);
}
