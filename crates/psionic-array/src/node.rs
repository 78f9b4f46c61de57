//! Graph nodes and their evaluation.

use crate::backend::{self, Buffer};
use crate::prim::{Meta, Prim};
use crate::slot::{GradSlot, SavedVersion};
use psionic_core::{Device, Result};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One value in the graph: a primitive applied to input nodes. Immutable once built except
/// for `data`, filled exactly once by evaluation, `inputs`, dropped after evaluation, and
/// the autograd record in `ad`.
pub struct Node {
    pub prim: Prim,
    pub inputs: Mutex<Inputs>,
    pub meta: Meta,
    pub device: Device,
    pub data: OnceLock<Buffer>,
    pub(crate) ad: Autograd,
    /// Creation order: tells the nodes a call built from those that existed before it
    /// (what `checkpoint` reads without being passed it).
    pub(crate) seq: u64,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

// Nodes built on this thread, for tests that count what an operation builds: `SEQ` is
// shared with every test running beside them.
#[cfg(test)]
thread_local! {
    static MADE_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn next_seq_taken() -> u64 {
    #[cfg(test)]
    MADE_HERE.with(|c| c.set(c.get() + 1));
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// A node's inputs: up to three inline (every elementwise op), so building an eager op's
/// node allocates only the node.
pub type Inputs = SmallVec<[Arc<Node>; 3]>;

/// What backward needs from a node. Only nodes built while recording (grad mode on and an
/// input requiring grad) keep `edges`, so everything else holds no inputs once evaluated.
#[derive(Default)]
pub(crate) struct Autograd {
    /// Built while recording: this node has a backward rule and `edges`.
    pub recorded: bool,
    /// The inputs backward reads, kept from recording until the graph is freed (`None`
    /// afterwards, so a second backward is refused rather than silently wrong).
    pub edges: Mutex<Option<Inputs>>,
    /// Where gradients land and which hooks run: a leaf's `.grad`, or a non-leaf's
    /// `retain_grad`/`register_hook`. A node with a slot and no record is a leaf.
    pub slot: OnceLock<Arc<GradSlot>>,
    /// Version counters of the tensors whose values the backward rule reads, as they
    /// were when saved; backward refuses if one moved (PyTorch's in-place check).
    pub saved: Mutex<Vec<SavedVersion>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Node({:?}, {:?}, {})",
            self.prim,
            self.meta,
            if self.data.get().is_some() { "evaluated" } else { "pending" }
        )
    }
}

impl Node {
    /// A leaf holding `data`, already on `device`, laid out as `meta`.
    pub fn stored(data: Buffer, meta: Meta, device: Device) -> Arc<Node> {
        let n = Node {
            prim: Prim::Const(crate::prim::Const),
            inputs: Mutex::new(Inputs::new()),
            meta,
            device,
            data: OnceLock::new(),
            ad: Autograd::default(),
            seq: next_seq_taken(),
        };
        let _ = n.data.set(data);
        Arc::new(n)
    }

    pub fn new(prim: Prim, inputs: Inputs, meta: Meta, device: Device, record: bool) -> Arc<Node> {
        let ad = Autograd { recorded: record, edges: Mutex::new(record.then(|| inputs.clone())), ..Default::default() };
        let seq = next_seq_taken();
        Arc::new(Node { prim, inputs: Mutex::new(inputs), meta, device, data: OnceLock::new(), ad, seq })
    }

    /// The `seq` the next node will get (at least).
    pub(crate) fn next_seq() -> u64 {
        SEQ.load(Ordering::Relaxed)
    }

    /// How many nodes this thread has built so far.
    #[cfg(test)]
    pub(crate) fn made_on_this_thread() -> u64 {
        MADE_HERE.with(|c| c.get())
    }

    /// True when gradients flow through this node: recorded, or a leaf that requires grad.
    pub fn requires_grad(&self) -> bool {
        self.ad.recorded || self.ad.slot.get().is_some()
    }

    /// A leaf that requires grad (PyTorch: `requires_grad and is_leaf`).
    pub fn is_grad_leaf(&self) -> bool {
        !self.ad.recorded && self.ad.slot.get().is_some()
    }

    pub fn is_evaluated(&self) -> bool {
        self.data.get().is_some()
    }

    /// Evaluates this node and whatever it needs that is still pending, each node once,
    /// without recursion (graphs from long lazy loops are deep).
    pub fn eval(self: &Arc<Node>) -> Result<&Buffer> {
        if let Some(d) = self.data.get() {
            return Ok(d);
        }
        // Eager mode's case, on every op: the inputs are already values. No walk needed,
        // and the inputs are taken under the one lock that checked them.
        let mut ins = self.inputs.lock().unwrap();
        if ins.iter().all(|i| i.is_evaluated()) {
            let inputs = std::mem::take(&mut *ins);
            drop(ins);
            self.compute_from(inputs)?;
            return Ok(self.data.get().expect("computed above"));
        }
        drop(ins);
        let mut stack: Vec<(Arc<Node>, bool)> = vec![(self.clone(), false)];
        while let Some((n, ready)) = stack.pop() {
            if n.is_evaluated() {
                continue;
            }
            if ready {
                n.compute()?;
                continue;
            }
            stack.push((n.clone(), true));
            for i in n.inputs.lock().unwrap().iter() {
                if !i.is_evaluated() {
                    stack.push((i.clone(), false));
                }
            }
        }
        Ok(self.data.get().expect("evaluated above"))
    }

    fn compute(&self) -> Result<()> {
        // Taken in its own statement: the lock's guard must be gone before computing,
        // whose failure path puts the inputs back under it.
        let inputs = std::mem::take(&mut *self.inputs.lock().unwrap());
        self.compute_from(inputs)
    }

    /// Computes this node from its `inputs` (already taken out of it, all evaluated); on
    /// failure they are put back.
    fn compute_from(&self, inputs: Inputs) -> Result<()> {
        let out = match backend::of(self.device).and_then(|b| b.eval(&self.prim, &inputs, &self.meta)) {
            Ok(o) => o,
            Err(e) => {
                // Leave the node as it was so a caller that recovers can inspect it.
                *self.inputs.lock().unwrap() = inputs;
                return Err(e);
            }
        };
        if let Buffer::Cpu(out) = &out {
            debug_assert_eq!(out.shape(), self.meta.shape.as_slice(), "{:?}", self.prim);
            debug_assert_eq!(out.dtype(), self.meta.dtype, "{:?}", self.prim);
            debug_assert_eq!(out.layout.strides, self.meta.strides, "{:?}", self.prim);
        }
        let _ = self.data.set(out);
        Ok(())
    }
}
