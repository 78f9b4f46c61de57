//! Generator and sampler semantics beyond the streams (those are checked bit for bit
//! against PyTorch and MLX by the conformance suite's `random` replay): shared handles,
//! state round trips and refusals, argument errors, in-place fills of views, dropout's
//! gradient, and key-based determinism.

use crate::random::{self, keys, Generator};
use crate::{fallible, DType, Tensor};

#[test]
fn a_generator_clone_shares_the_stream_and_seeding_restarts_it() {
    let g = Generator::with_seed(5);
    let h = g.clone();
    let a = random::rand(&[3], DType::F64, Some(&g)).to_vec::<f64>();
    let b = random::rand(&[3], DType::F64, Some(&h)).to_vec::<f64>();
    assert_ne!(a, b, "a shared handle continues the stream");
    g.manual_seed(5);
    assert_eq!(random::rand(&[3], DType::F64, Some(&h)).to_vec::<f64>(), a);
    assert_eq!(g.initial_seed(), 5);
    assert_eq!(Generator::new().initial_seed(), random::DEFAULT_SEED);
}

#[test]
fn state_round_trips_including_the_cached_normal() {
    let g = Generator::with_seed(9);
    random::randn(&[3], DType::F64, Some(&g)); // odd count: one normal stays cached
    let s = g.get_state();
    assert_eq!((s.dtype(), s.shape()), (DType::U8, vec![5056]));
    let a = random::randn(&[5], DType::F64, Some(&g)).to_vec::<f64>();
    g.set_state(&s).unwrap();
    assert_eq!(random::randn(&[5], DType::F64, Some(&g)).to_vec::<f64>(), a);
}

#[test]
fn a_bad_state_is_an_error_and_changes_nothing() {
    let g = Generator::with_seed(1);
    let before = g.get_state().to_vec::<u8>();
    let short = Tensor::zeros(&[100], DType::U8);
    assert!(g.set_state(&short).unwrap_err().to_string().contains("size 5056"));
    assert!(g.set_state(&Tensor::zeros(&[5056], DType::F32)).is_err());
    // All-zero bytes: `left` is 0, not a valid engine state.
    assert!(g.set_state(&Tensor::zeros(&[5056], DType::U8)).unwrap_err().to_string().contains("Invalid mt19937 state"));
    assert_eq!(g.get_state().to_vec::<u8>(), before);
}

#[test]
fn samplers_refuse_bad_arguments() {
    let msg = |f: &dyn Fn()| fallible(f).unwrap_err().to_string();
    assert!(msg(&|| {
        random::randint(3, 3, &[2], DType::I64, None);
    })
    .contains("from=3 >= to=3"));
    assert!(msg(&|| {
        Tensor::zeros(&[2], DType::F32).bernoulli_(1.5, None);
    })
    .contains("p=1.5"));
    assert!(msg(&|| {
        random::rand(&[2], DType::I64, None);
    })
    .contains("not implemented for 'int64'"));
    assert!(msg(&|| {
        random::multinomial(&Tensor::from_vec(vec![0.5f32, -0.1], &[2]), 1, false, None);
    })
    .contains("element < 0"));
    assert!(msg(&|| {
        random::multinomial(&Tensor::from_vec(vec![0.5f32, 0.5], &[2]), 3, false, None);
    })
    .contains("without replacement"));
    assert!(msg(&|| {
        random::dropout(&Tensor::zeros(&[2], DType::F32), 1.2, true, None);
    })
    .contains("between 0 and 1"));
    assert!(msg(&|| {
        keys::uniform(0.0, 1.0, &[2], DType::F64, Some(&keys::key(0)));
    })
    .contains("Unsupported type"));
}

#[test]
fn filling_a_view_writes_through_to_its_base() {
    let base = Tensor::zeros(&[4, 6], DType::F32);
    let v = base.slice(1, Some(1), Some(5), 2);
    v.uniform_(2.0, 3.0, Some(&Generator::with_seed(0)));
    let b = base.to_vec::<f32>();
    for r in 0..4 {
        for c in 0..6 {
            let x = b[r * 6 + c];
            assert_eq!((2.0..3.0).contains(&x), c == 1 || c == 3, "({r},{c}) = {x}");
        }
    }
}

#[test]
fn dropout_scales_kept_values_and_its_gradient_is_the_mask() {
    let x = Tensor::from_vec((1..=40).map(f64::from).collect(), &[40]);
    x.requires_grad_(true);
    let y = random::dropout(&x, 0.25, true, Some(&Generator::with_seed(3)));
    y.sum_all().backward();
    let (yv, xv, gv) = (y.to_vec::<f64>(), x.to_vec::<f64>(), x.grad().unwrap().to_vec::<f64>());
    for i in 0..40 {
        let kept = yv[i] != 0.0;
        assert_eq!(gv[i], if kept { 1.0 / 0.75 } else { 0.0 });
        if kept {
            assert_eq!(yv[i], xv[i] * (1.0 / 0.75));
        }
    }
    assert!(gv.contains(&0.0) && gv.iter().any(|&g| g != 0.0));
    // Evaluation mode and p = 0 are the identity.
    assert_eq!(random::dropout(&x, 0.25, false, None).to_vec::<f64>(), xv);
}

#[test]
fn key_samplers_are_pure_functions_of_the_key() {
    let k = keys::key(123);
    let a = keys::normal(&[50], DType::F32, None, None, Some(&k)).to_vec::<f32>();
    assert_eq!(keys::normal(&[50], DType::F32, None, None, Some(&k)).to_vec::<f32>(), a);
    let (k1, k2) = keys::split2(&k);
    assert_ne!(
        keys::uniform(0.0, 1.0, &[4], DType::F32, Some(&k1)).to_vec::<f32>(),
        keys::uniform(0.0, 1.0, &[4], DType::F32, Some(&k2)).to_vec::<f32>()
    );
    let mut p = keys::permutation(20, Some(&k)).to_vec::<i64>();
    p.sort();
    assert_eq!(p, (0..20).collect::<Vec<i64>>());
    let t = keys::truncated_normal(-0.5, 0.5, &[200], DType::F32, Some(&k)).to_vec::<f32>();
    assert!(t.iter().all(|v| (-0.5..=0.5).contains(v)));
    // The global sequence advances: two draws without a key differ.
    keys::seed(7);
    let a = keys::uniform(0.0, 1.0, &[3], DType::F32, None).to_vec::<f32>();
    assert_ne!(keys::uniform(0.0, 1.0, &[3], DType::F32, None).to_vec::<f32>(), a);
    keys::seed(7);
    assert_eq!(keys::uniform(0.0, 1.0, &[3], DType::F32, None).to_vec::<f32>(), a);
}

#[test]
fn sample_moments_are_plausible() {
    let g = Generator::with_seed(2024);
    let n = random::randn(&[20000], DType::F32, Some(&g)).to_vec::<f32>();
    let mean = n.iter().map(|&v| v as f64).sum::<f64>() / n.len() as f64;
    let var = n.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n.len() as f64;
    assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    let e = Tensor::zeros(&[20000], DType::F64);
    e.exponential_(2.0, Some(&g));
    let m = e.mean_all().item::<f64>();
    assert!((m - 0.5).abs() < 0.02, "exponential mean {m}");
    let counts = random::multinomial(&Tensor::from_vec(vec![1.0f64, 3.0], &[2]), 4000, true, Some(&g)).to_vec::<i64>();
    let ones = counts.iter().filter(|&&c| c == 1).count() as f64 / 4000.0;
    assert!((ones - 0.75).abs() < 0.03, "{ones}");
}
