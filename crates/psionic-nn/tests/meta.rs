//! Models on the meta device: built at any size without storage, inspected, then
//! materialised with `to_empty` and filled by `load_state_dict`.

use psionic_array::random::manual_seed;
use psionic_array::{with_device, DType, Device, Error, Tensor};
use psionic_nn::models::{Gpt, GptConfig};
use psionic_nn::prelude::*;

fn small() -> GptConfig {
    GptConfig { vocab_size: 37, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16, dropout: 0.0 }
}

fn tokens() -> Tensor {
    Tensor::from_vec(vec![3i64, 1, 4, 1, 5, 9, 2, 6], &[1, 8])
}

#[test]
fn a_model_too_large_for_memory_is_built_and_inspected() {
    // GPT-3's sizes: 175 billion parameters, 700 GB in f32.
    let config =
        GptConfig { vocab_size: 50257, block_size: 2048, n_layer: 96, n_head: 96, n_embd: 12288, dropout: 0.0 };
    let gpt = with_device(Device::Meta, || Gpt::new(config));
    let n = gpt.num_parameters();
    assert!((174_000_000_000..176_000_000_000).contains(&n), "{n}");
    let sd = gpt.state_dict();
    let (name, w) = &sd[2];
    assert_eq!(name, "h.0.ln_1.weight");
    assert!(w.is_meta() && w.shape() == vec![12288]);
    // A forward pass on meta gives the logits' shape without computing anything.
    let logits = gpt.logits(&tokens().to_device(Device::Meta));
    assert_eq!(logits.shape(), vec![1, 8, 50257]);
    assert!(logits.is_meta());
}

#[test]
fn to_empty_then_load_state_dict_materialises_the_same_model() {
    manual_seed(3);
    let reference = Gpt::new(small());
    let want = reference.logits(&tokens()).to_vec::<f32>();

    let gpt = with_device(Device::Meta, || Gpt::new(small()));
    assert!(gpt.parameters().iter().all(Tensor::is_meta));
    gpt.to_empty(Device::Cpu).unwrap();
    let params = gpt.parameters();
    assert!(params.iter().all(|p| p.device() == Device::Cpu && p.is_leaf() && p.requires_grad()));
    let report = gpt.load_state_dict(&reference.state_dict(), true).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    assert_eq!(gpt.logits(&tokens()).to_vec::<f32>(), want);

    // It trains: gradients reach the same parameter handles.
    gpt.loss(&tokens(), &tokens()).backward();
    assert!(params.iter().all(|p| p.grad().is_some_and(|g| g.device() == Device::Cpu)));
}

#[test]
fn a_module_moves_onto_meta_but_not_off_it() {
    let net = Sequential::new().push(Linear::new(3, 4)).push(BatchNorm::new(1, 4));
    net.to_device(Device::Meta).unwrap();
    assert!(net.state_dict().iter().all(|(_, t)| t.is_meta()));
    assert!(net.parameters().iter().all(|p| p.requires_grad() && p.is_leaf()));
    let e = net.to_device(Device::Cpu).err().expect("meta has no values to move");
    assert!(matches!(e, Error::NoData { .. }), "{e:?}");
    // The refusal changed nothing.
    assert!(net.state_dict().iter().all(|(_, t)| t.is_meta()));
    let e = net.to_empty(Device::Cuda(0)).err().expect("no CUDA backend");
    assert!(matches!(e, Error::NoBackend { .. }), "{e:?}");
    net.to_empty(Device::Cpu).unwrap();
    let count = net.state_dict().into_iter().find(|(k, _)| k == "1.num_batches_tracked").unwrap().1;
    assert_eq!((count.device(), count.dtype()), (Device::Cpu, DType::I64));
}
