//! Datasets, samplers and the DataLoader: PyTorch's seeded orders (values printed by
//! torch 2.15 for the same seeds), order independent of workers, and the readers'
//! formats and errors.

use psionic_array::random::Generator;
use psionic_array::{DType, Tensor};
use psionic_data::readers::cifar::Cifar10;
use psionic_data::readers::csv::parse_csv;
use psionic_data::readers::mnist::{read_idx, write_idx_u8, Mnist};
use psionic_data::readers::text::{ByteTokenizer, CharTokenizer, TokenWindows};
use psionic_data::*;
use std::sync::Arc;

fn batches_of(loader: &DataLoader<std::ops::Range<usize>, Vec<usize>>) -> Vec<Vec<usize>> {
    loader.iter().collect()
}

fn index_loader(n: usize) -> DataLoader<std::ops::Range<usize>, Vec<usize>> {
    DataLoader::with_collate(0..n, |b: Vec<usize>| b)
}

#[test]
fn a_seeded_shuffle_gives_pytorchs_order() {
    // DataLoader(list(range(10)), batch_size=3, shuffle=True, generator=manual_seed(0))
    let l = index_loader(10).batch_size(3).shuffle(true).generator(Generator::with_seed(0));
    assert_eq!(batches_of(&l), [vec![3, 7, 5], vec![2, 0, 8], vec![1, 6, 9], vec![4]]);
    assert_eq!(l.len(), 4);
    let l = l.drop_last(true);
    assert_eq!(l.len(), 3);
}

#[test]
fn samplers_draw_as_pytorchs_do() {
    let r = RandomSampler { n: 5, replacement: true, num_samples: 40, generator: Some(Generator::with_seed(3)) };
    assert_eq!(
        r.sample(),
        [
            1, 3, 2, 2, 0, 0, 0, 0, 1, 4, 4, 1, 0, 4, 1, 4, 0, 4, 0, 4, 1, 4, 1, 1, 2, 3, 2, 4, 4, 0, 0, 1, 4, 3, 4, 2,
            3, 0, 2, 1
        ]
    );
    let r = RandomSampler { n: 4, replacement: false, num_samples: 10, generator: Some(Generator::with_seed(2)) };
    assert_eq!(r.sample(), [0, 1, 3, 2, 0, 3, 1, 2, 2, 0]);
    let w = WeightedRandomSampler {
        weights: vec![0.1, 0.9, 0.4, 0.0],
        num_samples: 6,
        replacement: true,
        generator: Some(Generator::with_seed(5)),
    };
    assert_eq!(w.sample(), [1, 1, 1, 1, 1, 2]);
    let b = BatchSampler::new(Box::new(SequentialSampler(7)), 3, false);
    assert_eq!(b.sample(), [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    assert_eq!(b.len(), 3);
}

#[test]
fn random_split_picks_pytorchs_items() {
    let ds = Arc::new(0..10usize);
    let parts = random_split(ds.clone(), &Split::Lengths(vec![3, 7]), Some(&Generator::with_seed(42))).unwrap();
    assert_eq!(parts[0].indices, [2, 6, 1]);
    assert_eq!(parts[1].indices, [8, 4, 5, 0, 9, 3, 7]);
    let parts =
        random_split(ds.clone(), &Split::Fractions(vec![0.5, 0.3, 0.2]), Some(&Generator::with_seed(1))).unwrap();
    let idx: Vec<Vec<usize>> = parts.iter().map(|p| p.indices.clone()).collect();
    assert_eq!(idx, [vec![5, 6, 1, 2, 0], vec![8, 9, 3], vec![7, 4]]);
    assert!(random_split(ds.clone(), &Split::Lengths(vec![3, 3]), None).is_err());
    assert!(random_split(ds, &Split::Fractions(vec![0.5, 0.6]), None).is_err());
}

#[test]
fn batches_do_not_depend_on_the_number_of_workers() {
    let x = Tensor::arange(0, 100, 1).to_dtype(DType::F32).reshape(&[50, 2]);
    let y = Tensor::arange(0, 50, 1);
    let run = |workers: usize| -> Vec<(Vec<f32>, Vec<i64>)> {
        DataLoader::new(TensorDataset::new(vec![x.clone(), y.clone()]))
            .batch_size(7)
            .shuffle(true)
            .generator(Generator::with_seed(9))
            .num_workers(workers)
            .prefetch_factor(1)
            .iter()
            .map(|b| (b[0].to_vec::<f32>(), b[1].to_vec::<i64>()))
            .collect()
    };
    let serial = run(0);
    assert_eq!(serial.len(), 8);
    assert_eq!(serial.iter().map(|b| b.1.len()).sum::<usize>(), 50);
    for w in [1, 2, 3, 8] {
        assert_eq!(run(w), serial, "{w} workers");
    }
}

#[test]
fn batched_reads_equal_the_stacked_items() {
    // A transposed (strided) tensor beside a contiguous one, and labels.
    let x = Tensor::arange(0, 60, 1).to_dtype(DType::F32).reshape(&[3, 20]).transpose(0, 1);
    let y = Tensor::arange(0, 20, 1).mul(3);
    let ds = Arc::new(TensorDataset::new(vec![x.clone(), x.exp().contiguous(), y]));
    let rows =
        |v: Vec<Tensor>| v.iter().map(|t| (t.shape(), t.to_dtype(DType::F64).to_vec::<f64>())).collect::<Vec<_>>();
    let idx = [7, 0, 19, 7, 3];
    let stacked = <Vec<Tensor> as Stack>::stack(idx.iter().map(|&i| ds.get(i)).collect());
    assert_eq!(rows(ds.get_batch(&idx)), rows(stacked));
    let sub = Subset::new(ds.clone(), vec![5, 2, 11]);
    let stacked = <Vec<Tensor> as Stack>::stack([2, 0].iter().map(|&i| sub.get(i)).collect());
    assert_eq!(rows(sub.get_batch(&[2, 0])), rows(stacked));
    // The readers' image conversion, batched.
    let images = Tensor::arange(0, 4 * 3 * 5, 1).to_dtype(DType::U8).reshape(&[4, 3, 5]);
    let m = Mnist::new(images, Tensor::from_vec(vec![3i64, 1, 4, 1], &[4])).unwrap();
    let pair = |(a, b): (Tensor, Tensor)| (a.shape(), a.to_vec::<f32>(), b.to_vec::<i64>());
    let stacked = <(Tensor, i64) as Stack>::stack([2, 2, 0].iter().map(|&i| m.get(i)).collect());
    assert_eq!(pair(m.get_batch(&[2, 2, 0])), pair(stacked));
    let mut bytes = vec![];
    for label in [3u8, 9, 0] {
        bytes.push(label);
        bytes.extend((0..3072).map(|i| ((i * 7 + label as usize) % 251) as u8));
    }
    let c = Cifar10::from_bytes(&bytes, "b").unwrap();
    let stacked = <(Tensor, i64) as Stack>::stack([1, 2].iter().map(|&i| c.get(i)).collect());
    assert_eq!(pair(c.get_batch(&[1, 2])), pair(stacked));
    // Plain datasets keep the per-item default.
    let v = vec![0.5f64, 1.5, 2.5];
    assert_eq!(v.get_batch(&[2, 0]).to_vec::<f64>(), [2.5, 0.5]);
}

struct Exploding;
impl Dataset for Exploding {
    type Item = Tensor;
    fn len(&self) -> usize {
        10
    }
    fn get(&self, i: usize) -> Tensor {
        assert!(i != 6, "item 6 is broken");
        Tensor::scalar(i as f32)
    }
}

#[test]
fn a_worker_panic_reaches_the_consumer_and_early_stops_do_not_hang() {
    let l = DataLoader::new(Exploding).batch_size(2).num_workers(2);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.iter().count()));
    let payload = r.unwrap_err();
    let msg =
        payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
    assert_eq!(msg.as_deref(), Some("item 6 is broken"));
    // Dropping an iterator mid-epoch stops its workers.
    let l = index_loader(10_000).batch_size(1).num_workers(3).prefetch_factor(1);
    assert_eq!(l.iter().take(5).count(), 5);
}

#[test]
fn subsets_and_concatenations_index_through() {
    let a: Arc<dyn Dataset<Item = usize>> = Arc::new(0..3usize);
    let b: Arc<dyn Dataset<Item = usize>> = Arc::new(10..12usize);
    let c = ConcatDataset::new(vec![a, b]);
    assert_eq!(c.cumulative_sizes, [3, 5]);
    assert_eq!((0..c.len()).map(|i| c.get(i)).collect::<Vec<_>>(), [0, 1, 2, 10, 11]);
    let s = Subset::new(Arc::new(c), vec![4, 0]);
    assert_eq!((s.get(0), s.get(1), s.len()), (11, 0, 2));
}

struct Counter(usize);
impl IterableDataset for Counter {
    type Item = i64;
    fn iter(&self) -> Box<dyn Iterator<Item = i64> + Send> {
        Box::new((0..self.0 as i64).map(|i| i * i))
    }
}

#[test]
fn iterable_datasets_batch_in_stream_order() {
    for prefetch in [0, 2] {
        let l = IterableLoader::new(Counter(7), 3).prefetch(prefetch);
        let got: Vec<Vec<i64>> = l.iter().map(|t| t.to_vec::<i64>()).collect();
        assert_eq!(got, [vec![0, 1, 4], vec![9, 16, 25], vec![36]]);
        let l = IterableLoader::new(Counter(7), 3).prefetch(prefetch).drop_last(true);
        assert_eq!(l.iter().count(), 2);
    }
}

#[test]
fn idx_files_round_trip_and_bad_ones_are_errors() {
    let images = Tensor::arange(0, 2 * 3 * 4, 1).to_dtype(DType::U8).reshape(&[2, 3, 4]);
    let bytes = write_idx_u8(&images);
    assert_eq!(&bytes[..4], [0, 0, 8, 3]);
    let back = read_idx(&bytes, "x").unwrap();
    assert_eq!((back.shape(), back.to_vec::<u8>()), (images.shape(), images.to_vec::<u8>()));
    let labels = read_idx(&write_idx_u8(&Tensor::from_vec(vec![7u8, 1], &[2])), "y").unwrap();
    let m = Mnist::new(back, labels).unwrap();
    let (img, label) = m.get(1);
    assert_eq!((img.shape(), label), (vec![1, 3, 4], 1));
    assert!((img.to_vec::<f32>()[0] - 12.0 / 255.0).abs() < 1e-7);
    for (bad, needle) in [
        (&bytes[..bytes.len() - 1], "needs 24 bytes"),
        (&bytes[..6], "truncated header"),
        (&[1u8, 0, 8, 1][..], "magic"),
        (&[0u8, 0, 0x42, 1, 0, 0, 0, 0][..], "element type"),
    ] {
        let e = read_idx(bad, "f").unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn mnist_loads_gzipped_files_from_a_folder() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let gz = |name: &str, data: &[u8]| {
        let f = std::fs::File::create(dir.path().join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap();
    };
    gz("t10k-images-idx3-ubyte.gz", &write_idx_u8(&Tensor::zeros(&[3, 28, 28], DType::U8)));
    gz("t10k-labels-idx1-ubyte.gz", &write_idx_u8(&Tensor::from_vec(vec![1u8, 2, 3], &[3])));
    let m = Mnist::load(dir.path(), "t10k").unwrap();
    assert_eq!(m.len(), 3);
    assert!(Mnist::load(dir.path(), "train").unwrap_err().to_string().contains("train-images-idx3-ubyte"));
}

#[test]
fn cifar_records_parse_and_bad_ones_are_errors() {
    let mut bytes = vec![];
    for label in [3u8, 9] {
        bytes.push(label);
        bytes.extend((0..3072).map(|i| (i % 251) as u8));
    }
    let c = Cifar10::from_bytes(&bytes, "b").unwrap();
    assert_eq!((c.len(), c.images.shape()), (2, vec![2, 3, 32, 32]));
    assert_eq!(c.get(1).1, 9);
    assert!(Cifar10::from_bytes(&bytes[..100], "b").unwrap_err().to_string().contains("records"));
    bytes[0] = 10;
    assert!(Cifar10::from_bytes(&bytes, "b").unwrap_err().to_string().contains("label 10"));
}

#[test]
fn csv_parses_numbers_and_names_the_bad_field() {
    let c = parse_csv("a, b\n1, 2.5\n\n-3,4e1\n", true, DType::F64, "t.csv").unwrap();
    assert_eq!(c.columns, ["a", "b"]);
    assert_eq!(c.data.to_vec::<f64>(), [1.0, 2.5, -3.0, 40.0]);
    let c = parse_csv("1,2\n3,4\n", false, DType::F32, "t.csv").unwrap();
    assert_eq!((c.columns.len(), c.data.shape()), (2, vec![2, 2]));
    let e = parse_csv("a,b\n1,x\n", true, DType::F32, "t.csv").unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("\"b\""), "{e}");
    let e = parse_csv("1,2\n3\n", false, DType::F32, "t.csv").unwrap_err().to_string();
    assert!(e.contains("line 2: 1 fields, expected 2"), "{e}");
}

#[test]
fn tokenizers_round_trip_and_windows_shift_by_one() {
    let tok = CharTokenizer::fit("hello world");
    assert_eq!(tok.vocab_size(), 8);
    let ids = tok.encode("world").unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), "world");
    assert!(tok.encode("xyz").is_err());
    assert!(tok.decode(&[99]).is_err());
    let b = ByteTokenizer;
    assert_eq!(b.decode(&b.encode("naïve")), "naïve");
    let w = TokenWindows::new(Tensor::arange(0, 10, 1), 4);
    assert_eq!(w.len(), 6);
    let (x, y) = w.get(5);
    assert_eq!((x.to_vec::<i64>(), y.to_vec::<i64>()), (vec![5, 6, 7, 8], vec![6, 7, 8, 9]));
}
