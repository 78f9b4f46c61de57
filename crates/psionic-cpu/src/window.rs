//! Helpers shared by the kernels that walk windows over 1- to 3-d spatial dims (max
//! pooling's search, the convolution geometry).

/// `v` (1 to 3 per-dim values) with leading `fill`s added up to three dims, so one loop
/// nest serves 1-, 2- and 3-d windows.
pub(crate) fn lift3(v: &[usize], fill: usize) -> [usize; 3] {
    let mut a = [fill; 3];
    a[3 - v.len()..].copy_from_slice(v);
    a
}
