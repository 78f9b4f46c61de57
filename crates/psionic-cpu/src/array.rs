//! A storage seen through a layout: what every kernel reads.

use crate::element::Element;
use crate::storage::Storage;
use psionic_core::{DType, Layout};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct CpuArray {
    pub storage: Arc<Storage>,
    pub layout: Layout,
}

impl CpuArray {
    pub fn new(storage: Storage, shape: &[usize]) -> Self {
        CpuArray { storage: Arc::new(storage), layout: Layout::contiguous(shape) }
    }

    pub fn from_vec<T: Element>(v: Vec<T>, shape: &[usize]) -> Self {
        Self::new(Storage::from_vec(v), shape)
    }

    /// Shares this array's storage under another layout (a view). An empty view addresses
    /// nothing, so its offset is reset: view arithmetic on empty tensors (select, narrow,
    /// flip) can leave it past the end of the storage, where every kernel would slice out
    /// of range.
    pub fn with_layout(&self, mut layout: Layout) -> Self {
        if layout.numel() == 0 {
            layout.offset = 0;
        }
        CpuArray { storage: self.storage.clone(), layout }
    }

    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }

    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// The elements of a contiguous array, or `None` when it is strided.
    pub fn contiguous_slice<T: Element>(&self) -> Option<&[T]> {
        if self.layout.is_contiguous() {
            let s = self.storage.as_slice::<T>();
            Some(&s[self.layout.offset..self.layout.offset + self.numel()])
        } else {
            None
        }
    }

    /// Element values in row-major order, as a new vector.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        if let Some(s) = self.contiguous_slice::<T>() {
            return s.to_vec();
        }
        let src = self.storage.as_slice::<T>();
        let mut out = Vec::with_capacity(self.numel());
        psionic_core::strided::for_each_offset(&self.layout, |o| out.push(src[o]));
        out
    }
}
