//! The meta device: every op's result on `meta` has the shape, dtype and strides the
//! same op gives on the CPU, nothing is computed or stored, and values are refused.

use crate::random::{manual_seed, randn};
use crate::{fallible, lazy, with_device, DType, Device, Error, Padding, Tensor};

/// Runs `f` on CPU inputs and on their meta twins; the two results must agree on
/// everything but values.
fn same_meta(name: &str, inputs: &[&Tensor], f: impl Fn(&[Tensor]) -> Tensor) {
    let inputs: Vec<Tensor> = inputs.iter().map(|&t| t.clone()).collect();
    let cpu = f(&inputs);
    let metas: Vec<Tensor> = inputs.iter().map(|t| t.to_device(Device::Meta)).collect();
    let meta = f(&metas);
    assert_eq!(meta.device(), Device::Meta, "{name}");
    assert_eq!(meta.shape(), cpu.shape(), "{name}");
    assert_eq!(meta.dtype(), cpu.dtype(), "{name}");
    assert_eq!(meta.strides(), cpu.strides(), "{name}");
}

fn arange(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::arange(0, n as i64, 1).to_dtype(dtype).reshape(&dims)
}

#[test]
fn ops_on_meta_infer_what_the_cpu_computes() {
    let a = arange(&[2, 3, 4], DType::F32);
    let b = arange(&[4, 5], DType::F64);
    let w = arange(&[6, 3, 3, 3], DType::F32);
    let x = arange(&[2, 3, 8, 8], DType::F32);
    let idx = Tensor::from_vec(vec![0i64, 2, 1], &[3]);
    same_meta("add broadcast", &[&a, &arange(&[4], DType::F32)], |t| &t[0] + &t[1]);
    same_meta("promotion", &[&a, &arange(&[4], DType::I32)], |t| &t[0] * &t[1]);
    same_meta("matmul", &[&a, &b], |t| t[0].to_dtype(DType::F64).matmul(&t[1]));
    same_meta("transpose view", &[&a], |t| t[0].transpose(0, 2));
    same_meta("narrow view", &[&a], |t| t[0].narrow(2, 1, 2));
    same_meta("expand view", &[&arange(&[3, 1], DType::F32)], |t| t[0].expand(&[3, 5]));
    same_meta("sum", &[&a], |t| t[0].sum(1, true));
    same_meta("softmax", &[&a], |t| t[0].softmax(-1));
    same_meta("layer_norm", &[&a], |t| t[0].layer_norm(1, None, None, 1e-5));
    same_meta("conv2d", &[&x, &w], |t| t[0].conv(&t[1], None, &[2], Padding::Explicit(vec![1]), &[1], 1));
    same_meta("cat", &[&a, &a], |t| Tensor::cat(&[&t[0], &t[1]], 1));
    same_meta("index_select", &[&a, &idx], |t| t[0].index_select(1, &t[1]));
    same_meta("cumsum", &[&a], |t| t[0].cumsum(2));
    same_meta("sort values", &[&a], |t| t[0].sort(-1, true).0);
    same_meta("sort indices", &[&a], |t| t[0].sort(-1, true).1);
    same_meta("where", &[&a], |t| Tensor::where_(&t[0].gt(3.0), &t[0], t[0].neg()));
    same_meta("cast", &[&a], |t| t[0].to_dtype(DType::BF16));
    same_meta("attention", &[&arange(&[1, 2, 5, 4], DType::F32)], |t| t[0].attention(&t[0], &t[0], 0.5, true));
    same_meta("contiguous of a transpose", &[&a], |t| t[0].transpose(0, 1).contiguous());
}

#[test]
fn factories_follow_the_default_device() {
    let (z, r, v) = with_device(Device::Meta, || {
        (Tensor::zeros(&[3, 4], DType::F16), randn(&[5], DType::F32, None), Tensor::from_vec(vec![1i32, 2], &[2]))
    });
    for t in [&z, &r, &v] {
        assert!(t.is_meta());
    }
    assert_eq!((z.shape(), z.dtype(), z.strides()), (vec![3, 4], DType::F16, vec![4, 1]));
    assert_eq!(v.dtype(), DType::I32);
    // Outside the scope, the CPU again.
    assert_eq!(Tensor::zeros(&[1], DType::F32).device(), Device::Cpu);
}

#[test]
fn meta_draws_leave_the_generator_alone() {
    manual_seed(7);
    let _ = with_device(Device::Meta, || randn(&[1000], DType::F32, None));
    let m = with_device(Device::Meta, || Tensor::zeros(&[1000], DType::F32));
    m.normal_(0.0, 1.0, None);
    m.uniform_(-1.0, 1.0, None);
    let after = randn(&[4], DType::F32, None).to_vec::<f32>();
    manual_seed(7);
    assert_eq!(after, randn(&[4], DType::F32, None).to_vec::<f32>());
}

#[test]
fn meta_values_are_refused_in_pytorchs_words() {
    let m = Tensor::ones(&[2, 2], DType::F32).to_device(Device::Meta);
    let e = fallible(|| m.to_vec::<f32>()).unwrap_err();
    assert!(matches!(e, Error::NoData { device: Device::Meta, .. }), "{e:?}");
    assert!(e.to_string().contains("Cannot copy out of meta tensor; no data!"), "{e}");
    assert!(fallible(|| m.sum_all().item::<f32>()).is_err());
    assert!(matches!(m.try_to_device(Device::Cpu), Err(Error::NoData { .. })));
    // Writing values into a CPU tensor from a meta one is the same refusal, and the
    // CPU tensor keeps its values.
    let c = Tensor::ones(&[2, 2], DType::F32);
    assert!(fallible(|| c.copy_(&m)).is_err());
    assert_eq!(c.device(), Device::Cpu);
    assert_eq!(c.to_vec::<f32>(), vec![1.0; 4]);
}

#[test]
fn meta_prints_its_size_and_dtype() {
    let m = Tensor::zeros(&[2, 3], DType::F32).to_device(Device::Meta);
    assert_eq!(m.to_string(), "tensor(..., device='meta', size=(2, 3))");
    let v = Tensor::zeros(&[4], DType::I64).to_device(Device::Meta);
    assert_eq!(v.to_string(), "tensor(..., device='meta', size=(4,), dtype=torch.int64)");
}

#[test]
fn a_tensor_too_large_for_memory_is_built_and_inspected() {
    // 2^40 f32 elements: 4 TiB.
    let big = with_device(Device::Meta, || Tensor::zeros(&[1 << 20, 1 << 20], DType::F32));
    let y = big.matmul(&big.transpose(0, 1)).relu().sum(0, false);
    assert_eq!(y.shape(), vec![1 << 20]);
    assert!(y.is_meta());
}

#[test]
fn meta_mixes_with_cpu_scalars_and_host_indices() {
    let m = Tensor::zeros(&[3, 4], DType::F32).to_device(Device::Meta);
    let s = Tensor::scalar(2.0f32);
    assert!((&m * &s).is_meta());
    assert!((&s * &m).is_meta());
    let host = Tensor::ones(&[3, 4], DType::F32);
    assert!((&host + &m).is_meta());
    assert!(m.gather(1, &Tensor::zeros(&[3, 2], DType::I64)).is_meta());
}

#[test]
fn a_device_without_a_backend_is_a_true_refusal() {
    let e = Tensor::zeros(&[1], DType::F32).try_to_device(Device::Cuda(0)).unwrap_err();
    assert!(matches!(e, Error::NoBackend { device: Device::Cuda(0), .. }), "{e:?}");
    assert!(e.to_string().contains("cpu and meta backends only"), "{e}");
    assert!(Tensor::empty_on(&[2], DType::F32, Device::Cuda(1)).is_err());
    assert_eq!("meta".parse::<Device>().unwrap(), Device::Meta);
    assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
    assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
    assert!("tpu".parse::<Device>().is_err() && "cuda:x".parse::<Device>().is_err());
}

#[test]
fn backward_on_meta_gives_meta_gradients_of_the_right_shapes() {
    let w = with_device(Device::Meta, || Tensor::zeros(&[4, 3], DType::F32));
    w.requires_grad_(true);
    let x = Tensor::ones(&[5, 3], DType::F32).to_device(Device::Meta);
    x.matmul(&w.transpose(0, 1)).tanh().sum_all().backward();
    let g = w.grad().expect("a gradient");
    assert!(g.is_meta());
    assert_eq!(g.shape(), vec![4, 3]);
}

#[test]
fn lazy_graphs_on_meta_evaluate_without_storage() {
    let m = Tensor::ones(&[8, 8], DType::F32).to_device(Device::Meta);
    let y = lazy(|| (&m.exp() + &m).matmul(&m));
    y.eval();
    assert!(y.is_meta() && y.shape() == vec![8, 8]);
}

#[test]
fn moving_to_meta_and_back_to_the_same_device() {
    let c = arange(&[2, 3], DType::F32).transpose(0, 1);
    let m = c.to_device(Device::Meta);
    assert_eq!((m.shape(), m.strides()), (c.shape(), c.strides()));
    let same = c.to_device(Device::Cpu);
    assert_eq!(same.to_vec::<f32>(), c.to_vec::<f32>());
}
