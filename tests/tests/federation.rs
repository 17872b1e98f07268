//! Federation networking end to end (issue 4, item 8): a) five nodes converge with identical heads,
//! b) a late sixth node catches up, c) a 3|2 partition heals into identical record sets, d) a node
//! SIGKILLed while others publish catches up and its own feed continues without a fork, f) a peer
//! not on the roster cannot connect or inject. Test e), a hostile peer *on* the roster, is in
//! `hostile.rs`.
//!
//! The tests use only the API contract: `POST /v1/records` → `{id, seq, index}`, `GET /v1/records`
//! (cursor-paged, `{id, author, seq, ...}`), `GET /v1/status`, `GET /v1/peers`,
//! `POST /v1/peers/{peer}/block|unblock`.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};

use certnet_testnet::Error;
use serde_json::Value;

use crate::util::{CONVERGE, TestNet, feed, heads, ids, incident, ok, wait_for_records};

/// These tests run 4 to 6 nodes each; one at a time keeps a small machine from starving them.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub(crate) fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every node must serve its peers: a node without networking fails here, plainly.
fn require_networking(net: &TestNet, test: &str) {
    assert!(
        ok(net.supports_networking()),
        "{test}: the node does not serve GET /v1/peers"
    );
}

/// Publishes `count` incidents on node `i`; their ids.
fn publish_many(net: &TestNet, i: usize, count: usize, tag: &str) -> BTreeSet<String> {
    (0..count)
        .map(|n| ok(net.publish(i, &incident(&format!("{} {tag} #{n}", net.name(i))))))
        .collect()
}

/// The author key string records of node `i` carry, learnt from a record node `i` published.
fn author_of(net: &TestNet, i: usize, id: &str) -> String {
    let record = ok(net.client(i).record(id));
    record["author"]
        .as_str()
        .unwrap_or_else(|| panic!("record without author: {record}"))
        .to_owned()
}

/// Asserts every node in `nodes` reports the same heads as the first, from its records and, when
/// `GET /v1/status` reports `heads`, from there too.
fn assert_identical_heads(net: &TestNet, nodes: &[usize]) {
    let first = heads(&ok(net.records(nodes[0])));
    let status_heads = |i| ok(net.status(i)).extra.get("heads").cloned();
    let first_status = status_heads(nodes[0]);
    for &i in &nodes[1..] {
        assert_eq!(
            heads(&ok(net.records(i))),
            first,
            "{} and {} differ",
            net.name(i),
            net.name(nodes[0])
        );
        if let Some(expected) = &first_status {
            assert_eq!(status_heads(i).as_ref(), Some(expected), "{}", net.name(i));
        }
    }
}

#[test]
fn five_nodes_each_publish_twenty_and_all_hold_the_hundred_with_identical_heads() {
    let _serial = one_at_a_time();
    let net = TestNet::started(5);
    require_networking(&net, "a) five nodes converge");
    ok(net.wait_mesh(CONVERGE));

    // Round-robin, so every node publishes while the others' records arrive.
    let mut published = BTreeSet::new();
    for round in 0..20 {
        for i in 0..5 {
            published.insert(ok(net.publish(i, &incident(&format!("round {round}")))));
        }
    }
    assert_eq!(published.len(), 100);
    wait_for_records(&net, &[0, 1, 2, 3, 4], &published);

    let heads = heads(&ok(net.records(0)));
    assert_eq!(heads.len(), 5, "{heads:?}");
    assert!(heads.values().all(|(seq, _)| *seq == 20), "{heads:?}");
    assert_identical_heads(&net, &[0, 1, 2, 3, 4]);
}

#[test]
fn sixth_node_joining_after_500_records_catches_up() {
    let _serial = one_at_a_time();
    let mut net = TestNet::new(6);
    for i in 0..5 {
        ok(net.start(i));
    }
    require_networking(&net, "b) a sixth node catches up");
    ok(net.wait_mesh(CONVERGE));
    let mut published = BTreeSet::new();
    for round in 0..100 {
        for i in 0..5 {
            published.insert(ok(net.publish(i, &incident(&format!("round {round}")))));
        }
    }
    assert_eq!(published.len(), 500);
    wait_for_records(&net, &[0, 1, 2, 3, 4], &published);

    // CERT-06 is on everyone's roster but has never run: it starts with an empty store.
    ok(net.start(5));
    wait_for_records(&net, &[5], &published);
    assert_identical_heads(&net, &[0, 1, 2, 3, 4, 5]);
}

#[test]
fn partition_three_two_then_heal_gives_identical_record_sets() {
    let _serial = one_at_a_time();
    let mut net = TestNet::started(5);
    require_networking(&net, "c) partition and heal");
    ok(net.wait_mesh(CONVERGE));
    let all = [0, 1, 2, 3, 4];
    let (side_a, side_b) = ([0, 1, 2], [3, 4]);
    let mut before = BTreeSet::new();
    for i in all {
        before.extend(publish_many(&net, i, 2, "before"));
    }
    wait_for_records(&net, &all, &before);

    ok(net.partition(&[side_a.to_vec(), side_b.to_vec()]));
    // Until every node is connected only to its own side.
    ok(
        net.wait_until(CONVERGE, "the two sides to disconnect", |fed| {
            for (mine, theirs) in [(&side_a[..], &side_b[..]), (&side_b[..], &side_a[..])] {
                for &i in mine {
                    let peers = fed.connected_peers(i)?;
                    if theirs.iter().any(|&j| peers.contains(fed.peer_id(j))) {
                        return Ok(false);
                    }
                }
            }
            Ok::<_, Error>(true)
        }),
    );

    let mut a = BTreeSet::new();
    a.extend(publish_many(&net, 0, 10, "side A"));
    a.extend(publish_many(&net, 2, 5, "side A"));
    let mut b = BTreeSet::new();
    b.extend(publish_many(&net, 3, 10, "side B"));
    b.extend(publish_many(&net, 4, 5, "side B"));
    wait_for_records(&net, &side_a, &before.union(&a).cloned().collect());
    wait_for_records(&net, &side_b, &before.union(&b).cloned().collect());
    // Each side converged on its own records and holds none of the other side's.
    for i in side_b {
        assert!(ids(&ok(net.records(i))).is_disjoint(&a), "{}", net.name(i));
    }
    for i in side_a {
        assert!(ids(&ok(net.records(i))).is_disjoint(&b), "{}", net.name(i));
    }

    ok(net.heal());
    assert!(net.blocked().is_empty());
    let everything: BTreeSet<String> = before.iter().chain(&a).chain(&b).cloned().collect();
    wait_for_records(&net, &all, &everything);
    assert_identical_heads(&net, &all);
}

#[test]
fn node_killed_while_others_publish_catches_up_and_continues_its_feed_without_fork() {
    let _serial = one_at_a_time();
    let mut net = TestNet::started(4);
    require_networking(&net, "d) crash and catch-up");
    ok(net.wait_mesh(CONVERGE));
    let all = [0, 1, 2, 3];
    let victim = 3;
    let own_before = publish_many(&net, victim, 5, "before the crash");
    wait_for_records(&net, &all, &own_before);
    let author = author_of(&net, victim, own_before.first().unwrap());

    // Others publish from another thread; the victim is killed mid-stream.
    let clients: Vec<_> = (0..3).map(|i| net.client(i).clone()).collect();
    let (started, midway) = mpsc::channel();
    let others: BTreeSet<String> = std::thread::scope(|s| {
        let publisher = s.spawn(move || {
            let mut ids = BTreeSet::new();
            for round in 0..30 {
                for client in &clients {
                    ids.insert(ok(client.publish(&incident(&format!("round {round}")))).id);
                }
                if round == 10 {
                    let _ = started.send(());
                }
            }
            ids
        });
        ok(midway.recv());
        ok(net.kill(victim));
        publisher.join().unwrap()
    });
    assert_eq!(others.len(), 90);

    ok(net.start(victim));
    let mut everything: BTreeSet<String> = own_before.union(&others).cloned().collect();
    wait_for_records(&net, &all, &everything);

    // Its own feed goes on from seq 6: no seq signed twice.
    let mut own_after = BTreeSet::new();
    for n in 0..5u64 {
        let published = ok(net.publish_full(victim, &incident(&format!("after the crash #{n}"))));
        if let Some(seq) = published.seq {
            assert_eq!(seq, 6 + n);
        }
        own_after.insert(published.id);
    }
    everything.extend(own_after.iter().cloned());
    wait_for_records(&net, &all, &everything);

    let own: BTreeSet<String> = own_before.union(&own_after).cloned().collect();
    for i in all {
        // No node saw a fork (status reports `forks` as a list of proofs).
        if let Some(forks) = ok(net.status(i)).extra.get("forks") {
            assert_eq!(forks, &serde_json::json!([]), "{}", net.name(i));
        }
        let chain = feed(&ok(net.records(i)), &author);
        let seqs: Vec<u64> = chain.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "{}", net.name(i));
        let chain_ids: BTreeSet<String> = chain.into_iter().map(|(_, id)| id).collect();
        assert_eq!(chain_ids, own, "{}", net.name(i));
    }
    assert_identical_heads(&net, &all);
}

#[test]
fn node_restored_with_an_empty_store_never_signs_a_seq_twice() {
    // DESIGN.md "Own feed": before its first publish after a start, a node asks peers for its own
    // author's head and fetches what they hold first. Here the victim loses its whole store.
    let _serial = one_at_a_time();
    let mut net = TestNet::started(3);
    require_networking(&net, "own feed after a lost store");
    ok(net.wait_mesh(CONVERGE));
    let all = [0, 1, 2];
    let victim = 2;
    let before = publish_many(&net, victim, 4, "before the disk loss");
    wait_for_records(&net, &all, &before);
    let author = author_of(&net, victim, before.first().unwrap());

    ok(net.stop(victim));
    let store = net.node(victim).data_dir.join("store");
    ok(std::fs::remove_dir_all(&store));
    ok(net.start(victim));
    ok(net.wait_mesh(CONVERGE));

    // The first publish either waits for the peers' heads or is refused until sync has fetched the
    // lost records (503 own_feed_behind); it must never come out as seq 1.
    let deadline = std::time::Instant::now() + CONVERGE;
    let published = loop {
        match net.publish_full(victim, &incident("after the disk loss")) {
            Ok(p) => break p,
            Err(e) => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    text = format!("{text}: {cause}");
                    source = cause.source();
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "publish never succeeded: {text}"
                );
                assert!(
                    text.contains("own_feed_behind") || text.contains("peers hold"),
                    "{text}"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    };
    assert_eq!(published.seq, Some(5));
    let mut everything = before.clone();
    everything.insert(published.id.clone());
    wait_for_records(&net, &all, &everything);
    for i in all {
        if let Some(forks) = ok(net.status(i)).extra.get("forks") {
            assert_eq!(forks, &serde_json::json!([]), "{}", net.name(i));
        }
        let seqs: Vec<u64> = feed(&ok(net.records(i)), &author)
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5], "{}", net.name(i));
    }
}

#[test]
fn peer_not_on_the_roster_cannot_connect_or_inject() {
    let _serial = one_at_a_time();
    // CERT-04 is an outsider: its own roster lists the three members (so it dials them and would
    // accept their records), but theirs does not list it.
    let mut net = TestNet::with_outsiders(3, 1);
    ok(net.start_all());
    require_networking(&net, "f) a peer off the roster");
    let (members, outsider) = ([0, 1, 2], 3);
    ok(net.wait_mesh(CONVERGE));
    let outsider_peer = net.peer_id(outsider).to_owned();
    let injected = publish_many(&net, outsider, 10, "injected");

    // Members publish after the outsider did and after it had the same time to dial them as they
    // had to dial each other; once every member holds all member records, gossip and sync have run
    // among the members. At every poll, no member may list the outsider as connected.
    let mut wanted = BTreeSet::new();
    for i in members {
        wanted.extend(publish_many(&net, i, 3, "member"));
    }
    ok(net.wait_until(
        CONVERGE,
        "the members to hold every member record, never connected to the outsider",
        |fed| {
            for i in members {
                let peers = fed.connected_peers(i)?;
                assert!(
                    !peers.contains(&outsider_peer),
                    "{} accepted a connection from the outsider",
                    fed.name(i)
                );
                if !wanted.is_subset(&ids(&fed.records(i)?)) {
                    return Ok(false);
                }
            }
            Ok::<_, Error>(true)
        },
    ));
    for i in members {
        assert_eq!(ids(&ok(net.records(i))), wanted, "{}", net.name(i));
    }
    // Refused by everyone, the outsider holds only its own records.
    let outsider_records: Vec<Value> = ok(net.records(outsider));
    assert_eq!(ids(&outsider_records), injected);
    ok(
        net.wait_until(CONVERGE, "the outsider to have no connection", |fed| {
            Ok::<_, Error>(fed.connected_peers(outsider)?.is_empty())
        }),
    );
}
