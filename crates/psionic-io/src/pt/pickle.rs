//! A restricted pickle reader: the opcodes `torch.save` (protocol 2) emits and only the
//! globals that `torch.load(weights_only=True)` allows. Nothing is ever called or
//! imported: an allowed global becomes a [`Global`] marker whose meaning the reader
//! knows (`OrderedDict`, `_rebuild_tensor_v2`, a storage type, a dtype); any other
//! global is a [`IoError::Forbidden`] error, so a pickle that names `os.system` fails
//! before anything happens.

use crate::error::{IoError, Result};
use crate::raw::Elem;
use std::cell::RefCell;
use std::rc::Rc;

const F: &str = "pt";

/// A storage as `torch.save` names it: its element type, record key and element count.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    pub elem: Elem,
    pub key: String,
    pub numel: usize,
}

/// A tensor view into a storage, before its bytes are read.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
    pub requires_grad: bool,
}

/// The allowed globals the reader understands.
#[derive(Clone, Debug, PartialEq)]
pub enum Global {
    OrderedDict,
    Counter,
    Parameter,
    TensorType,
    Size,
    Device,
    Encode,
    ByteArray,
    Set,
    Complex,
    GetLayout,
    StorageType(Elem),
    Dtype(Option<Elem>),
    RebuildTensor,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    /// Allowed by PyTorch but not something Psionic holds (quantized or sparse
    /// tensors, tensor subclasses): loading one is an `Unsupported` error.
    Unsupported(String),
}

/// A pickled value. Lists, dicts and sets are shared cells because pickle mutates
/// containers after memoising them.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Set(Rc<RefCell<Vec<Value>>>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
    Layout(String),
}

/// Dropping takes containers apart with an explicit stack: a hostile pickle can nest
/// lists a million deep in a few megabytes, and a recursive drop would overflow the
/// thread's stack.
impl Drop for Value {
    fn drop(&mut self) {
        let mut pending = vec![];
        take_children(self, &mut pending);
        while let Some(mut v) = pending.pop() {
            take_children(&mut v, &mut pending);
        }
    }
}

/// Moves `v`'s children (those no other handle shares) into `out`.
fn take_children(v: &mut Value, out: &mut Vec<Value>) {
    match v {
        Value::Tuple(items) => out.append(items),
        Value::List(l) | Value::Set(l) => {
            if let Some(cell) = Rc::get_mut(l) {
                out.append(cell.get_mut());
            }
        }
        Value::Dict(d) => {
            if let Some(cell) = Rc::get_mut(d) {
                for (k, x) in cell.get_mut().drain(..) {
                    out.push(k);
                    out.push(x);
                }
            }
        }
        _ => {}
    }
}

fn bad(msg: impl Into<String>) -> IoError {
    IoError::format(F, msg)
}

/// The allowed global `module.name`, or `Forbidden`.
fn global(module: &str, name: &str) -> Result<Global> {
    const STORAGES: [(&str, Elem); 10] = [
        ("FloatStorage", Elem::F32),
        ("DoubleStorage", Elem::F64),
        ("HalfStorage", Elem::F16),
        ("BFloat16Storage", Elem::BF16),
        ("LongStorage", Elem::I64),
        ("IntStorage", Elem::I32),
        ("ShortStorage", Elem::I16),
        ("CharStorage", Elem::I8),
        ("ByteStorage", Elem::U8),
        ("BoolStorage", Elem::Bool),
    ];
    const DTYPES: [(&str, Elem); 17] = [
        ("float32", Elem::F32),
        ("float", Elem::F32),
        ("float64", Elem::F64),
        ("double", Elem::F64),
        ("float16", Elem::F16),
        ("half", Elem::F16),
        ("bfloat16", Elem::BF16),
        ("int64", Elem::I64),
        ("long", Elem::I64),
        ("int32", Elem::I32),
        ("int", Elem::I32),
        ("int16", Elem::I16),
        ("short", Elem::I16),
        ("int8", Elem::I8),
        ("uint8", Elem::U8),
        ("bool", Elem::Bool),
        ("uint16", Elem::U16),
    ];
    let g = match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("collections", "Counter") => Global::Counter,
        ("torch.nn.parameter", "Parameter") => Global::Parameter,
        ("torch", "Size") => Global::Size,
        ("torch", "device") => Global::Device,
        ("torch", "Tensor") => Global::TensorType,
        ("_codecs", "encode") => Global::Encode,
        ("builtins" | "__builtin__", "bytearray") => Global::ByteArray,
        ("builtins" | "__builtin__", "set") => Global::Set,
        ("builtins" | "__builtin__", "complex") => Global::Complex,
        ("torch.serialization", "_get_layout") => Global::GetLayout,
        ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
        ("torch._utils", f) if f.starts_with("_rebuild_") => Global::Unsupported(format!("torch._utils.{f}")),
        ("torch", s) if s.ends_with("Storage") => match STORAGES.iter().find(|(n, _)| *n == s) {
            Some((_, e)) => Global::StorageType(*e),
            None => Global::Unsupported(format!("torch.{s}")),
        },
        ("torch", d) => match DTYPES.iter().find(|(n, _)| *n == d) {
            Some((_, e)) => Global::Dtype(Some(*e)),
            None if d.starts_with("complex")
                || d.starts_with("float8")
                || d.starts_with("uint")
                || d.starts_with("int") =>
            {
                Global::Dtype(None)
            }
            None if d.starts_with("per_") || d.ends_with("Tensor") => Global::Unsupported(format!("torch.{d}")),
            None => return Err(IoError::Forbidden { format: F, what: format!("{module}.{name}") }),
        },
        _ => return Err(IoError::Forbidden { format: F, what: format!("{module}.{name}") }),
    };
    Ok(g)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| {
            bad(format!(
                "pickle truncated: wanted {n} bytes at offset {}, {} remain",
                self.pos,
                self.data.len() - self.pos
            ))
        })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("pickle truncated inside a GLOBAL"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| bad("GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
    fn utf8(&mut self, n: usize) -> Result<String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }
}

/// Runs the pickle in `data` and returns the object it builds.
pub fn load(data: &[u8]) -> Result<Value> {
    let mut r = Reader { data, pos: 0 };
    let mut stack: Vec<Value> = vec![];
    let mut marks: Vec<usize> = vec![];
    let mut memo: std::collections::HashMap<u32, Value> = Default::default();
    let pop = |stack: &mut Vec<Value>| stack.pop().ok_or_else(|| bad("pickle stack underflow"));
    let pop_mark = |stack: &mut Vec<Value>, marks: &mut Vec<usize>| -> Result<Vec<Value>> {
        let m = marks.pop().ok_or_else(|| bad("pickle MARK missing"))?;
        if m > stack.len() {
            return Err(bad("pickle MARK beyond the stack"));
        }
        Ok(stack.split_off(m))
    };
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                let proto = r.u8()?;
                if proto > 5 {
                    return Err(bad(format!("pickle protocol {proto} is not supported")));
                }
            }
            0x95 => {
                r.u64()?; // FRAME: a length prefix, nothing to do
            }
            b'.' => return pop(&mut stack),
            b'(' => marks.push(stack.len()),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'J' => stack.push(Value::Int(r.u32()? as i32 as i64)),
            b'K' => stack.push(Value::Int(r.u8()? as i64)),
            b'M' => stack.push(Value::Int(r.u16()? as i64)),
            0x8a => {
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                if n > 8 {
                    return Err(IoError::unsupported(F, "int", format!("a {n}-byte integer exceeds i64")));
                }
                let mut w = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                w[..n].copy_from_slice(b);
                stack.push(Value::Int(i64::from_le_bytes(w)));
            }
            b'G' => stack.push(Value::Float(f64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes")))),
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(Value::Str(r.utf8(n)?));
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(Value::Str(r.utf8(n)?));
            }
            0x8d => {
                let n = usize::try_from(r.u64()?).map_err(|_| bad("string length overflows"))?;
                stack.push(Value::Str(r.utf8(n)?));
            }
            b'U' => {
                // SHORT_BINSTRING: Python 2 str, read as Latin-1 text (as torch does for ASCII names).
                let n = r.u8()? as usize;
                stack.push(Value::Str(r.take(n)?.iter().map(|&b| b as char).collect()));
            }
            b'C' => {
                let n = r.u8()? as usize;
                stack.push(Value::Bytes(r.take(n)?.to_vec()));
            }
            b'B' => {
                let n = r.u32()? as usize;
                stack.push(Value::Bytes(r.take(n)?.to_vec()));
            }
            b')' => stack.push(Value::Tuple(vec![])),
            b't' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(bad("pickle stack underflow"));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b']' => stack.push(Value::List(Default::default())),
            b'}' => stack.push(Value::Dict(Default::default())),
            0x8f => stack.push(Value::Set(Default::default())),
            b'c' => {
                let module = r.line()?.to_string();
                let name = r.line()?;
                stack.push(Value::Global(global(&module, name)?));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (&module, &name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Value::Global(global(m, n)?)),
                    _ => return Err(bad("STACK_GLOBAL needs two strings")),
                }
            }
            b'q' => {
                let i = r.u8()? as u32;
                memo.insert(i, stack.last().cloned().ok_or_else(|| bad("BINPUT on an empty stack"))?);
            }
            b'r' => {
                let i = r.u32()?;
                memo.insert(i, stack.last().cloned().ok_or_else(|| bad("LONG_BINPUT on an empty stack"))?);
            }
            0x94 => {
                let i = memo.len() as u32;
                memo.insert(i, stack.last().cloned().ok_or_else(|| bad("MEMOIZE on an empty stack"))?);
            }
            b'h' | b'j' => {
                let i = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                stack.push(memo.get(&i).cloned().ok_or_else(|| bad(format!("memo key {i} was never stored")))?);
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(persistent(pid)?);
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                stack.push(reduce(f, args)?);
            }
            0x81 => {
                let args = pop(&mut stack)?;
                let cls = pop(&mut stack)?;
                stack.push(reduce(cls, args)?);
            }
            b'b' => {
                let state = pop(&mut stack)?;
                let obj = stack.last().ok_or_else(|| bad("BUILD on an empty stack"))?;
                // PyTorch allows BUILD on tensors, parameters and OrderedDicts only; the
                // state is Python attributes (`_metadata`), which a weights file does not need.
                match obj {
                    Value::Dict(_) | Value::Tensor(_) => drop(state),
                    _ => return Err(bad("BUILD is only allowed on tensors and OrderedDicts")),
                }
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match stack.last() {
                    Some(Value::List(l)) => l.borrow_mut().push(v),
                    _ => return Err(bad("APPEND needs a list")),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                match stack.last() {
                    Some(Value::List(l)) => l.borrow_mut().extend(items),
                    _ => return Err(bad("APPENDS needs a list")),
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                match stack.last() {
                    Some(Value::Dict(d)) => d.borrow_mut().push((k, v)),
                    _ => return Err(bad("SETITEM needs a dict")),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                if items.len() % 2 != 0 {
                    return Err(bad("SETITEMS needs key/value pairs"));
                }
                match stack.last() {
                    Some(Value::Dict(d)) => {
                        let mut d = d.borrow_mut();
                        for kv in items.chunks(2) {
                            d.push((kv[0].clone(), kv[1].clone()));
                        }
                    }
                    _ => return Err(bad("SETITEMS needs a dict")),
                }
            }
            0x90 => {
                let items = pop_mark(&mut stack, &mut marks)?;
                match stack.last() {
                    Some(Value::Set(s)) => s.borrow_mut().extend(items),
                    _ => return Err(bad("ADDITEMS needs a set")),
                }
            }
            other => return Err(bad(format!("pickle opcode 0x{other:02x} is not allowed in a weights file"))),
        }
    }
}

fn int(v: &Value, what: &str) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(bad(format!("{what} is not an integer"))),
    }
}

fn usizes(v: &Value, what: &str) -> Result<Vec<usize>> {
    match v {
        Value::Tuple(items) => items
            .iter()
            .map(|x| usize::try_from(int(x, what)?).map_err(|_| bad(format!("{what} has a negative entry"))))
            .collect(),
        _ => Err(bad(format!("{what} is not a tuple"))),
    }
}

/// `('storage', storage_type, key, location, numel)`.
fn persistent(pid: Value) -> Result<Value> {
    let Value::Tuple(t) = &pid else { return Err(bad("persistent id is not a tuple")) };
    match t.as_slice() {
        [Value::Str(kind), Value::Global(g), Value::Str(key), _location, numel] if kind == "storage" => {
            let elem = match g {
                Global::StorageType(e) => *e,
                Global::Dtype(Some(e)) => *e,
                other => return Err(IoError::unsupported(F, format!("{other:?}"), "not a storage type Psionic reads")),
            };
            let numel = usize::try_from(int(numel, "storage size")?).map_err(|_| bad("negative storage size"))?;
            Ok(Value::Storage(StorageRef { elem, key: key.clone(), numel }))
        }
        _ => Err(bad("persistent id is not a ('storage', type, key, location, numel) tuple")),
    }
}

fn reduce(f: Value, args: Value) -> Result<Value> {
    let Value::Global(g) = &f else { return Err(bad("REDUCE of something that is not an allowed global")) };
    let Value::Tuple(a) = &args else { return Err(bad("REDUCE arguments are not a tuple")) };
    let g = g.clone();
    Ok(match g {
        Global::OrderedDict | Global::Counter if a.is_empty() => Value::Dict(Default::default()),
        Global::Set if a.len() <= 1 => {
            let items = match a.first() {
                Some(Value::List(l)) => l.borrow().clone(),
                Some(Value::Tuple(t)) => t.clone(),
                None => vec![],
                _ => return Err(bad("set() of something that is not a list")),
            };
            Value::Set(Rc::new(RefCell::new(items)))
        }
        Global::Size if a.len() == 1 => a[0].clone(),
        Global::Device => Value::Str(match a.first() {
            Some(Value::Str(s)) => s.clone(),
            _ => "cpu".into(),
        }),
        Global::Encode => match a.first() {
            Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
            _ => return Err(bad("_codecs.encode needs a string")),
        },
        Global::ByteArray => match a.first() {
            Some(Value::Bytes(b)) => Value::Bytes(b.clone()),
            None => Value::Bytes(vec![]),
            _ => return Err(bad("bytearray() needs bytes")),
        },
        Global::Complex => match a.as_slice() {
            [Value::Float(re), Value::Float(im)] => Value::Complex(*re, *im),
            _ => return Err(bad("complex() needs two floats")),
        },
        Global::GetLayout => Value::Layout(match a.first() {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        }),
        Global::RebuildTensor | Global::RebuildTensorV2 if a.len() >= 4 => {
            let Value::Storage(storage) = &a[0] else {
                return Err(bad("tensor rebuilt from something that is not a storage"));
            };
            let offset = usize::try_from(int(&a[1], "storage offset")?).map_err(|_| bad("negative storage offset"))?;
            let size = usizes(&a[2], "size")?;
            let stride = usizes(&a[3], "stride")?;
            let requires_grad = matches!(a.get(4), Some(Value::Bool(true)));
            Value::Tensor(TensorRef { storage: storage.clone(), offset, size, stride, requires_grad })
        }
        Global::RebuildParameter | Global::RebuildParameterWithState if a.len() >= 2 => match (&a[0], &a[1]) {
            (Value::Tensor(t), Value::Bool(rg)) => Value::Tensor(TensorRef { requires_grad: *rg, ..t.clone() }),
            _ => return Err(bad("Parameter rebuilt from something that is not a tensor")),
        },
        // `_rebuild_from_type_v2(func, type, args, state)`: a plain Tensor or Parameter
        // rebuilt by `func(*args)`.
        Global::RebuildFromTypeV2 if a.len() >= 3 => {
            if !matches!(a[1], Value::Global(Global::Parameter | Global::TensorType)) {
                return Err(IoError::unsupported(F, "tensor subclass", "only torch.Tensor and Parameter are read"));
            }
            reduce(a[0].clone(), a[2].clone())?
        }
        Global::Unsupported(what) => {
            return Err(IoError::unsupported(F, what, "Psionic reads dense tensors only"));
        }
        other => return Err(bad(format!("{other:?} called with {} arguments it does not take", a.len()))),
    })
}
