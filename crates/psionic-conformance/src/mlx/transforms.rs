//! MLX's function transforms on Psionic's: `grad`, `value_and_grad`, `vjp`, `jvp`,
//! `vmap`, `custom_function` (with its vjp/jvp/vmap rules), `checkpoint` and `compile`. Function
//! values are interpreter closures; inside Psionic's transforms, where a closure cannot
//! return an error, a mapping miss travels as a panic carrying the [`Miss`] and is turned
//! back into `unsupported` where the case is run.

use super::program::Call;
use super::value::{arrays, pack, tensors, Func, Val};
use crate::torch::{unsupported, Miss, R};
use psionic_array::autodiff::{self, CustomFunction};
use psionic_array::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `r`'s value, or the miss raised as a panic (caught by the case runner).
fn must<T>(r: R<T>) -> T {
    r.unwrap_or_else(|m| std::panic::panic_any(m))
}

fn vals(xs: &[Tensor]) -> Vec<Val> {
    xs.iter().cloned().map(Val::T).collect()
}

/// `f` on tensors, returning its output arrays.
fn on_tensors(f: &Func, xs: &[Tensor]) -> Vec<Tensor> {
    must(f(&vals(xs)).and_then(|v| tensors(&v)))
}

/// `f` as a function of tensors for a Psionic transform, and a flag telling whether its
/// last call returned one array (so the transformed function returns one too).
fn tensor_fn(f: Func) -> (impl Fn(&[Tensor]) -> Vec<Tensor> + Clone + Send + Sync + 'static, Arc<AtomicBool>) {
    let single = Arc::new(AtomicBool::new(true));
    let s = single.clone();
    let body = move |xs: &[Tensor]| {
        let v = must(f(&vals(xs)));
        s.store(matches!(v, Val::T(_)), Ordering::Relaxed);
        must(tensors(&v))
    };
    (body, single)
}

/// One int or a list of them (`argnums`); `None` when absent.
fn argnums(v: Option<&Val>) -> R<(Vec<usize>, bool)> {
    match v {
        None => Ok((vec![0], true)),
        Some(Val::Int(i)) => Ok((vec![*i as usize], true)),
        Some(Val::List(xs)) => Ok((xs.iter().map(|x| x.i64().map(|i| i as usize)).collect::<R<_>>()?, false)),
        Some(_) => unsupported("argnums form"),
    }
}

/// Per-argument vmap axes from an int, `None` or a list of those.
fn axes(v: Option<&Val>, n: usize) -> R<Vec<Option<i64>>> {
    let one = |v: &Val| match v {
        Val::None => Ok(None),
        Val::Int(i) => Ok(Some(*i)),
        _ => unsupported("vmap axes form"),
    };
    Ok(match v {
        None => vec![Some(0); n],
        Some(Val::List(xs)) => xs.iter().map(one).collect::<R<_>>()?,
        Some(v) => vec![one(v)?; n],
    })
}

fn func(f: impl Fn(&[Val]) -> R<Val> + Send + Sync + 'static) -> R<Val> {
    Ok(Val::Fn(Arc::new(f)))
}

pub fn call(c: &Call) -> Option<R<Val>> {
    let f = || c.arg(0, "fun").and_then(|f| f.func().cloned());
    Some(match c.name {
        "grad" | "value_and_grad" => (|| {
            c.only(2, &["argnums"])?;
            let (f, (nums, single)) = (f()?, argnums(c.get(1, "argnums"))?);
            let with_value = c.name == "value_and_grad";
            func(move |args: &[Val]| {
                let xs = arrays(args)?;
                let f = f.clone();
                let scalar = move |xs: &[Tensor]| -> Tensor {
                    let mut out = on_tensors(&f, xs);
                    if out.len() != 1 {
                        std::panic::panic_any(Miss::Unsupported("grad of a function with several outputs".into()));
                    }
                    out.remove(0)
                };
                let (value, grads) = autodiff::value_and_grad(scalar, &nums)(&xs);
                let g = pack(grads, single);
                Ok(if with_value { Val::List(vec![Val::T(value), g]) } else { g })
            })
        })(),
        "vjp" | "jvp" => (|| {
            c.only(3, &[])?;
            let f = f()?;
            let primals = tensors(c.arg(1, "primals")?)?;
            let seeds = tensors(c.arg(2, "cotangents")?)?;
            let run = |xs: &[Tensor]| on_tensors(&f, xs);
            let (outs, ds) = if c.name == "vjp" {
                autodiff::vjp(run, &primals, &seeds)
            } else {
                autodiff::jvp(run, &primals, &seeds)
            };
            Ok(Val::List(vec![pack(outs, false), pack(ds, false)]))
        })(),
        "vmap" => (|| {
            c.only(3, &["in_axes", "out_axes"])?;
            let (f, in_ax, out_ax) = (f()?, c.get(1, "in_axes").cloned(), c.get(2, "out_axes").cloned());
            func(move |args: &[Val]| {
                let xs = arrays(args)?;
                let ins = axes(in_ax.as_ref(), xs.len())?;
                let outs = axes(out_ax.as_ref(), 1)?;
                let (body, single) = tensor_fn(f.clone());
                let ys = autodiff::vmap(body, &ins, &outs)(&xs);
                Ok(pack(ys, single.load(Ordering::Relaxed)))
            })
        })(),
        "checkpoint" => (|| {
            c.only(1, &[])?;
            let (body, single) = tensor_fn(f()?);
            let ck = autodiff::checkpoint(body);
            func(move |args: &[Val]| {
                let xs = arrays(args)?;
                Ok(pack(ck(&xs), single.load(Ordering::Relaxed)))
            })
        })(),
        "compile" => (|| {
            c.only(1, &["shapeless"])?;
            let (body, single) = tensor_fn(f()?);
            let compiled = psionic_compiler::compile(body).shapeless(Call::flag(c.kw("shapeless"), false)?);
            func(move |args: &[Val]| {
                let xs = arrays(args)?;
                // Replays do not run the function, so its arity flag is from the trace.
                Ok(pack(compiled.call(&xs), single.load(Ordering::Relaxed)))
            })
        })(),
        _ => return None,
    })
}

/// `mx.custom_function(f)` with the rules given. MLX hands a rule the primals (one array
/// when `f` takes one, else a tuple), the cotangents and outputs (one array when `f`
/// returns one); a vmap rule gets the inputs and their axes and returns the outputs and
/// theirs.
pub fn custom(f: Func, vjp: Option<Func>, jvp: Option<Func>, vmap: Option<Func>) -> R<Val> {
    let single_out = Arc::new(AtomicBool::new(true));
    let (fw, s) = (f.clone(), single_out.clone());
    let mut cf = CustomFunction::new("custom_function", move |xs: &[Tensor]| {
        let v = must(fw(&vals(xs)));
        s.store(matches!(v, Val::T(_)), Ordering::Relaxed);
        must(tensors(&v))
    });
    let group = |xs: &[Tensor], single: bool| pack(xs.to_vec(), single);
    if let Some(rule) = vjp {
        let s = single_out.clone();
        cf = cf.with_vjp(move |p: &[Tensor], cot: &[Tensor], out: &[Tensor]| {
            let one = s.load(Ordering::Relaxed);
            let g = must(rule(&[group(p, p.len() == 1), group(cot, one), group(out, one)]));
            must(tensors(&g)).into_iter().map(Some).collect()
        });
    }
    if let Some(rule) = jvp {
        cf = cf.with_jvp(move |p: &[Tensor], t: &[Tensor]| {
            let single = p.len() == 1;
            must(rule(&[group(p, single), group(t, single)]).and_then(|v| tensors(&v)))
        });
    }
    if let Some(rule) = vmap {
        cf = cf.with_vmap(move |xs: &[Tensor], ax: &[Option<usize>]| {
            let single = xs.len() == 1;
            let ax_val = |a: &Option<usize>| a.map_or(Val::None, |a| Val::Int(a as i64));
            let axes = if single { ax_val(&ax[0]) } else { Val::List(ax.iter().map(ax_val).collect()) };
            let r = must(rule(&[group(xs, single), axes]));
            let parts = must(r.list().map(<[Val]>::to_vec));
            if parts.len() != 2 {
                std::panic::panic_any(Miss::Unsupported("vmap rule must return (outputs, axes)".into()));
            }
            let outs = must(tensors(&parts[0]));
            let out_axes = match &parts[1] {
                Val::Int(a) => vec![Some(*a as usize); outs.len()],
                Val::None => vec![None; outs.len()],
                Val::List(v) => v.iter().map(|a| if let Val::Int(a) = a { Some(*a as usize) } else { None }).collect(),
                _ => std::panic::panic_any(Miss::Unsupported("vmap rule axes".into())),
            };
            (outs, out_axes)
        });
    }
    let cf = Arc::new(cf);
    func(move |args: &[Val]| {
        let xs = arrays(args)?;
        let ys = cf.call(&xs);
        Ok(pack(ys, single_out.load(Ordering::Relaxed)))
    })
}
