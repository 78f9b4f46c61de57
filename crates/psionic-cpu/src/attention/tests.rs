use super::*;
use psionic_core::Layout;

/// Values spread over [-1.5, 1.5], different per seed.
fn values(n: usize, seed: usize) -> Vec<f64> {
    (0..n).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f64 / 667.0) - 1.5).collect()
}

/// Per matrix, row-major: the attention output and the gradients (dq, dk, dv) for the
/// output gradient `g`, from the definitions in f64.
struct Reference {
    out: Vec<f64>,
    grads: Vec<f64>,
}

fn reference(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    g: &[f64],
    [l, s, e, ev]: [usize; 4],
    scale: f64,
    causal: bool,
) -> Reference {
    let mut out = vec![0.0; l * ev];
    let (mut dq, mut dk, mut dv) = (vec![0.0; l * e], vec![0.0; s * e], vec![0.0; s * ev]);
    for i in 0..l {
        let n = if causal { (i + 1).min(s) } else { s };
        let sc: Vec<f64> = (0..n).map(|j| scale * (0..e).map(|c| q[i * e + c] * k[j * e + c]).sum::<f64>()).collect();
        let max = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let ex: Vec<f64> = sc.iter().map(|x| (x - max).exp()).collect();
        let z: f64 = ex.iter().sum();
        let p: Vec<f64> = ex.iter().map(|x| x / z).collect();
        for c in 0..ev {
            out[i * ev + c] = (0..n).map(|j| p[j] * v[j * ev + c]).sum();
        }
        let dp: Vec<f64> = (0..n).map(|j| (0..ev).map(|c| g[i * ev + c] * v[j * ev + c]).sum()).collect();
        let dot: f64 = (0..n).map(|j| p[j] * dp[j]).sum();
        for j in 0..n {
            let ds = scale * p[j] * (dp[j] - dot);
            for c in 0..e {
                dq[i * e + c] += ds * k[j * e + c];
                dk[j * e + c] += ds * q[i * e + c];
            }
            for c in 0..ev {
                dv[j * ev + c] += p[j] * g[i * ev + c];
            }
        }
    }
    Reference { out, grads: [dq, dk, dv].concat() }
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
    }
}

/// One case in f64 and f32 against the reference, matrix by matrix: leading dims `lead`.
fn check(lead: &[usize], [l, s, e, ev]: [usize; 4], scale: f64, causal: bool) {
    let batch: usize = lead.iter().product();
    let shape = |a: usize, b: usize| [lead, &[a, b]].concat();
    let (q, k, v, g) =
        (values(batch * l * e, 1), values(batch * s * e, 2), values(batch * s * ev, 3), values(batch * l * ev, 4));
    let what = format!("{lead:?} {:?} causal {causal}", [l, s, e, ev]);
    let mut want_out = vec![];
    let mut want_grads = vec![];
    for b in 0..batch {
        let r = reference(
            &q[b * l * e..][..l * e],
            &k[b * s * e..][..s * e],
            &v[b * s * ev..][..s * ev],
            &g[b * l * ev..][..l * ev],
            [l, s, e, ev],
            scale,
            causal,
        );
        want_out.extend(r.out);
        want_grads.extend(r.grads);
    }
    let arr64 = |x: &[f64], sh: &[usize]| CpuArray::from_vec(x.to_vec(), sh);
    let (q64, k64, v64, g64) =
        (arr64(&q, &shape(l, e)), arr64(&k, &shape(s, e)), arr64(&v, &shape(s, ev)), arr64(&g, &shape(l, ev)));
    let out = attention(&q64, &k64, &v64, scale, causal).unwrap();
    assert_eq!(out.shape(), &shape(l, ev)[..], "{what}");
    close(&out.to_vec::<f64>(), &want_out, 1e-12, &format!("{what} f64 out"));
    let grads = attention_grad(&q64, &k64, &v64, &g64, scale, causal).unwrap();
    assert_eq!(grads.shape(), &[lead, &[l * e + s * e + s * ev]].concat()[..], "{what}");
    close(&grads.to_vec::<f64>(), &want_grads, 1e-12, &format!("{what} f64 grads"));
    let arr32 = |x: &[f64], sh: &[usize]| CpuArray::from_vec(x.iter().map(|&v| v as f32).collect::<Vec<_>>(), sh);
    let (q32, k32, v32, g32) =
        (arr32(&q, &shape(l, e)), arr32(&k, &shape(s, e)), arr32(&v, &shape(s, ev)), arr32(&g, &shape(l, ev)));
    let widen = |a: CpuArray| a.to_vec::<f32>().into_iter().map(f64::from).collect::<Vec<_>>();
    close(&widen(attention(&q32, &k32, &v32, scale, causal).unwrap()), &want_out, 2e-5, &format!("{what} f32 out"));
    let g32s = attention_grad(&q32, &k32, &v32, &g32, scale, causal).unwrap();
    close(&widen(g32s), &want_grads, 1e-4, &format!("{what} f32 grads"));
}

#[test]
fn matches_the_definition() {
    for causal in [false, true] {
        // One block; blocks with a short last one; more queries than keys (causal rows
        // past the keys see them all) and fewer; one query; one key; widths 1 and wide
        // values; no leading dims.
        check(&[2, 3], [5, 7, 4, 3], 0.5, causal);
        check(&[2], [70, 70, 8, 5], 0.35, causal);
        check(&[1], [45, 30, 3, 6], 1.0, causal);
        check(&[3], [20, 50, 16, 16], 0.25, causal);
        check(&[1], [1, 9, 2, 2], 2.0, causal);
        check(&[2], [6, 1, 1, 1], -1.0, causal);
        check(&[], [33, 33, 64, 40], 0.125, causal);
    }
}

/// A causal row sees its own key and those before: with keys that make later scores
/// large, the first query still attends only to key 0 and gets its value exactly.
#[test]
fn causal_rows_see_no_later_keys() {
    let (l, e) = (3, 1);
    let q = CpuArray::from_vec(vec![1.0f64; l * e], &[l, e]);
    let k = CpuArray::from_vec(vec![0.0, 50.0, 100.0], &[l, e]);
    let v = CpuArray::from_vec(vec![7.0, -3.0, 11.0], &[l, 1]);
    let out = attention(&q, &k, &v, 1.0, true).unwrap().to_vec::<f64>();
    assert_eq!(out[0], 7.0);
    // Row 1 sees keys 0 and 1 with scores 0 and 50: weight e^-50 / (1 + e^-50) on key 0.
    let w0 = (-50f64).exp() / (1.0 + (-50f64).exp());
    assert!((out[1] - (7.0 * w0 + -3.0 * (1.0 - w0))).abs() < 1e-12);
}

/// Transposed, sliced and broadcast operands give the values of their dense copies.
#[test]
fn strided_operands_are_read_in_place() {
    let (l, s, e) = (40, 36, 8);
    // q as the transpose of a [E, L] matrix, k every other row of a [2S, E] matrix, v
    // flipped along its keys, g broadcast over the leading dim.
    let qt = CpuArray::from_vec(values(2 * e * l, 5), &[2, e, l]);
    let q = qt.with_layout(Layout {
        shape: [2, l, e][..].into(),
        strides: [(e * l) as isize, 1, l as isize][..].into(),
        offset: 0,
    });
    let k2 = CpuArray::from_vec(values(2 * 2 * s * e, 6), &[2, 2 * s, e]);
    let k = k2.with_layout(Layout {
        shape: [2, s, e][..].into(),
        strides: [(2 * s * e) as isize, (2 * e) as isize, 1][..].into(),
        offset: e,
    });
    let vf = CpuArray::from_vec(values(2 * s * e, 7), &[2, s, e]);
    let v = vf.with_layout(Layout {
        shape: [2, s, e][..].into(),
        strides: [(s * e) as isize, -(e as isize), 1][..].into(),
        offset: (s - 1) * e,
    });
    let g1 = CpuArray::from_vec(values(l * e, 8), &[1, l, e]);
    let g = g1.with_layout(Layout { shape: [2, l, e][..].into(), strides: [0, e as isize, 1][..].into(), offset: 0 });
    let dense = |x: &CpuArray| CpuArray::from_vec(x.to_vec::<f64>(), x.shape());
    for causal in [false, true] {
        let got = attention(&q, &k, &v, 0.3, causal).unwrap().to_vec::<f64>();
        let want = attention(&dense(&q), &dense(&k), &dense(&v), 0.3, causal).unwrap().to_vec::<f64>();
        assert_eq!(got, want);
        let got = attention_grad(&q, &k, &v, &g, 0.3, causal).unwrap().to_vec::<f64>();
        let want = attention_grad(&dense(&q), &dense(&k), &dense(&v), &dense(&g), 0.3, causal).unwrap().to_vec::<f64>();
        assert_eq!(got, want);
    }
}

#[test]
fn bit_identical_for_any_thread_count() {
    let (b, l, e) = (6, 100, 16);
    let arr = |seed| {
        CpuArray::from_vec(values(b * l * e, seed).into_iter().map(|x| x as f32).collect::<Vec<_>>(), &[b, l, e])
    };
    let (q, k, v, g) = (arr(1), arr(2), arr(3), arr(4));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let o = attention(&q, &k, &v, 0.25, true).unwrap().to_vec::<f32>();
            let d = attention_grad(&q, &k, &v, &g, 0.25, true).unwrap().to_vec::<f32>();
            o.into_iter().chain(d).map(f32::to_bits).collect::<Vec<_>>()
        })
    };
    assert_eq!(run(1), run(2));
    assert_eq!(run(1), run(3));
}

#[test]
fn other_dtypes_are_refused() {
    let x = CpuArray::from_vec(vec![half::f16::ONE; 4], &[2, 2]);
    let e = attention(&x, &x, &x, 1.0, false).unwrap_err().to_string();
    assert!(e.contains("scaled_dot_product_attention"), "{e}");
}
