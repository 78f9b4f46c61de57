//! Plain text as token ids: a character vocabulary or raw bytes, and the fixed-length
//! windows a language model trains on.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use psionic_array::Tensor;
use std::collections::HashMap;

/// Maps each distinct character of a corpus to an id, in sorted order (ids are stable
/// for the same corpus).
#[derive(Clone, Debug, PartialEq)]
pub struct CharTokenizer {
    pub chars: Vec<char>,
    index: HashMap<char, i64>,
}

impl CharTokenizer {
    pub fn fit(text: &str) -> CharTokenizer {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharTokenizer::from_chars(chars)
    }

    pub fn from_chars(chars: Vec<char>) -> CharTokenizer {
        let index = chars.iter().enumerate().map(|(i, &c)| (c, i as i64)).collect();
        CharTokenizer { chars, index }
    }

    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// Ids of `text`; a character outside the vocabulary is an error.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        text.chars()
            .map(|c| {
                self.index
                    .get(&c)
                    .copied()
                    .ok_or_else(|| DataError::format("encode", format!("{c:?} is not in the vocabulary")))
            })
            .collect()
    }

    /// Text of `ids`; an id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        ids.iter()
            .map(|&i| {
                usize::try_from(i).ok().and_then(|i: usize| self.chars.as_slice().get(i).copied()).ok_or_else(|| {
                    DataError::format("decode", format!("id {i} is outside the vocabulary of {}", self.chars.len()))
                })
            })
            .collect()
    }
}

/// Bytes as ids `0..256`: any text encodes, and decoding replaces invalid UTF-8.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    pub fn vocab_size(&self) -> usize {
        256
    }
    pub fn encode(&self, text: &str) -> Vec<i64> {
        text.bytes().map(i64::from).collect()
    }
    pub fn decode(&self, ids: &[i64]) -> String {
        let bytes: Vec<u8> = ids.iter().map(|&i| i.clamp(0, 255) as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Every window of `block_size + 1` consecutive tokens, as an input `x = t[i..i+T]` and
/// its next-token target `y = t[i+1..i+T+1]`.
#[derive(Clone)]
pub struct TokenWindows {
    pub tokens: Tensor,
    pub block_size: usize,
}

impl TokenWindows {
    pub fn new(tokens: Tensor, block_size: usize) -> TokenWindows {
        assert!(tokens.dim() == 1, "tokens must be one-dimensional");
        TokenWindows { tokens, block_size }
    }
}

impl Dataset for TokenWindows {
    type Item = (Tensor, Tensor);
    fn len(&self) -> usize {
        self.tokens.size(0).saturating_sub(self.block_size)
    }
    fn get(&self, i: usize) -> (Tensor, Tensor) {
        let t = self.block_size;
        (self.tokens.narrow(0, i as i64, t), self.tokens.narrow(0, i as i64 + 1, t))
    }
}
