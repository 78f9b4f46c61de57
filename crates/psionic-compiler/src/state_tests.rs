//! Steps with implicit state: compiled, they move their state exactly as the uncompiled
//! step does, trace again only when the state or a guard changes, and refuse what they
//! cannot replay faithfully.

use crate::compile;
use psionic_array::autodiff::no_grad;
use psionic_array::{fallible, Tensor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i as u64 * 2654435761 + seed * 97) % 1000) as f32 / 500.0 - 1.0).collect();
    Tensor::from_vec(v, shape)
}

/// A linear model trained by SGD with momentum, written as a PyTorch loop body: its
/// weight (a leaf that requires grad) and its momentum buffer, created on the first
/// step, are state the step reads without being passed.
struct Sgd {
    w: Tensor,
    buf: Arc<Mutex<Option<Tensor>>>,
    lr: Arc<AtomicU64>,
}

impl Sgd {
    fn new() -> Sgd {
        let w = data(&[6, 3], 1);
        w.requires_grad_(true);
        Sgd { w, buf: Arc::new(Mutex::new(None)), lr: Arc::new(AtomicU64::new(0.1f64.to_bits())) }
    }

    fn step(&self) -> impl Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync + 'static {
        let (w, buf, lr) = (self.w.clone(), self.buf.clone(), self.lr.clone());
        move |xy: &[Tensor]| {
            let err = &xy[0].matmul(&w) - &xy[1];
            let loss = (&err * &err).mean_all();
            loss.backward();
            no_grad(|| {
                let g = w.grad().expect("backward reached the weight");
                let mut b = buf.lock().unwrap();
                let m = match b.take() {
                    None => g.clone(),
                    Some(m) => &(&m * 0.9) + &g,
                };
                let lr = f64::from_bits(lr.load(Ordering::Relaxed));
                w.copy_(&(&w.detach() - &(&m * lr)));
                *b = Some(m);
            });
            w.zero_grad();
            vec![loss.detach()]
        }
    }

    fn state(&self) -> impl Fn() -> Vec<Tensor> + Send + Sync + 'static {
        let (w, buf) = (self.w.clone(), self.buf.clone());
        move || [w.clone()].into_iter().chain(buf.lock().unwrap().clone()).collect()
    }
}

fn batch(k: u64) -> [Tensor; 2] {
    [data(&[8, 6], 10 + k), data(&[8, 3], 20 + k)]
}

#[test]
fn a_compiled_step_moves_its_state_as_the_eager_step_does() {
    let (eager, comp) = (Sgd::new(), Sgd::new());
    let step = eager.step();
    let compiled = compile(comp.step()).with_state(comp.state());
    for k in 0..6 {
        let (want, got) = (step(&batch(k)), compiled.call(&batch(k)));
        assert_eq!(got[0].to_vec::<f32>(), want[0].to_vec::<f32>(), "loss at step {k}");
        assert_eq!(comp.w.to_vec::<f32>(), eager.w.to_vec::<f32>(), "weight after step {k}");
        let (bc, be) = (comp.buf.lock().unwrap().clone().unwrap(), eager.buf.lock().unwrap().clone().unwrap());
        assert_eq!(bc.to_vec::<f32>(), be.to_vec::<f32>(), "momentum after step {k}");
    }
    // The first call creates the momentum buffer, so the second sees new state: two
    // traces, then replays.
    assert_eq!(compiled.traces(), 2);
    // The weight is still the same leaf: it requires grad, has no grad left, and
    // gradients still reach it outside the compiled step.
    assert!(comp.w.requires_grad() && comp.w.is_leaf() && comp.w.grad().is_none());
    comp.w.sum_all().backward();
    assert_eq!(comp.w.grad().unwrap().to_vec::<f32>(), vec![1.0; 18]);
}

#[test]
fn a_shapeless_step_serves_a_short_last_batch() {
    // Epochs whose last batch is short: the step's mean divides by the batch size, a
    // constant of each trace, so the short batch gets a program of its own (never one
    // with the full batch's divisor) and later batches of either size replay theirs.
    let (eager, comp) = (Sgd::new(), Sgd::new());
    let step = eager.step();
    let compiled = compile(comp.step()).with_state(comp.state()).shapeless(true);
    for k in 0..8u64 {
        let n = if k % 4 == 3 { 5 } else { 8 };
        let b = [data(&[n, 6], 10 + k), data(&[n, 3], 20 + k)];
        let (want, got) = (step(&b), compiled.call(&b));
        assert_eq!(got[0].to_vec::<f32>(), want[0].to_vec::<f32>(), "loss at step {k}");
        assert_eq!(comp.w.to_vec::<f32>(), eager.w.to_vec::<f32>(), "weight after step {k}");
    }
    // Traces: the first step (it creates the momentum), then one per batch size.
    assert_eq!(compiled.traces(), 3);
    assert_eq!(compiled.programs(), 3);
}

#[test]
fn gradients_left_in_the_state_are_state_too() {
    // Without zero_grad the step accumulates into `.grad` across calls, as eager does.
    let run = |compiled: bool| {
        let w = data(&[4], 3);
        w.requires_grad_(true);
        let wc = w.clone();
        let step = move |x: &[Tensor]| {
            (&x[0] * &wc).sum_all().backward();
            vec![]
        };
        let ws = w.clone();
        let f = compile(step).with_state(move || vec![ws.clone()]);
        for k in 0..4 {
            let x = data(&[4], 30 + k);
            if compiled {
                f.call(&[x]);
            } else {
                (&x * &w).sum_all().backward();
            }
        }
        (w.grad().unwrap().to_vec::<f32>(), f.traces())
    };
    let ((want, _), (got, traces)) = (run(false), run(true));
    assert_eq!(got, want);
    // No grad before the first call, one after: two traces.
    assert_eq!(traces, 2);
}

#[test]
fn a_guard_traces_again_when_a_host_value_changes() {
    let (eager, comp) = (Sgd::new(), Sgd::new());
    let step = eager.step();
    let lr = comp.lr.clone();
    let compiled = compile(comp.step()).with_state(comp.state()).guard(move || vec![lr.load(Ordering::Relaxed)]);
    for k in 0..6 {
        // A schedule: the rate is read on the host, baked into the trace, and guarded.
        let rate = (0.1 / (1 + k / 2) as f64).to_bits();
        eager.lr.store(rate, Ordering::Relaxed);
        comp.lr.store(rate, Ordering::Relaxed);
        let (want, got) = (step(&batch(k)), compiled.call(&batch(k)));
        assert_eq!(got[0].to_vec::<f32>(), want[0].to_vec::<f32>(), "loss at step {k}");
        assert_eq!(comp.w.to_vec::<f32>(), eager.w.to_vec::<f32>(), "weight after step {k}");
    }
    // Rates 0.1, 0.1, 0.05, 0.05, 0.0333, 0.0333 with the buffer appearing after the
    // first call: traces at calls 1, 2, 3 and 5.
    assert_eq!(compiled.traces(), 4);
}

#[test]
fn state_that_is_a_view_is_refused_and_the_state_is_left_as_it_was() {
    let base = data(&[4], 5);
    let view = base.narrow(0, 0, 2);
    let v = view.clone();
    let f = compile(|_: &[Tensor]| vec![]).with_state(move || vec![v.clone()]);
    let err = fallible(|| f.call(&[])).unwrap_err();
    assert!(err.to_string().contains("view"), "{err}");
    assert_eq!(base.to_vec::<f32>(), data(&[4], 5).to_vec::<f32>());
}

#[test]
fn a_failing_trace_puts_the_state_back() {
    let w = data(&[3], 7);
    let (wf, ws) = (w.clone(), w.clone());
    let f = compile(move |x: &[Tensor]| vec![&x[0].matmul(&wf) + 1.0]).with_state(move || vec![ws.clone()]);
    assert!(fallible(|| f.call(&[data(&[2, 2], 1)])).is_err());
    assert_eq!(w.to_vec::<f32>(), data(&[3], 7).to_vec::<f32>());
}

#[test]
fn state_reset_between_calls_traces_afresh() {
    // The first trace creates the momentum buffer, so its plan is not kept: after the
    // buffer is dropped again, the next call traces rather than replaying a plan that
    // expects to write one more state tensor than the state lists.
    let (eager, comp) = (Sgd::new(), Sgd::new());
    let step = eager.step();
    let compiled = compile(comp.step()).with_state(comp.state());
    for k in 0..6 {
        if k == 3 {
            *eager.buf.lock().unwrap() = None;
            *comp.buf.lock().unwrap() = None;
        }
        let (want, got) = (step(&batch(k)), compiled.call(&batch(k)));
        assert_eq!(got[0].to_vec::<f32>(), want[0].to_vec::<f32>(), "loss at step {k}");
        assert_eq!(comp.w.to_vec::<f32>(), eager.w.to_vec::<f32>(), "weight after step {k}");
    }
    // Calls 0 and 3 create the buffer (traced, not kept); call 1 traces and is kept.
    assert_eq!(compiled.traces(), 3);
}

#[test]
fn a_functional_step_with_value_and_grad_compiles_with_its_state() {
    // MLX's style: gradients from value_and_grad over the parameters, the update written
    // back by hand; the parameter is state the step reads without being passed.
    use psionic_array::autodiff::value_and_grad;
    let run = |compiled: bool| {
        let w = data(&[6, 3], 2);
        let wc = w.clone();
        let step = move |xy: &[Tensor]| {
            let (x, y) = (xy[0].clone(), xy[1].clone());
            let loss = move |p: &[Tensor]| {
                let err = &x.matmul(&p[0]) - &y;
                (&err * &err).mean_all()
            };
            let (l, g) = value_and_grad(loss, &[0])(std::slice::from_ref(&wc));
            no_grad(|| wc.copy_(&(&wc - &(&g[0] * 0.1))));
            vec![l]
        };
        let ws = w.clone();
        let f = compile(step.clone()).with_state(move || vec![ws.clone()]);
        let losses: Vec<Vec<f32>> =
            (0..4).map(|k| if compiled { f.call(&batch(k)) } else { step(&batch(k)) }[0].to_vec::<f32>()).collect();
        (losses, w.to_vec::<f32>(), f.traces())
    };
    let ((want, w_want, _), (got, w_got, traces)) = (run(false), run(true));
    assert_eq!((got, w_got), (want, w_want));
    assert_eq!(traces, 1);
}
