//! An MLP classifier on MNIST-format digits: the IDX reader, a shuffled DataLoader with
//! workers, Linear/ReLU/Dropout, cross-entropy, AdamW, and test accuracy each epoch.
//!
//! `cargo run --release -p psionic --example mnist_mlp [-- DIR]` reads
//! `DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`: the real MNIST files, or by
//! default the 8×8 digit sample in `data/digits`.

use psionic::data::readers::mnist::Mnist;
use psionic::data::DataLoader;
use psionic::nn::prelude::*;
use psionic::optim::{Adam, Optim, Optimizer};
use psionic::prelude::*;
use psionic::random::{self, Generator};
use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/digits"));
    let (train, test) = match (Mnist::load(&dir, "train"), Mnist::load(&dir, "t10k")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("mnist_mlp: {e}");
            std::process::exit(2);
        }
    };
    let (h, w) = (train.images.size(1), train.images.size(2));
    println!("{} training and {} test images of {h}x{w}", train.labels.size(0), test.labels.size(0));

    random::manual_seed(0);
    let model = Sequential::new()
        .push(Flatten::default())
        .push(Linear::new(h * w, 128))
        .push(Activation::relu())
        .push(Dropout::new(0.1))
        .push(Linear::new(128, 10));
    let mut opt = Optim::for_module(&model, Adam::adamw(2e-3));
    let train = DataLoader::new(train).batch_size(64).shuffle(true).generator(Generator::with_seed(0)).num_workers(2);
    let test = DataLoader::new(test).batch_size(256);

    for epoch in 1..=10 {
        model.train(true);
        let mut total = 0.0;
        for (x, y) in train.iter() {
            let loss = F::cross_entropy(&model.forward(&x), &y, &Default::default());
            loss.backward();
            opt.step();
            opt.zero_grad();
            total += loss.item::<f32>() as f64;
        }
        println!(
            "epoch {epoch:>2}: train loss {:.4}, test accuracy {:.1}%",
            total / train.len() as f64,
            100.0 * accuracy(&model, &test)
        );
    }
}

fn accuracy(model: &Sequential, test: &DataLoader<Mnist, (Tensor, Tensor)>) -> f64 {
    model.eval();
    let (mut right, mut n) = (0i64, 0usize);
    no_grad(|| {
        for (x, y) in test.iter() {
            right += model.forward(&x).argmax(Some(-1), false).eq(&y).sum_all().item::<i64>();
            n += y.size(0);
        }
    });
    right as f64 / n as f64
}
