use super::*;
use proptest::prelude::*;

fn offsets(l: &Layout) -> Vec<usize> {
    let mut out = vec![];
    crate::strided::for_each_offset(l, |o| out.push(o));
    out
}

#[test]
fn contiguous_and_transpose() {
    let l = Layout::contiguous(&[2, 3]);
    assert!(l.is_contiguous());
    assert_eq!(offsets(&l), vec![0, 1, 2, 3, 4, 5]);
    let t = l.transpose("t", 0, 1).unwrap();
    assert!(!t.is_contiguous());
    assert_eq!(offsets(&t), vec![0, 3, 1, 4, 2, 5]);
}

#[test]
fn slice_with_step_and_clamping() {
    let l = Layout::contiguous(&[10]);
    assert_eq!(offsets(&l.slice("s", 0, Some(1), Some(8), 3).unwrap()), vec![1, 4, 7]);
    assert_eq!(offsets(&l.slice("s", 0, Some(-3), None, 1).unwrap()), vec![7, 8, 9]);
    assert_eq!(l.slice("s", 0, Some(20), Some(30), 1).unwrap().numel(), 0);
    assert!(l.slice("s", 0, None, None, 0).is_err());
    assert!(l.narrow("n", 0, 8, 3).is_err());
}

#[test]
fn diagonal_offsets() {
    let l = Layout::contiguous(&[3, 4]);
    assert_eq!(offsets(&l.diagonal("d", 0, 0, 1).unwrap()), vec![0, 5, 10]);
    assert_eq!(offsets(&l.diagonal("d", 1, 0, 1).unwrap()), vec![1, 6, 11]);
    assert_eq!(offsets(&l.diagonal("d", -1, 0, 1).unwrap()), vec![4, 9]);
    assert_eq!(l.diagonal("d", 5, 0, 1).unwrap().numel(), 0);
}

#[test]
fn view_of_transposed_needs_copy() {
    let t = Layout::contiguous(&[2, 3]).transpose("t", 0, 1).unwrap();
    assert!(t.view(&[6]).is_none());
    // Splitting a dim of a non-contiguous layout is fine.
    let s = Layout::contiguous(&[4, 6]).slice("s", 1, Some(0), Some(4), 1).unwrap();
    let v = s.view(&[2, 2, 4]).unwrap();
    assert_eq!(offsets(&v), offsets(&s));
    assert!(s.view(&[16]).is_none());
}

#[test]
fn unfold_windows() {
    let l = Layout::contiguous(&[7]);
    let u = l.unfold("u", 0, 3, 2).unwrap();
    assert_eq!(u.shape.to_vec(), vec![3, 3]);
    assert_eq!(offsets(&u), vec![0, 1, 2, 2, 3, 4, 4, 5, 6]);
}

#[test]
fn expand_errors_in_pytorch_words() {
    let l = Layout::contiguous(&[3]);
    let e = l.expand("expand", &[2, 4]).unwrap_err().to_string();
    assert!(e.contains("expanded size of the tensor (4) must match the existing size (3)"), "{e}");
    assert!(l.expand("expand", &[2, 3]).unwrap().has_internal_overlap());
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..5, 1..5)
}

proptest! {
    // Composing views must address the same elements as doing the same index arithmetic
    // by hand on the contiguous original.
    #[test]
    fn permute_then_view_back_round_trips(shape in shape_strategy(), seed in 0u64..1000) {
        let l = Layout::contiguous(&shape);
        let n = shape.len();
        let mut perm: Vec<i64> = (0..n as i64).collect();
        // Deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let p = l.permute("p", &perm).unwrap();
        let mut inv = vec![0i64; n];
        for (i, &d) in perm.iter().enumerate() { inv[d as usize] = i as i64; }
        let back = p.permute("p", &inv).unwrap();
        prop_assert_eq!(offsets(&back), offsets(&l));
        prop_assert!(back.is_contiguous());
    }

    #[test]
    fn view_preserves_element_order(shape in shape_strategy(), start in 0usize..3) {
        let l = Layout::contiguous(&shape);
        let last = shape.len() - 1;
        let s = start.min(shape[last] - 1);
        let sl = l.slice("s", last as i64, Some(s as i64), None, 1).unwrap();
        let flat: Vec<usize> = vec![sl.numel()];
        match sl.view(&flat) {
            Some(v) => prop_assert_eq!(offsets(&v), offsets(&sl)),
            None => prop_assert!(!sl.is_contiguous() && sl.numel() > 1),
        }
        // Unsqueeze then squeeze is the identity.
        let u = sl.unsqueeze("u", 0).unwrap().squeeze("s", Some(&[0])).unwrap();
        prop_assert_eq!(offsets(&u), offsets(&sl));
    }

    #[test]
    fn slice_step_matches_index_arithmetic(n in 1usize..20, start in 0i64..20, step in 1i64..5) {
        let l = Layout::contiguous(&[n]);
        let got = offsets(&l.slice("s", 0, Some(start), None, step).unwrap());
        let want: Vec<usize> = (start.min(n as i64)..n as i64).step_by(step as usize).map(|i| i as usize).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn flip_reverses_offsets_along_each_dim() {
    let l = Layout::contiguous(&[2, 3]);
    assert_eq!(offsets(&l.flip(&[1])), vec![2, 1, 0, 5, 4, 3]);
    assert_eq!(offsets(&l.flip(&[0, 1])), vec![5, 4, 3, 2, 1, 0]);
    // A flipped transpose, and an empty tensor, whose offset stays put.
    let t = l.permute("t", &[1, 0]).unwrap();
    assert_eq!(offsets(&t.flip(&[0])), vec![2, 5, 1, 4, 0, 3]);
    assert_eq!(Layout::contiguous(&[0, 3]).flip(&[1]).offset, 0);
}

#[test]
fn overlap_detection() {
    let l = |shape: &[usize], strides: &[isize]| Layout { shape: shape.into(), strides: strides.into(), offset: 0 };
    assert!(l(&[2, 3], &[3, 1]).is_non_overlapping());
    assert!(l(&[3, 2], &[1, 3]).is_non_overlapping());
    assert!(l(&[2, 2], &[1, 4]).is_non_overlapping());
    assert!(!l(&[2, 2], &[1, 1]).is_non_overlapping());
    assert!(!l(&[3, 2], &[1, 2]).is_non_overlapping());
    assert!(!l(&[4], &[0]).is_non_overlapping());
    assert!(l(&[1, 5], &[0, 1]).is_non_overlapping());
}
