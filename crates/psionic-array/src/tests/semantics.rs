//! Aliasing, in-place, lazy evaluation, errors and determinism, checked by hand.

use crate::{fallible, lazy, DType, Tensor};

#[test]
fn write_through_view_reaches_base_and_sibling_views() {
    let a = Tensor::zeros(&[2, 3], DType::F32);
    let v = a.narrow(1, 1, 2);
    let w = a.select(0, 1);
    v.add_(5.0);
    assert_eq!(a.to_vec::<f32>(), vec![0., 5., 5., 0., 5., 5.]);
    assert_eq!(w.to_vec::<f32>(), vec![0., 5., 5.]);
    a.mul_(2.0);
    assert_eq!(v.to_vec::<f32>(), vec![10., 10., 10., 10.]);
    assert_eq!(a.version(), 2);
    assert!(v.is_view() && !a.is_view());
}

#[test]
fn clone_shares_deep_clone_copies() {
    let a = Tensor::ones(&[3], DType::F64);
    let shared = a.clone();
    let copy = a.deep_clone();
    a.add_(1.0);
    assert_eq!(shared.to_vec::<f64>(), vec![2.0; 3]);
    assert_eq!(copy.to_vec::<f64>(), vec![1.0; 3]);
}

#[test]
fn views_share_storage_and_transposes_are_strided() {
    let a = Tensor::arange(0, 6, 1).reshape(&[2, 3]);
    let t = a.t();
    assert!(t.shares_storage(&a));
    assert_eq!(t.strides(), vec![1, 3]);
    assert!(!t.is_contiguous());
    assert_eq!(t.contiguous().to_vec::<i64>(), vec![0, 3, 1, 4, 2, 5]);
    assert!(fallible(|| t.view(&[6])).is_err());
    assert_eq!(t.reshape(&[6]).to_vec::<i64>(), vec![0, 3, 1, 4, 2, 5]);
}

#[test]
fn in_place_dtype_rules_and_overlap() {
    let i = Tensor::arange(0, 3, 1);
    let e = fallible(|| i.add_(1.5)).unwrap_err().to_string();
    assert!(e.contains("can't be cast to the desired output type int64"), "{e}");
    let x = Tensor::zeros(&[3], DType::F32);
    let b = x.unsqueeze(0).expand(&[2, 3]);
    assert!(fallible(|| b.add_(1.0)).unwrap_err().to_string().contains("single memory location"));
    x.narrow(0, 0, 2).copy_(&Tensor::from_vec(vec![7i64, 8], &[2]));
    assert_eq!(x.to_vec::<f32>(), vec![7., 8., 0.]);
}

#[test]
fn weak_scalars_keep_half_precision() {
    let h = Tensor::ones(&[2], DType::F16);
    assert_eq!((&h + 1.0).dtype(), DType::F16);
    assert_eq!((&Tensor::arange(0, 2, 1) + 1.5).dtype(), DType::F32);
    assert_eq!((&Tensor::arange(0, 2, 1) / 2).dtype(), DType::F32);
    let b = Tensor::from_vec(vec![true, false], &[2]);
    assert_eq!((&b + 1).dtype(), DType::I64);
}

#[test]
fn lazy_defers_until_needed_and_evaluates_once() {
    let (y, pending) = lazy(|| {
        let x = Tensor::arange(0, 4, 1).to_dtype(DType::F64);
        let y = x.mul(2.0).add(1.0);
        (y.clone(), !y.node().is_evaluated())
    });
    assert!(pending);
    assert_eq!(y.to_vec::<f64>(), vec![1., 3., 5., 7.]);
    assert!(y.node().is_evaluated());
    // Errors found only by the kernel surface at eval in lazy mode.
    let z = lazy(|| Tensor::arange(0, 3, 1).floor_divide(0));
    assert!(z.try_eval().is_err());
}

#[test]
fn lazy_reshape_and_strides_need_no_evaluation() {
    let (x, r, v, strides) = lazy(|| {
        let x = Tensor::arange(0, 6, 1).to_dtype(DType::F32).exp();
        // A transposed view cannot be viewed flat: reshape copies, view refuses, and both
        // decide from strides known at build time.
        let r = x.reshape(&[2, 3]).t().reshape(&[6]);
        let v = x.reshape(&[3, 2]).view(&[2, 3]);
        let refused = fallible(|| x.reshape(&[2, 3]).t().view(&[6])).is_err();
        assert!(refused);
        (x.clone(), r, v.clone(), v.t().strides())
    });
    assert!(!x.node().is_evaluated());
    assert_eq!(strides, vec![1, 3]);
    let e: Vec<f32> = (0..6).map(|i| (i as f32).exp()).collect();
    assert_eq!(r.to_vec::<f32>(), vec![e[0], e[3], e[1], e[4], e[2], e[5]]);
    assert_eq!(v.to_vec::<f32>(), e);
}

#[test]
fn op_misuse_names_op_and_shapes() {
    let a = Tensor::zeros(&[2, 3], DType::F32);
    let e = fallible(|| a.matmul(&a)).unwrap_err().to_string();
    assert!(e.contains("matmul") && e.contains("cannot be multiplied"), "{e}");
    let e = fallible(|| a.sum(5, false)).unwrap_err().to_string();
    assert!(e.contains("Dimension out of range"), "{e}");
    let e = fallible(|| Tensor::zeros(&[1], DType::F32).to_device(crate::Device::Cuda(0))).unwrap_err().to_string();
    assert!(e.contains("no backend for device cuda:0") && e.contains("no CUDA backend yet"), "{e}");
}

#[test]
fn results_are_bit_identical_for_1_and_2_threads() {
    let run = || {
        let x = Tensor::linspace(-3.0, 3.0, 300_000, DType::F32).reshape(&[300, 1000]);
        let w = Tensor::linspace(1.0, -1.0, 1000 * 256, DType::F32).reshape(&[1000, 256]);
        let y = x.matmul(&w).gelu("none");
        let s = x.exp().sum_all();
        let v = x.var(1, 1.0, false);
        let sm = x.t().softmax(0);
        let mut out = y.to_vec::<f32>();
        out.extend(s.to_vec::<f32>());
        out.extend(v.to_vec::<f32>());
        out.extend(sm.to_vec::<f32>());
        // Rows split across threads, and rows long enough that their sums split into blocks.
        out.extend(x.log_softmax(-1).to_vec::<f32>());
        out.extend(x.reshape(&[3, 100_000]).softmax(-1).to_vec::<f32>());
        out.extend(x.sum(0, false).to_vec::<f32>());
        let tall = Tensor::linspace(-1.0, 1.0, 9000 * 40, DType::F32).reshape(&[9000, 40]);
        out.extend(tall.sum(0, false).to_vec::<f32>());
        out.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(run);
    assert!(one == two, "results differ between 1 and 2 threads");
}

#[test]
fn column_sums_match_row_sums() {
    // Integer-valued f64 sums are exact in any order, so the column strategy (rows added
    // into accumulators, blocks combined pairwise) must agree exactly with per-run sums,
    // across block boundaries, mid-row chunk splits and strided row starts.
    for (rows, cols) in [(3usize, 8usize), (8195, 17), (5, 1300), (4097, 600)] {
        let x = Tensor::arange(0, (rows * cols) as i64, 1)
            .remainder(97)
            .to_dtype(DType::F64)
            .reshape(&[rows as i64, cols as i64]);
        let want = x.t().contiguous().sum(1, false).to_vec::<f64>();
        assert_eq!(x.sum(0, false).to_vec::<f64>(), want, "{rows}x{cols}");
        let x3 = x.reshape(&[1, rows as i64, cols as i64]).expand(&[2, -1, -1]);
        let s3 = x3.sum([0, 1], false).to_vec::<f64>();
        assert_eq!(s3, want.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        let sl = x.slice(1, Some(3), None, 1).sum(0, false).to_vec::<f64>();
        assert_eq!(sl, want[3..].to_vec());
    }
}

#[test]
fn big_sum_is_accurate() {
    // 4M ones in f32: a naive running sum stops at 2^24; blocked pairwise is exact.
    let x = Tensor::ones(&[1 << 22], DType::F32);
    assert_eq!(x.sum_all().item::<f32>(), (1 << 22) as f32);
}

proptest::proptest! {
    #[test]
    fn broadcast_add_matches_loops(r in 1usize..5, c in 1usize..5) {
        let a = Tensor::arange(0, (r * c) as i64, 1).reshape(&[r as i64, c as i64]).to_dtype(DType::F64);
        let b = Tensor::arange(0, c as i64, 1).to_dtype(DType::F64);
        let s = (&a + &b).to_vec::<f64>();
        for i in 0..r { for j in 0..c {
            proptest::prop_assert_eq!(s[i * c + j], (i * c + j) as f64 + j as f64);
        }}
    }

    #[test]
    fn sum_over_all_dims_equals_sum_all(d0 in 1usize..4, d1 in 1usize..4, d2 in 1usize..4) {
        let x = Tensor::arange(0, (d0 * d1 * d2) as i64, 1).reshape(&[d0 as i64, d1 as i64, d2 as i64]);
        let total = x.sum_all().item::<i64>();
        proptest::prop_assert_eq!(x.sum(0, false).sum(0, false).sum(0, false).item::<i64>(), total);
        proptest::prop_assert_eq!(x.permute(&[2, 0, 1]).sum([0, 2], true).sum_all().item::<i64>(), total);
    }
}

#[test]
fn flip_of_an_empty_tensor_is_empty() {
    let e = Tensor::zeros(&[0, 3], DType::F32);
    assert_eq!(e.flip(&[1]).shape(), vec![0, 3]);
    assert_eq!(e.flip(&[0, 1]).numel(), 0);
    assert_eq!(Tensor::scalar(2.0).flip(&[0]).item::<f64>(), 2.0);
}

#[test]
fn where_keeps_each_chosen_value_bit_for_bit_in_every_dtype() {
    // The kernel blends bit patterns by element width (1, 2, 4 and 8 bytes): NaN payloads,
    // -0.0 and extreme integers must come through unchanged, whichever side is picked.
    let cond = Tensor::from_vec((0..67).map(|i| (i * 5) % 3 == 0).collect::<Vec<bool>>(), &[67]);
    let a: Vec<f64> = (0..67).map(|i| if i % 7 == 0 { -0.0 } else { i as f64 - 30.0 }).collect();
    let b: Vec<f64> = (0..67).map(|i| if i % 11 == 0 { f64::NAN } else { 1000.0 - i as f64 }).collect();
    for dt in DType::ALL {
        let (ta, tb) =
            (Tensor::from_vec(a.clone(), &[67]).to_dtype(dt), Tensor::from_vec(b.clone(), &[67]).to_dtype(dt));
        let got = Tensor::where_(&cond, &ta, &tb).to_vec::<f64>();
        let (va, vb, c) = (ta.to_vec::<f64>(), tb.to_vec::<f64>(), cond.to_vec::<bool>());
        for i in 0..67 {
            let want = if c[i] { va[i] } else { vb[i] };
            assert_eq!(got[i].to_bits(), want.to_bits(), "{dt} at {i}");
        }
    }
}
