//! Indexing, scatter/gather and sorting ops: gradchecks in f64, jvp against vjp, and vmap
//! (and vmap of the vjp) against a loop, as for the core ops. Index tensors are fixed
//! (captured), values are the differentiable inputs. Indices that write one position
//! twice appear only where the op defines that (sums, reductions), not for assignment.

use super::check::{check_cases, data, Case};
use crate::ops::indexing::TensorIndex as I;
use crate::ops::sort::Interpolation;
use crate::Tensor;

fn idx(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape)
}

fn run(cases: Vec<Case>, vmap: bool, second: bool) {
    check_cases(&cases, vmap, second);
}

fn one(name: &'static str, shape: &[usize], f: impl Fn(&Tensor) -> Tensor + 'static) -> Case {
    (name, Box::new(move |x: &[Tensor]| f(&x[0])), vec![data(shape, -2.0, 2.0, 1)])
}

fn two(name: &'static str, sa: &[usize], sb: &[usize], f: impl Fn(&Tensor, &Tensor) -> Tensor + 'static) -> Case {
    (name, Box::new(move |x: &[Tensor]| f(&x[0], &x[1])), vec![data(sa, 0.5, 2.0, 1), data(sb, 0.5, 2.0, 2)])
}

#[test]
fn gather_scatter_family() {
    let g = idx(&[2, 0, 1, 1, 0, 2], &[2, 3]);
    let perm = idx(&[1, 0, 2, 2, 1, 0], &[2, 3]);
    let dup = idx(&[0, 0, 2, 1, 0, 1], &[2, 3]);
    let v = idx(&[2, 0], &[2]);
    let vd = idx(&[1, 1, 0], &[3]);
    let (g1, p1, d1, v1, vd1) = (g.clone(), perm.clone(), dup.clone(), v.clone(), vd.clone());
    let (d2, d3, d4, d5, d6) = (dup.clone(), dup.clone(), dup.clone(), dup.clone(), dup.clone());
    let (vd2, vd3, v2, v3) = (vd.clone(), vd.clone(), v.clone(), v.clone());
    let cases = vec![
        one("gather", &[3, 3], move |x| x.gather(0, &g1)),
        one("gather_dim1_narrow_index", &[3, 4], move |x| x.gather(1, &g.narrow(0, 0, 1))),
        two("scatter", &[3, 3], &[2, 3], move |a, b| a.scatter(0, &p1.narrow(0, 0, 1), b.narrow(0, 0, 1))),
        one("scatter_scalar", &[3, 3], move |x| x.scatter(1, &perm.narrow(0, 0, 1), 0.5)),
        two("scatter_add", &[3, 3], &[2, 3], move |a, b| a.scatter_add(0, &d1, b)),
        two("scatter_reduce_sum_noself", &[3, 3], &[2, 3], move |a, b| a.scatter_reduce(0, &d2, b, "sum", false)),
        two("scatter_reduce_mean", &[3, 3], &[2, 3], move |a, b| a.scatter_reduce(0, &d3, b, "mean", true)),
        two("scatter_reduce_mean_noself", &[3, 3], &[2, 3], move |a, b| a.scatter_reduce(0, &d4, b, "mean", false)),
        two("scatter_reduce_prod", &[3, 3], &[2, 3], move |a, b| a.scatter_reduce(0, &d5, b, "prod", true)),
        two("scatter_reduce_amax", &[3, 3], &[2, 3], move |a, b| a.scatter_reduce(0, &d6, b, "amax", true)),
        two("scatter_reduce_amin_noself", &[3, 3], &[2, 3], move |a, b| a.scatter_reduce(0, &dup, b, "amin", false)),
        one("index_select", &[3, 4], move |x| x.index_select(1, &vd1)),
        two("index_add", &[3, 4], &[3, 3], move |a, b| a.index_add(1, &vd2, b, 0.5)),
        two("index_copy", &[3, 4], &[2, 4], move |a, b| a.index_copy(0, &v1, b)),
        two("index_fill_tensor", &[3, 4], &[], move |a, b| a.index_fill(0, &v2, b)),
        two("index_reduce_prod", &[3, 4], &[3, 3], move |a, b| a.index_reduce(1, &vd3, b, "prod", false)),
        two("index_reduce_mean", &[3, 4], &[2, 4], move |a, b| a.index_reduce(0, &v3, b, "mean", true)),
        one("take", &[3, 4], |x| x.take(&idx(&[0, -1, 5, 5], &[2, 2]))),
        two("put_accumulate", &[3, 4], &[4], |a, b| a.put(&idx(&[0, -1, 5, 5], &[4]), b, true)),
        one("take_along_dim", &[3, 4], |x| x.take_along_dim(&idx(&[0, 3, -1], &[1, 3]).t(), Some(1))),
        one("take_along_dim_flat", &[3, 4], |x| x.take_along_dim(&idx(&[0, 3, 11], &[3]), None)),
    ];
    run(cases, true, true);
}

#[test]
fn masks() {
    let m =
        Tensor::from_vec(vec![true, false, true, true, false, false, true, false, false, true, true, false], &[3, 4]);
    let (m1, m2, m3) = (m.clone(), m.clone(), m.narrow(0, 0, 1));
    let fill = vec![
        one("masked_fill", &[3, 4], move |x| x.masked_fill(&m1, -1.5)),
        two("masked_fill_tensor", &[3, 4], &[], move |a, b| a.masked_fill(&m3, b)),
    ];
    run(fill, true, true);
    // Data-dependent shapes: no vmap (PyTorch refuses these under vmap too).
    let select = vec![
        one("masked_select", &[3, 4], move |x| x.masked_select(&m2)),
        two("masked_scatter", &[3, 4], &[8], move |a, b| a.masked_scatter(&m, b)),
    ];
    run(select, false, true);
}

#[test]
fn advanced_indexing() {
    let i = || I::Tensor(idx(&[2, 0, 2], &[3]));
    let j = || I::Tensor(idx(&[1, -1], &[2, 1]));
    let mask = || I::Tensor(Tensor::from_vec(vec![true, false, true, true], &[4]));
    let cases = vec![
        one("index_int_slice", &[3, 4, 2], |x| x.index(&[I::Int(1), I::slice(Some(0), None, 2)])),
        one("index_tensor", &[3, 4, 2], move |x| x.index(&[i()])),
        one("index_adjacent", &[3, 4, 2], move |x| x.index(&[I::full(), i(), j()])),
        one("index_split", &[3, 4, 2], move |x| x.index(&[i(), I::full(), I::Int(0)])),
        one("index_apart", &[3, 4, 2], move |x| x.index(&[j(), I::full(), I::Tensor(idx(&[1, 0, 1], &[3]))])),
        one("index_mask", &[3, 4, 2], move |x| x.index(&[I::Ellipsis, mask(), I::Int(1)])),
        one("index_none_ellipsis", &[3, 4, 2], |x| {
            x.index(&[I::NewAxis, I::Ellipsis, I::Tensor(idx(&[1, 0, 1], &[3]))])
        }),
        two("index_put", &[3, 4], &[2], |a, b| a.index_put(&[I::Tensor(idx(&[0, 2], &[2])), I::Int(1)], b, false)),
        two("index_put_accumulate", &[3, 4], &[3, 1], |a, b| {
            a.index_put(&[I::Tensor(idx(&[0, 0, 2], &[3])), I::slice(Some(1), None, 1)], b, true)
        }),
        two("index_put_apart", &[3, 4, 2], &[2], |a, b| {
            a.index_put(
                &[I::Tensor(idx(&[0, 2], &[2])), I::full(), I::Tensor(idx(&[1, 0], &[2]))],
                &b.unsqueeze(1),
                false,
            )
        }),
    ];
    run(cases, true, true);
}

#[test]
fn sorting_and_selection() {
    let cases = vec![
        one("sort", &[3, 4], |x| x.sort(1, false).0),
        one("sort_desc", &[3, 4], |x| x.sort(0, true).0),
        one("msort", &[3, 4], |x| x.msort()),
        one("topk", &[3, 4], |x| x.topk(2, 1, true).0),
        one("topk_smallest", &[3, 4], |x| x.topk(2, 0, false).0),
        one("kthvalue", &[3, 4], |x| x.kthvalue(2, 1, false).0),
        one("median_dim", &[3, 4], |x| x.median_dim(1, true).0),
        one("median", &[3, 4], |x| x.median()),
        one("nanmedian_dim", &[3, 4], |x| x.nanmedian_dim(0, false).0),
        one("mode", &[3, 4], |x| x.mode(1, false).0),
        one("quantile", &[3, 4], |x| {
            x.quantile(&Tensor::from_vec(vec![0.1, 0.5, 0.75], &[3]), Some(1), false, Interpolation::Linear)
        }),
        one("quantile_all_mid", &[3, 4], |x| x.quantile(&Tensor::scalar(0.3), None, true, Interpolation::Midpoint)),
        one("nanquantile_nearest", &[3, 4], |x| {
            x.nanquantile(&Tensor::scalar(0.4), Some(0), true, Interpolation::Nearest)
        }),
        one("nansum", &[3, 4], |x| x.nansum(&[1], false)),
        one("nanmean", &[3, 4], |x| x.nanmean(&[0], true)),
    ];
    run(cases, true, false);
}
