//! The DataLoader: batches from a sampler, built on worker threads with bounded
//! prefetch, returned in batch order whatever the number of workers.

use crate::collate::Stack;
use crate::dataset::{Dataset, IterableDataset};
use crate::sampler::{BatchSampler, RandomSampler, Sampler, SequentialSampler};
use psionic_array::random::Generator;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

type Collate<I, B> = Arc<dyn Fn(Vec<I>) -> B + Send + Sync>;
/// How a map-style loader builds a batch from its dataset and the batch's indices.
type Fetch<D, B> = Arc<dyn Fn(&D, &[usize]) -> B + Send + Sync>;

/// Iterates a [`Dataset`] in batches (PyTorch's `DataLoader` with a map-style dataset).
pub struct DataLoader<D: Dataset, B> {
    dataset: Arc<D>,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    sampler: Option<Arc<dyn Sampler>>,
    batch_sampler: Option<Arc<dyn Sampler<Vec<usize>>>>,
    fetch: Fetch<D, B>,
    num_workers: usize,
    prefetch_factor: usize,
    generator: Option<Generator>,
}

impl<D: Dataset + 'static> DataLoader<D, <D::Item as Stack>::Batch>
where
    D::Item: Stack,
{
    /// Batches of 1, in order, stacked by the default collate (through the dataset's
    /// [`Dataset::get_batch`]); set the rest with the builder methods.
    pub fn new(dataset: D) -> Self {
        DataLoader::with_fetch(dataset, Arc::new(|d: &D, idx: &[usize]| d.get_batch(idx)))
    }
}

impl<D: Dataset + 'static, B: Send + 'static> DataLoader<D, B> {
    /// A loader whose batches are built by `collate` from the list of items.
    pub fn with_collate(dataset: D, collate: impl Fn(Vec<D::Item>) -> B + Send + Sync + 'static) -> Self {
        DataLoader::with_fetch(
            dataset,
            Arc::new(move |d: &D, idx: &[usize]| collate(idx.iter().map(|&i| d.get(i)).collect())),
        )
    }

    fn with_fetch(dataset: D, fetch: Fetch<D, B>) -> Self {
        DataLoader {
            dataset: Arc::new(dataset),
            batch_size: 1,
            shuffle: false,
            drop_last: false,
            sampler: None,
            batch_sampler: None,
            fetch,
            num_workers: 0,
            prefetch_factor: 2,
            generator: None,
        }
    }

    pub fn batch_size(mut self, n: usize) -> Self {
        assert!(n > 0, "batch_size should be a positive integer value, but got batch_size={n}");
        self.batch_size = n;
        self
    }

    /// A new random order every epoch (ignored when a sampler is given).
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }

    pub fn drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }

    /// The generator that orders a shuffled epoch; PyTorch's `generator=`.
    pub fn generator(mut self, g: Generator) -> Self {
        self.generator = Some(g);
        self
    }

    /// Index order for each epoch (replaces `shuffle`).
    pub fn sampler(mut self, s: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(s));
        self
    }

    /// Whole batches of indices for each epoch (replaces batch_size, shuffle, sampler
    /// and drop_last).
    pub fn batch_sampler(mut self, s: impl Sampler<Vec<usize>> + 'static) -> Self {
        self.batch_sampler = Some(Arc::new(s));
        self
    }

    /// Threads that build batches; 0 builds them on the caller's thread.
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = n;
        self
    }

    /// Batches each worker may hold ready ahead of the consumer.
    pub fn prefetch_factor(mut self, n: usize) -> Self {
        self.prefetch_factor = n.max(1);
        self
    }

    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        self.plan_sampler().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn plan_sampler(&self) -> Arc<dyn Sampler<Vec<usize>>> {
        if let Some(b) = &self.batch_sampler {
            return b.clone();
        }
        let n = self.dataset.len();
        let base: Box<dyn Sampler> = match (&self.sampler, self.shuffle) {
            (Some(s), _) => Box::new(s.clone()),
            (None, true) => Box::new(RandomSampler::new(n, self.generator.clone())),
            (None, false) => Box::new(SequentialSampler(n)),
        };
        Arc::new(BatchSampler::new(base, self.batch_size, self.drop_last))
    }

    /// One epoch of batches. Like PyTorch, each epoch first takes a base seed from the
    /// loader's generator (the global one when none was given), then orders the epoch.
    pub fn iter(&self) -> Batches<B> {
        match &self.generator {
            Some(g) => g.random_i64(),
            None => Generator::global().random_i64(),
        };
        let plan = self.plan_sampler().sample();
        let (dataset, fetch) = (self.dataset.clone(), self.fetch.clone());
        let make = move |idx: &[usize]| fetch(&dataset, idx);
        if self.num_workers == 0 {
            let mut plan = plan.into_iter();
            return Batches::Serial(Box::new(std::iter::from_fn(move || plan.next().map(|idx| make(&idx)))));
        }
        let (plan, make) = (Arc::new(plan), Arc::new(make));
        let n = self.num_workers;
        let mut receivers = vec![];
        let mut handles = vec![];
        for w in 0..n {
            let (tx, rx) = sync_channel(self.prefetch_factor);
            let (plan, make) = (plan.clone(), make.clone());
            handles.push(Some(std::thread::spawn(move || {
                for b in (w..plan.len()).step_by(n) {
                    if tx.send(make(&plan[b])).is_err() {
                        return; // the consumer stopped early
                    }
                }
            })));
            receivers.push(rx);
        }
        Batches::Workers(Workers { receivers, handles, next: 0, total: plan.len() })
    }
}

/// One epoch's batches, in order.
pub enum Batches<B> {
    Serial(Box<dyn Iterator<Item = B> + Send>),
    Workers(Workers<B>),
}

/// Batches built by worker threads; batch `b` comes from worker `b % n`.
pub struct Workers<B> {
    receivers: Vec<Receiver<B>>,
    handles: Vec<Option<JoinHandle<()>>>,
    next: usize,
    total: usize,
}

impl<B> Iterator for Batches<B> {
    type Item = B;
    fn next(&mut self) -> Option<B> {
        match self {
            Batches::Serial(it) => it.next(),
            Batches::Workers(w) => {
                if w.next == w.total {
                    return None;
                }
                let k = w.next % w.receivers.len();
                w.next += 1;
                match w.receivers[k].recv() {
                    Ok(b) => Some(b),
                    // The worker ended without sending: it panicked building a batch (its
                    // panic is re-raised here, as PyTorch re-raises a worker's exception)
                    // or its stream ran out.
                    Err(_) => match w.handles[k].take().map(JoinHandle::join) {
                        Some(Err(payload)) => std::panic::resume_unwind(payload),
                        // A stream that ended (iterable datasets).
                        _ => {
                            w.next = w.total;
                            None
                        }
                    },
                }
            }
        }
    }
}

impl<B> Drop for Workers<B> {
    fn drop(&mut self) {
        // Closing the channels stops workers blocked on a full queue.
        self.receivers.clear();
        for h in self.handles.iter_mut().filter_map(Option::take) {
            let _ = h.join();
        }
    }
}

/// Batches from an [`IterableDataset`]: consecutive items grouped by `batch_size`,
/// optionally produced on a background thread `prefetch` batches ahead.
pub struct IterableLoader<D: IterableDataset, B> {
    dataset: Arc<D>,
    batch_size: usize,
    drop_last: bool,
    collate: Collate<D::Item, B>,
    prefetch: usize,
}

impl<D: IterableDataset + 'static> IterableLoader<D, <D::Item as Stack>::Batch>
where
    D::Item: Stack,
{
    pub fn new(dataset: D, batch_size: usize) -> Self {
        IterableLoader::with_collate(dataset, batch_size, <D::Item as Stack>::stack)
    }
}

impl<D: IterableDataset + 'static, B: Send + 'static> IterableLoader<D, B> {
    pub fn with_collate(
        dataset: D,
        batch_size: usize,
        collate: impl Fn(Vec<D::Item>) -> B + Send + Sync + 'static,
    ) -> Self {
        assert!(batch_size > 0, "batch_size should be a positive integer value, but got batch_size={batch_size}");
        IterableLoader {
            dataset: Arc::new(dataset),
            batch_size,
            drop_last: false,
            collate: Arc::new(collate),
            prefetch: 0,
        }
    }

    pub fn drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }

    /// Produce up to `n` batches ahead on a background thread (0: on the caller's).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    pub fn iter(&self) -> Batches<B> {
        let (collate, size, drop_last) = (self.collate.clone(), self.batch_size, self.drop_last);
        let mut items = self.dataset.iter();
        let mut batches = std::iter::from_fn(move || {
            let chunk: Vec<D::Item> = items.by_ref().take(size).collect();
            let short = chunk.is_empty() || (drop_last && chunk.len() < size);
            (!short).then(|| collate(chunk))
        });
        if self.prefetch == 0 {
            return Batches::Serial(Box::new(batches));
        }
        let (tx, rx) = sync_channel(self.prefetch);
        let handle = std::thread::spawn(move || {
            for b in batches.by_ref() {
                if tx.send(b).is_err() {
                    return;
                }
            }
        });
        Batches::Workers(Workers { receivers: vec![rx], handles: vec![Some(handle)], next: 0, total: usize::MAX })
    }
}
