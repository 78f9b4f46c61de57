//! Peak tensor memory of a compiled call: a fused chain holds its inputs and its output
//! and nothing the size of an intermediate. One test in its own binary: the memory
//! counters are process-wide, and other tests running beside it would move them.

use psionic_array::{DType, Tensor};
use psionic_compiler::compile;
use psionic_cpu::storage::{memory_stats, reset_peak_memory};

/// Tensor memory one call of `f` allocates beyond what was live before it, at its peak.
fn peak_of(f: impl Fn() -> Vec<Tensor>) -> usize {
    let before = memory_stats().active;
    reset_peak_memory();
    let out = f();
    out.iter().for_each(|t| {
        t.eval();
    });
    memory_stats().peak - before
}

/// Ten elementwise ops, a broadcast row, a literal scalar and a value read twice.
fn chain(x: &[Tensor]) -> Vec<Tensor> {
    let (a, row) = (&x[0], &x[1]);
    let h = &(&a.mul(1.5).add(0.25) * a) + row;
    let h = h.abs().sqrt().sub(1.0).mul(0.5);
    vec![(&h + a).neg().exp()]
}

#[test]
fn a_compiled_chain_peaks_at_its_output_and_an_eager_one_does_not() {
    let (m, n) = (512, 1024);
    let out_bytes = m * n * 4;
    let args = [Tensor::from_vec(vec![0.5f32; m * n], &[m, n]), Tensor::from_vec(vec![0.25f32; n], &[n])];
    args.iter().for_each(|t| {
        t.eval();
    });
    let f = compile(chain);
    f.call(&args); // traced here, outside the measured call
    let compiled = peak_of(|| f.call(&args));
    let eager = peak_of(|| chain(&args));
    eprintln!("peak beyond the inputs: compiled {compiled} B, eager {eager} B, output {out_bytes} B");
    // The constant: the trace's literals and a replay's bookkeeping, not a buffer of
    // the output's size.
    assert!(compiled <= out_bytes + 4096, "compiled peak {compiled} over output {out_bytes}");
    assert!(eager >= 2 * out_bytes, "eager peak {eager}: its intermediates are live");
    assert_eq!(
        f.call(&args)[0].to_dtype(DType::F64).to_vec::<f64>(),
        chain(&args)[0].to_dtype(DType::F64).to_vec::<f64>()
    );
}
