//! Known-answer tests for the Merkle log against the published RFC 6962 test data used by CT logs.
//!
//! The eight leaves, the roots of every size and the proofs come from
//! - google/certificate-transparency `cpp/merkletree/merkle_tree_test.cc` (commit 0e901cac):
//!   `kInputs`, `kSHA256Roots`, `kSHA256EmptyTreeHash`, `kSHA256Paths`, `kSHA256Proofs`
//!   (leaf numbers there are 1-based; here they are 0-based indices);
//! - transparency-dev/merkle `proof/verify_test.go` (commit 02194e9a): the same data plus the
//!   consistency proof 6 → 7, and the tampering probes mirrored in `inclusion_probes` and
//!   `consistency_probes` below;
//! - transparency-dev/merkle `testonly/constants.go` (commit 582a6ad1): `NodeHashes`, the hash of
//!   every perfect subtree of the 8-leaf tree.

use certnet_protocol::id::Hash;
use certnet_protocol::merkle::{
    Frontier, MemoryTree, NodeSource, ProofError, append, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};

/// `kInputs`: the leaves of the reference tree, hex-encoded.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `kSHA256EmptyTreeHash` followed by `kSHA256Roots`: the root of the first `size` leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `NodeHashes()`: `NODES[level][index]` is the perfect subtree hash of the 8-leaf tree.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// `kSHA256Paths` (minus the invalid leaf-0 entry) as (0-based index, size, path).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// `kSHA256Proofs` plus transparency-dev's 6 → 7, as (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// transparency-dev's `sha256SomeHash`, an arbitrary wrong hash.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn bytes(s: &str) -> Vec<u8> {
    match hex::decode(s) {
        Ok(b) => b,
        Err(e) => panic!("bad hex {s:?} in a test vector: {e}"),
    }
}

fn hash(s: &str) -> Hash {
    match <Hash>::try_from(bytes(s)) {
        Ok(h) => h,
        Err(b) => panic!("test vector hash has {} bytes, not 32", b.len()),
    }
}

fn hashes(v: &[&str]) -> Vec<Hash> {
    v.iter().map(|s| hash(s)).collect()
}

fn reference_tree() -> MemoryTree {
    MemoryTree::from_leaves(LEAVES.iter().map(|l| leaf_hash(&bytes(l))))
}

fn with(path: &[Hash], at: usize, extra: Hash) -> Vec<Hash> {
    let mut p = path.to_vec();
    p.insert(at, extra);
    p
}

/// transparency-dev `corruptInclusionProof`: (description, index, size, root, leaf, path).
fn inclusion_probes(
    index: u64,
    size: u64,
    path: &[Hash],
    root: Hash,
    leaf: Hash,
) -> Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> {
    let p = path.to_vec();
    let n = path.len();
    let mut probes = vec![
        (
            "index - 1".into(),
            index.wrapping_sub(1),
            size,
            root,
            leaf,
            p.clone(),
        ),
        ("index + 1".into(), index + 1, size, root, leaf, p.clone()),
        ("index ^ 2".into(), index ^ 2, size, root, leaf, p.clone()),
        ("size * 2".into(), index, size * 2, root, leaf, p.clone()),
        ("size / 2".into(), index, size / 2, root, leaf, p.clone()),
        (
            "wrong leaf".into(),
            index,
            size,
            root,
            leaf_hash(b"WrongLeaf"),
            p.clone(),
        ),
        (
            "empty root".into(),
            index,
            size,
            empty_root(),
            leaf,
            p.clone(),
        ),
        (
            "random root".into(),
            index,
            size,
            hash(SOME_HASH),
            leaf,
            p.clone(),
        ),
        (
            "trailing zeros".into(),
            index,
            size,
            root,
            leaf,
            with(path, n, [0; 32]),
        ),
        (
            "trailing root".into(),
            index,
            size,
            root,
            leaf,
            with(path, n, root),
        ),
        (
            "preceding zeros".into(),
            index,
            size,
            root,
            leaf,
            with(path, 0, [0; 32]),
        ),
        (
            "preceding root".into(),
            index,
            size,
            root,
            leaf,
            with(path, 0, root),
        ),
    ];
    for i in 0..n {
        let mut bad = p.clone();
        bad[i][0] ^= 8;
        probes.push((
            format!("proof[{i}] bit 3 flipped"),
            index,
            size,
            root,
            leaf,
            bad,
        ));
    }
    if n > 0 {
        let removed = p[..n - 1].to_vec();
        probes.push(("removed component".into(), index, size, root, leaf, removed));
    }
    if n > 1 {
        let inserted = with(path, 1, hash(SOME_HASH));
        probes.push((
            "inserted component".into(),
            index,
            size,
            root,
            leaf,
            inserted,
        ));
    }
    probes
}

/// transparency-dev `corruptConsistencyProof`: (description, old size, new size, old root,
/// new root, path).
fn consistency_probes(
    old: u64,
    new: u64,
    old_root: Hash,
    new_root: Hash,
    path: &[Hash],
) -> Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> {
    let p = path.to_vec();
    let n = path.len();
    let wrong = leaf_hash(b"WrongRoot");
    let mut probes = vec![
        (
            "old - 1".into(),
            old - 1,
            new,
            old_root,
            new_root,
            p.clone(),
        ),
        (
            "old + 1".into(),
            old + 1,
            new,
            old_root,
            new_root,
            p.clone(),
        ),
        (
            "old ^ 2".into(),
            old ^ 2,
            new,
            old_root,
            new_root,
            p.clone(),
        ),
        (
            "new * 2".into(),
            old,
            new * 2,
            old_root,
            new_root,
            p.clone(),
        ),
        (
            "new / 2".into(),
            old,
            new / 2,
            old_root,
            new_root,
            p.clone(),
        ),
        (
            "wrong old root".into(),
            old,
            new,
            wrong,
            new_root,
            p.clone(),
        ),
        (
            "wrong new root".into(),
            old,
            new,
            old_root,
            wrong,
            p.clone(),
        ),
        (
            "swapped roots".into(),
            old,
            new,
            new_root,
            old_root,
            p.clone(),
        ),
        (
            "empty proof".into(),
            old,
            new,
            old_root,
            new_root,
            Vec::new(),
        ),
        (
            "trailing zeros".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, n, [0; 32]),
        ),
        (
            "trailing old root".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, n, old_root),
        ),
        (
            "trailing new root".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, n, new_root),
        ),
        (
            "preceding zeros".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, 0, [0; 32]),
        ),
        (
            "preceding old root".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, 0, old_root),
        ),
        (
            "preceding new root".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, 0, new_root),
        ),
        (
            "preceding proof[0]".into(),
            old,
            new,
            old_root,
            new_root,
            with(path, 0, path[0]),
        ),
        (
            "truncated".into(),
            old,
            new,
            old_root,
            new_root,
            p[..n - 1].to_vec(),
        ),
    ];
    for i in 0..n {
        let mut bad = p.clone();
        bad[i][0] ^= 16;
        probes.push((
            format!("proof[{i}] bit 4 flipped"),
            old,
            new,
            old_root,
            new_root,
            bad,
        ));
    }
    probes
}

#[test]
fn merkle_roots_match_ct_vectors() {
    let tree = reference_tree();
    let mut frontier = Frontier::new();
    assert_eq!(empty_root(), hash(ROOTS[0]));
    assert_eq!(frontier.root(), hash(ROOTS[0]));
    for size in 0..=8 {
        let want = hash(ROOTS[size]);
        assert_eq!(root(&tree, size as u64), Ok(want), "root of size {size}");
        let prefix = MemoryTree::from_leaves(LEAVES[..size].iter().map(|l| leaf_hash(&bytes(l))));
        assert_eq!(prefix.root(), want, "memory tree of size {size}");
        if size > 0 {
            frontier.push(leaf_hash(&bytes(LEAVES[size - 1])));
        }
        assert_eq!(frontier.size(), size as u64);
        assert_eq!(frontier.root(), want, "frontier of size {size}");
    }
}

#[test]
fn merkle_perfect_nodes_match_transparency_dev_vectors() {
    let tree = reference_tree();
    for (level, nodes) in NODES.iter().enumerate() {
        for (index, node) in nodes.iter().enumerate() {
            let got = tree.perfect_node(level as u32, index as u64);
            assert_eq!(got, Ok(hash(node)), "node ({level}, {index})");
        }
    }
}

#[test]
fn merkle_append_writes_the_vector_nodes() {
    // Appending leaf by leaf must write exactly the nodes of `NodeHashes`, each once.
    let mut stored = MemoryTree::new();
    let mut written = Vec::new();
    for (size, leaf) in LEAVES.iter().enumerate() {
        let lh = leaf_hash(&bytes(leaf));
        match append(&stored, size as u64, lh) {
            Ok(nodes) => written.extend(nodes),
            Err(e) => panic!("append at {size}: {e}"),
        }
        stored.push(lh);
    }
    let mut want: Vec<(u32, u64, Hash)> = NODES
        .iter()
        .enumerate()
        .flat_map(|(level, nodes)| {
            nodes
                .iter()
                .enumerate()
                .map(move |(index, h)| (level as u32, index as u64, hash(h)))
        })
        .collect();
    want.sort();
    written.sort();
    assert_eq!(written, want);
}

#[test]
fn merkle_inclusion_proofs_match_ct_vectors() {
    let tree = reference_tree();
    for (index, size, path) in INCLUSION {
        let path = hashes(path);
        assert_eq!(
            inclusion_proof(&tree, index, size),
            Ok(path.clone()),
            "proof of {index} in {size}"
        );
        let leaf = leaf_hash(&bytes(LEAVES[index as usize]));
        let root = hash(ROOTS[size as usize]);
        assert_eq!(verify_inclusion(&leaf, index, size, &path, &root), Ok(()));
        for (what, i, s, r, l, p) in inclusion_probes(index, size, &path, root, leaf) {
            assert!(
                verify_inclusion(&l, i, s, &p, &r).is_err(),
                "{what}: accepted for leaf {index} of {size}"
            );
        }
    }
}

#[test]
fn merkle_consistency_proofs_match_ct_vectors() {
    let tree = reference_tree();
    for (old, new, path) in CONSISTENCY {
        let path = hashes(path);
        assert_eq!(
            consistency_proof(&tree, old, new),
            Ok(path.clone()),
            "proof {old} -> {new}"
        );
        let (old_root, new_root) = (hash(ROOTS[old as usize]), hash(ROOTS[new as usize]));
        assert_eq!(
            verify_consistency(old, new, &old_root, &new_root, &path),
            Ok(())
        );
        if path.is_empty() {
            continue;
        }
        for (what, o, n, or, nr, p) in consistency_probes(old, new, old_root, new_root, &path) {
            assert!(
                verify_consistency(o, n, &or, &nr, &p).is_err(),
                "{what}: accepted for {old} -> {new}"
            );
        }
    }
}

#[test]
fn merkle_verifier_rejects_transparency_dev_invalid_cases() {
    // `TestVerifyInclusion`: no inclusion proof exists in these (index, size) pairs.
    let some = hash(SOME_HASH);
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&some, index, size, &[], &empty_root()).is_err());
    }
    // `TestVerifyInclusionSingleEntry`.
    let h = leaf_hash(b"data");
    assert_eq!(verify_inclusion(&h, 0, 1, &[], &h), Ok(()));
    assert_eq!(
        verify_inclusion(&h, 0, 1, &[], &some),
        Err(ProofError::RootMismatch { size: 1 })
    );
    // `TestVerifyConsistency`.
    let (r1, r2, empty) = (leaf_hash(b"r1"), leaf_hash(b"r2"), empty_root());
    assert!(verify_consistency(1, 1, &r1, &r2, &[]).is_err());
    assert!(verify_consistency(1, 0, &r1, &r2, &[]).is_err());
    assert!(verify_consistency(2, 1, &r1, &r2, &[]).is_err());
    assert!(verify_consistency(1, 2, &r1, &r2, &[]).is_err());
    assert!(verify_consistency(0, 0, &empty, &r2, &[]).is_err());
    for (old, new) in [(0, 0), (0, 1), (1, 1)] {
        assert!(verify_consistency(old, new, &empty, &empty, &[empty]).is_err());
    }
    assert_eq!(verify_consistency(1, 1, &r2, &r2, &[]), Ok(()));
    assert_eq!(verify_consistency(0, 1, &empty, &r2, &[]), Ok(()));
    assert_eq!(verify_consistency(0, 0, &empty, &empty, &[]), Ok(()));
}
