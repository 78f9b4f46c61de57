//! The benchmark workloads. Each `make` builds its inputs once and returns the closure
//! that is timed; `oracle/bench/torch_bench.py` defines the same names with the same
//! shapes, dtypes and steps.

use psionic::data::{DataLoader, TensorDataset};
use psionic::nn::functional as F;
use psionic::nn::prelude::*;
use psionic::prelude::*;
use psionic::random::{self, Generator};
use psionic::Padding;

pub struct Workload {
    pub name: &'static str,
    /// Timed repetitions by default.
    pub reps: usize,
    pub make: fn() -> Box<dyn FnMut()>,
    /// Floating-point operations of one run where they are well defined (a product of
    /// `m x k` by `k x n` is `2 m k n`), so its rate can be set against the peak; else 0.
    pub flops: f64,
}

pub(super) fn randn(shape: &[usize], dtype: DType) -> Tensor {
    random::randn(shape, DType::F32, Some(&Generator::with_seed(0))).to_dtype(dtype)
}

fn matmul(m: usize, k: usize, n: usize, dtype: DType) -> Box<dyn FnMut()> {
    let (a, b) = (randn(&[m, k], dtype), randn(&[k, n], dtype));
    Box::new(move || {
        a.matmul(&b).eval();
    })
}

fn conv(cin: usize, cout: usize) -> Conv {
    Conv::new(2, cin, cout, &[3], ConvOpts { padding: Padding::Explicit(vec![1]), bias: false, ..ConvOpts::default() })
}

/// One step: forward, loss, backward, optimizer.
/// A matmul workload of `[m, k, n]` in `dtype`, with its `2 m k n` operations.
macro_rules! product {
    ($name:literal, $reps:literal, [$m:literal, $k:literal, $n:literal], $dtype:ident) => {
        Workload {
            name: $name,
            reps: $reps,
            make: || matmul($m, $k, $n, DType::$dtype),
            flops: 2.0 * $m as f64 * $k as f64 * $n as f64,
        }
    };
}

pub fn all() -> Vec<Workload> {
    vec![
        product!("matmul_f32_256", 200, [256, 256, 256], F32),
        product!("matmul_f32_1024", 20, [1024, 1024, 1024], F32),
        product!("matmul_f32_2048", 6, [2048, 2048, 2048], F32),
        product!("matmul_f32_4096x512x4096", 6, [4096, 512, 4096], F32),
        product!("matmul_bf16_1024", 6, [1024, 1024, 1024], BF16),
        product!("matmul_f16_1024", 6, [1024, 1024, 1024], F16),
        Workload {
            name: "mul_add_4m",
            reps: 30,
            flops: 0.0,
            make: || {
                let (a, b, c) =
                    (randn(&[1 << 22], DType::F32), randn(&[1 << 22], DType::F32), randn(&[1 << 22], DType::F32));
                Box::new(move || {
                    (&(&a * &b) + &c).eval();
                })
            },
        },
        Workload {
            name: "gelu_4m",
            reps: 30,
            flops: 0.0,
            make: || {
                let a = randn(&[1 << 22], DType::F32);
                Box::new(move || {
                    a.gelu("none").eval();
                })
            },
        },
        Workload {
            name: "sum_rows_4096",
            reps: 30,
            flops: 0.0,
            make: || {
                let a = randn(&[4096, 4096], DType::F32);
                Box::new(move || {
                    a.sum(1, false).eval();
                })
            },
        },
        Workload {
            name: "softmax_rows_4096",
            reps: 20,
            flops: 0.0,
            make: || {
                let a = randn(&[4096, 4096], DType::F32);
                Box::new(move || {
                    a.softmax(-1).eval();
                })
            },
        },
        Workload {
            name: "layer_norm_64x512x768",
            reps: 10,
            flops: 0.0,
            make: || {
                let (x, w, b) =
                    (randn(&[64, 512, 768], DType::F32), randn(&[768], DType::F32), randn(&[768], DType::F32));
                Box::new(move || {
                    F::layer_norm(&x, &[768], Some(&w), Some(&b), 1e-5).eval();
                })
            },
        },
        Workload {
            name: "eager_add_16_x1000",
            reps: 30,
            flops: 0.0,
            make: || {
                let (a, b) = (randn(&[16], DType::F32), randn(&[16], DType::F32));
                Box::new(move || {
                    for _ in 0..1000 {
                        (&a + &b).eval();
                    }
                })
            },
        },
        Workload {
            name: "backward_16",
            reps: 500,
            flops: 0.0,
            make: || {
                let x = randn(&[16], DType::F32).requires_grad_(true).clone();
                let y = randn(&[16], DType::F32).requires_grad_(true).clone();
                Box::new(move || {
                    (&x * &y).sum_all().backward();
                })
            },
        },
        Workload {
            name: "conv_block_fwd_bwd",
            reps: 5,
            flops: 0.0,
            make: || {
                // A ResNet basic block: conv-bn-relu-conv-bn, the identity added, relu.
                random::manual_seed(0);
                let (c1, b1, c2, b2) = (conv(64, 64), BatchNorm::new(2, 64), conv(64, 64), BatchNorm::new(2, 64));
                let x = randn(&[32, 64, 32, 32], DType::F32).requires_grad_(true).clone();
                Box::new(move || {
                    let h = b1.forward(&c1.forward(&x)).relu();
                    let y = (&b2.forward(&c2.forward(&h)) + &x).relu();
                    y.sum_all().backward();
                })
            },
        },
        Workload {
            name: "sdpa_causal_fwd_bwd",
            reps: 20,
            flops: 0.0,
            make: || {
                // The demo GPT's attention: batch 16, 4 heads, 128 positions, head size 32.
                let [q, k, v] = [0, 1, 2].map(|_| randn(&[16, 4, 128, 32], DType::F32).requires_grad_(true).clone());
                let causal = F::Sdpa { is_causal: true, ..Default::default() };
                Box::new(move || {
                    F::scaled_dot_product_attention(&q, &k, &v, &causal).sum_all().backward();
                })
            },
        },
        Workload {
            name: "dataloader_shuffle_epoch",
            reps: 5,
            flops: 0.0,
            make: || {
                // One shuffled epoch of 60,000 MNIST-sized rows in batches of 128.
                let x = randn(&[60_000, 784], DType::F32);
                let y = Tensor::arange(0, 60_000, 1).remainder(10);
                let loader = DataLoader::new(TensorDataset::new(vec![x, y]))
                    .batch_size(128)
                    .shuffle(true)
                    .generator(Generator::with_seed(0));
                Box::new(move || {
                    for b in loader.iter() {
                        b[0].eval();
                    }
                })
            },
        },
    ]
    .into_iter()
    .chain(super::train::all())
    .chain(super::compiled::all())
    .collect()
}

#[cfg(test)]
mod tests {
    /// The PyTorch twin must define every workload, under the same name and with the
    /// same repetitions, or the script's table has holes.
    #[test]
    fn the_pytorch_twin_defines_every_workload() {
        let twin = include_str!("../../../../oracle/bench/torch_bench.py");
        for w in super::all() {
            let entry = format!("(\"{}\", {},", w.name, w.reps);
            // A compile workload's two rows come from one `pair("base", reps, ...)`.
            let base = w.name.strip_suffix("_eager").or_else(|| w.name.strip_suffix("_compiled"));
            let pair = base.map(|b| format!("*pair(\"{b}\", {},", w.reps));
            assert!(
                twin.contains(&entry) || pair.is_some_and(|p| twin.contains(&p)),
                "oracle/bench/torch_bench.py lacks {entry}"
            );
        }
    }
}
