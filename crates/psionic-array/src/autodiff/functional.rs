//! The MLX/JAX face: `vjp`, `grad`, `value_and_grad` (argnums, aux) and `stop_gradient`
//! as functions of Rust closures. They run the closure on traced copies of the inputs
//! and call the same backward walker as `Tensor::backward`.
//!
//! Nesting works by recording: a transform inside another (or applied to inputs that
//! already require grad) records its backward pass, so the outer level can
//! differentiate the gradients it returns (grad of grad).

use super::backward::{run, Opts};
use super::mode::{is_grad_enabled, GradModeGuard, TransformLevel};
use crate::mode::{check, raise};
use crate::ops::args::dims_i64;
use crate::tensor::{alias, leaf_alias, Tensor};
use psionic_core::Error;

/// A copy of `x` (no data copied) that this level differentiates with respect to. When
/// `x` already carries an outer level's graph the copy stays connected to it.
pub(crate) fn trace_input(x: &Tensor) -> Tensor {
    let n = x.node();
    let node = if n.requires_grad() && is_grad_enabled() {
        check(alias(&n))
    } else {
        check(leaf_alias(&n, super::record::new_slot()))
    };
    Tensor::from_node(node)
}

/// Raises unless the `i`-th `given` tensor (a tangent or cotangent) has the shape of the
/// `i`-th `want` tensor it pairs with.
#[track_caller]
pub(super) fn check_same_shape(who: &'static str, given: (&str, &Tensor), want: (&str, &Tensor), i: usize) {
    let ((gn, g), (wn, w)) = (given, want);
    if g.shape() != w.shape() {
        raise(Error::shape(who, format!("{gn} {i} has shape {:?} but {wn} {i} has shape {:?}", g.shape(), w.shape())));
    }
}

/// Runs `f` on traced copies of `primals[argnums]`, then backward from its outputs with
/// `cotangents` (ones for one-element outputs when `None`). Returns the outputs and
/// the gradients of the chosen primals (zeros for unused ones).
fn vjp_core(
    f: impl FnOnce(&[Tensor]) -> Vec<Tensor>,
    primals: &[Tensor],
    argnums: &[usize],
    cotangents: Option<&[Tensor]>,
    who: &'static str,
) -> (Vec<Tensor>, Vec<Tensor>) {
    for &a in argnums {
        if a >= primals.len() {
            raise(Error::invalid(who, format!("Can't compute the gradient of argument index {a} because the function is called with only {} positional arguments.", primals.len())));
        }
        if !primals[a].dtype().is_float() {
            raise(Error::dtype(
                who,
                format!(
                    "argument {a} has dtype {}; only floating point inputs can be differentiated",
                    primals[a].dtype()
                ),
            ));
        }
    }
    let level = TransformLevel::enter();
    let nested = level.outer_depth > 0 || (is_grad_enabled() && primals.iter().any(|p| p.requires_grad()));
    let _mode = GradModeGuard::new(true);
    let xs: Vec<Tensor> = primals
        .iter()
        .enumerate()
        .map(|(i, p)| if argnums.contains(&i) { trace_input(p) } else { p.clone() })
        .collect();
    let outs = f(&xs);
    let mut roots = vec![];
    for (i, o) in outs.iter().enumerate() {
        let g = match cotangents.and_then(|c| c.get(i)) {
            Some(c) => {
                check_same_shape(who, ("cotangent", c), ("output", o), i);
                c.to_dtype(o.dtype())
            }
            None if cotangents.is_some() => raise(Error::invalid(who, "one cotangent is needed per output")),
            None if o.numel() == 1 => o.ones_like(),
            None => raise(Error::invalid(who, format!("the function must return a scalar, got shape {:?}", o.shape()))),
        };
        if o.requires_grad() {
            roots.push((o.node(), g));
        }
    }
    let targets: Vec<_> = argnums.iter().map(|&a| xs[a].node()).collect();
    let opts = Opts { retain_graph: nested, create_graph: nested };
    let grads = if roots.is_empty() { vec![None; targets.len()] } else { check(run(roots, Some(&targets), &opts)) };
    let grads = grads.into_iter().zip(argnums).map(|(g, &a)| g.unwrap_or_else(|| primals[a].zeros_like())).collect();
    let outs = if nested { outs } else { outs.iter().map(|o| o.detach()).collect() };
    (outs, grads)
}

/// `mx.vjp(f, primals, cotangents)`: outputs of `f` and the vector-Jacobian products
/// with respect to every primal.
#[track_caller]
pub fn vjp(
    f: impl FnOnce(&[Tensor]) -> Vec<Tensor>,
    primals: &[Tensor],
    cotangents: &[Tensor],
) -> (Vec<Tensor>, Vec<Tensor>) {
    let all: Vec<usize> = (0..primals.len()).collect();
    vjp_core(f, primals, &all, Some(cotangents), "vjp")
}

/// `mx.value_and_grad(f, argnums)`: `f` must return a one-element tensor.
pub fn value_and_grad<F: Fn(&[Tensor]) -> Tensor>(
    f: F,
    argnums: &[usize],
) -> impl Fn(&[Tensor]) -> (Tensor, Vec<Tensor>) {
    let argnums = argnums.to_vec();
    move |xs: &[Tensor]| {
        let (mut v, g) = vjp_core(|x| vec![f(x)], xs, &argnums, None, "value_and_grad");
        (v.remove(0), g)
    }
}

/// `value_and_grad` for a function that also returns auxiliary data (`has_aux=True`).
pub fn value_and_grad_aux<A, F: Fn(&[Tensor]) -> (Tensor, A)>(
    f: F,
    argnums: &[usize],
) -> impl Fn(&[Tensor]) -> ((Tensor, A), Vec<Tensor>) {
    let argnums = argnums.to_vec();
    move |xs: &[Tensor]| {
        let mut aux = None;
        let (mut v, g) = vjp_core(
            |x| {
                let (val, a) = f(x);
                aux = Some(a);
                vec![val]
            },
            xs,
            &argnums,
            None,
            "value_and_grad",
        );
        ((v.remove(0), aux.expect("f ran")), g)
    }
}

/// `mx.grad(f)`: the gradient with respect to the first argument. Composes with itself.
pub fn grad<F: Fn(&[Tensor]) -> Tensor>(f: F) -> impl Fn(&[Tensor]) -> Tensor {
    move |xs: &[Tensor]| vjp_core(|x| vec![f(x)], xs, &[0], None, "grad").1.remove(0)
}

/// `mx.grad(f, argnums)`: gradients with respect to several arguments.
pub fn grad_argnums<F: Fn(&[Tensor]) -> Tensor>(f: F, argnums: &[usize]) -> impl Fn(&[Tensor]) -> Vec<Tensor> {
    let argnums = argnums.to_vec();
    move |xs: &[Tensor]| vjp_core(|x| vec![f(x)], xs, &argnums, None, "grad").1
}

/// `mx.stop_gradient`: the same values, seen as a constant by every transform.
pub fn stop_gradient(x: &Tensor) -> Tensor {
    x.detach()
}

/// One-hot tensors of `shape`, one per element, in row-major order.
fn basis(shape: &[usize], dtype: psionic_core::DType) -> Vec<Tensor> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| {
            let mut v = vec![0.0; n];
            v[i] = 1.0;
            Tensor::from_vec(v, shape).to_dtype(dtype)
        })
        .collect()
}

/// `jax.jacrev`: the Jacobian of `f` at its first argument by reverse mode, one vjp per
/// output element; shape `out_shape ++ in_shape`.
pub fn jacrev<F: Fn(&[Tensor]) -> Tensor>(f: F) -> impl Fn(&[Tensor]) -> Tensor {
    move |xs: &[Tensor]| {
        let out = super::no_grad(|| f(xs));
        let rows: Vec<Tensor> = basis(&out.shape(), out.dtype())
            .iter()
            .map(|u| vjp_core(|x| vec![f(x)], xs, &[0], Some(std::slice::from_ref(u)), "jacrev").1.remove(0))
            .collect();
        let mut shape = dims_i64(&out.shape());
        shape.extend(dims_i64(&xs[0].shape()));
        Tensor::stack(&rows.iter().collect::<Vec<_>>(), 0).reshape(&shape)
    }
}

/// `jax.jacfwd`: the Jacobian of `f` at its first argument by forward mode, one jvp per
/// input element; shape `out_shape ++ in_shape`.
pub fn jacfwd<F: Fn(&[Tensor]) -> Tensor>(f: F) -> impl Fn(&[Tensor]) -> Tensor {
    move |xs: &[Tensor]| {
        let cols: Vec<Tensor> = basis(&xs[0].shape(), xs[0].dtype())
            .iter()
            .map(|t| {
                let mut tangents: Vec<Tensor> = xs.iter().map(|x| x.zeros_like()).collect();
                tangents[0] = t.clone();
                super::forward::jvp(|x| vec![f(x)], xs, &tangents).1.remove(0)
            })
            .collect();
        let out_shape = cols.first().map(|c| c.shape()).unwrap_or_default();
        let mut shape = dims_i64(&out_shape);
        shape.extend(dims_i64(&xs[0].shape()));
        Tensor::stack(&cols.iter().collect::<Vec<_>>(), -1).reshape(&shape)
    }
}

/// `jax.hessian`: forward-over-reverse second derivatives of a scalar function at its
/// first argument; shape `in_shape ++ in_shape`.
pub fn hessian<F: Fn(&[Tensor]) -> Tensor>(f: F) -> impl Fn(&[Tensor]) -> Tensor {
    jacfwd(grad(f))
}
