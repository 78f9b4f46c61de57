//! Fused chains whose output is streamed around the cache (a generated loop's `vmovnt`
//! stores, or the last step's kernel, as an eager kernel streams an output too large for
//! the cache) write the eager bits. The streaming threshold is process-wide, so this
//! file is its own test binary and forces streaming for every output in one test.

use psionic_array::{DType, Tensor};
use psionic_compiler::compile;
use psionic_cpu::stream::set_stream_min_bytes;

fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 250.0 - 2.0).collect();
    Tensor::from_vec(v, shape)
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_vec::<f64>().into_iter().map(f64::to_bits).collect()
}

/// One generated loop of single-instruction steps over flat inputs: its stores stream.
fn flat(x: &[Tensor]) -> Vec<Tensor> {
    let a = &x[0];
    vec![(&(&a.mul(1.5).add(0.25) * a).abs().sqrt() + &x[1]).neg()]
}

/// Generated runs around a step on its kernel (`sin`), a block at a time.
fn blocked(x: &[Tensor]) -> Vec<Tensor> {
    let h = (&x[0] * &x[1]).add(0.5).sin();
    vec![(&h * &x[0]).sub(1.0).div(3.0)]
}

/// softmax from primitives: a row chain whose last run writes the output rows.
fn softmax(x: &[Tensor]) -> Vec<Tensor> {
    let e = (&x[0] - &x[0].amax(-1, true)).exp();
    vec![&e / &e.sum(-1, true).mul(2.0)]
}

#[test]
fn streamed_chains_write_the_eager_bits() {
    type Body = fn(&[Tensor]) -> Vec<Tensor>;
    let cases: [(&str, Body, usize); 3] = [("flat", flat, 2), ("blocked", blocked, 2), ("softmax", softmax, 1)];
    for dtype in [DType::F32, DType::F64] {
        for (name, body, n_args) in cases {
            // Rows of 300 and 301 elements; inputs that start 1 element into their
            // storage, so outputs and inputs meet 32-byte lines at other offsets.
            for (rows, cols, skip) in [(37, 300, 0), (41, 301, 1), (3, 20_000, 1)] {
                let args: Vec<Tensor> = (0..n_args)
                    .map(|k| {
                        let base = data(&[rows * cols + skip], k as u64 + 1).to_dtype(dtype);
                        base.narrow(0, skip as i64, rows * cols).reshape(&[rows as i64, cols as i64])
                    })
                    .collect();
                set_stream_min_bytes(usize::MAX - 1);
                let want = body(&args);
                set_stream_min_bytes(0);
                let got = compile(body).call(&args);
                set_stream_min_bytes(usize::MAX);
                assert_eq!(bits(&got[0]), bits(&want[0]), "{name} {dtype:?} {rows}x{cols} skip {skip}");
            }
        }
    }
}
