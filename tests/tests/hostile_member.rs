//! Issue 19: one compromised member, with its own valid key and PeerId in every roster, cannot stop,
//! starve or exhaust the others. Each test drives a real libp2p peer (`certnet_testnet::hostile`)
//! against real `certnet` processes and checks the outcome on their API and metrics:
//! - a forged claim about a node's own feed is an offence and never blocks its publishing;
//! - a 4 MiB sync answer of tiny items is refused, and the node's memory hardly moves;
//! - one author's orphans fill its share of the orphan space, never another author's;
//! - a flood of garbage and of badly signed records gets the sender penalised and disconnected while
//!   honest records keep flowing;
//! - connections past the caps are refused;
//! - a full disk is a state the node reports and leaves by itself, nothing lost.

use std::collections::{BTreeSet, VecDeque};
use std::net::TcpStream;
use std::path::Path;
use std::str::FromStr;

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::Head;
use certnet_testnet::federation::{Federation, FederationConfig};
use certnet_testnet::hostile::{self, HostilePeer, Member, Reply, Script};
use libp2p::{Multiaddr, PeerId};

use crate::federation::one_at_a_time;
use crate::util::{CONVERGE, certnet_bin, ids, incident, ok};

/// A federation of `nodes` members plus hostile members (their keys held here), owned by a temp dir.
struct Net {
    fed: Federation,
    _tmp: tempfile::TempDir,
}

impl std::ops::Deref for Net {
    type Target = Federation;
    fn deref(&self) -> &Federation {
        &self.fed
    }
}

impl std::ops::DerefMut for Net {
    fn deref_mut(&mut self) -> &mut Federation {
        &mut self.fed
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.fed.log_tails(60));
        }
    }
}

/// Hostile member `n` (its keys derived from `n`).
fn member(n: u64) -> Member {
    Member::new(&format!("CERT-EVIL-{n}"), n)
}

/// `nodes` members and `hostile` members, created in `dir` (a temp dir if `None`), not started.
fn net_in(nodes: usize, hostile: &[&Member], dir: Option<&Path>) -> Net {
    let tmp = match dir {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let mut config = FederationConfig::new(tmp.path().join("testnet"), nodes, certnet_bin());
    config.extra_members = hostile.iter().map(|m| m.roster()).collect();
    config.rust_log = std::env::var("RUST_LOG").ok();
    Net {
        fed: ok(Federation::create(&config)),
        _tmp: tmp,
    }
}

/// Node `i`'s PeerId and TCP address, for the hostile peer to dial.
fn address(net: &Net, i: usize) -> (PeerId, Multiaddr) {
    ok(hostile::node_address(net, i))
}

fn metric(net: &Net, i: usize, sample: &str) -> f64 {
    ok(net.client(i).metric(sample))
}

/// Waits until node `i`'s `sample` is at least `value`.
fn wait_metric(net: &Net, i: usize, sample: &str, value: f64) {
    let what = format!("{} to count {sample} >= {value}", net.name(i));
    ok(net.wait_until(CONVERGE, &what, |fed| {
        fed.client(i).metric(sample).map(|v| v >= value)
    }));
}

/// Dials node `i` until connected (a node may refuse a dial that races an earlier connection).
fn connect(net: &Net, peer: &HostilePeer, i: usize) {
    ok(hostile::connect(net, peer, i, CONVERGE));
}

fn hostile_connected(net: &Net, i: usize, hostile: PeerId) -> bool {
    let peers = ok(net.client(i).peers());
    peers["peers"]
        .as_array()
        .is_some_and(|l| l.iter().any(|p| p["peer_id"] == hostile.to_string()))
}

fn author_key(net: &Net, i: usize) -> AuthorKey {
    AuthorKey::from_str(&net.node(i).author_key).unwrap()
}

fn ignored(reason: &str) -> String {
    format!("certnet_records_ignored_total{{via=\"gossip\",reason=\"{reason}\"}}")
}

/// Waits until node `i` has dealt with every gossip message it received: each one ignored as an
/// orphan (or over the orphan share), dropped at a full intake lane, accepted or rejected, and no
/// new one arrived since the previous poll.
fn wait_settled(net: &Net, i: usize) {
    let mut last = -1.0;
    ok(net.wait_until(CONVERGE, "gossip intake to settle", |fed| {
        let m = |s: &str| fed.client(i).metric(s);
        let received = m("certnet_records_received_total{via=\"gossip\"}")?;
        let dealt = m(&ignored("orphan"))?
            + m(&ignored("orphan_limit"))?
            + m("certnet_gossip_dropped_total")?
            + m("certnet_gossip_over_budget_total")?
            + m("certnet_records_accepted_total{via=\"gossip\"}")?;
        let settled = received > 0.0 && dealt >= received && received == last;
        last = received;
        Ok::<_, certnet_testnet::ApiError>(settled)
    }));
}

/// Waits until each of `nodes` holds every record of `want` (and perhaps others).
fn wait_holding(net: &Net, nodes: &[usize], want: &BTreeSet<String>) {
    let what = format!("nodes {nodes:?} to hold {} records", want.len());
    ok(net.wait_until(CONVERGE, &what, |fed| {
        for &i in nodes {
            if !ids(&fed.records(i)?).is_superset(want) {
                return Ok(false);
            }
        }
        Ok::<_, certnet_testnet::Error>(true)
    }));
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[test]
fn a_forged_claim_about_a_nodes_own_feed_never_blocks_its_publishing() {
    let _one = one_at_a_time();
    let evil = member(1);
    let mut net = net_in(2, &[&evil], None);
    ok(net.start_all());
    ok(net.wait_mesh(CONVERGE));
    let first = ok(net.publish_full(0, &incident("before the restart")));
    assert_eq!(first.seq, Some(1));
    // A restart: the first publish after it waits for peers to say how far the node's feed goes.
    ok(net.restart(0));
    let peer = HostilePeer::start(net.network(), evil.keypair.clone()).unwrap();
    let (node0, _) = address(&net, 0);
    peer.script(
        node0,
        Script {
            heads: vec![Head {
                author: author_key(&net, 0),
                seq: u64::MAX,
                id: RecordId::of_payload(b"forged"),
            }],
            ranges: VecDeque::new(),
        },
    )
    .unwrap();
    connect(&net, &peer, 0);
    // The node asks the liar to prove the claim, gets nothing, and counts it against it.
    wait_metric(
        &net,
        0,
        "certnet_peer_offences_total{kind=\"unbacked_claim\"}",
        1.0,
    );
    let next = ok(net.publish_full(0, &incident("published after a forged claim")));
    assert_eq!(next.seq, Some(2), "its feed goes on after seq 1");
    wait_holding(&net, &[0, 1], &BTreeSet::from([first.id, next.id]));
}

#[test]
fn a_four_mib_answer_of_tiny_items_is_refused_and_memory_hardly_moves() {
    let _one = one_at_a_time();
    let evil = member(2);
    let mut net = net_in(2, &[&evil], None);
    ok(net.start_all());
    ok(net.wait_mesh(CONVERGE));
    let peer = HostilePeer::start(net.network(), evil.keypair.clone()).unwrap();
    let (node0, _) = address(&net, 0);
    // It claims node 1's feed goes far, and answers the fetch with 4 MiB of one-byte records; on
    // each reconnection the node asks again, until its third offence bans the liar.
    let pid = net.pid(0).unwrap();
    let hwm = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap()
    };
    let before = hwm();
    let mut rounds = 0;
    while metric(&net, 0, "certnet_peers_banned_total") < 1.0 {
        rounds += 1;
        assert!(rounds <= 3, "not banned after {} offences", rounds - 1);
        peer.script(
            node0,
            Script {
                heads: vec![Head {
                    author: author_key(&net, 1),
                    seq: 1_000_000,
                    id: RecordId::of_payload(b"claim"),
                }],
                ranges: VecDeque::from([Reply::Framed(hostile::tiny_items_response())]),
            },
        )
        .unwrap();
        let _ = peer.disconnect(node0);
        connect(&net, &peer, 0);
        wait_metric(
            &net,
            0,
            "certnet_peer_offences_total{kind=\"protocol\"}",
            f64::from(rounds),
        );
        if rounds == 3 {
            wait_metric(&net, 0, "certnet_peers_banned_total", 1.0);
        }
    }
    assert!(
        !hostile_connected(&net, 0, evil.peer_id()),
        "banned, and disconnected"
    );
    let grown_mib = (hwm().saturating_sub(before)) as f64 / 1024.0;
    assert!(grown_mib < 64.0, "peak RSS grew by {grown_mib:.1} MiB");
    // It keeps serving.
    let id = ok(net.publish(1, &incident("after the memory attack")));
    wait_holding(&net, &[0, 1], &BTreeSet::from([id]));
}

#[test]
fn one_authors_orphans_cannot_keep_another_authors_out() {
    let _one = one_at_a_time();
    let (flooder, other) = (member(3), member(4));
    let mut net = net_in(1, &[&flooder, &other], None);
    // A small orphan space: 800, so one author's share is 100.
    let config = net.node(0).data_dir.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("# max_orphans = 10000", "max_orphans = 800");
    assert!(text.contains("\nmax_orphans = 800"), "{text}");
    std::fs::write(&config, text).unwrap();
    ok(net.start_all());
    let network = net.network().to_owned();
    // Three times the flooder's share: seq 2.. of a chain whose seq 1 never comes. Asked for it,
    // the flooder never answers (an empty answer would be an unbacked claim, and three of those
    // get it banned before its flood is in).
    let flood = hostile::chain(&network, &flooder.secret, 2, 300, None, now_ms()).unwrap();
    let a = HostilePeer::start(&network, flooder.keypair.clone()).unwrap();
    let (node0, _) = address(&net, 0);
    a.script(
        node0,
        Script {
            heads: vec![],
            ranges: VecDeque::from([Reply::Hold]),
        },
    )
    .unwrap();
    connect(&net, &a, 0);
    ok(net.wait_until(CONVERGE, "gossip to reach node 0", |_| {
        Ok::<_, certnet_testnet::Error>(a.sees_subscribed(address(&net, 0).0).unwrap())
    }));
    assert_eq!(a.flood(flood).unwrap(), 300);
    wait_settled(&net, 0);
    let share = 800 / 8;
    let held = ok(net.status(0)).extra["orphans"].as_u64().unwrap();
    assert!(held <= share, "{held} orphans of one author");
    assert!(
        metric(&net, 0, &ignored("orphan_limit")) >= 1.0,
        "the flood went past the author's share"
    );
    // Another author's orphans still get in.
    let b = HostilePeer::start(&network, other.keypair.clone()).unwrap();
    connect(&net, &b, 0);
    let theirs = hostile::chain(&network, &other.secret, 2, 5, None, now_ms()).unwrap();
    ok(
        net.wait_until(CONVERGE, "gossip from the second member", |_| {
            Ok::<_, certnet_testnet::Error>(b.sees_subscribed(address(&net, 0).0).unwrap())
        }),
    );
    assert_eq!(b.flood(theirs).unwrap(), 5);
    ok(
        net.wait_until(CONVERGE, "the other author's orphans to be kept", |fed| {
            Ok::<_, certnet_testnet::Error>(
                fed.status(0)?.extra["orphans"].as_u64() >= Some(held + 5),
            )
        }),
    );
    wait_settled(&net, 0);
    assert_eq!(ok(net.status(0)).extra["orphans"].as_u64(), Some(held + 5));
}

#[test]
fn a_flood_of_garbage_and_bad_signatures_gets_the_sender_banned_while_honest_records_flow() {
    let _one = one_at_a_time();
    let evil = member(5);
    let mut net = net_in(3, &[&evil], None);
    ok(net.start_all());
    ok(net.wait_mesh(CONVERGE));
    let network = net.network().to_owned();
    let peer = HostilePeer::start(&network, evil.keypair.clone()).unwrap();
    for i in 0..3 {
        connect(&net, &peer, i);
    }
    ok(net.wait_until(CONVERGE, "gossip subscriptions", |_| {
        let all = (0..3).all(|i| peer.sees_subscribed(address(&net, i).0).unwrap_or(false));
        Ok::<_, certnet_testnet::Error>(all)
    }));
    let mut honest = BTreeSet::new();
    for round in 0..5u64 {
        let mut messages = hostile::garbage(400, 1000);
        messages.extend(
            hostile::bad_signatures(&network, &evil.secret, 1 + round * 400, 400, now_ms())
                .unwrap(),
        );
        let _ = peer.flood(messages).unwrap();
        for i in 0..3 {
            honest.insert(ok(
                net.publish(i, &incident(&format!("during the flood {round}/{i}")))
            ));
        }
    }
    for i in 0..3 {
        wait_metric(&net, i, "certnet_peers_banned_total", 1.0);
        assert!(
            !hostile_connected(&net, i, evil.peer_id()),
            "{} still has it",
            net.name(i)
        );
    }
    wait_holding(&net, &[0, 1, 2], &honest);
    for i in 0..3 {
        assert!(
            metric(
                &net,
                i,
                "certnet_records_rejected_total{via=\"gossip\",reason=\"bad_signature\"}"
            ) + metric(
                &net,
                i,
                "certnet_records_rejected_total{via=\"gossip\",reason=\"malformed\"}"
            ) + metric(
                &net,
                i,
                "certnet_records_rejected_total{via=\"gossip\",reason=\"non_canonical\"}"
            ) >= 1.0
        );
        // Nothing of the flood is stored.
        let held = ids(&ok(net.records(i)));
        assert_eq!(held, honest, "{}", net.name(i));
    }
}

#[test]
fn connections_past_the_caps_are_refused() {
    let _one = one_at_a_time();
    let mut net = net_in(2, &[], None);
    ok(net.start_all());
    ok(net.wait_mesh(CONVERGE));
    let (_, addr) = address(&net, 0);
    let port = addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    // Sockets that never finish a handshake: 16 may wait, the rest are refused at once.
    let held: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(held.len() >= 40);
    wait_metric(&net, 0, "certnet_connections_denied_total", 1.0);
    // The members still talk.
    let id = ok(net.publish(1, &incident("while the sockets wait")));
    wait_holding(&net, &[0, 1], &BTreeSet::from([id]));
    drop(held);
}

/// A tmpfs of `mib` MiB mounted at a new directory, unmounted on drop (needs root, as CI runs).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(mib: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "certnet-test"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn free_mib(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["-B1M", "--output=avail"])
            .arg(self.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap()
    }

    /// Fills the file system until `leave_mib` MiB are free (the filler file is `name`).
    fn fill_to(&self, name: &str, leave_mib: u64) {
        use std::io::Write as _;
        let free = self.free_mib();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(name))
            .unwrap();
        let chunk = vec![0x5a_u8; 1024 * 1024];
        for _ in 0..free.saturating_sub(leave_mib) {
            f.write_all(&chunk).unwrap();
        }
        f.sync_all().unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_a_state_the_node_reports_and_leaves_by_itself() {
    let _one = one_at_a_time();
    let disk = Tmpfs::new(160);
    let mut net = net_in(2, &[], Some(disk.path()));
    // Both nodes share the tmpfs. Node 0 keeps 48 MiB free for others' records and 24 MiB for its
    // own; node 1 needs only 4 and 2, so it keeps working while node 0 is low or full.
    let limit = |i: usize, watermark: u64, floor: u64| {
        let config = net.node(i).data_dir.join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replace(
            "# min_free_mib = 256\n# publish_floor_mib = 64",
            &format!("min_free_mib = {watermark}\npublish_floor_mib = {floor}"),
        );
        assert!(
            text.contains(&format!("min_free_mib = {watermark}")),
            "{text}"
        );
        std::fs::write(&config, text).unwrap();
    };
    limit(0, 48, 24);
    limit(1, 4, 2);
    ok(net.start_all());
    ok(net.wait_mesh(CONVERGE));
    let state = |net: &Net| {
        ok(net.status(0)).extra["disk"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(state(&net), "ok");

    // Below the watermark: node 0 takes no records from others, but publishes its own.
    disk.fill_to("filler", 40);
    ok(net.wait_until(CONVERGE, "node 0 to see its disk low", |_| {
        Ok::<_, certnet_testnet::Error>(state(&net) == "low")
    }));
    assert_eq!(metric(&net, 0, "certnet_disk_state"), 1.0);
    let from_peer = ok(net.publish(1, &incident("while node 0's disk is low")));
    let own = ok(net.publish(0, &incident("node 0 publishes while low")));
    wait_holding(
        &net,
        &[1],
        &BTreeSet::from([from_peer.clone(), own.clone()]),
    );
    assert!(
        !ids(&ok(net.records(0))).contains(&from_peer),
        "node 0 took a peer's record while low"
    );

    // Below the floor: nothing is written, publishes get 507.
    disk.fill_to("filler2", 16);
    ok(
        net.wait_until(CONVERGE, "node 0 to see its disk full", |_| {
            Ok::<_, certnet_testnet::Error>(state(&net) == "full")
        }),
    );
    let refused = net.publish(0, &incident("node 0 publishes while full"));
    let message = format!("{:?}", refused.expect_err("a publish on a full disk"));
    assert!(
        message.contains("507") || message.contains("disk"),
        "{message}"
    );

    // Space returns: back to ok by itself, and the peer's record arrives (sync), nothing lost.
    std::fs::remove_file(disk.path().join("filler2")).unwrap();
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    ok(
        net.wait_until(CONVERGE, "node 0 to see its disk ok again", |_| {
            Ok::<_, certnet_testnet::Error>(state(&net) == "ok")
        }),
    );
    wait_holding(&net, &[0, 1], &BTreeSet::from([from_peer, own]));
    let after = ok(net.publish(0, &incident("node 0 publishes again")));
    wait_holding(&net, &[0, 1], &BTreeSet::from([after]));
}
