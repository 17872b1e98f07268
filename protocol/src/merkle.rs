//! The node log's Merkle tree (RFC 9162 §2.1, the same tree as RFC 6962): hashes, proofs, verification.
//!
//! Leaves are hashed as `SHA-256(0x00 || leaf)`, interior nodes as `SHA-256(0x01 || left || right)`, and
//! the empty tree's root is `SHA-256("")`.
//!
//! Storage is somebody else's concern: a store keeps the hashes of *perfect* subtrees (see
//! [`NodeSource`]); [`append`] says which ones to write for a new leaf, and [`root`],
//! [`inclusion_proof`] and [`consistency_proof`] read O(log n) of them. The hash of a subtree that is
//! not perfect (the right edge of a tree whose size is not a power of two) is folded from the perfect
//! subtrees under it, never recomputed from leaves.
//!
//! [`verify_inclusion`] and [`verify_consistency`] are the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms.
//! [`Frontier`] computes a root while streaming leaf hashes in O(log n) memory (auditing an export),
//! and [`MemoryTree`] is a [`NodeSource`] held in memory (tests, export tools).

use std::convert::Infallible;

use sha2::{Digest as _, Sha256};

use crate::id::{Hash, sha256};

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// The hash of one leaf: `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// Hashes of perfect subtrees, as a store keeps them.
///
/// `perfect_node(level, index)` is the root of the perfect subtree covering leaves
/// `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes. The functions of this
/// module only ask for nodes that lie entirely inside the tree size they are given.
pub trait NodeSource {
    /// Why a node could not be read (for a store: I/O or a missing key).
    type Error;

    /// The root of the perfect subtree at `level` and `index`.
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be made or did not verify.
///
/// `E` is the [`NodeSource`]'s error; verification reads no source and uses
/// [`Infallible`]. [`ProofError::map_source`] converts between the two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// Inclusion was asked of, or claimed in, a tree with no leaves.
    #[error("a tree of size 0 has no leaves, so it has no inclusion proofs")]
    EmptyTree,
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was asked for.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNew {
        /// The old (first) tree size.
        old_size: u64,
        /// The new (second) tree size.
        new_size: u64,
    },
    /// The proof does not have the number of hashes these sizes (and index) require.
    #[error("proof has {actual} hashes, but these sizes need exactly {expected}")]
    WrongPathLength {
        /// How many hashes the proof must have.
        expected: usize,
        /// How many it has.
        actual: usize,
    },
    /// The proof does not lead to the given root of the tree of this size.
    #[error("proof does not match the given root of the tree of size {size}")]
    RootMismatch {
        /// Size of the tree whose root did not match.
        size: u64,
    },
    /// The node source failed to deliver a node.
    #[error("reading a Merkle tree node failed")]
    Source(#[source] E),
}

impl<E> ProofError<E> {
    /// Converts the source error, keeping every other variant; with `|never| match never {}` this
    /// turns a verification error (`ProofError<Infallible>`) into any `ProofError<E>`.
    pub fn map_source<F>(self, f: impl FnOnce(E) -> F) -> ProofError<F> {
        match self {
            Self::EmptyTree => ProofError::EmptyTree,
            Self::IndexOutOfRange { index, size } => ProofError::IndexOutOfRange { index, size },
            Self::OldSizeExceedsNew { old_size, new_size } => {
                ProofError::OldSizeExceedsNew { old_size, new_size }
            }
            Self::WrongPathLength { expected, actual } => {
                ProofError::WrongPathLength { expected, actual }
            }
            Self::RootMismatch { size } => ProofError::RootMismatch { size },
            Self::Source(e) => ProofError::Source(f(e)),
        }
    }
}

/// What to store when appending one leaf to a tree of `size` leaves.
///
/// Returns the leaf hash at `(0, size)` followed by every perfect node the append completes, from
/// the bottom up, each as `(level, index, hash)`. Reads one stored node per completed level, so at
/// most 64 (O(log n)); `src` must hold the perfect nodes of the tree of `size` leaves.
pub fn append<S: NodeSource + ?Sized>(
    src: &S,
    size: u64,
    leaf_hash: Hash,
) -> Result<Vec<(u32, u64, Hash)>, S::Error> {
    let completed = size.trailing_ones();
    let mut out = Vec::with_capacity(completed as usize + 1);
    out.push((0, size, leaf_hash));
    let mut carry = leaf_hash;
    let mut index = size;
    for level in 1..=completed {
        // `index` is odd here (bit `level - 1` of `size` is set), so its left sibling is `index - 1`.
        let left = src.perfect_node(level - 1, index - 1)?;
        carry = node_hash(&left, &carry);
        index >>= 1;
        out.push((level, index, carry));
    }
    Ok(out)
}

/// The root of the tree of `size` leaves (the RFC 9162 MTH); reads one node per set bit of `size`.
pub fn root<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(src, 0, size)
}

/// The inclusion proof (RFC 9162 §2.1.3.1 `PATH`) of leaf `index` in the tree of `size` leaves,
/// sibling hashes from the leaf up. Reads O(log n) nodes.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    check_index(index, size)?;
    inclusion_plan(index, size)
        .into_iter()
        .map(|(start, end)| subtree_hash(src, start, end).map_err(ProofError::Source))
        .collect()
}

/// The consistency proof (RFC 9162 §2.1.4.1 `PROOF`) that the tree of `old_size` leaves is a prefix
/// of the tree of `new_size` leaves. Reads O(log n) nodes.
///
/// Empty when `old_size` is 0 (every tree extends the empty tree) or equals `new_size`.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    check_sizes(old_size, new_size)?;
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    consistency_plan(old_size, new_size)
        .into_iter()
        .map(|(start, end)| subtree_hash(src, start, end).map_err(ProofError::Source))
        .collect()
}

/// Checks that `path` proves the leaf with hash `leaf_hash` sits at `index` in the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// As in every RFC 9162 verifier, `size` is bound only through `root`: the proof shows the leaf is
/// under `root`, and it is the caller's job to take `root` and `size` from the same signed checkpoint.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError<Infallible>> {
    check_index(index, size)?;
    let expected = inclusion_plan(index, size).len();
    if path.len() != expected {
        return Err(ProofError::WrongPathLength {
            expected,
            actual: path.len(),
        });
    }
    let wrong_length = ProofError::WrongPathLength {
        expected,
        actual: path.len(),
    };

    // RFC 9162 §2.1.3.2, step by step.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in path {
        if sn == 0 {
            return Err(wrong_length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(ProofError::RootMismatch { size });
    }
    Ok(())
}

/// Checks that `path` proves the tree of `old_size` leaves with root `old_root` is a prefix of the
/// tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// The cases the RFC leaves to the caller: `old_size == new_size` needs an empty path and equal
/// roots; `old_size == 0` needs an empty path and `old_root` equal to [`empty_root`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    path: &[Hash],
) -> Result<(), ProofError<Infallible>> {
    check_sizes(old_size, new_size)?;
    if old_size == 0 || old_size == new_size {
        if !path.is_empty() {
            return Err(ProofError::WrongPathLength {
                expected: 0,
                actual: path.len(),
            });
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::RootMismatch { size: 0 });
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch { size: new_size });
        }
        return Ok(());
    }
    let expected = consistency_plan(old_size, new_size).len();
    if path.len() != expected {
        return Err(ProofError::WrongPathLength {
            expected,
            actual: path.len(),
        });
    }
    let wrong_length = ProofError::WrongPathLength {
        expected,
        actual: path.len(),
    };

    // RFC 9162 §2.1.4.2, step by step. Step 2: a power-of-two old tree is a node of the new tree, so
    // the proof omits its hash and the verifier starts from `old_root`.
    let prefix = old_size.is_power_of_two().then_some(old_root);
    let mut hashes = prefix.into_iter().chain(path);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some(first) = hashes.next() else {
        return Err(wrong_length);
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in hashes {
        if sn == 0 {
            return Err(wrong_length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length);
    }
    if fr != *old_root {
        return Err(ProofError::RootMismatch { size: old_size });
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch { size: new_size });
    }
    Ok(())
}

/// The root of a tree fed one leaf hash at a time, in O(log n) memory.
///
/// Keeps one hash per set bit of the size (the roots of the perfect subtrees the tree decomposes
/// into), as a binary counter keeps carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            size: 0,
            peaks: Vec::new(),
        }
    }

    /// Appends the next leaf hash.
    ///
    /// A frontier holds at most `u64::MAX` leaves (centuries of hashing; no export comes close).
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut carry = leaf_hash;
        for _ in 0..self.size.trailing_ones() {
            if let Some(left) = self.peaks.pop() {
                carry = node_hash(&left, &carry);
            }
        }
        self.peaks.push(carry);
        self.size += 1;
    }

    /// How many leaves were pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        fold_peaks(self.peaks.iter().rev())
    }
}

impl Default for Frontier {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`NodeSource`] asked for a node it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no perfect node at level {level}, index {index} (the tree is smaller)")]
pub struct MissingNode {
    /// Level asked for.
    pub level: u32,
    /// Index asked for.
    pub index: u64,
}

/// An in-memory [`NodeSource`]: every perfect node of a tree built from leaf hashes.
///
/// Holds about twice as many hashes as leaves; for tests and export tools, not for the node's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[l][i]` is `perfect_node(l, i)`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree whose leaves have these hashes (see [`leaf_hash`]), in order.
    pub fn from_leaves(leaf_hashes: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new();
        for h in leaf_hashes {
            tree.push(h);
        }
        tree
    }

    /// Appends one leaf hash and the perfect nodes it completes.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut carry = leaf_hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let Some(nodes) = self.levels.get_mut(level) else {
                return;
            };
            nodes.push(carry);
            // An odd count means the node just pushed is a left child: its parent is not complete.
            if nodes.len() % 2 == 1 {
                return;
            }
            let Some(left) = nodes.get(nodes.len() - 2) else {
                return;
            };
            carry = node_hash(left, &carry);
            level += 1;
        }
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        // Level `l` has an odd number of nodes exactly when bit `l` of the size is set, and then its
        // last node is one of the perfect subtrees the tree decomposes into.
        fold_peaks(
            self.levels
                .iter()
                .filter(|nodes| nodes.len() % 2 == 1)
                .filter_map(|nodes| nodes.last()),
        )
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;

    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        usize::try_from(level)
            .ok()
            .and_then(|l| self.levels.get(l))
            .zip(usize::try_from(index).ok())
            .and_then(|(nodes, i)| nodes.get(i))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

/// Folds perfect-subtree roots, given smallest (rightmost) first, into the root of their tree.
fn fold_peaks<'a>(right_to_left: impl Iterator<Item = &'a Hash>) -> Hash {
    right_to_left
        .copied()
        .reduce(|right, left| node_hash(&left, &right))
        .unwrap_or_else(empty_root)
}

fn check_index<E>(index: u64, size: u64) -> Result<(), ProofError<E>> {
    if size == 0 {
        return Err(ProofError::EmptyTree);
    }
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn check_sizes<E>(old_size: u64, new_size: u64) -> Result<(), ProofError<E>> {
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNew { old_size, new_size });
    }
    Ok(())
}

/// The largest power of two strictly below `n`, for `n >= 2` (RFC 9162's `k`).
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash (MTH) of the subtree over leaves `[start, end)`, for a non-empty range that is a node of
/// an RFC 9162 tree: `start` is a multiple of the smallest power of two not below `end - start`.
///
/// Such a range splits into perfect subtrees of strictly decreasing size (one per set bit of its
/// length), each aligned to its size, and the MTH folds them from the right.
fn subtree_hash<S: NodeSource + ?Sized>(src: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let len = end - start;
    // Walk the perfect pieces from the right (smallest first), so the fold needs no buffer.
    let mut acc: Option<Hash> = None;
    let mut piece_end = end;
    let mut rest = len;
    while rest != 0 {
        let level = rest.trailing_zeros();
        let piece_start = piece_end - (1 << level);
        let piece = src.perfect_node(level, piece_start >> level)?;
        acc = Some(match acc {
            None => piece,
            Some(right) => node_hash(&piece, &right),
        });
        piece_end = piece_start;
        rest &= rest - 1;
    }
    Ok(acc.unwrap_or_else(empty_root))
}

/// The leaf ranges whose subtree hashes form `PATH(index, D[0:size])` (RFC 9162 §2.1.3.1), in proof
/// order (from the leaf up). Precondition: `index < size`.
fn inclusion_plan(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut plan = Vec::new();
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index - start < k {
            plan.push((start + k, end));
            end = start + k;
        } else {
            plan.push((start, start + k));
            start += k;
        }
    }
    plan.reverse();
    plan
}

/// The leaf ranges whose subtree hashes form `PROOF(old_size, D[0:new_size])` (RFC 9162 §2.1.4.1,
/// `SUBPROOF` unrolled), in proof order. Precondition: `0 < old_size < new_size`.
///
/// At most one range is not perfect (the first right-edge sibling), so the proof reads O(log n) nodes.
fn consistency_plan(old_size: u64, new_size: u64) -> Vec<(u64, u64)> {
    let mut plan = Vec::new();
    let (mut start, mut end) = (0, new_size);
    // `b` of SUBPROOF: whether the current subtree's old part is the whole old tree.
    let mut whole_old_tree = true;
    loop {
        if old_size == end {
            if !whole_old_tree {
                plan.push((start, end));
            }
            break;
        }
        let k = split_point(end - start);
        if old_size - start <= k {
            plan.push((start + k, end));
            end = start + k;
        } else {
            plan.push((start, start + k));
            start += k;
            whole_old_tree = false;
        }
    }
    plan.reverse();
    plan
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    // A naive reference written straight from RFC 9162 §2.1.1–2.1.4 (MTH, PATH, PROOF, SUBPROOF),
    // recursive over the leaf data, with its own hashing, sharing no code with the module under test.

    fn sha(parts: &[&[u8]]) -> Hash {
        let mut d = Sha256::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().into()
    }

    /// RFC 9162's `k`: the largest power of two smaller than `n`, for `n > 1`.
    fn k_of(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D_n), §2.1.1.
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d {
            [] => sha(&[]),
            [leaf] => sha(&[&[0x00], leaf]),
            _ => {
                let k = k_of(d.len());
                sha(&[&[0x01], &mth(&d[..k]), &mth(&d[k..])])
            }
        }
    }

    /// PATH(m, D_n), §2.1.3.1.
    fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return Vec::new();
        }
        let k = k_of(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// PROOF(m, D_n), §2.1.4.1, extended with the empty proof for m = 0 and m = n.
    fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        if m == 0 || m == d.len() {
            Vec::new()
        } else {
            subproof(m, d, true)
        }
    }

    /// SUBPROOF(m, D_n, b), §2.1.4.1.
    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = k_of(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// Distinct leaves of 8 to 16 bytes, different for every seed.
    fn leaves(n: usize, seed: u64) -> Vec<Vec<u8>> {
        (0..n as u64)
            .map(|i| {
                let mut v = i.to_le_bytes().to_vec();
                v.extend_from_slice(&seed.to_le_bytes()[..(seed.wrapping_add(i) % 9) as usize]);
                v
            })
            .collect()
    }

    fn tree_of(d: &[Vec<u8>]) -> MemoryTree {
        MemoryTree::from_leaves(d.iter().map(|l| leaf_hash(l)))
    }

    fn flip(h: &Hash, bit: usize) -> Hash {
        let mut h = *h;
        h[bit / 8 % 32] ^= 1 << (bit % 8);
        h
    }

    /// Every way to damage a path that must make verification fail whatever the sizes.
    fn damaged_paths(path: &[Hash], root: &Hash) -> Vec<Vec<Hash>> {
        let mut out = Vec::new();
        for j in 0..path.len() {
            for bit in [0, 7, 100, 255] {
                let mut p = path.to_vec();
                p[j] = flip(&p[j], bit);
                out.push(p);
            }
        }
        if let Some((_, rest)) = path.split_last() {
            out.push(rest.to_vec());
            out.push(path[1..].to_vec());
        }
        for extra in [[0; 32], *root, empty_root()] {
            let mut longer = path.to_vec();
            longer.push(extra);
            out.push(longer);
            let mut longer = vec![extra];
            longer.extend_from_slice(path);
            out.push(longer);
        }
        if path.len() > 1 {
            let mut swapped = path.to_vec();
            swapped.swap(0, 1);
            if swapped[0] != swapped[1] {
                out.push(swapped);
            }
        }
        out
    }

    /// Unwraps a root or proof made from a [`MemoryTree`], for the tamper tests that need many of
    /// them: `merkle_matches_naive_reference` checks those against the naive reference.
    fn fetch<T, E: std::fmt::Debug>(r: Result<T, E>) -> Result<T, TestCaseError> {
        r.map_err(|e| TestCaseError::fail(format!("{e:?}")))
    }

    /// A NodeSource over a HashMap, filled only through `append`.
    #[derive(Default)]
    struct MapSource(HashMap<(u32, u64), Hash>);

    impl NodeSource for MapSource {
        type Error = MissingNode;

        fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
            self.0
                .get(&(level, index))
                .copied()
                .ok_or(MissingNode { level, index })
        }
    }

    /// The tree of `size` identical leaves, of any size up to `u64::MAX`: every perfect node at a
    /// level has the same hash, so it needs no storage. Counts reads and refuses nodes outside the tree.
    struct UniformSource {
        size: u64,
        levels: Vec<Hash>,
        reads: Cell<u64>,
    }

    impl UniformSource {
        fn new(size: u64) -> Self {
            let mut levels = vec![leaf_hash(b"uniform")];
            for l in 1..=64 {
                let below = levels[l - 1];
                levels.push(node_hash(&below, &below));
            }
            Self {
                size,
                levels,
                reads: Cell::new(0),
            }
        }

        /// MTH of the first `n` leaves, straight from the RFC recursion.
        fn mth(&self, n: u64) -> Hash {
            if n == 1 {
                return self.levels[0];
            }
            let k = 1u64 << (63 - (n - 1).leading_zeros());
            node_hash(&self.levels[k.trailing_zeros() as usize], &self.mth(n - k))
        }
    }

    impl NodeSource for UniformSource {
        type Error = MissingNode;

        fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
            self.reads.set(self.reads.get() + 1);
            if level > 63 || (u128::from(index) + 1) << level > u128::from(self.size) {
                return Err(MissingNode { level, index });
            }
            Ok(self.levels[level as usize])
        }
    }

    /// ceil(log2(size)): the height of the tree.
    fn height(size: u64) -> u64 {
        u64::from(64 - size.saturating_sub(1).leading_zeros())
    }

    proptest! {
        #[test]
        fn merkle_matches_naive_reference(
            (n, i, m) in (1usize..=300).prop_flat_map(|n| (Just(n), 0..n, 0..=n)),
            extra in 0usize..40,
            seed in any::<u64>(),
        ) {
            let d = leaves(n + extra, seed);
            let (old, new) = (&d[..m], &d[..n]);
            // The store may be bigger than the trees asked about.
            let store = tree_of(&d);
            let (n64, idx, m64) = (n as u64, i as u64, m as u64);
            let want_root = mth(new);

            prop_assert_eq!(root(&store, n64), Ok(want_root));
            prop_assert_eq!(root(&store, m64), Ok(mth(old)));
            prop_assert_eq!(tree_of(new).root(), want_root);
            prop_assert_eq!(tree_of(new).size(), n64);
            let mut frontier = Frontier::new();
            for l in new {
                frontier.push(leaf_hash(l));
            }
            prop_assert_eq!(frontier.size(), n64);
            prop_assert_eq!(frontier.root(), want_root);

            let incl = inclusion_proof(&store, idx, n64);
            prop_assert_eq!(&incl, &Ok(path(i, new)));
            let incl = incl.unwrap_or_default();
            prop_assert_eq!(
                verify_inclusion(&leaf_hash(&d[i]), idx, n64, &incl, &want_root),
                Ok(())
            );

            let cons = consistency_proof(&store, m64, n64);
            prop_assert_eq!(&cons, &Ok(proof(m, new)));
            let cons = cons.unwrap_or_default();
            prop_assert_eq!(verify_consistency(m64, n64, &mth(old), &want_root, &cons), Ok(()));
        }

        #[test]
        fn merkle_inclusion_rejects_tampering(
            (n, i) in (1usize..=300).prop_flat_map(|n| (Just(n), 0..n)),
            seed in any::<u64>(),
        ) {
            let d = leaves(2 * n + 1, seed);
            let store = tree_of(&d);
            let (n64, idx) = (n as u64, i as u64);
            let root_n = mth(&d[..n]);
            let leaf = leaf_hash(&d[i]);
            let p = path(i, &d[..n]);
            prop_assert_eq!(verify_inclusion(&leaf, idx, n64, &p, &root_n), Ok(()));

            for bad in damaged_paths(&p, &root_n) {
                prop_assert!(verify_inclusion(&leaf, idx, n64, &bad, &root_n).is_err());
            }
            for bit in [0, 42, 255] {
                prop_assert_eq!(
                    verify_inclusion(&leaf, idx, n64, &p, &flip(&root_n, bit)),
                    Err(ProofError::RootMismatch { size: n64 })
                );
                prop_assert_eq!(
                    verify_inclusion(&flip(&leaf, bit), idx, n64, &p, &root_n),
                    Err(ProofError::RootMismatch { size: n64 })
                );
            }
            prop_assert!(verify_inclusion(&leaf_hash(b"not a leaf"), idx, n64, &p, &root_n).is_err());

            // Another index: the same leaf never verifies there, and that index's own leaf verifies
            // only if its proof happens to be this very path.
            for j in [i.wrapping_sub(1), i + 1, i ^ 1, i ^ 2, i ^ 4, n - 1 - i] {
                if j == i || j >= n {
                    continue;
                }
                prop_assert!(verify_inclusion(&leaf, j as u64, n64, &p, &root_n).is_err());
                let other = verify_inclusion(&leaf_hash(&d[j]), j as u64, n64, &p, &root_n);
                prop_assert_eq!(other.is_ok(), p == fetch(inclusion_proof(&store, j as u64, n64))?);
            }
            // Another size, with that tree's true root: verifies only if the proof is that tree's.
            for s in [n - 1, n + 1, 2 * n, n / 2, n ^ 1, n ^ 2, 2 * n + 1] {
                if s == n || i >= s || s > d.len() {
                    continue;
                }
                let s = s as u64;
                let got = verify_inclusion(&leaf, idx, s, &p, &fetch(root(&store, s))?);
                prop_assert_eq!(got.is_ok(), p == fetch(inclusion_proof(&store, idx, s))?);
            }
            prop_assert_eq!(
                verify_inclusion(&leaf, n64, n64, &p, &root_n),
                Err(ProofError::IndexOutOfRange { index: n64, size: n64 })
            );
        }

        #[test]
        fn merkle_consistency_rejects_tampering(
            (n, m) in (2usize..=300).prop_flat_map(|n| (Just(n), 1..n)),
            seed in any::<u64>(),
        ) {
            let d = leaves(2 * n + 1, seed);
            let store = tree_of(&d);
            let (n64, m64) = (n as u64, m as u64);
            let (root_m, root_n) = (mth(&d[..m]), mth(&d[..n]));
            let p = proof(m, &d[..n]);
            prop_assert!(!p.is_empty());
            prop_assert_eq!(verify_consistency(m64, n64, &root_m, &root_n, &p), Ok(()));

            for bad in damaged_paths(&p, &root_n).into_iter().chain([Vec::new()]) {
                prop_assert!(verify_consistency(m64, n64, &root_m, &root_n, &bad).is_err());
            }
            for bit in [0, 42, 255] {
                // A power-of-two old tree is a node of the new one: its root enters the computation
                // of the new root (RFC 9162 §2.1.4.2 step 2), so that is what stops matching.
                let mismatch = if m.is_power_of_two() { n64 } else { m64 };
                prop_assert_eq!(
                    verify_consistency(m64, n64, &flip(&root_m, bit), &root_n, &p),
                    Err(ProofError::RootMismatch { size: mismatch })
                );
                prop_assert_eq!(
                    verify_consistency(m64, n64, &root_m, &flip(&root_n, bit), &p),
                    Err(ProofError::RootMismatch { size: n64 })
                );
            }
            prop_assert!(verify_consistency(m64, n64, &root_n, &root_m, &p).is_err());

            // Other sizes, with those trees' true roots: verifies only if the proof is theirs.
            let olds = [0, m - 1, m + 1, m ^ 1, m ^ 2, m / 2, 2 * m];
            let news = [n, n - 1, n + 1, n ^ 1, n / 2, 2 * n];
            for (&a, &b) in olds.iter().flat_map(|a| news.iter().map(move |b| (a, b))) {
                if (a, b) == (m, n) || a > b || b > d.len() {
                    continue;
                }
                let (a, b) = (a as u64, b as u64);
                let (root_a, root_b) = (fetch(root(&store, a))?, fetch(root(&store, b))?);
                let got = verify_consistency(a, b, &root_a, &root_b, &p);
                let theirs = fetch(consistency_proof(&store, a, b))?;
                prop_assert_eq!(got.is_ok(), p == theirs, "sizes {} {}", a, b);
            }
        }

        #[test]
        fn merkle_append_into_a_map_reproduces_memory_tree(n in 0usize..=300, seed in any::<u64>()) {
            let d = leaves(n, seed);
            let mut map = MapSource::default();
            for (size, l) in d.iter().enumerate() {
                let lh = leaf_hash(l);
                let writes = append(&map, size as u64, lh);
                prop_assert!(writes.is_ok(), "append at {} failed: {:?}", size, writes);
                let writes = writes.unwrap_or_default();
                prop_assert_eq!(writes.first(), Some(&(0, size as u64, lh)));
                prop_assert_eq!(writes.len() as u32, (size as u64 + 1).trailing_zeros() + 1);
                for (level, index, hash) in writes {
                    prop_assert_eq!(map.0.insert((level, index), hash), None, "overwrote a node");
                }
            }
            let tree = tree_of(&d);
            let mut perfect_nodes = 0;
            for level in 0..64 {
                for index in 0..((n as u64) >> level) {
                    perfect_nodes += 1;
                    prop_assert_eq!(
                        map.perfect_node(level, index),
                        tree.perfect_node(level, index)
                    );
                }
            }
            prop_assert_eq!(map.0.len(), perfect_nodes);
            prop_assert_eq!(root(&map, n as u64), Ok(mth(&d)));
        }

        #[test]
        fn merkle_huge_trees_verify_and_read_log_n_nodes(
            (size, index, old) in prop_oneof![1..=u64::MAX, 1..=2048u64, Just(u64::MAX)]
                .prop_flat_map(|s| (Just(s), 0..s, 0..=s)),
        ) {
            let src = UniformSource::new(size);
            let h = height(size);

            let r = root(&src, size);
            prop_assert_eq!(r, Ok(src.mth(size)));
            prop_assert_eq!(src.reads.replace(0), u64::from(size.count_ones()));
            let r = src.mth(size);

            let p = inclusion_proof(&src, index, size);
            prop_assert!(p.is_ok(), "{:?}", p);
            prop_assert!(src.reads.replace(0) <= 2 * h);
            let p = p.unwrap_or_default();
            prop_assert_eq!(verify_inclusion(&src.levels[0], index, size, &p, &r), Ok(()));

            let c = consistency_proof(&src, old, size);
            prop_assert!(c.is_ok(), "{:?}", c);
            prop_assert!(src.reads.replace(0) <= 2 * h + 1);
            let c = c.unwrap_or_default();
            let old_root = if old == 0 { empty_root() } else { src.mth(old) };
            prop_assert_eq!(verify_consistency(old, size, &old_root, &r, &c), Ok(()));

            let writes = append(&src, size, src.levels[0]);
            prop_assert!(writes.is_ok(), "{:?}", writes);
            prop_assert_eq!(src.reads.get(), u64::from(size.trailing_ones()));
            for (level, index, hash) in writes.unwrap_or_default() {
                prop_assert_eq!(hash, src.levels[level as usize]);
                prop_assert_eq!((u128::from(index) + 1) << level, (u128::from(size) + 1) >> level << level);
            }
        }
    }

    #[test]
    fn merkle_proof_for_entry_of_1m_log_reads_log_n_nodes() {
        const SIZE: u64 = 1_000_000;
        let src = UniformSource::new(SIZE);
        let r = src.mth(SIZE);
        for index in [0, 1, 524_287, 524_288, 999_998, 999_999] {
            let p = inclusion_proof(&src, index, SIZE);
            assert!(src.reads.replace(0) <= 40, "inclusion of {index}");
            assert_eq!(
                verify_inclusion(&src.levels[0], index, SIZE, &p.unwrap_or_default(), &r),
                Ok(())
            );
        }
        for old in [1, 2, 3, 524_288, 524_289, 999_999] {
            let c = consistency_proof(&src, old, SIZE);
            assert!(src.reads.replace(0) <= 41, "consistency from {old}");
            let c = c.unwrap_or_default();
            assert_eq!(verify_consistency(old, SIZE, &src.mth(old), &r, &c), Ok(()));
        }
        assert_eq!(root(&src, SIZE), Ok(r));
        assert_eq!(src.reads.get(), u64::from(SIZE.count_ones()));
    }

    #[test]
    fn merkle_empty_tree() {
        let want = sha(&[]);
        assert_eq!(empty_root(), want);
        assert_eq!(Frontier::new().root(), want);
        assert_eq!(Frontier::new().size(), 0);
        assert_eq!(MemoryTree::new().root(), want);
        assert_eq!(MemoryTree::new().size(), 0);
        assert_eq!(root(&MemoryTree::new(), 0), Ok(want));
        assert_eq!(
            inclusion_proof(&MemoryTree::new(), 0, 0),
            Err(ProofError::EmptyTree)
        );
        assert_eq!(
            verify_inclusion(&leaf_hash(b""), 0, 0, &[], &want),
            Err(ProofError::EmptyTree)
        );
        assert_eq!(consistency_proof(&MemoryTree::new(), 0, 0), Ok(vec![]));
        assert_eq!(verify_consistency(0, 0, &want, &want, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 0, &want, &[7; 32], &[]),
            Err(ProofError::RootMismatch { size: 0 })
        );
        assert_eq!(
            append(&MemoryTree::new(), 0, [9; 32]),
            Ok(vec![(0, 0, [9; 32])])
        );
    }

    #[test]
    fn merkle_size_one() {
        let lh = leaf_hash(b"only");
        let tree = MemoryTree::from_leaves([lh]);
        assert_eq!(tree.root(), lh);
        assert_eq!(root(&tree, 1), Ok(lh));
        assert_eq!(inclusion_proof(&tree, 0, 1), Ok(vec![]));
        assert_eq!(verify_inclusion(&lh, 0, 1, &[], &lh), Ok(()));
        assert_eq!(
            verify_inclusion(&lh, 0, 1, &[lh], &lh),
            Err(ProofError::WrongPathLength {
                expected: 0,
                actual: 1
            })
        );
        assert_eq!(
            verify_inclusion(&lh, 0, 1, &[], &empty_root()),
            Err(ProofError::RootMismatch { size: 1 })
        );
        assert_eq!(consistency_proof(&tree, 0, 1), Ok(vec![]));
        assert_eq!(consistency_proof(&tree, 1, 1), Ok(vec![]));
    }

    #[test]
    fn merkle_index_equal_to_size_is_out_of_range() {
        let tree = tree_of(&leaves(5, 1));
        for size in 1..=5 {
            assert_eq!(
                inclusion_proof(&tree, size, size),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
            assert_eq!(
                verify_inclusion(&[0; 32], size, size, &[], &tree.root()),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
        }
        assert_eq!(
            inclusion_proof(&tree, u64::MAX, 5),
            Err(ProofError::IndexOutOfRange {
                index: u64::MAX,
                size: 5
            })
        );
    }

    #[test]
    fn merkle_equal_sizes_have_an_empty_consistency_proof() {
        let d = leaves(9, 2);
        let tree = tree_of(&d);
        for size in 1..=9 {
            let r = mth(&d[..size]);
            let size = size as u64;
            assert_eq!(consistency_proof(&tree, size, size), Ok(vec![]));
            assert_eq!(verify_consistency(size, size, &r, &r, &[]), Ok(()));
            assert_eq!(
                verify_consistency(size, size, &r, &r, &[r]),
                Err(ProofError::WrongPathLength {
                    expected: 0,
                    actual: 1
                })
            );
            assert_eq!(
                verify_consistency(size, size, &r, &flip(&r, 3), &[]),
                Err(ProofError::RootMismatch { size })
            );
        }
    }

    #[test]
    fn merkle_old_size_zero_is_consistent_with_any_tree() {
        let d = leaves(9, 3);
        let tree = tree_of(&d);
        for size in 0..=9u64 {
            let r = tree_of(&d[..size as usize]).root();
            assert_eq!(consistency_proof(&tree, 0, size), Ok(vec![]));
            assert_eq!(verify_consistency(0, size, &empty_root(), &r, &[]), Ok(()));
            // The old root must still be the empty tree's, and the proof empty.
            assert_eq!(
                verify_consistency(0, size, &r, &r, &[]),
                if size == 0 {
                    Ok(())
                } else {
                    Err(ProofError::RootMismatch { size: 0 })
                }
            );
            assert_eq!(
                verify_consistency(0, size, &empty_root(), &r, &[r]),
                Err(ProofError::WrongPathLength {
                    expected: 0,
                    actual: 1
                })
            );
        }
    }

    #[test]
    fn merkle_old_size_above_new_size_is_an_error() {
        let tree = tree_of(&leaves(4, 4));
        let err = ProofError::OldSizeExceedsNew {
            old_size: 4,
            new_size: 3,
        };
        assert_eq!(consistency_proof(&tree, 4, 3), Err(err.clone()));
        // A verification error widens into any source's error type.
        assert_eq!(
            verify_consistency(4, 3, &tree.root(), &tree.root(), &[])
                .map_err(|e| e.map_source(|never| match never {})),
            Err(err)
        );
    }

    #[test]
    fn merkle_source_errors_are_passed_on() {
        let tree = tree_of(&leaves(3, 5));
        assert_eq!(
            inclusion_proof(&tree, 0, 8),
            Err(ProofError::Source(MissingNode { level: 1, index: 1 }))
        );
        assert!(matches!(
            consistency_proof(&tree, 2, 6),
            Err(ProofError::Source(MissingNode { .. }))
        ));
        assert_eq!(root(&tree, 4), Err(MissingNode { level: 2, index: 0 }));
        assert_eq!(
            append(&MemoryTree::new(), 1, [0; 32]),
            Err(MissingNode { level: 0, index: 0 })
        );
    }

    #[test]
    fn merkle_inclusion_binds_the_size_only_through_the_root() {
        // Leaf 0 of the 3-leaf tree and leaf 0 of a 4-leaf tree take the same left turns, so the
        // 3-leaf proof also verifies as a 4-leaf proof against the 3-leaf root. Checkpoints sign size
        // and root together, which is why callers must take both from the same checkpoint.
        let d = leaves(3, 6);
        let p = path(0, &d);
        assert_eq!(
            verify_inclusion(&leaf_hash(&d[0]), 0, 4, &p, &mth(&d)),
            Ok(())
        );
    }

    #[test]
    fn merkle_error_messages_are_lowercase_and_precise() {
        let e: ProofError<MissingNode> = ProofError::IndexOutOfRange { index: 5, size: 5 };
        assert_eq!(
            e.to_string(),
            "leaf index 5 is out of range for a tree of size 5"
        );
        let e: ProofError<MissingNode> = ProofError::WrongPathLength {
            expected: 3,
            actual: 2,
        };
        assert_eq!(
            e.to_string(),
            "proof has 2 hashes, but these sizes need exactly 3"
        );
        let e = ProofError::Source(MissingNode { level: 1, index: 2 });
        assert_eq!(e.to_string(), "reading a Merkle tree node failed");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("no perfect node at level 1, index 2 (the tree is smaller)")
        );
    }
}
