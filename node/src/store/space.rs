//! A key space inside the store's main sled tree: every key carries a one-byte prefix, so all the
//! data of one append lives in one tree and is written by one atomic `apply_batch`.

use sled::{IVec, Tree};

/// One prefix of the main tree, read like a tree of its own (keys without the prefix).
#[derive(Clone)]
pub(super) struct Space {
    tree: Tree,
    prefix: u8,
}

impl Space {
    pub(super) fn new(tree: Tree, prefix: u8) -> Self {
        Self { tree, prefix }
    }

    /// The full key in the main tree.
    pub(super) fn key(&self, k: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(k.len() + 1);
        full.push(self.prefix);
        full.extend_from_slice(k);
        full
    }

    pub(super) fn get(&self, k: &[u8]) -> sled::Result<Option<IVec>> {
        self.tree.get(self.key(k))
    }

    pub(super) fn contains_key(&self, k: &[u8]) -> sled::Result<bool> {
        self.tree.contains_key(self.key(k))
    }

    /// Entries whose key starts with `p`, keys returned without the space prefix.
    pub(super) fn scan_prefix(
        &self,
        p: &[u8],
    ) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + use<> {
        self.tree
            .scan_prefix(self.key(p))
            .map(|item| item.map(|(k, v)| (IVec::from(&k[1..]), v)))
    }

    /// Entries with key ≥ `from`, within this space.
    pub(super) fn range_from(
        &self,
        from: &[u8],
    ) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + use<> {
        let end = [self.prefix + 1];
        self.tree
            .range(self.key(from)..end.to_vec())
            .map(|item| item.map(|(k, v)| (IVec::from(&k[1..]), v)))
    }

    /// Entries with `from` ≤ key < `to`, within this space.
    pub(super) fn range(
        &self,
        from: &[u8],
        to: &[u8],
    ) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + use<> {
        self.tree
            .range(self.key(from)..self.key(to))
            .map(|item| item.map(|(k, v)| (IVec::from(&k[1..]), v)))
    }

    /// Applies a batch built with [`Space::key`] keys (atomic, like any batch on the main tree).
    pub(super) fn apply(&self, batch: sled::Batch) -> sled::Result<()> {
        self.tree.apply_batch(batch)
    }

    /// The entry with the greatest key in this space.
    pub(super) fn last(&self) -> sled::Result<Option<(IVec, IVec)>> {
        self.scan_prefix(&[]).next_back().transpose()
    }
}
