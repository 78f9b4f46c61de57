//! Functions with their own rules (`mx.custom_function`, `jax.custom_vjp`/`custom_jvp`,
//! `torch.autograd.Function`) and `checkpoint`, which is such a function whose vjp
//! recomputes its forward pass.
//!
//! A call runs the forward once and builds one `Prim::Custom` node, whose inputs are the
//! arguments, the tensors the forward read that carry gradients without being arguments
//! ("captured": a layer's weights), and the outputs' values. Several outputs are packed
//! into that one node (flattened, concatenated) and handed out as views of it, so a
//! backward pass calls the vjp rule once per call with every output's cotangent, as MLX
//! does, however the outputs are used afterwards. The node's rules
//! (vjp, jvp, batching) are the function's own, or defaults derived from the forward:
//! vjp by recomputing it (so only the arguments, captured tensors and outputs stay
//! alive between forward and backward), jvp by pushing tangents through it, and vmap by
//! a loop over the batch, which is the one loop fallback `vmap` has and is reported.

use super::backward::{edges, run, Opts};
use super::functional::trace_input;
use super::mode::{is_grad_enabled, GradModeGuard, TransformLevel};
use super::{forward, no_grad, vmap};
use crate::mode::{check, lazy};
use crate::node::Node;
use crate::ops::args::dims_i64;
use crate::prim::{broadcast, Custom, CustomRules, Prim};
use crate::tensor::{leaf_alias, Tensor};
use psionic_core::{numel, promote_types, DType, Error, Result};
use std::sync::Arc;

type Forward = dyn Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync;
/// `(primals, cotangents, outputs) -> gradient per primal` (MLX's argument order).
type VjpRule = dyn Fn(&[Tensor], &[Tensor], &[Tensor]) -> Vec<Option<Tensor>> + Send + Sync;
/// `(primals, tangents) -> tangent per output`.
type JvpRule = dyn Fn(&[Tensor], &[Tensor]) -> Vec<Tensor> + Send + Sync;
/// `(inputs, axes) -> (outputs, output axes)`: `axes[i]` is the batch axis of input `i`
/// (`None`: not batched).
type VmapRule = dyn Fn(&[Tensor], &[Option<usize>]) -> (Vec<Tensor>, Vec<Option<usize>>) + Send + Sync;

#[derive(Clone)]
enum Batching {
    /// One call per example, reported by `vmap_fallbacks`.
    Loop,
    Rule(Arc<VmapRule>),
    /// `checkpoint`: a checkpointed call of the vmapped forward.
    Forward,
}

/// The function and its rules, shared by every node a call of it builds.
#[derive(Clone)]
pub struct CustomOp {
    name: String,
    forward: Arc<Forward>,
    vjp: Option<Arc<VjpRule>>,
    jvp: Option<Arc<JvpRule>>,
    batching: Batching,
}

impl PartialEq for CustomOp {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl std::fmt::Debug for CustomOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomOp({})", self.name)
    }
}

impl CustomOp {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One call of a custom function: its rules, how its node's inputs divide (arguments,
/// captured tensors, then the one packed value), and the shape and dtype of each output.
#[derive(Debug)]
pub struct CustomCall {
    op: Arc<CustomOp>,
    n_args: usize,
    n_captured: usize,
    outs: Vec<(Vec<usize>, DType)>,
    /// The packed value's dtype: the outputs' promoted float type, or f64 when some
    /// output is not float (exact for integers up to 2^53 and for bools).
    packed: DType,
}

impl CustomRules for CustomCall {
    fn name(&self) -> &str {
        &self.op.name
    }
    fn vjp(&self, x: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        vjp(self, x, y, g)
    }
    fn jvp(&self, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Tensor> {
        jvp(self, x, t)
    }
    fn batch(&self, x: &[Tensor], b: &[Option<Tensor>], size: usize) -> Result<Tensor> {
        batch(self, x, b, size)
    }
}

impl CustomCall {
    fn new(op: Arc<CustomOp>, n_args: usize, n_captured: usize, outs: &[Tensor]) -> Self {
        let packed = if outs.iter().all(|o| o.dtype().is_float()) {
            outs.iter().map(Tensor::dtype).reduce(promote_types).expect("at least one output")
        } else {
            DType::F64
        };
        CustomCall { op, n_args, n_captured, outs: outs.iter().map(|o| (o.shape(), o.dtype())).collect(), packed }
    }

    /// The node's value for these outputs (each with `lead` leading batch dims): the one
    /// output itself, or all of them flattened and concatenated.
    fn pack(&self, outs: &[Tensor], lead: &[usize]) -> Tensor {
        if self.outs.len() == 1 {
            return outs[0].clone();
        }
        let dims: Vec<i64> = lead.iter().map(|&d| d as i64).collect();
        let flat: Vec<Tensor> = outs
            .iter()
            .zip(&self.outs)
            .map(|(o, (shape, _))| {
                let mut s = dims.clone();
                s.push(numel(shape) as i64);
                o.reshape(&s).to_dtype(self.packed)
            })
            .collect();
        Tensor::cat(&flat.iter().collect::<Vec<_>>(), lead.len() as i64)
    }

    /// The outputs as views of the node's value `v` (the inverse of `pack`).
    fn unpack(&self, v: &Tensor) -> Vec<Tensor> {
        if self.outs.len() == 1 {
            return vec![v.clone()];
        }
        let mut start = 0i64;
        self.outs
            .iter()
            .map(|(shape, dtype)| {
                let n = numel(shape);
                let piece = v.narrow(0, start, n).reshape(&dims_i64(shape));
                start += n as i64;
                piece.to_dtype(*dtype)
            })
            .collect()
    }
}

/// A function with custom derivative and batching rules (MLX's `mx.custom_function`).
///
/// ```
/// use psionic_array::{autodiff::{grad, CustomFunction}, Tensor};
/// // exp whose gradient is clipped to at most 1.
/// let f = CustomFunction::new("clipped_exp", |x: &[Tensor]| vec![x[0].exp()])
///     .with_vjp(|_x: &[Tensor], ct: &[Tensor], out: &[Tensor]| vec![Some((&ct[0] * &out[0]).clamp(None::<f64>, Some(1.0)))]);
/// let g = grad(move |x: &[Tensor]| f.call(x).remove(0).sum_all());
/// let x = Tensor::from_vec(vec![-1.0f64, 2.0], &[2]);
/// let got = g(&[x]).to_vec::<f64>();
/// assert!((got[0] - (-1.0f64).exp()).abs() < 1e-12 && got[1] == 1.0);
/// ```
#[derive(Clone)]
pub struct CustomFunction {
    op: Arc<CustomOp>,
}

impl CustomFunction {
    /// `forward` maps the arguments to one or more outputs.
    pub fn new(name: impl Into<String>, forward: impl Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync + 'static) -> Self {
        let op =
            CustomOp { name: name.into(), forward: Arc::new(forward), vjp: None, jvp: None, batching: Batching::Loop };
        CustomFunction { op: Arc::new(op) }
    }

    fn with(&self, edit: impl FnOnce(&mut CustomOp)) -> Self {
        let mut op = (*self.op).clone();
        edit(&mut op);
        CustomFunction { op: Arc::new(op) }
    }

    /// The vjp: `rule(primals, cotangents, outputs)` returns one gradient per primal
    /// (`None`: no gradient). Without one, the vjp differentiates the forward.
    pub fn with_vjp(
        self,
        rule: impl Fn(&[Tensor], &[Tensor], &[Tensor]) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    ) -> Self {
        self.with(|op| op.vjp = Some(Arc::new(rule)))
    }

    /// The jvp: `rule(primals, tangents)` returns one tangent per output. Without one,
    /// tangents are pushed through the forward.
    pub fn with_jvp(self, rule: impl Fn(&[Tensor], &[Tensor]) -> Vec<Tensor> + Send + Sync + 'static) -> Self {
        self.with(|op| op.jvp = Some(Arc::new(rule)))
    }

    /// The batching rule: `rule(inputs, axes)` gets each input with its batch axis
    /// (`None`: unbatched) and returns the batched outputs with theirs. Without one,
    /// `vmap` calls the function once per example and reports it (`vmap_fallbacks`).
    pub fn with_vmap(
        self,
        rule: impl Fn(&[Tensor], &[Option<usize>]) -> (Vec<Tensor>, Vec<Option<usize>>) + Send + Sync + 'static,
    ) -> Self {
        self.with(|op| op.batching = Batching::Rule(Arc::new(rule)))
    }

    /// A function whose vjp recomputes `forward` (see [`checkpoint`]).
    pub fn checkpointed(forward: impl Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync + 'static) -> Self {
        Self::new("checkpoint", forward).with(|op| op.batching = Batching::Forward)
    }

    /// Calls the function; its outputs carry this function's rules.
    #[track_caller]
    pub fn call(&self, args: &[Tensor]) -> Vec<Tensor> {
        let op = &self.op;
        let batched = args.iter().any(|a| vmap::is_batched(&a.node()));
        // Inside vmap the forward only needs shapes: built lazily with vmap hidden, never
        // evaluated; the outputs' batched values come from the batching rule.
        let discover = op.vjp.is_none() && !batched && is_grad_enabled();
        let start = Node::next_seq();
        let outs = forward::suspended(|| {
            if batched {
                vmap::suspended(|| lazy(|| no_grad(|| (op.forward)(args))))
            } else if discover {
                (op.forward)(args)
            } else {
                no_grad(|| (op.forward)(args))
            }
        });
        if outs.is_empty() {
            crate::mode::raise(Error::invalid("custom function", format!("'{}' returned no outputs", op.name)));
        }
        let captured = if discover { captured(args, &outs, start) } else { vec![] };
        // Keep the values, drop the graph recorded while looking for captured tensors.
        let outs: Vec<Tensor> = if discover { outs.iter().map(Tensor::detach).collect() } else { outs };
        let call = Arc::new(CustomCall::new(op.clone(), args.len(), captured.len(), &outs));
        // Packed where the forward ran (lazily and unbatched inside vmap), unrecorded.
        let pack = || no_grad(|| call.pack(&outs, &[]));
        let value = forward::suspended(|| if batched { vmap::suspended(|| lazy(pack)) } else { pack() });
        let inputs: Vec<&Tensor> = args.iter().chain(&captured).chain([&value]).collect();
        let node = check(Tensor::make(Prim::Custom(Custom(call.clone())), &inputs));
        call.unpack(&node)
    }
}

/// `mx.checkpoint(f)` / `torch.utils.checkpoint`: `f` whose intermediate values are not
/// kept for backward but recomputed there. Gradients reach the arguments and any tensor
/// requiring grad that `f` reads (captured weights), as without checkpointing.
pub fn checkpoint<F>(f: F) -> impl Fn(&[Tensor]) -> Vec<Tensor> + Clone + Send + Sync
where
    F: Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync + 'static,
{
    let c = CustomFunction::checkpointed(f);
    move |xs: &[Tensor]| c.call(xs)
}

/// The values requiring grad that the forward's recorded graph reaches and that existed
/// before the call (built before `start`), other than the arguments: read by the
/// forward without being passed to it.
fn captured(args: &[Tensor], outs: &[Tensor], start: u64) -> Vec<Tensor> {
    let arg_nodes: Vec<Arc<Node>> = args.iter().map(Tensor::node).collect();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<Arc<Node>> = outs.iter().rev().map(Tensor::node).filter(|n| n.requires_grad()).collect();
    let mut found = vec![];
    while let Some(n) = stack.pop() {
        if !seen.insert(Arc::as_ptr(&n) as usize) {
            continue;
        }
        if n.seq < start {
            if !arg_nodes.iter().any(|a| Arc::ptr_eq(a, &n)) {
                found.push(Tensor::from_node(n));
            }
            continue;
        }
        // Just recorded, so never freed: an error here cannot happen.
        let es = edges(&n).unwrap_or_default();
        stack.extend(es.into_iter().rev().filter(|e| e.requires_grad()));
    }
    found
}

/// Gradients for a `Custom` node with cotangent `g` (of its packed value): arguments,
/// then captured tensors, then `None` for the value. The rule runs once, with every
/// output's cotangent.
fn vjp(call: &CustomCall, x: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let op = &call.op;
    let (args, rest) = x.split_at(call.n_args);
    let captured = &rest[..call.n_captured];
    // The rule sees the node's own outputs, not the value it was built from: they are
    // batched inside vmap, and under create_graph they carry this function's derivative,
    // so a rule that uses them differentiates again.
    let outs = call.unpack(y);
    let cots = call.unpack(g);
    let mut grads = match &op.vjp {
        Some(rule) => {
            let gs = rule(args, &cots, &outs);
            check_rule_output(op, "vjp", args, &gs)?;
            gs.into_iter().zip(args).map(|(g, a)| g.map(|g| g.to_dtype(a.dtype()))).collect()
        }
        None => recompute_vjp(op, args, captured, &cots)?,
    };
    grads.resize(x.len(), None);
    Ok(grads)
}

fn check_rule_output(op: &CustomOp, what: &str, want: &[Tensor], got: &[Option<Tensor>]) -> Result<()> {
    if got.len() != want.len() {
        return Err(Error::invalid(
            "custom function",
            format!("the {what} rule of '{}' returned {} values for {} inputs", op.name, got.len(), want.len()),
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if let Some(g) = g {
            if g.shape() != w.shape() {
                return Err(Error::shape(
                    "custom function",
                    format!(
                        "the {what} rule of '{}' returned shape {:?} for input {i} of shape {:?}",
                        op.name,
                        g.shape(),
                        w.shape()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The vjp of the forward, recomputed: runs it again with recording on and walks back
/// to the arguments and captured tensors. Under `create_graph` (grad mode on here) the
/// recomputation stays connected, so gradients of gradients work.
fn recompute_vjp(op: &CustomOp, args: &[Tensor], captured: &[Tensor], cots: &[Tensor]) -> Result<Vec<Option<Tensor>>> {
    vjp_of(&*op.forward, &op.name, args, captured, cots)
}

/// The gradients of `args` (its float ones) and of `captured` (tensors `f` reads that
/// carry gradients without being passed them) for cotangents `cots` of `f`'s outputs, by
/// running `f` again on traced copies of `args`: `checkpoint`'s backward, and the
/// composite of a fused kernel. Recorded when grad mode is on (under `create_graph`), so
/// the gradients differentiate again.
pub(crate) fn vjp_of(
    f: &dyn Fn(&[Tensor]) -> Vec<Tensor>,
    name: &str,
    args: &[Tensor],
    captured: &[Tensor],
    cots: &[Tensor],
) -> Result<Vec<Option<Tensor>>> {
    let create = is_grad_enabled();
    let _level = TransformLevel::enter();
    let _mode = GradModeGuard::new(true);
    let traced: Vec<Tensor> = args
        .iter()
        .map(|a| match (a.dtype().is_float(), create) {
            (false, _) => a.clone(),
            (true, true) => trace_input(a),
            (true, false) => Tensor::from_node(check(leaf_alias(&a.node(), super::record::new_slot()))),
        })
        .collect();
    let outs = f(&traced);
    if outs.len() != cots.len() {
        return Err(Error::invalid(
            "checkpoint",
            format!("'{name}' returned {} outputs when recomputed, {} the first time", outs.len(), cots.len()),
        ));
    }
    let roots: Vec<_> = outs
        .iter()
        .zip(cots)
        .filter(|(o, _)| o.requires_grad())
        .map(|(o, c)| (o.node(), c.to_dtype(o.dtype())))
        .collect();
    let targets: Vec<Arc<Node>> = traced.iter().chain(captured).map(Tensor::node).collect();
    if roots.is_empty() {
        return Ok(vec![None; targets.len()]);
    }
    run(roots, Some(&targets), &Opts { retain_graph: create, create_graph: create })
}

/// The tangent of a `Custom` node's packed value: the function's jvp rule, or tangents
/// pushed through the forward. Tangents of captured tensors have no rule to go through,
/// so they are refused.
fn jvp(call: &CustomCall, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Tensor> {
    let (op, n_args, n_captured) = (&call.op, call.n_args, call.n_captured);
    if t[n_args..n_args + n_captured].iter().any(Option::is_some) {
        return Err(Error::invalid(
            "jvp",
            format!(
                "'{}' reads a tensor with a tangent that is not one of its arguments; pass it as an argument",
                op.name
            ),
        ));
    }
    let args = &x[..n_args];
    let ts: Vec<Tensor> = (0..n_args).map(|i| t[i].clone().unwrap_or_else(|| args[i].zeros_like())).collect();
    let outs = match &op.jvp {
        Some(rule) => rule(args, &ts),
        None => forward::jvp(|a| (op.forward)(a), args, &ts).1,
    };
    let want = call.unpack(&x[n_args + n_captured]);
    check_rule_output(op, "jvp", &want, &outs.iter().cloned().map(Some).collect::<Vec<_>>())?;
    let outs: Vec<Tensor> = outs.iter().zip(&want).map(|(o, w)| o.to_dtype(w.dtype())).collect();
    Ok(call.pack(&outs, &[]))
}

/// The batched packed value of a `Custom` node (batch in dim 0), from the function's
/// vmap rule, a checkpointed call of the vmapped forward, or the reported loop.
fn batch(call: &CustomCall, x: &[Tensor], b: &[Option<Tensor>], size: usize) -> Result<Tensor> {
    let (op, n_args, n_captured) = (&call.op, call.n_args, call.n_captured);
    let value_at = n_args + n_captured;
    let broadcast = |t: &Tensor| broadcast(t, size);
    if b[..value_at].iter().all(Option::is_none) {
        // The forward read batched values it was not given: it ran batched already.
        return Ok(b[value_at].clone().unwrap_or_else(|| broadcast(&x[value_at])));
    }
    if b[n_args..value_at].iter().any(Option::is_some) {
        return Err(Error::invalid(
            "vmap",
            format!("'{}' reads a batched tensor that is not one of its arguments; pass it as an argument", op.name),
        ));
    }
    let ins: Vec<Tensor> = (0..n_args).map(|i| b[i].clone().unwrap_or_else(|| x[i].clone())).collect();
    let axes: Vec<Option<usize>> = (0..n_args).map(|i| b[i].as_ref().map(|_| 0)).collect();
    let outs: Vec<Tensor> = match &op.batching {
        Batching::Rule(rule) => {
            let (outs, out_axes) = rule(&ins, &axes);
            if outs.len() != call.outs.len() || out_axes.len() != outs.len() {
                return Err(Error::invalid(
                    "vmap",
                    format!(
                        "the vmap rule of '{}' returned {} outputs and {} axes for a function of {} outputs",
                        op.name,
                        outs.len(),
                        out_axes.len(),
                        call.outs.len()
                    ),
                ));
            }
            outs.iter()
                .zip(out_axes)
                .map(|(o, a)| match a {
                    Some(a) => o.movedim(&[a as i64], &[0]),
                    None => broadcast(o),
                })
                .collect()
        }
        Batching::Forward => {
            let fwd = op.forward.clone();
            let in_axes: Vec<Option<i64>> = axes.iter().map(|a| a.map(|a| a as i64)).collect();
            let batched = CustomFunction::checkpointed(move |a: &[Tensor]| {
                let f = fwd.clone();
                vmap::vmap(move |x: &[Tensor]| f(x), &in_axes, &[Some(0)])(a)
            });
            batched.call(&ins)
        }
        Batching::Loop => {
            vmap::report_fallback(&op.name);
            if size == 0 {
                let mut s = vec![0];
                s.extend(x[value_at].shape());
                return Ok(Tensor::zeros(&s, x[value_at].dtype()));
            }
            let f = CustomFunction { op: op.clone() };
            let per: Vec<Tensor> = (0..size as i64)
                .map(|k| {
                    let ins_k: Vec<Tensor> = (0..n_args)
                        .map(|i| if axes[i].is_some() { ins[i].select(0, k) } else { ins[i].clone() })
                        .collect();
                    call.pack(&f.call(&ins_k), &[])
                })
                .collect();
            return Ok(Tensor::stack(&per.iter().collect::<Vec<_>>(), 0));
        }
    };
    Ok(call.pack(&outs, &[size]))
}
