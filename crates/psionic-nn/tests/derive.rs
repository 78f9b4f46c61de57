//! `#[derive(Module)]` on users' structs: every kind of member, renames, flattening,
//! collections, absent members, computed names and type names, generics.

use psionic_array::{DType, Tensor};
use psionic_nn::members::Children;
use psionic_nn::prelude::*;
use psionic_nn::Member;

fn names(list: Vec<(String, Tensor)>) -> Vec<String> {
    list.into_iter().map(|(k, _)| k).collect()
}

fn t(n: usize) -> Tensor {
    Tensor::zeros(&[n], DType::F32)
}

#[derive(Module)]
#[module(repr = describe)]
struct Block {
    #[child(name = "attn.proj")]
    proj: Linear,
    #[param]
    gain: Tensor,
    #[param]
    shift: Option<Tensor>,
    #[buffer]
    seen: Tensor,
    #[buffer(persistent = false)]
    cache: Option<Tensor>,
    #[training]
    training: Training,
    width: usize,
}

impl Block {
    fn new(shift: bool) -> Block {
        Block {
            proj: Linear::new(2, 2),
            gain: t(2),
            shift: shift.then(|| t(2)),
            seen: t(1),
            cache: Some(t(3)),
            training: Training::default(),
            width: 2,
        }
    }

    fn describe(&self) -> String {
        format!("width={}", self.width)
    }
}

#[test]
fn members_are_visited_in_field_order_under_their_names() {
    let b = Block::new(true);
    assert_eq!(b.type_name(), "Block");
    assert_eq!(names(b.named_parameters()), ["gain", "shift", "attn.proj.weight", "attn.proj.bias"]);
    // A non-persistent buffer is a buffer, but not in state_dict.
    assert_eq!(names(b.named_buffers()), ["seen", "cache"]);
    assert_eq!(names(b.state_dict()), ["gain", "shift", "seen", "attn.proj.weight", "attn.proj.bias"]);
    assert!(b.repr().contains("width=2"), "{}", b.repr());
    // An absent parameter is registered as absent: not listed, not expected on load.
    let b = Block::new(false);
    assert_eq!(names(b.named_parameters()), ["gain", "attn.proj.weight", "attn.proj.bias"]);
    // The training flag is the module's own: eval() reaches it.
    b.eval();
    assert!(!b.training.get());
}

/// A container of blocks: a list, a keyed list, an optional child and a flattened one.
#[derive(Module)]
#[module(name = kind_name)]
struct Stack {
    #[child]
    blocks: Vec<Block>,
    #[child]
    heads: Vec<(String, Linear)>,
    #[child]
    norm: Option<LayerNorm>,
    #[child(flatten)]
    inner: Inner,
    #[param(flatten)]
    extra: Vec<Tensor>,
    deep: bool,
}

#[derive(Module)]
struct Inner {
    #[param]
    scale: Tensor,
}

impl Stack {
    fn kind_name(&self) -> &'static str {
        if self.deep {
            "DeepStack"
        } else {
            "Stack"
        }
    }
}

#[test]
fn collections_optional_and_flattened_children() {
    let s = Stack {
        blocks: vec![Block::new(false), Block::new(false)],
        heads: vec![("cls".into(), Linear::with_bias(2, 1, false))],
        norm: None,
        inner: Inner { scale: t(1) },
        extra: vec![t(1), t(1)],
        deep: true,
    };
    assert_eq!(s.type_name(), "DeepStack");
    assert_eq!(
        names(s.named_parameters()),
        [
            "scale",
            "0",
            "1",
            "blocks.0.gain",
            "blocks.0.attn.proj.weight",
            "blocks.0.attn.proj.bias",
            "blocks.1.gain",
            "blocks.1.attn.proj.weight",
            "blocks.1.attn.proj.bias",
            "heads.cls.weight",
        ]
    );
    let with_norm = Stack { norm: Some(LayerNorm::new(&[2])), deep: false, ..s };
    assert_eq!(with_norm.type_name(), "Stack");
    assert!(names(with_norm.named_parameters()).contains(&"norm.weight".to_string()));
    // Loading checks every key the derived walk names.
    let sd = with_norm.state_dict();
    assert!(with_norm.load_state_dict(&sd, true).is_ok());
    assert!(with_norm.load_state_dict(&sd[1..], true).is_err(), "a missing key is refused");
}

/// Members with computed names, and a generic container.
#[derive(Module)]
struct Layers {
    #[module(visit = numbered)]
    weights: Vec<Tensor>,
}

impl Layers {
    fn numbered<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        for (i, w) in self.weights.iter().enumerate() {
            f(&format!("w_l{i}"), Member::Param(Some(w)));
        }
    }
}

#[derive(Module)]
#[module(bound = "M: Module")]
struct Wrap<M> {
    #[child(name = "body")]
    m: M,
}

#[derive(Module)]
struct Scale(f64);

#[test]
fn computed_names_generics_and_tuple_structs() {
    let l = Layers { weights: vec![t(1), t(2)] };
    assert_eq!(names(l.named_parameters()), ["w_l0", "w_l1"]);
    let w = Wrap { m: l };
    assert_eq!(names(w.named_parameters()), ["body.w_l0", "body.w_l1"]);
    assert_eq!(w.type_name(), "Wrap");
    let s = Scale(2.0);
    assert!(s.named_parameters().is_empty() && s.0 == 2.0);
    // The member traits are public for hand-written visits too.
    let mut seen = vec![];
    w.m.visit_children("inner", &mut |n, _| seen.push(n.to_string()));
    assert_eq!(seen, ["inner"]);
}
