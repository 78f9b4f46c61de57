//! What the digit classifiers share: the MNIST-format files (a folder given as the first
//! argument, else the sample in `data/digits`) and test-set accuracy.

use psionic::data::readers::mnist::Mnist;
use psionic::data::DataLoader;
use psionic::nn::Forward;
use psionic::nn::ModuleExt;
use psionic::prelude::*;
use std::path::PathBuf;

/// The train and test splits; exits with a clear message when they cannot be read.
pub fn load(example: &str) -> (Mnist, Mnist) {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/digits"));
    match (Mnist::load(&dir, "train"), Mnist::load(&dir, "t10k")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{example}: {e}");
            std::process::exit(2);
        }
    }
}

/// The fraction of the test set `model` classifies right (in eval mode).
pub fn accuracy<M: Forward>(model: &M, test: &DataLoader<Mnist, (Tensor, Tensor)>) -> f64 {
    model.eval();
    let (mut right, mut n) = (0i64, 0usize);
    no_grad(|| {
        for (x, y) in test.iter() {
            right += model.forward(&x).argmax(Some(-1), false).eq(&y).sum_all().item::<i64>();
            n += y.size(0);
        }
    });
    model.train(true);
    right as f64 / n as f64
}
