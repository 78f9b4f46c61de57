//! Devices. Each device value names a backend (see `psionic_array::backend`): `Cpu` runs
//! Psionic's kernels, `Meta` holds shapes, dtypes and strides without storage (PyTorch's
//! `meta` device). A CUDA device value exists so that code written for it compiles and
//! gets a typed refusal instead of silently running elsewhere.

use crate::Error;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// Tensors with metadata only: ops infer their results' shapes and nothing is
    /// computed or stored, so a model too large for memory can be built and inspected.
    Meta,
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Meta => write!(f, "meta"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// PyTorch's device strings: `cpu`, `meta`, `cuda`, `cuda:N`.
impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Device, Error> {
        let bad = || {
            Error::invalid(
                "device",
                format!("Expected one of cpu, meta, cuda device type at start of device string: {s}"),
            )
        };
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (
                k,
                Some(
                    i.parse::<usize>()
                        .map_err(|_| Error::invalid("device", format!("Invalid device string: '{s}'")))?,
                ),
            ),
            None => (s, None),
        };
        match (kind, index) {
            ("cpu", None | Some(0)) => Ok(Device::Cpu),
            ("meta", None | Some(0)) => Ok(Device::Meta),
            ("cuda", i) => Ok(Device::Cuda(i.unwrap_or(0))),
            _ => Err(bad()),
        }
    }
}
