//! Property tests at the tensor level: promotion through real ops, random chains of views
//! checked against a dense reference, writes through views, and reduction invariants.

use crate::{DType, Tensor};
use proptest::prelude::*;
use psionic_core::promote_types;

/// A dense row-major reference array: views are re-materialised by index arithmetic, so
/// it shares no code with the strided layout algebra it checks.
#[derive(Clone, Debug)]
struct Dense {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Dense {
    fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.shape.len()];
        for d in (0..self.shape.len().saturating_sub(1)).rev() {
            s[d] = s[d + 1] * self.shape[d + 1];
        }
        s
    }

    /// Builds `shape` where each output index reads `self` at `src(index)`.
    fn remap(&self, shape: Vec<usize>, src: impl Fn(&[usize]) -> Vec<usize>) -> Dense {
        let st = self.strides();
        let n: usize = shape.iter().product();
        let mut idx = vec![0; shape.len()];
        let mut data = Vec::with_capacity(n);
        for _ in 0..n {
            let s = src(&idx);
            data.push(self.data[s.iter().zip(&st).map(|(i, k)| i * k).sum::<usize>()]);
            for d in (0..shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Dense { shape, data }
    }
}

#[derive(Clone, Debug)]
enum ViewStep {
    Transpose(usize, usize),
    Slice { dim: usize, start: usize, step: usize },
    Flip(usize),
    Unsqueeze(usize),
    Expand(usize),
}

fn step_strategy() -> impl Strategy<Value = ViewStep> {
    prop_oneof![
        (0usize..4, 0usize..4).prop_map(|(a, b)| ViewStep::Transpose(a, b)),
        (0usize..4, 0usize..3, 1usize..3).prop_map(|(dim, start, step)| ViewStep::Slice { dim, start, step }),
        (0usize..4).prop_map(ViewStep::Flip),
        (0usize..4).prop_map(ViewStep::Unsqueeze),
        (2usize..4).prop_map(ViewStep::Expand),
    ]
}

/// Applies one step to both the tensor and the reference; steps that do not fit the
/// current rank are folded into range so every generated chain is valid.
fn apply(t: &Tensor, r: &Dense, s: &ViewStep) -> (Tensor, Dense) {
    let nd = r.shape.len();
    match *s {
        ViewStep::Transpose(a, b) if nd >= 1 => {
            let (a, b) = (a % nd, b % nd);
            let mut shape = r.shape.clone();
            shape.swap(a, b);
            let d = r.remap(shape, |i| {
                let mut j = i.to_vec();
                j.swap(a, b);
                j
            });
            (t.transpose(a as i64, b as i64), d)
        }
        ViewStep::Slice { dim, start, step } if nd >= 1 => {
            let dim = dim % nd;
            let start = start.min(r.shape[dim]);
            let len = (r.shape[dim] - start).div_ceil(step);
            let mut shape = r.shape.clone();
            shape[dim] = len;
            let d = r.remap(shape, |i| {
                let mut j = i.to_vec();
                j[dim] = start + i[dim] * step;
                j
            });
            (t.slice(dim as i64, Some(start as i64), None, step as i64), d)
        }
        ViewStep::Flip(dim) if nd >= 1 => {
            let dim = dim % nd;
            let n = r.shape[dim];
            let d = r.remap(r.shape.clone(), |i| {
                let mut j = i.to_vec();
                j[dim] = n - 1 - i[dim];
                j
            });
            (t.flip(&[dim as i64]), d)
        }
        ViewStep::Unsqueeze(dim) if nd < 5 => {
            let dim = dim % (nd + 1);
            let mut shape = r.shape.clone();
            shape.insert(dim, 1);
            let d = r.remap(shape, |i| {
                let mut j = i.to_vec();
                j.remove(dim);
                j
            });
            (t.unsqueeze(dim as i64), d)
        }
        ViewStep::Expand(n) if r.shape.contains(&1) => {
            let dim = r.shape.iter().position(|&s| s == 1).unwrap();
            let mut shape = r.shape.clone();
            shape[dim] = n;
            let d = r.remap(shape.clone(), |i| {
                let mut j = i.to_vec();
                j[dim] = 0;
                j
            });
            let sh: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
            (t.expand(&sh), d)
        }
        _ => (t.clone(), r.clone()),
    }
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    (0usize..DType::ALL.len()).prop_map(|i| DType::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // Any chain of views reads the same elements as index arithmetic on a dense copy, and
    // forcing it contiguous (or reshaping it flat) keeps those values.
    #[test]
    fn view_chains_match_dense_reference(
        shape in proptest::collection::vec(1usize..4, 1..4),
        steps in proptest::collection::vec(step_strategy(), 0..6),
    ) {
        let n: usize = shape.iter().product();
        let data: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut t = Tensor::from_vec(data.clone(), &shape);
        let mut r = Dense { shape: shape.clone(), data };
        for s in &steps {
            (t, r) = apply(&t, &r, s);
        }
        prop_assert_eq!(t.shape(), r.shape.clone());
        prop_assert_eq!(t.to_vec::<f64>(), r.data.clone());
        prop_assert_eq!(t.contiguous().to_vec::<f64>(), r.data.clone());
        prop_assert_eq!(t.reshape(&[-1]).to_vec::<f64>(), r.data);
    }

    // Writing through a chain of views lands in the base: `add_(1)` on the view raises the
    // base's total by exactly the view's element count. Expanded views refuse writes and
    // `flip` copies (as in PyTorch), so both are left out.
    #[test]
    fn writes_through_view_chains_reach_the_base(
        shape in proptest::collection::vec(1usize..4, 1..4),
        steps in proptest::collection::vec(step_strategy(), 0..6),
    ) {
        let n: usize = shape.iter().product();
        let base = Tensor::zeros(&shape, DType::F64);
        let mut v = base.clone();
        let mut r = Dense { shape: shape.clone(), data: vec![0.0; n] };
        for s in steps.iter().filter(|s| !matches!(s, ViewStep::Expand(_) | ViewStep::Flip(_))) {
            (v, r) = apply(&v, &r, s);
        }
        v.add_(1.0);
        prop_assert_eq!(base.sum_all().item::<f64>(), r.data.len() as f64);
        prop_assert!(v.to_vec::<f64>().iter().all(|&x| x == 1.0));
    }

    // Binary ops take PyTorch's promoted dtype; comparisons give bool; a weak Rust float
    // scalar keeps a float tensor's dtype and lifts integer/bool tensors to the default float.
    #[test]
    fn promotion_holds_through_ops(a in dtype_strategy(), b in dtype_strategy()) {
        let x = Tensor::ones(&[2, 3], a);
        let y = Tensor::ones(&[3], b);
        let p = promote_types(a, b);
        if p != DType::Bool {
            prop_assert_eq!((&x + &y).dtype(), p);
            prop_assert_eq!(x.maximum(&y).dtype(), p);
        }
        prop_assert_eq!(x.lt(&y).dtype(), DType::Bool);
        prop_assert_eq!(Tensor::where_(&x.gt(0), &x, &y).dtype(), p);
        let w = &x * 2.0;
        prop_assert_eq!(w.dtype(), if a.is_float() { a } else { DType::default_float() });
        // A zero-dim tensor of the same category does not promote a dimensioned one.
        let z = Tensor::full(&[], 1, b);
        if a.is_float() == b.is_float() && a != DType::Bool && b != DType::Bool {
            prop_assert_eq!((&x + &z).dtype(), a);
        }
        // Values survive the promotion: 1 + 1 = 2 in every non-bool result dtype.
        if p != DType::Bool {
            prop_assert!((&x + &y).to_vec::<f64>().iter().all(|&v| v == 2.0));
        }
    }

    // Reduction invariants on random f64 data.
    #[test]
    fn reduction_invariants(
        d0 in 1usize..5, d1 in 1usize..5, d2 in 1usize..5,
        seed in proptest::collection::vec(-10.0f64..10.0, 64),
    ) {
        let n = d0 * d1 * d2;
        let data: Vec<f64> = (0..n).map(|i| seed[i % 64] + i as f64 * 0.01).collect();
        let x = Tensor::from_vec(data.clone(), &[d0, d1, d2]);
        let total: f64 = x.sum_all().item();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        // Sum in any dim order equals the total; mean times count equals sum.
        prop_assert!(close(x.sum(2, false).sum(0, false).sum_all().item(), total));
        prop_assert!(close(x.transpose(0, 2).sum([1, 2], false).sum_all().item(), total));
        prop_assert!(close(x.mean(1, false).sum_all().item::<f64>() * d1 as f64, total));
        // Max bounds every element and argmax points at it.
        let (mx, arg) = x.max_dim(2, false);
        let (mxv, argv) = (mx.to_vec::<f64>(), arg.to_vec::<i64>());
        for (row, (m, a)) in data.chunks(d2).zip(mxv.iter().zip(&argv)) {
            prop_assert!(row.iter().all(|v| v <= m));
            prop_assert_eq!(row[*a as usize], *m);
        }
        // Variance is non-negative and equals E[x^2] - E[x]^2 (correction 0).
        let var = x.var(1, 0.0, false);
        let alt = &x.square().mean(1, false) - &x.mean(1, false).square();
        for (v, w) in var.to_vec::<f64>().iter().zip(alt.to_vec::<f64>()) {
            prop_assert!(*v >= 0.0 && (v - w).abs() <= 1e-8 * (1.0 + w.abs()));
        }
        // The last cumsum entry equals the sum along that dim.
        let cs = x.cumsum(2).select(2, -1).to_vec::<f64>();
        for (c, s) in cs.iter().zip(x.sum(2, false).to_vec::<f64>()) {
            prop_assert!(close(*c, s));
        }
    }
}
