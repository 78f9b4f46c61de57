//! A small convolutional network on the MNIST-format digits: Conv2d, BatchNorm2d,
//! MaxPool2d, adaptive pooling, SGD with Nesterov momentum and a OneCycle schedule.
//!
//! `cargo run --release -p psionic --example cnn [-- DIR]` (MNIST IDX files, default
//! `data/digits`).

#[path = "common/digits.rs"]
mod digits;

use psionic::data::DataLoader;
use psionic::nn::prelude::*;
use psionic::optim::{LrScheduler, OneCycle, Optim, Optimizer, Schedule, Scheduler, Sgd};
use psionic::random::{self, Generator};

fn block(cin: usize, cout: usize) -> Sequential {
    Sequential::new()
        .push(Conv::new(
            2,
            cin,
            cout,
            &[3],
            ConvOpts { padding: psionic::Padding::Same, bias: false, ..ConvOpts::default() },
        ))
        .push(BatchNorm::new(2, cout))
        .push(Activation::relu())
}

fn main() {
    let (train, test) = digits::load("cnn");
    random::manual_seed(0);
    let model = Sequential::new()
        .push(block(1, 16))
        .push(Pooling::new(PoolKind::Max, 2, &[2], &[], &[0]))
        .push(block(16, 32))
        .push(AdaptivePool::avg(&[1, 1]))
        .push(Flatten::default())
        .push(Linear::new(32, 10));
    println!("{} parameters", model.num_parameters());
    let epochs = 8;
    let train = DataLoader::new(train).batch_size(32).shuffle(true).drop_last(true).generator(Generator::with_seed(1));
    let test = DataLoader::new(test).batch_size(256);
    let mut opt =
        Optim::for_module(&model, Sgd { momentum: 0.9, nesterov: true, weight_decay: 5e-4, ..Sgd::new(0.05) });
    let mut sched = LrScheduler::new(&mut opt, Schedule::OneCycle(OneCycle::new(0.1, (epochs * train.len()) as i64)));
    for epoch in 1..=epochs {
        let mut total = 0.0;
        for (x, y) in train.iter() {
            let loss = F::cross_entropy(&model.forward(&x), &y, &Default::default());
            loss.backward();
            opt.step();
            opt.zero_grad();
            sched.step(&mut opt);
            total += loss.item::<f32>() as f64;
        }
        println!(
            "epoch {epoch}: train loss {:.4}, test accuracy {:.1}%, lr {:.4}",
            total / train.len() as f64,
            100.0 * digits::accuracy(&model, &test),
            sched.last_lr()[0]
        );
    }
}
