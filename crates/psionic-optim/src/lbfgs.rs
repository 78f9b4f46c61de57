//! L-BFGS with `torch.optim.LBFGS`'s iteration: a two-loop recursion over a bounded
//! history of curvature pairs, a first step scaled by the gradient's size, and either a
//! fixed step or a strong-Wolfe line search (cubic interpolation, bracketing then
//! zooming). It re-evaluates the objective, so `step` takes a closure that zeroes the
//! gradients, computes the loss, calls `backward` and returns the loss.

use psionic_array::autodiff::{enable_grad, no_grad};
use psionic_array::Tensor;

/// LBFGS's settings; `Default` is PyTorch's (`lr=1, max_iter=20, history_size=100`).
#[derive(Clone, Debug)]
pub struct LbfgsOpts {
    pub lr: f64,
    pub max_iter: usize,
    /// Defaults to `max_iter * 5 / 4`.
    pub max_eval: Option<usize>,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
    pub history_size: usize,
    pub strong_wolfe: bool,
    pub maximize: bool,
}

impl Default for LbfgsOpts {
    fn default() -> Self {
        LbfgsOpts {
            lr: 1.0,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            strong_wolfe: false,
            maximize: false,
        }
    }
}

/// The state carried between `step` calls.
#[derive(Default)]
struct History {
    func_evals: usize,
    n_iter: usize,
    d: Option<Tensor>,
    t: f64,
    old_dirs: Vec<Tensor>,
    old_stps: Vec<Tensor>,
    ro: Vec<f64>,
    h_diag: f64,
    prev_flat_grad: Option<Tensor>,
}

pub struct Lbfgs {
    pub params: Vec<Tensor>,
    pub opts: LbfgsOpts,
    state: History,
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.dot(b).to_dtype(psionic_array::DType::F64).item::<f64>()
}

fn abs_max(a: &Tensor) -> f64 {
    a.abs().max_all().to_dtype(psionic_array::DType::F64).item::<f64>()
}

impl Lbfgs {
    pub fn new(params: Vec<Tensor>, opts: LbfgsOpts) -> Lbfgs {
        assert!(opts.lr >= 0.0, "Invalid learning rate: {}", opts.lr);
        Lbfgs { params, opts, state: History { h_diag: 1.0, ..History::default() } }
    }

    /// Objective evaluations so far (PyTorch's `state["func_evals"]`).
    pub fn func_evals(&self) -> usize {
        self.state.func_evals
    }

    fn flat_grad(&self) -> Tensor {
        let views: Vec<Tensor> =
            self.params.iter().map(|p| p.grad().unwrap_or_else(|| p.zeros_like()).detach().reshape(&[-1])).collect();
        let flat = Tensor::cat(&views.iter().collect::<Vec<_>>(), 0);
        if self.opts.maximize {
            flat.neg()
        } else {
            flat
        }
    }

    /// `p += step * update[slice]` for each parameter.
    fn add_grad(&self, step: f64, update: &Tensor) {
        let mut offset = 0;
        for p in &self.params {
            let n = p.numel();
            let u =
                update.narrow(0, offset as i64, n).reshape(&p.shape().iter().map(|&d| d as i64).collect::<Vec<_>>());
            p.add_(u.mul(step));
            offset += n;
        }
    }

    fn loss_of(&self, closure: &mut dyn FnMut() -> Tensor) -> (Tensor, f64) {
        let loss = enable_grad(&mut *closure);
        let v = loss.detach().to_dtype(psionic_array::DType::F64).item::<f64>();
        (loss, if self.opts.maximize { -v } else { v })
    }

    /// Loss and flat gradient at `x + t d`, then the parameters restored to `x`.
    fn directional(&self, closure: &mut dyn FnMut() -> Tensor, x: &[Tensor], t: f64, d: &Tensor) -> (f64, Tensor) {
        self.add_grad(t, d);
        let (_, loss) = self.loss_of(closure);
        let g = self.flat_grad();
        for (p, v) in self.params.iter().zip(x) {
            p.copy_(v);
        }
        (loss, g)
    }

    /// Up to `max_iter` L-BFGS iterations; returns the loss of the first evaluation.
    pub fn step(&mut self, closure: &mut dyn FnMut() -> Tensor) -> Tensor {
        no_grad(|| self.iterate(closure))
    }

    fn iterate(&mut self, closure: &mut dyn FnMut() -> Tensor) -> Tensor {
        let o = self.opts.clone();
        let max_eval = o.max_eval.unwrap_or(o.max_iter * 5 / 4);
        let (orig_loss, mut loss) = self.loss_of(closure);
        let mut current_evals = 1;
        self.state.func_evals += 1;
        let mut flat_grad = self.flat_grad();
        if abs_max(&flat_grad) <= o.tolerance_grad {
            return orig_loss;
        }
        let mut n_iter = 0;
        while n_iter < o.max_iter {
            n_iter += 1;
            self.state.n_iter += 1;
            let s = &mut self.state;
            let d = if s.n_iter == 1 {
                s.old_dirs.clear();
                s.old_stps.clear();
                s.ro.clear();
                s.h_diag = 1.0;
                flat_grad.neg()
            } else {
                let prev = s.prev_flat_grad.as_ref().expect("set after the first iteration");
                let y = flat_grad.sub(prev);
                let step = s.d.as_ref().expect("set after the first iteration").mul(s.t);
                let ys = dot(&y, &step);
                if ys > 1e-10 {
                    if s.old_dirs.len() == o.history_size {
                        s.old_dirs.remove(0);
                        s.old_stps.remove(0);
                        s.ro.remove(0);
                    }
                    s.h_diag = ys / dot(&y, &y);
                    s.old_dirs.push(y);
                    s.old_stps.push(step);
                    s.ro.push(1.0 / ys);
                }
                // The two-loop recursion: q = -g through the history, scaled by H_diag.
                let k = s.old_dirs.len();
                let mut al = vec![0.0; k];
                let mut q = flat_grad.neg();
                for i in (0..k).rev() {
                    al[i] = dot(&s.old_stps[i], &q) * s.ro[i];
                    q = q.sub(s.old_dirs[i].mul(al[i]));
                }
                let mut r = q.mul(s.h_diag);
                for i in 0..k {
                    let be_i = dot(&s.old_dirs[i], &r) * s.ro[i];
                    r = r.add(s.old_stps[i].mul(al[i] - be_i));
                }
                r
            };
            s.prev_flat_grad = Some(flat_grad.deep_clone());
            let prev_loss = loss;
            let t = if s.n_iter == 1 {
                let sum = flat_grad.abs().sum_all().to_dtype(psionic_array::DType::F64).item::<f64>();
                (1.0f64).min(1.0 / sum) * o.lr
            } else {
                o.lr
            };
            let gtd = dot(&flat_grad, &d);
            s.d = Some(d.clone());
            s.t = t;
            if gtd > -o.tolerance_change {
                break;
            }
            let mut t = t;
            let ls_func_evals;
            let opt_cond;
            if o.strong_wolfe {
                let x: Vec<Tensor> = self.params.iter().map(|p| p.detach().deep_clone()).collect();
                let mut eval = |t: f64| self.directional(closure, &x, t, &d);
                let (f, g, t_ls, evals) =
                    strong_wolfe(&mut eval, t, &d, loss, &flat_grad, gtd, o.tolerance_change, max_eval - current_evals);
                (loss, flat_grad, t, ls_func_evals) = (f, g, t_ls, evals);
                self.add_grad(t, &d);
                opt_cond = abs_max(&flat_grad) <= o.tolerance_grad;
            } else {
                self.add_grad(t, &d);
                if n_iter != o.max_iter {
                    loss = self.loss_of(closure).1;
                    flat_grad = self.flat_grad();
                    opt_cond = abs_max(&flat_grad) <= o.tolerance_grad;
                    ls_func_evals = 1;
                } else {
                    opt_cond = false;
                    ls_func_evals = 0;
                }
            }
            self.state.t = t;
            current_evals += ls_func_evals;
            self.state.func_evals += ls_func_evals;
            if n_iter == o.max_iter
                || current_evals >= max_eval
                || opt_cond
                || abs_max(&d.mul(t)) <= o.tolerance_change
                || (loss - prev_loss).abs() < o.tolerance_change
            {
                break;
            }
        }
        orig_loss
    }
}

/// The minimiser of the cubic through `(x1, f1)` and `(x2, f2)` with slopes `g1`, `g2`,
/// clamped to `bounds` (the interval itself by default); the midpoint when the cubic
/// has no real minimiser.
fn cubic_interpolate(x1: f64, f1: f64, g1: f64, x2: f64, f2: f64, g2: f64, bounds: Option<(f64, f64)>) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// A point of the line search: step, loss, gradient, directional derivative.
#[derive(Clone)]
struct Point {
    t: f64,
    f: f64,
    g: Tensor,
    gtd: f64,
}

/// Strong-Wolfe line search along `d` from step `t` (PyTorch's `_strong_wolfe`, with
/// `c1 = 1e-4`, `c2 = 0.9`): returns the loss, gradient and step it settles on, and how
/// many evaluations it made.
fn strong_wolfe(
    eval: &mut dyn FnMut(f64) -> (f64, Tensor),
    mut t: f64,
    d: &Tensor,
    f: f64,
    g: &Tensor,
    gtd: f64,
    tolerance_change: f64,
    max_ls: usize,
) -> (f64, Tensor, f64, usize) {
    let (c1, c2) = (1e-4, 0.9);
    let d_norm = abs_max(d);
    let (mut f_new, mut g_new) = eval(t);
    let mut evals = 1;
    let mut gtd_new = dot(&g_new, d);
    let mut prev = Point { t: 0.0, f, g: g.clone(), gtd };
    let mut done = false;
    let mut ls_iter = 0;
    let mut bracket: Vec<Point> = vec![];
    while ls_iter < max_ls {
        let here = Point { t, f: f_new, g: g_new.clone(), gtd: gtd_new };
        if f_new > f + c1 * t * gtd || (ls_iter > 1 && f_new >= prev.f) {
            bracket = vec![prev.clone(), here];
            break;
        }
        if gtd_new.abs() <= -c2 * gtd {
            bracket = vec![here];
            done = true;
            break;
        }
        if gtd_new >= 0.0 {
            bracket = vec![prev.clone(), here];
            break;
        }
        let (min_step, max_step) = (t + 0.01 * (t - prev.t), t * 10.0);
        let next = cubic_interpolate(prev.t, prev.f, prev.gtd, t, f_new, gtd_new, Some((min_step, max_step)));
        prev = here;
        t = next;
        (f_new, g_new) = eval(t);
        evals += 1;
        gtd_new = dot(&g_new, d);
        ls_iter += 1;
    }
    if ls_iter == max_ls {
        bracket = vec![Point { t: 0.0, f, g: g.clone(), gtd }, Point { t, f: f_new, g: g_new.clone(), gtd: gtd_new }];
    }
    // Zoom: shrink the bracket until the strong Wolfe conditions hold.
    let order = |b: &[Point]| if b[0].f <= b[b.len() - 1].f { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket);
    let mut insuf_progress = false;
    while !done && ls_iter < max_ls {
        if (bracket[1].t - bracket[0].t).abs() * d_norm < tolerance_change {
            break;
        }
        t = cubic_interpolate(
            bracket[0].t,
            bracket[0].f,
            bracket[0].gtd,
            bracket[1].t,
            bracket[1].f,
            bracket[1].gtd,
            None,
        );
        let (bmax, bmin) = (bracket[0].t.max(bracket[1].t), bracket[0].t.min(bracket[1].t));
        let eps = 0.1 * (bmax - bmin);
        if (bmax - t).min(t - bmin) < eps {
            if insuf_progress || t >= bmax || t <= bmin {
                t = if (t - bmax).abs() < (t - bmin).abs() { bmax - eps } else { bmin + eps };
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        (f_new, g_new) = eval(t);
        evals += 1;
        gtd_new = dot(&g_new, d);
        ls_iter += 1;
        let here = Point { t, f: f_new, g: g_new.clone(), gtd: gtd_new };
        if f_new > f + c1 * t * gtd || f_new >= bracket[low].f {
            bracket[high] = here;
            (low, high) = order(&bracket);
        } else {
            if gtd_new.abs() <= -c2 * gtd {
                done = true;
            } else if gtd_new * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = here;
        }
    }
    let best = bracket.swap_remove(low);
    (best.f, best.g, best.t, evals)
}
