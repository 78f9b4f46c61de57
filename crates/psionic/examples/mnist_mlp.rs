//! An MLP classifier on MNIST-format digits: the IDX reader, a shuffled DataLoader with
//! workers, Linear/ReLU/Dropout, cross-entropy, AdamW, and test accuracy each epoch.
//!
//! `cargo run --release -p psionic --example mnist_mlp [-- DIR]` reads
//! `DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`: the real MNIST files, or by
//! default the 8×8 digit sample in `data/digits`.

#[path = "common/digits.rs"]
mod digits;

use psionic::data::DataLoader;
use psionic::nn::prelude::*;
use psionic::optim::{Adam, Optim, Optimizer};
use psionic::random::{self, Generator};

fn main() {
    let (train, test) = digits::load("mnist_mlp");
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
            100.0 * digits::accuracy(&model, &test)
        );
    }
}
