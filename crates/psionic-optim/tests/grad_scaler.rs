//! `GradScaler` against `torch.amp.GradScaler` (`fixtures/autocast.json`, written by
//! `oracle/gen_autocast.py`): the same scales, growth trackers, skipped steps and
//! parameters over a run with non-finite gradients, and the same state_dict.

use psionic_array::{DType, Tensor};
use psionic_optim::{GradScaler, Optim, Optimizer, ScalerState, Sgd};
use serde_json::Value;

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        v => v.as_f64().unwrap(),
    }
}

#[test]
fn the_scale_and_the_skipped_steps_follow_pytorch() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/autocast.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let f = &all["grad_scaler"];
    let w =
        Tensor::from_vec(f["param"].as_array().unwrap().iter().map(num).collect::<Vec<_>>(), &[3]).to_dtype(DType::F32);
    w.requires_grad_(true);
    let mut opt = Optim::new(vec![w.clone()], Sgd::new(num(&f["lr"])));
    let mut scaler = GradScaler::with(
        num(&f["init_scale"]),
        num(&f["growth_factor"]),
        num(&f["backoff_factor"]),
        f["growth_interval"].as_u64().unwrap(),
    );
    for (k, s) in f["steps"].as_array().unwrap().iter().enumerate() {
        let scaled = scaler.scale(&Tensor::scalar(1.5f32)).item::<f32>() as f64;
        assert_eq!(scaled, num(&s["scaled_loss"]), "scaled loss at step {k}");
        let g: Vec<f32> = s["grad"].as_array().unwrap().iter().map(|v| num(v) as f32).collect();
        w.set_grad(Some(Tensor::from_vec(g, &[3])));
        let stepped = scaler.step(&mut opt).unwrap();
        scaler.update().unwrap();
        assert_eq!(stepped, s["stepped"].as_bool().unwrap(), "stepped at {k}");
        assert_eq!(scaler.get_scale(), num(&s["scale"]), "scale after step {k}");
        assert_eq!(scaler.state_dict().growth_tracker, s["growth_tracker"].as_u64().unwrap(), "tracker at {k}");
        let want: Vec<f32> = s["param"].as_array().unwrap().iter().map(|v| num(v) as f32).collect();
        assert_eq!(w.to_vec::<f32>(), want, "parameter after step {k}");
        opt.zero_grad();
    }
    let sd = &f["state_dict"];
    let want = ScalerState {
        scale: num(&sd["scale"]),
        growth_factor: num(&sd["growth_factor"]),
        backoff_factor: num(&sd["backoff_factor"]),
        growth_interval: sd["growth_interval"].as_u64().unwrap(),
        growth_tracker: sd["_growth_tracker"].as_u64().unwrap(),
    };
    assert_eq!(scaler.state_dict(), want);
    let mut again = GradScaler::new();
    again.load_state_dict(&want);
    assert_eq!(again.state_dict(), want);
}

#[test]
fn misuse_is_an_error_and_disabled_passes_through() {
    let w = Tensor::ones(&[2], DType::F32);
    w.requires_grad_(true);
    let mut opt = Optim::new(vec![w.clone()], Sgd::new(0.5));
    let mut s = GradScaler::new();
    let e = s.update().unwrap_err();
    assert!(e.to_string().contains("No inf checks were recorded"), "{e}");
    w.set_grad(Some(Tensor::ones(&[2], DType::F32)));
    s.unscale_(&opt).unwrap();
    assert!(s.unscale_(&opt).unwrap_err().to_string().contains("already been called"));
    // The gradient was unscaled once, in place.
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![1.0 / 65536.0; 2]);
    assert!(s.step(&mut opt).unwrap());
    assert!(s.step(&mut opt).unwrap_err().to_string().contains("step() has already been called"));
    s.update().unwrap();
    // Two optimizers: each is unscaled before it steps, and a non-finite gradient in
    // either backs the scale off for both.
    let v = Tensor::ones(&[2], DType::F32);
    v.requires_grad_(true);
    let mut opt2 = Optim::new(vec![v.clone()], Sgd::new(0.5));
    let scale = s.get_scale();
    w.set_grad(Some(Tensor::full(&[2], scale, DType::F32)));
    v.set_grad(Some(Tensor::from_vec(vec![f32::NAN, 1.0], &[2])));
    assert!(s.step(&mut opt).unwrap());
    assert!(!s.step(&mut opt2).unwrap());
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![1.0; 2], "the first optimizer's gradients were unscaled");
    s.update().unwrap();
    assert_eq!(s.get_scale(), scale * 0.5);
    let mut off = GradScaler::new();
    off.enabled = false;
    assert_eq!(off.scale(&Tensor::scalar(2.0f32)).item::<f32>(), 2.0);
    w.set_grad(Some(Tensor::from_vec(vec![f32::INFINITY, 0.0], &[2])));
    assert!(off.step(&mut opt).unwrap(), "disabled: steps whatever the gradients");
    assert_eq!(off.get_scale(), 1.0);
}
