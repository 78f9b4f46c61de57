//! The MLX/JAX face: grad, value_and_grad (argnums, aux), vjp, trees, composition, and
//! the same MLP trained with `backward` and with `value_and_grad`.

use super::check::data;
use crate::autodiff::no_grad;
use crate::autodiff::{
    grad, grad_argnums, stop_gradient, value_and_grad, value_and_grad_aux, value_and_grad_tree, vjp, BackwardOpts, Tree,
};
use crate::Tensor;

#[test]
fn grad_and_grad_of_grad() {
    let f = |x: &[Tensor]| x[0].pow(3.0).sum_all();
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    assert_eq!(grad(f)(std::slice::from_ref(&x)).to_vec::<f64>(), vec![3.0, 12.0]);
    let g2 = grad(|x: &[Tensor]| grad(f)(x).sum_all());
    assert_eq!(g2(std::slice::from_ref(&x)).to_vec::<f64>(), vec![6.0, 12.0]);
    let g3 = grad(|x: &[Tensor]| grad(|y: &[Tensor]| grad(f)(y).sum_all())(x).sum_all());
    assert_eq!(g3(std::slice::from_ref(&x)).to_vec::<f64>(), vec![6.0, 6.0]);
    // The result of an outermost transform carries no graph.
    assert!(!grad(f)(&[x]).requires_grad());
}

#[test]
fn nested_grad_sees_closed_over_values() {
    // d/dx [ d/dy (x * y) at y = 1 ] = d/dx x = 1 (no perturbation confusion).
    let outer = grad(|x: &[Tensor]| {
        let xv = x[0].clone();
        grad(move |y: &[Tensor]| (&xv * &y[0]).sum_all())(&[Tensor::from_vec(vec![1.0], &[1])]).sum_all()
    });
    assert_eq!(outer(&[Tensor::from_vec(vec![3.0], &[1])]).to_vec::<f64>(), vec![1.0]);
}

#[test]
fn argnums_aux_and_vjp() {
    let f = |x: &[Tensor]| (&x[0] * &x[1]).sum_all();
    let (a, b) = (Tensor::from_vec(vec![1.0, 2.0], &[2]), Tensor::from_vec(vec![3.0, 4.0], &[2]));
    let (v, g) = value_and_grad(f, &[0, 1])(&[a.clone(), b.clone()]);
    assert_eq!(v.item::<f64>(), 11.0);
    assert_eq!(g[0].to_vec::<f64>(), vec![3.0, 4.0]);
    assert_eq!(g[1].to_vec::<f64>(), vec![1.0, 2.0]);
    let gb = grad_argnums(f, &[1])(&[a.clone(), b.clone()]);
    assert_eq!(gb[0].to_vec::<f64>(), vec![1.0, 2.0]);
    let ((v, aux), g) =
        value_and_grad_aux(|x: &[Tensor]| (x[0].square().sum_all(), x[0].mul(10.0)), &[0])(std::slice::from_ref(&a));
    assert_eq!((v.item::<f64>(), aux.to_vec::<f64>()), (5.0, vec![10.0, 20.0]));
    assert_eq!(g[0].to_vec::<f64>(), vec![2.0, 4.0]);
    let (outs, vj) =
        vjp(|x: &[Tensor]| vec![x[0].exp(), &x[0] * &x[1]], &[a.clone(), b.clone()], &[a.ones_like(), a.clone()]);
    assert_eq!(outs.len(), 2);
    let e: Vec<f64> = a.to_vec::<f64>().iter().map(|v| v.exp()).collect();
    assert_eq!(vj[0].to_vec::<f64>(), vec![e[0] + 3.0, e[1] + 8.0]);
    assert_eq!(vj[1].to_vec::<f64>(), vec![1.0, 4.0]);
    // Unused arguments get zeros; stop_gradient blocks flow.
    let g = grad_argnums(|x: &[Tensor]| (&stop_gradient(&x[0]) * &x[1]).sum_all(), &[0, 1])(&[a.clone(), b]);
    assert_eq!(g[0].to_vec::<f64>(), vec![0.0, 0.0]);
    assert_eq!(g[1].to_vec::<f64>(), vec![1.0, 2.0]);
}

#[test]
fn trees_flatten_in_a_stable_order_and_carry_grads() {
    let t = Tree::map_of([
        ("w", Tree::Leaf(Tensor::from_vec(vec![2.0], &[1]))),
        (
            "layers",
            Tree::List(vec![
                Tree::Leaf(Tensor::from_vec(vec![3.0], &[1])),
                Tree::Leaf(Tensor::from_vec(vec![4.0], &[1])),
            ]),
        ),
    ]);
    let paths: Vec<String> = t.flatten_with_paths().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, vec!["layers.0", "layers.1", "w"]);
    let f = |p: &Tree| {
        let w = p.get("w").unwrap().leaf().unwrap();
        let l0 = p.get("layers.0").unwrap().leaf().unwrap();
        let l1 = p.get("layers.1").unwrap().leaf().unwrap();
        (&(w * l0) * l1).sum_all()
    };
    let (v, g) = value_and_grad_tree(f)(&t);
    assert_eq!(v.item::<f64>(), 24.0);
    assert_eq!(g.get("w").unwrap().leaf().unwrap().item::<f64>(), 12.0);
    assert_eq!(g.get("layers.1").unwrap().leaf().unwrap().item::<f64>(), 6.0);
}

/// A 2-layer tanh MLP's mean squared error.
fn mlp_loss(p: &[Tensor], x: &Tensor, y: &Tensor) -> Tensor {
    let h = (&x.matmul(&p[0]) + &p[1]).tanh();
    let out = &h.matmul(&p[2]) + &p[3];
    (&out - y).square().mean_all()
}

#[test]
fn mlp_trained_with_backward_and_with_value_and_grad_agree() {
    let x = data(&[16, 4], -1.0, 1.0, 7);
    let y = (&x.sum(1, true).sin() + &x.select(1, 0).unsqueeze(1)).mul(0.5);
    let init = || {
        vec![
            data(&[4, 8], -0.5, 0.5, 1),
            data(&[8], -0.1, 0.1, 2),
            data(&[8, 1], -0.5, 0.5, 3),
            data(&[1], -0.1, 0.1, 4),
        ]
    };
    let lr = 0.1;
    // PyTorch style.
    let params: Vec<Tensor> = init().into_iter().map(|p| p.requires_grad_(true).clone()).collect();
    let mut loss_a = 0.0;
    for _ in 0..100 {
        params.iter().for_each(|p| p.zero_grad());
        let l = mlp_loss(&params, &x, &y);
        l.backward_with(BackwardOpts::default());
        loss_a = l.item::<f64>();
        no_grad(|| {
            params.iter().for_each(|p| {
                p.sub_(p.grad().unwrap().mul(lr));
            })
        });
    }
    // MLX style.
    let mut ps = init();
    let vg = value_and_grad(|p: &[Tensor]| mlp_loss(p, &x, &y), &[0, 1, 2, 3]);
    let mut loss_b = 0.0;
    for _ in 0..100 {
        let (l, g) = vg(&ps);
        loss_b = l.item::<f64>();
        ps = ps.iter().zip(&g).map(|(p, g)| p - &g.mul(lr)).collect();
    }
    assert!((loss_a - loss_b).abs() < 1e-6, "{loss_a} vs {loss_b}");
    assert!(loss_a < 0.5 * mlp_loss(&init(), &x, &y).item::<f64>(), "training reduced the loss: {loss_a}");
}

#[test]
fn forward_mode_composes_with_itself_and_with_reverse_mode() {
    use crate::autodiff::{hessian, jacfwd, jacrev, jvp};
    let x = Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]);
    let t = Tensor::from_vec(vec![1.0, 2.0, -1.0], &[3]);
    // d/dx sin(x) . t = cos(x) t
    let (y, jt) = jvp(|x| vec![x[0].sin()], std::slice::from_ref(&x), std::slice::from_ref(&t));
    let want: Vec<f64> = [0.5f64, -1.0, 2.0].iter().zip([1.0, 2.0, -1.0]).map(|(a, b)| a.cos() * b).collect();
    assert_eq!(jt[0].to_vec::<f64>(), want);
    assert!(!y[0].requires_grad());
    // jvp of jvp: second directional derivative of sin is -sin(x) t^2.
    let (_, jj) = jvp(
        |p| vec![jvp(|q| vec![q[0].sin()], p, std::slice::from_ref(&t)).1.remove(0)],
        std::slice::from_ref(&x),
        std::slice::from_ref(&t),
    );
    let want2: Vec<f64> = [0.5f64, -1.0, 2.0].iter().zip([1.0f64, 2.0, -1.0]).map(|(a, b)| -a.sin() * b * b).collect();
    for (g, w) in jj[0].to_vec::<f64>().iter().zip(&want2) {
        assert!((g - w).abs() < 1e-12);
    }
    // grad of a jvp output (reverse over forward).
    let g = grad(|p: &[Tensor]| jvp(|q| vec![q[0].square().sum_all()], p, std::slice::from_ref(&t)).1.remove(0))(
        std::slice::from_ref(&x),
    );
    assert_eq!(g.to_vec::<f64>(), vec![2.0, 4.0, -2.0]);
    // Jacobians both ways and the Hessian of sum(x^3) = diag(6x).
    let f = |p: &[Tensor]| Tensor::stack(&[&p[0].prod_all(), &p[0].exp().sum_all()], 0);
    let (jr, jf) = (jacrev(f)(std::slice::from_ref(&x)), jacfwd(f)(std::slice::from_ref(&x)));
    assert_eq!(jr.shape(), vec![2, 3]);
    for (a, b) in jr.to_vec::<f64>().iter().zip(jf.to_vec::<f64>()) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    assert_eq!(jr.select(0, 0).to_vec::<f64>(), vec![-2.0, 1.0, -0.5]);
    let h = hessian(|p: &[Tensor]| p[0].pow(3.0).sum_all())(std::slice::from_ref(&x));
    assert_eq!(h.to_vec::<f64>(), vec![3.0, 0.0, 0.0, 0.0, -6.0, 0.0, 0.0, 0.0, 12.0]);
    // jvp of vjp: for f = x sin(x) and cotangent u, d/dx [u f'(x)] . t = u t (2 cos x - x sin x).
    let u = Tensor::from_vec(vec![0.3, -0.7, 1.1], &[3]);
    let pullback = |p: &[Tensor]| crate::autodiff::vjp(|q| vec![&q[0].sin() * &q[0]], p, std::slice::from_ref(&u)).1;
    let (_, jv) = jvp(pullback, std::slice::from_ref(&x), std::slice::from_ref(&t));
    let (xv, tv, uv) = (x.to_vec::<f64>(), t.to_vec::<f64>(), u.to_vec::<f64>());
    for (i, g) in jv[0].to_vec::<f64>().iter().enumerate() {
        let w = uv[i] * tv[i] * (2.0 * xv[i].cos() - xv[i] * xv[i].sin());
        assert!((g - w).abs() < 1e-12, "jvp of vjp {i}: {g} vs {w}");
    }
}
