//! A hostile federation member, for tests and the `hostile` scenario: a roster member (its own
//! author key and PeerId) that runs no `certnet` node but a bare libp2p peer ([`peer`]) and sends
//! what an attacker would — floods of garbage, of records with bad signatures, of its own valid
//! records, orphans, forged heads, and sync answers built to exhaust memory. The helpers here make
//! those messages from certnet-protocol; nothing is taken from the node's code.

pub mod peer;

use std::time::Duration;

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{FeedPosition, RecordError, sample, sign_record};
use certnet_protocol::sync::MAX_RESPONSE_BYTES;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use sha2::{Digest as _, Sha256};

pub use peer::{HostileError, HostilePeer, Reply, Script};

use crate::error::Error;
use crate::federation::Federation;
use crate::roster::RosterMember;

/// A compromised member: a roster entry (name, author key, PeerId) whose keys the caller holds.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its roster name.
    pub name: String,
    /// Its author key.
    pub secret: AuthorSecret,
    /// Its libp2p identity.
    pub keypair: Keypair,
}

impl Member {
    /// Member `name` with keys derived from `seed` and the name (distinct seeds or names,
    /// distinct members).
    pub fn new(name: &str, seed: u64) -> Self {
        let derive = |tag: &str| -> [u8; 32] {
            Sha256::new()
                .chain_update(seed.to_le_bytes())
                .chain_update(name.as_bytes())
                .chain_update(tag.as_bytes())
                .finalize()
                .into()
        };
        let secret = AuthorSecret::from_seed(&derive("author"));
        // `ed25519_from_bytes` fails only on a length other than 32.
        let keypair = Keypair::ed25519_from_bytes(derive("peer"))
            .unwrap_or_else(|_| Keypair::generate_ed25519());
        Self {
            name: name.to_owned(),
            secret,
            keypair,
        }
    }

    /// Its PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// Its roster entry (no address: it dials, it is not dialed).
    pub fn roster(&self) -> RosterMember {
        RosterMember {
            name: self.name.clone(),
            author_key: self.secret.public().to_string(),
            peer_ids: vec![self.peer_id().to_string()],
            addrs: vec![],
            encryption_keys: vec![],
        }
    }

    /// Starts its libp2p peer on `fed`'s network.
    pub fn start(&self, fed: &Federation) -> Result<HostilePeer, HostileError> {
        HostilePeer::start(fed.network(), self.keypair.clone())
    }
}

/// Node `i`'s PeerId and TCP listen address, for a hostile peer to dial.
pub fn node_address(fed: &Federation, i: usize) -> Result<(PeerId, Multiaddr), Error> {
    let node = fed.node(i);
    let bad = |what: &str| Error::Invalid(format!("{}: {what}", node.name));
    let tcp = node
        .listen
        .iter()
        .find(|a| a.contains("/tcp/"))
        .ok_or_else(|| bad("no TCP listen address"))?;
    Ok((
        node.peer_id.parse().map_err(|_| bad("bad PeerId"))?,
        tcp.parse().map_err(|_| bad("bad listen address"))?,
    ))
}

/// Dials node `i` until `peer` is connected to it (a node may refuse a dial that races the close
/// of an earlier connection; a banned peer never connects, and this times out).
pub fn connect(
    fed: &Federation,
    peer: &HostilePeer,
    i: usize,
    timeout: Duration,
) -> Result<(), Error> {
    let (id, addr) = node_address(fed, i)?;
    let what = format!("the hostile peer to connect to {}", fed.name(i));
    fed.wait_until(timeout, &what, |_| {
        if !peer.is_connected(id)? {
            let _ = peer.dial(id, addr.clone())?;
        }
        peer.is_connected(id)
    })?;
    Ok(())
}

/// Waits until `peer` sees node `i` subscribed to the records topic (so what it floods reaches it).
pub fn wait_subscribed(
    fed: &Federation,
    peer: &HostilePeer,
    i: usize,
    timeout: Duration,
) -> Result<(), Error> {
    let (id, _) = node_address(fed, i)?;
    let what = format!("{} to subscribe for the hostile peer", fed.name(i));
    fed.wait_until(timeout, &what, |_| peer.sees_subscribed(id))?;
    Ok(())
}

/// `count` distinct garbage messages of `size` bytes each (random, so no two share a message id).
pub fn garbage(count: usize, size: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let mut m = vec![0u8; size.max(8)];
            let _ = getrandom::fill(&mut m);
            m
        })
        .collect()
}

/// `count` records of `secret` on `net` whose signatures do not verify (the last byte flipped), at
/// seqs from `first_seq`.
pub fn bad_signatures(
    net: &str,
    secret: &AuthorSecret,
    first_seq: u64,
    count: u64,
    time_ms: u64,
) -> Result<Vec<Vec<u8>>, RecordError> {
    let mut out = chain(net, secret, first_seq, count, None, time_ms)?;
    for m in &mut out {
        if let Some(last) = m.last_mut() {
            *last ^= 1;
        }
    }
    Ok(out)
}

/// `count` valid records of `secret` on `net`, a chain from `first_seq` after `prev`.
pub fn chain(
    net: &str,
    secret: &AuthorSecret,
    first_seq: u64,
    count: u64,
    mut prev: Option<RecordId>,
    time_ms: u64,
) -> Result<Vec<Vec<u8>>, RecordError> {
    (first_seq..first_seq + count)
        .map(|seq| {
            let at = FeedPosition {
                seq,
                prev: if seq == 1 {
                    None
                } else {
                    prev.or(Some(RecordId::of_payload(&seq.to_be_bytes())))
                },
                time: time_ms + seq,
            };
            let r = sign_record(net, sample::incident(seq), at, secret)?;
            prev = Some(r.id());
            Ok(r.into_bytes())
        })
        .collect()
}

/// A `Records` response body of about `MAX_RESPONSE_BYTES` made of one-byte records: before the
/// sync decoder checked counts first, decoding it cost hundreds of MB.
pub fn tiny_items_response() -> Vec<u8> {
    let n = (MAX_RESPONSE_BYTES - 16) / 2;
    let mut body = vec![0x82, 0x01, 0x9a];
    body.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    for _ in 0..n {
        body.extend_from_slice(&[0x41, 0x00]);
    }
    body
}

/// Lowers the calling thread to the lowest CPU priority (nice 19), best effort: a hostile member
/// stands in for a machine of its own, so on one machine it should take only the CPU the honest
/// nodes leave idle, not slow them down by competing for the cores (which no node-side defence can
/// prevent). It still sends as fast as its libp2p stack allows; the reports count what got out.
pub fn yield_cpu_to_the_nodes() {
    let Ok(me) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = me.file_name().and_then(|t| t.to_str()).map(str::to_owned) else {
        return;
    };
    let _ = std::process::Command::new("renice")
        .args(["-n", "19", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
