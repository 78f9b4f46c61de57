//! The matmul family: matmul, mm, bmm, mv, dot, vdot, outer, addmm, addmv, baddbmm,
//! tensordot, einsum, kron, trace. Everything funnels into one batched `Matmul` primitive.

use super::args::dims_i64;
use crate::autocast;
use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::{broadcast_shapes, Error, Scalar};
use std::collections::BTreeMap;

impl Tensor {
    /// `torch.nn.functional.linear`: `x @ weight^T + bias` (a 1-D weight contracts the
    /// last dim away).
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        // On autocast's lower-precision list with its bias.
        let (x, w, b) = (autocast::lower(self), autocast::lower(weight), autocast::lower_opt(bias));
        if let Some(y) = autocast::casting(|| x.linear(&w, b.as_ref())) {
            return y;
        }
        let y = if weight.dim() == 1 { self.matmul(weight) } else { self.matmul(&weight.t()) };
        match bias {
            Some(b) => y.add(b),
            None => y,
        }
    }

    /// `torch.matmul`: 1-D operands are promoted to matrices and the added dim removed;
    /// batch dims broadcast. On autocast's lower-precision list (with `mm`, `bmm`,
    /// `addmm`, `baddbmm`; not `mv` or `dot`).
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        autocast::lower(self).product(&autocast::lower(other))
    }

    /// `matmul` in the operands' own dtypes (for ops that multiply matrices inside and
    /// are on neither autocast list).
    #[track_caller]
    pub(crate) fn product(&self, other: &Tensor) -> Tensor {
        let (na, nb) = (self.dim(), other.dim());
        if na == 0 || nb == 0 {
            raise(Error::shape(
                "matmul",
                format!("both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D"),
            ));
        }
        if self.dtype() != other.dtype() {
            raise(Error::dtype(
                "matmul",
                format!(
                    "expected m1 and m2 to have the same dtype, but got: {} != {}",
                    self.dtype().name(),
                    other.dtype().name()
                ),
            ));
        }
        let a = if na == 1 { self.unsqueeze(0) } else { self.clone() };
        let b = if nb == 1 { other.unsqueeze(1) } else { other.clone() };
        let (sa, sb) = (a.shape(), b.shape());
        let (m, k, k2, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            raise(Error::shape(
                "matmul",
                format!(
                    "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}) for shapes {:?} and {:?}",
                    sa[..sa.len() - 1].iter().product::<usize>(),
                    k,
                    k2,
                    n,
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        // A batch against one matrix (a linear layer on [B, T, C]) is one product with
        // the batch folded into the rows, as PyTorch does: one large GEMM instead of B
        // small ones, and its gradient for the matrix is one GEMM over all B * T rows
        // rather than B products summed afterwards.
        if na >= 3 && nb <= 2 {
            let rows: usize = sa[..na - 1].iter().product();
            let r = a.reshape(&[rows as i64, k as i64]).product(other);
            let mut shape = dims_i64(&sa[..na - 1]);
            if nb == 2 {
                shape.push(n as i64);
            }
            return r.reshape(&shape);
        }
        let batch = check(broadcast_shapes("matmul", &sa[..sa.len() - 2], &sb[..sb.len() - 2]));
        let mut ea = batch.clone();
        ea.extend([m, k]);
        let mut eb = batch.clone();
        eb.extend([k, n]);
        let r = check(Tensor::make(Prim::Matmul(crate::prim::Matmul), &[&a.broadcast_to(&ea), &b.broadcast_to(&eb)]));
        match (na, nb) {
            (1, 1) => r.reshape(&[]),
            (1, _) => r.squeeze_dims(&[-2]),
            (_, 1) => r.squeeze_dims(&[-1]),
            _ => r,
        }
    }

    #[track_caller]
    fn expect_dims(&self, op: &'static str, n: usize) {
        if self.dim() != n {
            raise(Error::shape(
                op,
                format!("{op}: expected a {n}D tensor, but got a {}D tensor with shape {:?}", self.dim(), self.shape()),
            ));
        }
    }

    #[track_caller]
    pub fn mm(&self, other: &Tensor) -> Tensor {
        self.expect_dims("mm", 2);
        other.expect_dims("mm", 2);
        self.matmul(other)
    }

    #[track_caller]
    pub fn bmm(&self, other: &Tensor) -> Tensor {
        self.expect_dims("bmm", 3);
        other.expect_dims("bmm", 3);
        if self.size(0) != other.size(0) {
            raise(Error::shape(
                "bmm",
                format!(
                    "batch1 and batch2 must have same number of batches, got {} and {}",
                    self.size(0),
                    other.size(0)
                ),
            ));
        }
        self.matmul(other)
    }

    #[track_caller]
    pub fn mv(&self, vec: &Tensor) -> Tensor {
        self.expect_dims("mv", 2);
        vec.expect_dims("mv", 1);
        self.product(vec)
    }

    #[track_caller]
    pub fn dot(&self, other: &Tensor) -> Tensor {
        self.expect_dims("dot", 1);
        other.expect_dims("dot", 1);
        if self.numel() != other.numel() {
            raise(Error::shape("dot", format!("inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively", self.numel(), other.numel(), self.numel(), other.numel())));
        }
        self.product(other)
    }

    /// Dot product conjugating the first argument; for real dtypes equal to `dot`.
    #[track_caller]
    pub fn vdot(&self, other: &Tensor) -> Tensor {
        self.dot(other)
    }

    #[track_caller]
    pub fn outer(&self, other: &Tensor) -> Tensor {
        self.expect_dims("outer", 1);
        other.expect_dims("outer", 1);
        self.unsqueeze(1).mul(other.unsqueeze(0))
    }

    /// `beta * self + alpha * (m1 @ m2)`; with `beta == 0` `self` is ignored (NaN too).
    #[track_caller]
    pub fn addmm(&self, m1: &Tensor, m2: &Tensor, beta: impl Into<Scalar>, alpha: impl Into<Scalar>) -> Tensor {
        Self::scaled_sum(&autocast::lower(self), &m1.mm(m2), beta.into(), alpha.into())
    }

    #[track_caller]
    pub fn addmv(&self, mat: &Tensor, vec: &Tensor, beta: impl Into<Scalar>, alpha: impl Into<Scalar>) -> Tensor {
        Self::scaled_sum(self, &mat.mv(vec), beta.into(), alpha.into())
    }

    #[track_caller]
    pub fn baddbmm(&self, b1: &Tensor, b2: &Tensor, beta: impl Into<Scalar>, alpha: impl Into<Scalar>) -> Tensor {
        Self::scaled_sum(&autocast::lower(self), &b1.bmm(b2), beta.into(), alpha.into())
    }

    fn scaled_sum(input: &Tensor, prod: &Tensor, beta: Scalar, alpha: Scalar) -> Tensor {
        // PyTorch casts alpha/beta to the product's dtype: integer addmm stays integer.
        let (beta, alpha) = if prod.dtype().is_float() {
            (beta, alpha)
        } else {
            (Scalar::Int(beta.to_i64()), Scalar::Int(alpha.to_i64()))
        };
        let p = if alpha.to_f64() == 1.0 { prod.clone() } else { prod.mul(alpha) };
        if beta.to_f64() == 0.0 {
            let _ = check(psionic_core::broadcast_shapes("addmm", &input.shape(), &p.shape()));
            return p;
        }
        let i = if beta.to_f64() == 1.0 { input.clone() } else { input.mul(beta) };
        i.add(&p)
    }

    /// Contracts `dims_a` of `self` with `dims_b` of `other`.
    #[track_caller]
    pub fn tensordot(&self, other: &Tensor, dims_a: &[i64], dims_b: &[i64]) -> Tensor {
        if dims_a.len() != dims_b.len() {
            raise(Error::invalid("tensordot", "both dimension lists should have same length"));
        }
        let da = check(psionic_core::shape::normalize_dims("tensordot", dims_a, self.dim()));
        let db = check(psionic_core::shape::normalize_dims("tensordot", dims_b, other.dim()));
        let (mut a, mut b) = (self.clone(), other.clone());
        for (&x, &y) in da.iter().zip(&db) {
            let (n, m) = (a.shape()[x], b.shape()[y]);
            // A size-1 dim contracts with the sum of the other side over its dim, as in PyTorch.
            if n == 1 && m != 1 {
                b = b.sum(y as i64, true);
            } else if m == 1 && n != 1 {
                a = a.sum(x as i64, true);
            } else if n != m {
                raise(Error::shape("tensordot", format!("contracted dimensions need to match, but first has size {n} in dim {x} and second has size {m} in dim {y}")));
            }
        }
        let (sa, sb) = (a.shape(), b.shape());
        let fa: Vec<usize> = (0..sa.len()).filter(|d| !da.contains(d)).collect();
        let fb: Vec<usize> = (0..sb.len()).filter(|d| !db.contains(d)).collect();
        let k: usize = da.iter().map(|&d| sa[d]).product();
        let pa: Vec<i64> = fa.iter().chain(&da).map(|&d| d as i64).collect();
        let pb: Vec<i64> = db.iter().chain(&fb).map(|&d| d as i64).collect();
        let a2 = a.permute(&pa).reshape(&[-1, k as i64]);
        let b2 = b.permute(&pb).reshape(&[k as i64, -1]);
        let out: Vec<i64> = fa.iter().map(|&d| sa[d] as i64).chain(fb.iter().map(|&d| sb[d] as i64)).collect();
        a2.matmul(&b2).reshape(&out)
    }

    /// Sum of the main diagonal of a 2-D tensor.
    #[track_caller]
    pub fn trace(&self) -> Tensor {
        let x = autocast::full(self);
        if let Some(y) = autocast::casting(|| x.trace()) {
            return y;
        }
        self.expect_dims("trace", 2);
        self.diagonal(0, 0, 1).sum_all()
    }

    /// Kronecker product.
    #[track_caller]
    pub fn kron(&self, other: &Tensor) -> Tensor {
        let n = self.dim().max(other.dim());
        let pad = |t: &Tensor| {
            let mut s = vec![1i64; n - t.dim()];
            s.extend(dims_i64(&t.shape()));
            t.reshape(&s)
        };
        let (a, b) = (pad(self), pad(other));
        let (sa, sb) = (a.shape(), b.shape());
        let ia: Vec<i64> = sa.iter().flat_map(|&v| [v as i64, 1]).collect();
        let ib: Vec<i64> = sb.iter().flat_map(|&v| [1, v as i64]).collect();
        let out: Vec<i64> = sa.iter().zip(&sb).map(|(&x, &y)| (x * y) as i64).collect();
        a.reshape(&ia).mul(b.reshape(&ib)).reshape(&out)
    }

    /// Einstein summation over any valid equation: repeated indices within an operand take
    /// diagonals, `...` broadcasts, an implicit output lists the once-used labels sorted.
    #[track_caller]
    pub fn einsum(equation: &str, operands: &[&Tensor]) -> Tensor {
        check(crate::ops::linalg::einsum_impl(equation, operands))
    }
}

type Labels = Vec<char>;

fn parse_operand(spec: &str, ndim: usize, ell: &[char]) -> psionic_core::Result<Labels> {
    let bad = |m: String| Error::invalid("einsum", m);
    let n_explicit = spec.chars().filter(|c| c.is_ascii_alphabetic()).count();
    let mut out = vec![];
    let has_ell = spec.contains("...");
    let cleaned = spec.replace("...", "#");
    if !has_ell && n_explicit != ndim || has_ell && n_explicit > ndim {
        return Err(bad(format!("the number of subscripts in the equation ({n_explicit}) does not match the number of dimensions ({ndim}) for operand")));
    }
    for c in cleaned.chars() {
        match c {
            '#' => {
                let e = ndim - n_explicit;
                out.extend_from_slice(&ell[ell.len() - e..]);
            }
            c if c.is_ascii_alphabetic() => out.push(c),
            c => return Err(bad(format!("invalid subscript given at index: '{c}'"))),
        }
    }
    Ok(out)
}

/// Takes diagonals for labels repeated within one operand.
fn dedupe(mut t: Tensor, mut l: Labels) -> (Tensor, Labels) {
    loop {
        let dup = (0..l.len()).find_map(|i| (i + 1..l.len()).find(|&j| l[j] == l[i]).map(|j| (i, j)));
        match dup {
            None => return (t, l),
            Some((i, j)) => {
                t = t.diagonal(0, i as i64, j as i64);
                let c = l[i];
                l.remove(j);
                l.remove(i);
                l.push(c);
            }
        }
    }
}

fn sum_out(t: Tensor, l: Labels, keep: impl Fn(char) -> bool) -> (Tensor, Labels) {
    let dims: Vec<i64> = (0..l.len()).filter(|&i| !keep(l[i])).map(|i| i as i64).collect();
    if dims.is_empty() {
        return (t, l);
    }
    let nl = l.iter().copied().filter(|&c| keep(c)).collect();
    (t.sum(dims, false), nl)
}

fn einsum_impl(eq: &str, ops: &[&Tensor]) -> psionic_core::Result<Tensor> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let specs: Vec<&str> = lhs.split(',').collect();
    if specs.len() != ops.len() {
        return Err(Error::invalid(
            "einsum",
            format!("more operands were provided than specified in the equation ({} vs {})", ops.len(), specs.len()),
        ));
    }
    let max_ell = specs
        .iter()
        .zip(ops)
        .filter(|(s, _)| s.contains("..."))
        .map(|(s, t)| t.dim().saturating_sub(s.chars().filter(|c| c.is_ascii_alphabetic()).count()))
        .max()
        .unwrap_or(0);
    // Ellipsis dims get labels outside the ASCII letters, right-aligned across operands.
    let ell: Vec<char> = (0..max_ell).map(|i| char::from_u32(0x100 + i as u32).unwrap()).collect();
    // Label uses are counted as written: `ii` uses `i` twice, so an implicit output
    // leaves it out (the trace), even though the diagonal leaves one `i` behind.
    let mut terms = vec![];
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for (s, t) in specs.iter().zip(ops) {
        let l = parse_operand(s, t.dim(), &ell)?;
        for &c in &l {
            *counts.entry(c).or_default() += 1;
        }
        terms.push(dedupe((*t).clone(), l));
    }
    let out: Labels = match &rhs {
        Some(r) => {
            let o = parse_operand(
                r,
                r.chars().filter(|c| c.is_ascii_alphabetic()).count() + if r.contains("...") { max_ell } else { 0 },
                &ell,
            )?;
            if let Some(c) = o.iter().find(|c| !counts.contains_key(c)) {
                return Err(Error::invalid(
                    "einsum",
                    format!("output subscript {c} does not appear in the equation for any input operand"),
                ));
            }
            o
        }
        None => ell
            .iter()
            .copied()
            .chain(counts.iter().filter(|(c, &n)| n == 1 && c.is_ascii_alphabetic()).map(|(&c, _)| c))
            .collect(),
    };
    // Label sizes, with size-1 broadcasting.
    let mut sizes: BTreeMap<char, usize> = BTreeMap::new();
    for (t, l) in &terms {
        for (i, &c) in l.iter().enumerate() {
            let n = t.shape()[i];
            let e = sizes.entry(c).or_insert(n);
            if *e == 1 {
                *e = n;
            } else if n != 1 && n != *e {
                return Err(Error::shape(
                    "einsum",
                    format!("operands do not broadcast with remapped shapes (subscript {c}: {e} vs {n})"),
                ));
            }
        }
    }
    let mut terms = terms.into_iter();
    let (mut acc, mut al) = terms.next().unwrap();
    let rest: Vec<(Tensor, Labels)> = terms.collect();
    for (idx, (t, l)) in rest.iter().enumerate() {
        let later: Vec<char> = rest[idx + 1..].iter().flat_map(|(_, l)| l.clone()).chain(out.iter().copied()).collect();
        let needed = |c: char| later.contains(&c);
        let (a, la) = sum_out(acc, al, |c| needed(c) || l.contains(&c));
        let (b, lb) = sum_out(t.clone(), l.clone(), |c| needed(c) || la.contains(&c));
        let batch: Labels = la.iter().copied().filter(|c| lb.contains(c) && needed(*c)).collect();
        let contr: Labels = la.iter().copied().filter(|c| lb.contains(c) && !needed(*c)).collect();
        let left: Labels = la.iter().copied().filter(|c| !lb.contains(c)).collect();
        let right: Labels = lb.iter().copied().filter(|c| !la.contains(c)).collect();
        let arrange = |t: &Tensor, l: &Labels, order: &[&Labels]| -> Tensor {
            let perm: Vec<i64> =
                order.iter().flat_map(|g| g.iter()).map(|c| l.iter().position(|x| x == c).unwrap() as i64).collect();
            let p = t.permute(&perm);
            let full: Vec<i64> = order.iter().flat_map(|g| g.iter()).map(|c| sizes[c] as i64).collect();
            p.expand(&full)
        };
        let prod = |g: &Labels| g.iter().map(|c| sizes[c] as i64).product::<i64>();
        let a3 = arrange(&a, &la, &[&batch, &left, &contr]).reshape(&[prod(&batch), prod(&left), prod(&contr)]);
        let b3 = arrange(&b, &lb, &[&batch, &contr, &right]).reshape(&[prod(&batch), prod(&contr), prod(&right)]);
        let dt = psionic_core::promote_types(a3.dtype(), b3.dtype());
        let r = a3.to_dtype(dt).matmul(&b3.to_dtype(dt));
        al = batch.iter().chain(&left).chain(&right).copied().collect();
        acc = r.reshape(&al.iter().map(|c| sizes[c] as i64).collect::<Vec<_>>());
    }
    let (acc, al) = sum_out(acc, al, |c| out.contains(&c));
    let perm: Vec<i64> = out.iter().map(|c| al.iter().position(|x| x == c).unwrap() as i64).collect();
    let full: Vec<i64> = out.iter().map(|c| sizes[c] as i64).collect();
    Ok(acc.permute(&perm).expand(&full).contiguous())
}
