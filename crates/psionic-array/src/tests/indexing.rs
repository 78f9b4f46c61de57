//! Indexing, scatter and sorting semantics checked by hand: PyTorch's placement rule for
//! advanced indices, duplicate handling, NaN order, stability, errors, strided and
//! broadcast index operands, and vmap over batched indices.

use crate::autodiff::vmap;
use crate::{DType, Tensor, TensorIndex as I};

fn ar(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|v| v as f64).collect(), shape)
}

fn ix(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()])
}

#[test]
fn advanced_dims_go_where_pytorch_puts_them() {
    let x = ar(&[2, 3, 4, 5]);
    // Adjacent advanced indices stay in place; separated ones move to the front.
    assert_eq!(x.index(&[I::full(), I::Tensor(ix(&[0, 2])), I::Tensor(ix(&[1, 3]))]).shape(), vec![2, 2, 5]);
    assert_eq!(x.index(&[I::Tensor(ix(&[0, 1])), I::full(), I::Tensor(ix(&[1, 3]))]).shape(), vec![2, 3, 5]);
    // An integer is a select, not an advanced index (NumPy would give [2, 3]).
    assert_eq!(x.index(&[I::Int(0), I::full(), I::Tensor(ix(&[1, 3]))]).shape(), vec![3, 2, 5]);
    // Broadcasting between index tensors.
    let rows = Tensor::from_vec(vec![0i64, 1], &[2, 1]);
    let y = x.index(&[I::Tensor(rows), I::Tensor(ix(&[0, 2, 1]))]);
    assert_eq!(y.shape(), vec![2, 3, 4, 5]);
    assert_eq!(y.index(&[I::Int(1), I::Int(2), I::Int(0), I::Int(0)]).item::<f64>(), (60 + 20) as f64);
    // Bool masks, None, ellipsis, negative positions.
    let m = Tensor::from_vec(vec![true, false, true], &[3]);
    let z = x.index(&[I::Ellipsis, I::NewAxis, I::Tensor(ix(&[-1]))]);
    assert_eq!(z.shape(), vec![2, 3, 4, 1, 1]);
    assert_eq!(z.to_vec::<f64>()[0], 4.0);
    assert_eq!(x.index(&[I::Int(1), I::Tensor(m)]).shape(), vec![2, 4, 5]);
    assert_eq!(x.index(&[I::Tensor(Tensor::scalar(false))]).shape(), vec![0, 2, 3, 4, 5]);
}

#[test]
fn index_put_accumulates_duplicates_and_assigns_last() {
    let x = Tensor::zeros(&[4], DType::F64);
    let at = ix(&[1, 1, 3]);
    let v = Tensor::from_vec(vec![1.0, 2.0, 5.0], &[3]);
    assert_eq!(x.index_put(&[I::Tensor(at.clone())], &v, true).to_vec::<f64>(), vec![0.0, 3.0, 0.0, 5.0]);
    assert_eq!(x.index_put(&[I::Tensor(at)], &v, false).to_vec::<f64>(), vec![0.0, 2.0, 0.0, 5.0]);
    // Through a view, in place, with a broadcast value.
    let y = ar(&[3, 4]);
    y.index_put_(&[I::Int(1), I::Tensor(ix(&[0, 2]))], &Tensor::scalar(-1.0), false);
    assert_eq!(y.to_vec::<f64>()[4..8], [-1.0, 5.0, -1.0, 7.0]);
}

#[test]
fn scatter_reductions_by_hand() {
    let base = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    let at = ix(&[0, 0, 2, 0]);
    let src = Tensor::from_vec(vec![4.0, -1.0, 6.0, 8.0], &[4]);
    let r = |name: &str, inc: bool| base.scatter_reduce(0, &at, &src, name, inc).to_vec::<f64>();
    assert_eq!(r("sum", true), vec![12.0, 2.0, 9.0]);
    assert_eq!(r("sum", false), vec![11.0, 2.0, 6.0]);
    assert_eq!(r("prod", true), vec![-32.0, 2.0, 18.0]);
    assert_eq!(r("mean", true), vec![3.0, 2.0, 4.5]);
    assert_eq!(r("mean", false), vec![11.0 / 3.0, 2.0, 6.0]);
    assert_eq!(r("amax", true), vec![8.0, 2.0, 6.0]);
    assert_eq!(r("amin", false), vec![-1.0, 2.0, 6.0]);
    // Integer means floor, as PyTorch's do.
    let bi = Tensor::from_vec(vec![0i64, 0], &[2]);
    let m = bi.scatter_reduce(0, &ix(&[0, 0]), &Tensor::from_vec(vec![-3i64, 0], &[2]), "mean", true);
    assert_eq!(m.to_vec::<i64>(), vec![-1, 0]);
    // NaN wins amax.
    let n = base.scatter_reduce(0, &ix(&[1]), &Tensor::from_vec(vec![f64::NAN], &[1]), "amax", true);
    assert!(n.to_vec::<f64>()[1].is_nan());
}

#[test]
fn out_of_range_indices_are_refused() {
    let x = ar(&[3]);
    let e = crate::fallible(|| x.gather(0, &ix(&[3]))).unwrap_err();
    assert!(e.to_string().contains("out of bounds"), "{e}");
    let e = crate::fallible(|| x.index(&[I::Tensor(ix(&[-4]))])).unwrap_err();
    assert!(e.to_string().contains("index -4 is out of bounds"), "{e}");
    let e = crate::fallible(|| x.index_select(0, &Tensor::from_vec(vec![0.5], &[1]))).unwrap_err();
    assert!(e.to_string().contains("int32/int64"), "{e}");
}

#[test]
fn strided_and_broadcast_operands_are_read_in_place() {
    let x = ar(&[4, 6]).t();
    let idx = Tensor::from_vec(vec![3i64, 0, 1], &[1, 3]).expand(&[6, 3]);
    let got = x.gather(1, &idx);
    let want = x.contiguous().gather(1, &idx.contiguous());
    assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
    assert_eq!(got.to_vec::<f64>()[..3], [18.0, 0.0, 6.0]);
    let s = Tensor::zeros(&[6, 4], DType::F64).scatter_add(1, &idx, &ar(&[6, 3]).t().contiguous().t());
    assert_eq!(s.sum_all().item::<f64>(), ar(&[6, 3]).sum_all().item::<f64>());
}

#[test]
fn sort_is_stable_with_nan_last() {
    let x = Tensor::from_vec(vec![2.0, f64::NAN, 1.0, 2.0, -0.5], &[5]);
    let (v, i) = x.sort(0, false);
    assert_eq!(i.to_vec::<i64>(), vec![4, 2, 0, 3, 1]);
    assert!(v.to_vec::<f64>()[4].is_nan());
    assert_eq!(x.argsort(0, true).to_vec::<i64>(), vec![1, 0, 3, 2, 4]);
    let big = Tensor::from_vec(vec![i64::MAX, i64::MAX - 1], &[2]);
    assert_eq!(big.argsort(0, false).to_vec::<i64>(), vec![1, 0]);
    // Mode: smallest of the most frequent, its last position.
    let m = Tensor::from_vec(vec![3.0, 1.0, 2.0, 2.0, 1.0, 3.0, 5.0], &[7]).mode(0, false);
    assert_eq!((m.0.item::<f64>(), m.1.item::<i64>()), (1.0, 4));
    let med = Tensor::from_vec(vec![3.0, f64::NAN, 1.0, 2.0], &[4]);
    assert!(med.median().item::<f64>().is_nan());
    assert_eq!(med.nanmedian().item::<f64>(), 2.0);
}

#[test]
fn searchsorted_sides_and_rows() {
    let seq = Tensor::from_vec(vec![1.0, 3.0, 3.0, 7.0], &[4]);
    let v = Tensor::from_vec(vec![0.0, 3.0, 8.0], &[3]);
    assert_eq!(seq.searchsorted(&v, false, None, false).to_vec::<i64>(), vec![0, 1, 4]);
    assert_eq!(seq.searchsorted(&v, true, None, false).to_vec::<i64>(), vec![0, 3, 4]);
    let rows = Tensor::from_vec(vec![1.0, 2.0, 10.0, 20.0], &[2, 2]);
    let q = Tensor::from_vec(vec![1.5, 15.0], &[2, 1]);
    assert_eq!(rows.searchsorted(&q, false, None, true).to_vec::<i64>(), vec![1, 1]);
    assert_eq!(v.bucketize(&seq, false, false).dtype(), DType::I64);
}

#[test]
fn unique_inverse_and_counts() {
    let x = Tensor::from_vec(vec![2i64, 1, 2, 5, 1, 1], &[2, 3]);
    let (u, inv, cnt) = x.unique(true, true);
    assert_eq!(u.to_vec::<i64>(), vec![1, 2, 5]);
    assert_eq!(inv.unwrap().to_vec::<i64>(), vec![1, 0, 1, 2, 0, 0]);
    assert_eq!(cnt.unwrap().to_vec::<i64>(), vec![3, 2, 1]);
    let rows = Tensor::from_vec(vec![1i64, 2, 0, 1, 1, 2], &[3, 2]);
    let (ur, inv, _) = rows.unique_dim(0, true, false);
    assert_eq!(ur.to_vec::<i64>(), vec![0, 1, 1, 2]);
    assert_eq!(inv.unwrap().to_vec::<i64>(), vec![1, 0, 1]);
    let (uc, _, c) = Tensor::from_vec(vec![1i64, 1, 2, 1], &[4]).unique_consecutive(None, false, true);
    assert_eq!((uc.to_vec::<i64>(), c.unwrap().to_vec::<i64>()), (vec![1, 2, 1], vec![2, 1, 1]));
}

#[test]
fn vmap_over_batched_indices() {
    let x = ar(&[3, 4]);
    let idx = Tensor::from_vec(vec![0i64, 3, 2, 1, 1, 0], &[3, 2]);
    let f = |a: &[Tensor]| vec![a[0].gather(0, &a[1]), a[0].take(&a[1]), a[0].argsort(0, true)];
    let got = vmap(f, &[Some(0), Some(0)], &[Some(0), Some(0), Some(0)])(&[x.clone(), idx.clone()]);
    for k in 0..3 {
        let (xk, ik) = (x.select(0, k), idx.select(0, k));
        assert_eq!(got[0].select(0, k).to_vec::<f64>(), xk.gather(0, &ik).to_vec::<f64>());
        assert_eq!(got[1].select(0, k).to_vec::<f64>(), xk.take(&ik).to_vec::<f64>());
        assert_eq!(got[2].select(0, k).to_vec::<i64>(), xk.argsort(0, true).to_vec::<i64>());
    }
    let seq = Tensor::from_vec(vec![0.0, 1.0, 2.0, 5.0, 6.0, 7.0], &[2, 3]);
    let vals = Tensor::from_vec(vec![1.5, 6.5], &[2]);
    let s =
        vmap(|a: &[Tensor]| vec![a[0].searchsorted(&a[1], false, None, false)], &[Some(0), Some(0)], &[Some(0)])(&[
            seq, vals,
        ]);
    assert_eq!(s[0].to_vec::<i64>(), vec![2, 2]);
}

#[test]
fn max_pool_padding_never_wins_for_any_dtype() {
    for dt in [DType::I8, DType::I32, DType::I64, DType::F16, DType::F32] {
        let x = Tensor::from_vec(vec![-5i64, -7, -6], &[1, 1, 3]).to_dtype(dt);
        let (v, i) = x.max_pool(&crate::Pool::new(1, &[2], &[2], &[1], &[1], false));
        assert_eq!(v.to_vec::<f64>(), vec![-5.0, -6.0], "{dt}");
        assert_eq!(i.to_vec::<i64>(), vec![0, 2], "{dt}");
    }
}

#[test]
fn max_pool_picks_as_pytorch_does() {
    let nan = f32::NAN;
    let pool = |k: &[usize], s: &[usize], p: &[usize], d: &[usize], ceil: bool| crate::Pool::new(1, k, s, p, d, ceil);
    // Several NaNs: the last one wins (PyTorch's `val > max || isnan(val)`); ties: the first.
    let x = Tensor::from_vec(vec![1.0f32, nan, 3.0, nan, 2.0, 2.0], &[1, 1, 6]);
    let (v, i) = x.max_pool(&pool(&[4], &[2], &[0], &[1], false));
    assert_eq!(i.to_vec::<i64>(), vec![3, 3]);
    assert!(v.to_vec::<f32>().iter().all(|v| v.is_nan()));
    let (_, i) = x.narrow(2, 4, 2).max_pool(&pool(&[2], &[2], &[0], &[1], false));
    assert_eq!(i.to_vec::<i64>(), vec![0]);
    // A window whose real elements are all -inf picks its first real element, not the padding.
    let x = Tensor::from_vec(vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 3.0], &[1, 1, 3]);
    let (v, i) = x.max_pool(&pool(&[2], &[1], &[1], &[1], false));
    assert_eq!(i.to_vec::<i64>(), vec![0, 0, 2, 2]);
    assert_eq!(v.to_vec::<f32>(), vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 3.0, 3.0]);
    // Dilation and ceil mode (the last window is cut short by the input's end).
    let x = Tensor::from_vec(vec![4.0f32, 0.0, 1.0, 9.0, 2.0, 5.0], &[1, 1, 6]);
    let (v, i) = x.max_pool(&pool(&[2], &[2], &[0], &[2], true));
    assert_eq!(i.to_vec::<i64>(), vec![0, 4, 4]);
    assert_eq!(v.to_vec::<f32>(), vec![4.0, 2.0, 2.0]);
    // 2-d over a strided (transposed) input, values checked by hand.
    let x = Tensor::from_vec((0..16).map(|v| ((v * 7) % 16) as f32).collect(), &[1, 1, 4, 4]).transpose(2, 3);
    let (v, i) = x.max_pool(&crate::Pool::new(2, &[2], &[2], &[0], &[1], false));
    let dense = x.contiguous().to_vec::<f32>();
    let want: Vec<i64> = [(0, 0), (0, 2), (2, 0), (2, 2)]
        .iter()
        .map(|&(r, c)| {
            let taps = [(r, c), (r, c + 1), (r + 1, c), (r + 1, c + 1)].map(|(a, b)| (a * 4 + b) as i64);
            *taps.iter().max_by(|&&a, &&b| dense[a as usize].total_cmp(&dense[b as usize])).unwrap()
        })
        .collect();
    assert_eq!(i.to_vec::<i64>(), want);
    assert_eq!(v.to_vec::<f32>(), want.iter().map(|&p| dense[p as usize]).collect::<Vec<_>>());
}

/// The plain 2 x 2 / stride 2 pooling has a kernel of its own; it follows the same rule
/// (first of equal maxima, last NaN) on planes of odd size, whose last row and column
/// no window reads, and on 3-d input pooled with a depth-1 kernel.
#[test]
fn two_by_two_pooling_follows_the_same_rule() {
    let vals = [0.0f32, 1.0, 1.0, f32::NAN, -2.0, 3.0, 3.0, f32::NEG_INFINITY];
    let (h, w) = (5usize, 7usize);
    let data: Vec<f32> = (0..2 * 3 * h * w).map(|i| vals[(i * 37 + i / 5) % vals.len()]).collect();
    let pick = |plane: &[f32], taps: [usize; 4]| {
        let mut best = taps[0];
        for &t in &taps[1..] {
            if plane[t] > plane[best] || plane[t].is_nan() {
                best = t;
            }
        }
        best as i64
    };
    let want: Vec<i64> = data
        .chunks(h * w)
        .flat_map(|plane| {
            (0..h / 2).flat_map(move |r| {
                (0..w / 2).map(move |c| {
                    let t = 2 * r * w + 2 * c;
                    pick(plane, [t, t + 1, t + w, t + w + 1])
                })
            })
        })
        .collect();
    let x = Tensor::from_vec(data.clone(), &[2, 3, h, w]);
    let (v, i) = x.max_pool(&crate::Pool::new(2, &[2], &[], &[0], &[1], false));
    assert_eq!(i.shape(), vec![2, 3, h / 2, w / 2]);
    assert_eq!(i.to_vec::<i64>(), want);
    let got = v.to_vec::<f32>();
    for (k, (&g, &p)) in got.iter().zip(&want).enumerate() {
        let e = data[k / (h / 2 * (w / 2)) * h * w + p as usize];
        assert!(g.to_bits() == e.to_bits(), "{k}: {g} vs {e}");
    }
    // The same planes as the depth slices of one 3-d input, pooled (1, 2, 2): positions
    // count within the whole [D, H, W] volume.
    let x3 = Tensor::from_vec(data, &[1, 2, 3, h, w]);
    let (_, i3) = x3.max_pool(&crate::Pool::new(3, &[1, 2, 2], &[1, 2, 2], &[0], &[1], false));
    let per = h / 2 * (w / 2);
    let want3: Vec<i64> = want.iter().enumerate().map(|(k, &p)| p + ((k / per) % 3 * h * w) as i64).collect();
    assert_eq!(i3.to_vec::<i64>(), want3);
}
