//! Shape arithmetic: element counts, dim normalisation, broadcasting.

use crate::error::{Error, Result};

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Maps a possibly negative dim into `0..ndim` (PyTorch's `maybe_wrap_dim`). A scalar
/// (ndim 0) accepts dims 0 and -1, as PyTorch does.
pub fn normalize_dim(op: &'static str, dim: i64, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as i64;
    if dim < -n || dim >= n {
        return Err(Error::DimOutOfRange { op, dim, lo: -n, hi: n - 1 });
    }
    Ok(if dim < 0 { (dim + n) as usize } else { dim as usize })
}

/// Same as [`normalize_dim`] for an insertion point (`unsqueeze`), which ranges over
/// `ndim + 1` positions.
pub fn normalize_insert_dim(op: &'static str, dim: i64, ndim: usize) -> Result<usize> {
    normalize_dim(op, dim, ndim + 1)
}

/// Normalises a list of dims and refuses repeats, as reductions and permute do.
pub fn normalize_dims(op: &'static str, dims: &[i64], ndim: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let n = normalize_dim(op, d, ndim)?;
        if out.contains(&n) {
            return Err(Error::invalid(op, format!("dim {n} appears multiple times in the list of dims")));
        }
        out.push(n);
    }
    Ok(out)
}

/// NumPy/PyTorch broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<crate::Dims> {
    let n = a.len().max(b.len());
    let mut out = crate::Dims::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out.push(if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!(
                    "The size of tensor a ({da}) must match the size of tensor b ({db}) at non-singleton dimension {i} (shapes {a:?} and {b:?})"
                ),
            ));
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dims_wrap() {
        assert_eq!(normalize_dim("t", -1, 3).unwrap(), 2);
        assert_eq!(normalize_dim("t", 0, 0).unwrap(), 0);
        assert_eq!(normalize_dim("t", -1, 0).unwrap(), 0);
        let e = normalize_dim("sum", 3, 3).unwrap_err().to_string();
        assert!(e.contains("[-3, 2]") && e.contains("got 3"), "{e}");
        assert!(normalize_dims("p", &[0, -3], 3).is_err());
    }

    #[test]
    fn broadcast_examples() {
        assert_eq!(broadcast_shapes("b", &[3, 1, 5], &[4, 1]).unwrap().to_vec(), vec![3, 4, 5]);
        assert_eq!(broadcast_shapes("b", &[], &[2, 3]).unwrap().to_vec(), vec![2, 3]);
        assert_eq!(broadcast_shapes("b", &[0], &[1]).unwrap().to_vec(), vec![0]);
        let e = broadcast_shapes("add", &[3], &[4]).unwrap_err().to_string();
        assert!(e.contains("size of tensor a (3) must match the size of tensor b (4)"), "{e}");
    }

    proptest! {
        #[test]
        fn broadcast_is_symmetric_and_absorbs_ones(
            a in proptest::collection::vec(1usize..4, 0..4),
            ones in proptest::collection::vec(Just(1usize), 0..4),
        ) {
            prop_assert_eq!(broadcast_shapes("b", &a, &ones).is_ok(), true);
            let ab = broadcast_shapes("b", &a, &ones).unwrap();
            let ba = broadcast_shapes("b", &ones, &a).unwrap();
            prop_assert_eq!(&ab, &ba);
            prop_assert_eq!(numel(&ab), numel(&a));
            prop_assert_eq!(broadcast_shapes("b", &a, &a).unwrap().to_vec(), a);
        }
    }
}
