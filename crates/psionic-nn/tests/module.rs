//! The module contract: names and order of parameters and state_dict entries (PyTorch's),
//! load_state_dict's checks, train/eval, freezing and dtype changes.

use psionic_array::{DType, Tensor};
use psionic_nn::prelude::*;

fn keys(sd: &[(String, Tensor)]) -> Vec<&str> {
    sd.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn state_dict_names_follow_pytorch() {
    let net =
        Sequential::new().push(Linear::with_bias(3, 4, false)).push(BatchNorm::new(1, 4)).push(Activation::relu());
    assert_eq!(
        keys(&net.state_dict()),
        ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    );
    assert_eq!(net.parameters().len(), 3);
    // A module's own parameters come before its children's (MultiheadAttention's
    // bias_k is registered after out_proj but listed before it).
    let mha = MultiheadAttention::with(4, 2, 0.0, true, true, false, None, None, false);
    let names: Vec<String> = mha.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"]);
    let lstm = Recurrent::new(CellKind::Lstm, 3, 2, RnnOpts { bidirectional: true, ..Default::default() });
    assert_eq!(keys(&lstm.state_dict())[4..6], ["weight_ih_l0_reverse", "weight_hh_l0_reverse"]);
}

#[test]
fn load_state_dict_checks_and_copies() {
    let a = Linear::new(3, 2);
    let b = Linear::new(3, 2);
    b.load_state_dict(&a.state_dict(), true).unwrap();
    assert_eq!(a.weight.to_vec::<f32>(), b.weight.to_vec::<f32>());
    assert!(b.weight.is_leaf() && b.weight.requires_grad());
    let mut sd = a.state_dict();
    sd.push(("extra".into(), Tensor::zeros(&[1], DType::F32)));
    let e = b.load_state_dict(&sd, true).unwrap_err().to_string();
    assert!(e.contains("Unexpected key(s) in state_dict: \"extra\""), "{e}");
    let report = b.load_state_dict(&sd[1..], false).unwrap();
    assert_eq!(report.missing_keys, ["weight"]);
    assert_eq!(report.unexpected_keys, ["extra"]);
    let wrong = vec![("weight".to_string(), Tensor::zeros(&[2, 2], DType::F32))];
    let before = b.weight.to_vec::<f32>();
    assert!(b.load_state_dict(&wrong, false).unwrap_err().to_string().contains("size mismatch for weight"));
    assert_eq!(b.weight.to_vec::<f32>(), before, "nothing is copied when a shape is wrong");
}

#[test]
fn train_eval_freeze_and_dtype() {
    let net = Sequential::new().push(Linear::new(2, 2)).push(Dropout::new(0.5));
    assert!(net.is_training());
    net.eval();
    assert!(!net.is_training());
    let x = Tensor::ones(&[3, 2], DType::F32);
    assert_eq!(net.forward(&x).to_vec::<f32>(), net.forward(&x).to_vec::<f32>(), "dropout is off in eval");
    net.freeze();
    assert!(net.parameters().iter().all(|p| !p.requires_grad()));
    net.unfreeze();
    net.to_dtype(DType::F64);
    let p = &net.parameters()[0];
    assert_eq!(p.dtype(), DType::F64);
    assert!(p.is_leaf() && p.requires_grad());
    net.forward(&x.to_dtype(DType::F64)).sum_all().backward();
    assert_eq!(p.grad().unwrap().dtype(), DType::F64);
    net.zero_grad();
    assert!(p.grad().is_none());
}

#[test]
fn parameter_tree_nests_by_name() {
    let net = Sequential::new().push(Linear::new(2, 3)).push(Linear::new(3, 1));
    let tree = net.parameter_tree();
    assert_eq!(tree.get("1.bias").and_then(|t| t.leaf()).unwrap().shape(), vec![1]);
    assert_eq!(tree.flatten().len(), 4);
    assert!(net.repr().starts_with("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=true)"));
}
