//! In-process networking: real nodes (Swarm, store, event loop) on 127.0.0.1 with ephemeral ports
//! and mDNS off. Members connect, catch up on a backlog by sync (several pages), receive a record by
//! gossip, get blocked and unblocked, and are cut off by a roster reload; a PeerId that is not on the
//! roster cannot connect. Every wait polls with a deadline.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use certnet_node::datadir::keys::NodeSecret;
use certnet_node::datadir::roster_file::RosterFile as _;
use certnet_node::ingest::{Outcome, ingest_batch};
use certnet_node::membership::RosterCell;
use certnet_node::membership::{Member, NetworkId, Roster};
use certnet_node::net::metrics::{NetMetrics, ReasonLabels, Via, ViaLabels};
use certnet_node::net::{AnnounceOutcome, NetConfig, PeersSnapshot};
use certnet_node::node::{Node, NodeHandle, NodeIdentity, NodeSetup};
use certnet_node::store::{Ingest, Store, StoreConfig};
use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use certnet_protocol::record::{FeedPosition, VerifiedRecord, sample, sign_record};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(60);

fn net() -> NetworkId {
    "net-test".parse().unwrap()
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Keys of one member: author seed `n`, node seed `n + 100`.
struct Keys {
    name: &'static str,
    author: AuthorSecret,
    node: NodeSecret,
}

impl Keys {
    fn new(name: &'static str, n: u8) -> Self {
        Self {
            name,
            author: AuthorSecret::from_seed(&[n; 32]),
            node: NodeSecret::from_seed(&[n + 100; 32]).unwrap(),
        }
    }

    fn member(&self, addrs: Vec<String>) -> Member {
        Member::new(
            self.name.parse().unwrap(),
            self.author.public(),
            vec![self.node.peer_id()],
            addrs,
        )
    }
}

/// A running node and what the test looks at.
struct TestNode {
    handle: NodeHandle,
    store: Arc<Store>,
    metrics: NetMetrics,
    roster_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestNode {
    fn start(keys: &Keys, roster: Roster, backlog: &[VerifiedRecord]) -> Self {
        Self::start_on(keys, roster, backlog, "/ip4/127.0.0.1/tcp/0")
    }

    fn start_on(keys: &Keys, roster: Roster, backlog: &[VerifiedRecord], listen: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(&StoreConfig {
                path: dir.path().join("store"),
                cache_capacity: 16 << 20,
                net: net().as_str().to_owned(),
                max_orphans: 1000,
                disk: None,
            })
            .unwrap(),
        );
        if !backlog.is_empty() {
            let items: Vec<Vec<u8>> = backlog.iter().map(|r| r.bytes().to_vec()).collect();
            let outcomes = ingest_batch(&store, &roster, net().as_str(), &items).unwrap();
            assert!(
                outcomes
                    .iter()
                    .all(|o| matches!(o, Outcome::Stored(Ingest::Appended { .. }))),
                "backlog must append"
            );
        }
        let roster_file = dir.path().join("roster.toml");
        roster.save(&roster_file).unwrap();
        let mut config = NetConfig::new(vec![listen.parse().unwrap()]);
        // Periodic rounds would hide a gossip failure: only connects and gaps trigger sync here.
        config.sync_interval = Duration::from_secs(3600);
        config.block_list = Some(dir.path().join("blocked-peers.txt"));
        config.roster_file = Some(roster_file.clone());
        let metrics = NetMetrics::default();
        let (handle, node) = Node::start(NodeSetup {
            identity: NodeIdentity {
                name: keys.name.parse().unwrap(),
                network: net(),
                author_key: keys.author.public(),
                peer_id: keys.node.peer_id(),
            },
            keypair: keys.node.keypair().clone(),
            store: store.clone(),
            roster: RosterCell::new(roster),
            net: config,
            metrics: metrics.clone(),
        })
        .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(node.run(async {
            let _ = stopped.await;
        }));
        Self {
            handle,
            store,
            metrics,
            roster_file,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn peers(&self) -> PeersSnapshot {
        self.handle.peers().await.unwrap()
    }

    /// The node's first listen address, once it has one.
    async fn listen_addr(&self) -> Multiaddr {
        until("a listen address", || async {
            self.peers().await.listen_addrs.first().cloned()
        })
        .await
    }

    async fn connected_to(&self, peer: PeerId) -> bool {
        self.peers().await.peers.iter().any(|p| p.peer_id == peer)
    }

    /// The gossipsub score this node gives `peer`.
    async fn score_of(&self, peer: PeerId) -> Option<f64> {
        self.peers()
            .await
            .peers
            .iter()
            .find(|p| p.peer_id == peer)
            .and_then(|p| p.gossip_score)
    }

    fn head_seq(&self, author: &AuthorKey) -> u64 {
        self.store.head(author).map_or(0, |(seq, _)| seq)
    }

    /// Signs and durably stores this node's next record, then announces it, as the API does.
    async fn publish(&self, keys: &Keys, n: u64) -> AnnounceOutcome {
        let (record, _) = self
            .store
            .append_own(keys.author.public(), |head| {
                sign_record(
                    net().as_str(),
                    sample::incident(n),
                    FeedPosition {
                        seq: head.map_or(1, |h| h.0 + 1),
                        prev: head.map(|h| h.1),
                        time: now_ms(),
                    },
                    &keys.author,
                )
            })
            .unwrap()
            .unwrap();
        self.handle.announce(record.bytes().to_vec()).await.unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).unwrap();
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `count` records of `keys`' feed, chained, signed now.
fn feed(keys: &Keys, count: u64) -> Vec<VerifiedRecord> {
    let mut out: Vec<VerifiedRecord> = Vec::new();
    for seq in 1..=count {
        let record = sign_record(
            net().as_str(),
            sample::incident(seq),
            FeedPosition {
                seq,
                prev: out.last().map(VerifiedRecord::id),
                time: now_ms(),
            },
            &keys.author,
        )
        .unwrap();
        out.push(record);
    }
    out
}

fn roster(members: Vec<Member>) -> Roster {
    let mut roster = Roster::new(net());
    for m in members {
        roster.add_member(m).unwrap();
    }
    roster
}

/// More than two pages of `MAX_RANGE` (1024), so paging is exercised.
const BACKLOG: u64 = 2100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_sync_a_backlog_gossip_and_obey_blocks_and_roster_reloads() {
    let a = Keys::new("CERT-A", 1);
    let b = Keys::new("CERT-B", 2);

    // A holds a backlog of its own feed and knows B only by PeerId.
    let backlog = feed(&a, BACKLOG);
    let node_a = TestNode::start(
        &a,
        roster(vec![a.member(vec![]), b.member(vec![])]),
        &backlog,
    );
    let addr_a = node_a.listen_addr().await;

    // B knows A's address from its roster and dials it at start.
    let node_b = TestNode::start(
        &b,
        roster(vec![a.member(vec![addr_a.to_string()]), b.member(vec![])]),
        &[],
    );
    until("A and B connected", || async {
        (node_a.connected_to(b.node.peer_id()).await && node_b.connected_to(a.node.peer_id()).await)
            .then_some(())
    })
    .await;
    let view = node_b.peers().await;
    assert_eq!(view.peers[0].member.as_ref().unwrap().as_str(), "CERT-A");

    // Sync on connect: B fetches A's whole feed, page by page. (The store moves first, the
    // loop's accounting right after: wait for both.)
    let synced = || {
        node_b
            .metrics
            .records_accepted
            .get_or_create(&ViaLabels { via: Via::Sync })
            .get()
    };
    until("B caught up with A's backlog", || async {
        (node_b.head_seq(&a.author.public()) == BACKLOG && synced() == BACKLOG).then_some(())
    })
    .await;
    assert_eq!(
        node_b.store.head(&a.author.public()),
        node_a.store.head(&a.author.public())
    );

    // Gossip: once A sees B subscribed, a published record reaches B by gossip alone (periodic
    // sync is off in these nodes).
    until("B subscribed to A's records", || async {
        node_a
            .peers()
            .await
            .peers
            .iter()
            .any(|p| p.peer_id == b.node.peer_id() && p.subscribed)
            .then_some(())
    })
    .await;
    assert_eq!(node_a.publish(&a, BACKLOG + 1).await, AnnounceOutcome::Sent);
    let gossiped = || {
        node_b
            .metrics
            .records_accepted
            .get_or_create(&ViaLabels { via: Via::Gossip })
            .get()
    };
    until("B received the gossiped record", || async {
        (node_b.head_seq(&a.author.public()) == BACKLOG + 1 && gossiped() == 1).then_some(())
    })
    .await;
    // And the other way round.
    until("A sees B subscribed", || async {
        node_b
            .peers()
            .await
            .peers
            .iter()
            .any(|p| p.peer_id == a.node.peer_id() && p.subscribed)
            .then_some(())
    })
    .await;
    assert_eq!(node_b.publish(&b, 1).await, AnnounceOutcome::Sent);
    until("A received B's record", || async {
        (node_a.head_seq(&b.author.public()) == 1).then_some(())
    })
    .await;

    // Block: A drops B and refuses it; the block is listed and saved.
    assert!(node_a.handle.block(b.node.peer_id()).await.unwrap());
    until("B disconnected after the block", || async {
        (!node_a.connected_to(b.node.peer_id()).await).then_some(())
    })
    .await;
    assert_eq!(node_a.peers().await.blocked, vec![b.node.peer_id()]);
    until("block list saved", || async {
        let path = node_a.roster_file.with_file_name("blocked-peers.txt");
        std::fs::read_to_string(path)
            .ok()
            .filter(|t| t.contains(&b.node.peer_id().to_string()))
    })
    .await;
    // Unblock: B re-dials A and they reconnect.
    assert!(node_a.handle.unblock(b.node.peer_id()).await.unwrap());
    until("B reconnected after the unblock", || async {
        node_a.connected_to(b.node.peer_id()).await.then_some(())
    })
    .await;

    // Roster reload: A removes B. B is disconnected, cannot come back, and its new records are
    // not accepted by A; what A stored of B stays.
    roster(vec![a.member(vec![])])
        .save(&node_a.roster_file)
        .unwrap();
    let change = node_a.handle.reload_roster().await.unwrap().unwrap();
    assert_eq!(change.removed.len(), 1);
    assert_eq!(change.removed[0].as_str(), "CERT-B");
    assert_eq!(change.disconnected, vec![b.node.peer_id()]);
    until("B disconnected after the roster reload", || async {
        (!node_b.connected_to(a.node.peer_id()).await).then_some(())
    })
    .await;
    let denied_before = node_a.metrics.connections_denied.get();
    until("B's re-dial refused", || async {
        (node_a.metrics.connections_denied.get() > denied_before).then_some(())
    })
    .await;
    assert!(!node_a.connected_to(b.node.peer_id()).await);
    assert_eq!(
        node_a.head_seq(&b.author.public()),
        1,
        "stored records stay"
    );

    node_b.stop().await;
    node_a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_not_on_the_roster_cannot_connect() {
    let a = Keys::new("CERT-A", 1);
    let stranger = Keys::new("STRANGER", 3);
    let backlog = feed(&a, 3);
    let node_a = TestNode::start(&a, roster(vec![a.member(vec![])]), &backlog);
    let addr_a = node_a.listen_addr().await;

    // The stranger lists A (so it would accept A's records) and dials it.
    let node_s = TestNode::start(
        &stranger,
        roster(vec![
            a.member(vec![addr_a.to_string()]),
            stranger.member(vec![]),
        ]),
        &[],
    );
    until("A refused the stranger", || async {
        (node_a.metrics.connections_denied.get() >= 1).then_some(())
    })
    .await;
    // An explicit dial fares no better: whatever the stranger sees, A never lists it and nothing
    // flows.
    let _ = node_s.handle.dial(addr_a).await.unwrap();
    until("the stranger has no connection", || async {
        node_s.peers().await.peers.is_empty().then_some(())
    })
    .await;
    assert!(node_a.peers().await.peers.is_empty());
    assert_eq!(node_s.head_seq(&a.author.public()), 0);

    node_s.stop().await;
    node_a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_connect_and_sync_over_quic() {
    let a = Keys::new("CERT-A", 1);
    let b = Keys::new("CERT-B", 2);
    let members = |addrs: Vec<String>| roster(vec![a.member(addrs), b.member(vec![])]);
    let node_a = TestNode::start_on(
        &a,
        members(vec![]),
        &feed(&a, 5),
        "/ip4/127.0.0.1/udp/0/quic-v1",
    );
    let addr_a = node_a.listen_addr().await;
    assert!(addr_a.to_string().contains("/quic-v1"), "{addr_a}");
    let node_b = TestNode::start_on(
        &b,
        members(vec![addr_a.to_string()]),
        &[],
        "/ip4/127.0.0.1/udp/0/quic-v1",
    );
    until("B synced A's feed over QUIC", || async {
        (node_b.head_seq(&a.author.public()) == 5).then_some(())
    })
    .await;
    node_b.stop().await;
    node_a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_gossip_gets_the_outcomes_the_protocol_names() {
    let a = Keys::new("CERT-A", 1);
    let h = Keys::new("HOSTILE", 4);
    let stranger = AuthorSecret::from_seed(&[77; 32]);
    let members = |addrs: Vec<String>| roster(vec![a.member(vec![]), h.member(addrs)]);
    let node_a = TestNode::start(&a, members(vec![]), &[]);
    let addr_a = node_a.listen_addr().await;
    let node_h = TestNode::start(
        &h,
        roster(vec![a.member(vec![addr_a.to_string()]), h.member(vec![])]),
        &[],
    );
    until("A sees the hostile member subscribed", || async {
        node_a
            .peers()
            .await
            .peers
            .iter()
            .any(|p| p.peer_id == h.node.peer_id() && p.subscribed)
            .then_some(())
    })
    .await;
    let signed = |net: &str, secret: &AuthorSecret, n: u64| {
        sign_record(
            net,
            sample::incident(n),
            FeedPosition {
                seq: 1,
                prev: None,
                time: now_ms(),
            },
            secret,
        )
        .unwrap()
        .bytes()
        .to_vec()
    };
    let rejected = |reason: &str| {
        node_a
            .metrics
            .records_rejected
            .get_or_create(&ReasonLabels {
                via: Via::Gossip,
                reason: reason.to_owned(),
            })
            .get()
    };
    let ignored = |reason: &str| {
        node_a
            .metrics
            .records_ignored
            .get_or_create(&ReasonLabels {
                via: Via::Gossip,
                reason: reason.to_owned(),
            })
            .get()
    };
    let send = |bytes: Vec<u8>| async {
        assert_eq!(
            node_h.handle.announce(bytes).await.unwrap(),
            AnnounceOutcome::Sent
        );
    };

    // A valid record, then a second record at the same seq: accepted, then a fork.
    assert_eq!(node_h.publish(&h, 1).await, AnnounceOutcome::Sent);
    until("A accepted the hostile member's record", || async {
        (node_a.head_seq(&h.author.public()) == 1).then_some(())
    })
    .await;
    send(signed(net().as_str(), &h.author, 2)).await;
    until("A detected the fork", || async {
        (node_a.metrics.forks_detected.get() == 1).then_some(())
    })
    .await;
    assert_eq!(node_a.store.frozen().len(), 1, "the author is frozen");

    // A record by an author not on A's roster: ignored, no penalty.
    send(signed(net().as_str(), &stranger, 3)).await;
    until("non-member ignored", || async {
        (ignored("not_member") == 1).then_some(())
    })
    .await;
    let before = node_a.score_of(h.node.peer_id()).await.unwrap();

    // Invalid bytes: rejected with their reason, and the sender's score drops.
    send(b"not a record".to_vec()).await;
    until("garbage rejected", || async {
        (rejected("malformed") + rejected("non_canonical") == 1).then_some(())
    })
    .await;
    let mut forged = signed(net().as_str(), &h.author, 4);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    send(forged).await;
    until("bad signature rejected", || async {
        (rejected("bad_signature") == 1).then_some(())
    })
    .await;
    send(signed("another-net", &h.author, 5)).await;
    until("record for another network rejected", || async {
        (rejected("wrong_network") == 1).then_some(())
    })
    .await;
    let after = node_a.score_of(h.node.peer_id()).await.unwrap();
    assert!(after < before && after < 0.0, "score {before} -> {after}");
    assert_eq!(node_a.head_seq(&h.author.public()), 1);

    node_h.stop().await;
    node_a.stop().await;
}

/// A free TCP port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_dial_each_other_at_once_end_up_connected() {
    // Both rosters list both addresses, so both nodes dial at start: with one connection allowed per
    // peer, each side may refuse the other's connection; re-dial jitter must break the tie.
    let a = Keys::new("CERT-A", 1);
    let b = Keys::new("CERT-B", 2);
    let (port_a, port_b) = (free_port(), free_port());
    let addr = |port: u16| format!("/ip4/127.0.0.1/tcp/{port}");
    let members = || {
        roster(vec![
            a.member(vec![addr(port_a)]),
            b.member(vec![addr(port_b)]),
        ])
    };
    let node_a = TestNode::start_on(&a, members(), &[], &addr(port_a));
    let node_b = TestNode::start_on(&b, members(), &[], &addr(port_b));
    until("A and B connected", || async {
        (node_a.connected_to(b.node.peer_id()).await && node_b.connected_to(a.node.peer_id()).await)
            .then_some(())
    })
    .await;
    node_b.stop().await;
    node_a.stop().await;
}
