//! The attacks of `bench hostile`: what each compromised member sends, prepared before its phase.

use std::net::TcpStream;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::Head;
use libp2p::multiaddr::Protocol;

use super::{PhaseLoad, SETUP, Volume};
use crate::bench::{BenchError, Progress, now_us};
use crate::federation::Federation;
use crate::hostile::{self, HostileError, HostilePeer, Member, Reply, Script};

/// Messages per flood call: the peer takes a prefix, the rest is offered again.
const FLOOD_CHUNK: usize = 500;
/// Orphans the `orphans` attack sends: far more than one author's share of the orphan space.
const ORPHANS: u64 = 20_000;
/// Raw TCP connections per node in the `connections` attack.
const SOCKETS_PER_NODE: usize = 200;

/// One attack of a compromised member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attack {
    /// Valid records of its own feed at full rate.
    Flood,
    /// Garbage and badly signed records at full rate.
    Garbage,
    /// Records whose predecessors never come.
    Orphans,
    /// Heads claiming feeds far beyond what it holds, the nodes' own included.
    ForgedHeads,
    /// A 4 MiB sync answer of one-byte records.
    TinyItems,
    /// Connections that never finish a handshake.
    Connections,
}

impl Attack {
    /// Every attack, in the order they run.
    pub const ALL: [Self; 6] = [
        Self::Flood,
        Self::Garbage,
        Self::Orphans,
        Self::ForgedHeads,
        Self::TinyItems,
        Self::Connections,
    ];

    /// Its name on the command line and in report keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::Garbage => "garbage",
            Self::Orphans => "orphans",
            Self::ForgedHeads => "forged-heads",
            Self::TinyItems => "tiny-items",
            Self::Connections => "connections",
        }
    }

    pub(super) fn key(self) -> String {
        self.name().replace('-', "_")
    }

    pub(super) fn member_name(self) -> String {
        format!("CERT-EVIL-{}", self.name().to_ascii_uppercase())
    }
}

impl FromStr for Attack {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                BenchError::Invalid(format!(
                    "no attack `{s}`: use one of {}",
                    Self::ALL.map(Self::name).join(", ")
                ))
            })
    }
}

/// An attack ready to run: its peer connected, its messages signed.
pub(super) struct Prepared {
    attack: Attack,
    peer: Option<HostilePeer>,
    messages: Arc<Vec<Vec<u8>>>,
    member: Member,
    sockets: Vec<(String, u16)>,
}

pub(super) fn prepare(
    fed: &Federation,
    attack: Attack,
    member: &Member,
    load: &PhaseLoad,
    progress: Progress<'_>,
) -> Result<Prepared, BenchError> {
    let nodes = fed.len();
    let net = fed.network().to_owned();
    let now_ms = now_us() / 1000;
    let sign_err = |e: certnet_protocol::record::RecordError| {
        BenchError::Node(format!("cannot sign the attack's records: {e}"))
    };
    let messages = match attack {
        Attack::Flood => {
            progress(&format!(
                "signing {} records of {} for the flood",
                load.flood_records, member.name
            ));
            hostile::chain(&net, &member.secret, 1, load.flood_records, None, now_ms)
                .map_err(sign_err)?
        }
        Attack::Orphans => {
            hostile::chain(&net, &member.secret, 2, ORPHANS, None, now_ms).map_err(sign_err)?
        }
        _ => Vec::new(),
    };
    let mut prepared = Prepared {
        attack,
        peer: None,
        messages: Arc::new(messages),
        member: member.clone(),
        sockets: Vec::new(),
    };
    if attack == Attack::Connections {
        for i in 0..nodes {
            let (_, addr) = hostile::node_address(fed, i)?;
            let port = addr.iter().find_map(|p| match p {
                Protocol::Tcp(port) => Some(port),
                _ => None,
            });
            if let Some(port) = port {
                prepared.sockets.push(("127.0.0.1".to_owned(), port));
            }
        }
        return Ok(prepared);
    }
    let peer = member.start(fed)?;
    if attack == Attack::Flood {
        // A flooder that answers for its feed like an honest member: nothing to ban it for.
        peer.serve(member.secret.public(), Arc::clone(&prepared.messages))?;
    }
    let authors: Vec<AuthorKey> = (0..nodes)
        .map(|i| {
            AuthorKey::from_str(&fed.node(i).author_key)
                .map_err(|e| BenchError::Node(format!("{}: bad author key: {e}", fed.name(i))))
        })
        .collect::<Result<_, _>>()?;
    for i in 0..nodes {
        let (id, _) = hostile::node_address(fed, i)?;
        match attack {
            Attack::ForgedHeads => peer.script(id, forged_heads(&authors, i))?,
            Attack::TinyItems => peer.script(
                id,
                Script {
                    heads: vec![Head {
                        author: authors[(i + 1) % nodes],
                        seq: 1_000_000,
                        id: RecordId::of_payload(b"tiny items"),
                    }],
                    ranges: std::iter::repeat_with(
                        || Reply::Framed(hostile::tiny_items_response()),
                    )
                    .take(5)
                    .collect(),
                },
            )?,
            _ => {}
        }
        hostile::connect(fed, &peer, i, SETUP)?;
        hostile::wait_subscribed(fed, &peer, i, SETUP)?;
    }
    prepared.peer = Some(peer);
    Ok(prepared)
}

/// Heads claiming node `i`'s own feed is at u64::MAX and every other node's at 1,000,000.
pub(super) fn forged_heads(authors: &[AuthorKey], i: usize) -> Script {
    let heads = authors
        .iter()
        .enumerate()
        .map(|(j, author)| Head {
            author: *author,
            seq: if j == i { u64::MAX } else { 1_000_000 },
            id: RecordId::of_payload(b"forged"),
        })
        .collect();
    Script {
        heads,
        ranges: Default::default(),
    }
}

impl Prepared {
    /// Runs the attack until `stop`.
    pub(super) fn run(&self, fed: &Federation, stop: &AtomicBool) -> Volume {
        let result = match (self.attack, &self.peer) {
            (Attack::Flood | Attack::Orphans, Some(peer)) => flood(peer, &self.messages, stop),
            (Attack::Garbage, Some(peer)) => self.garbage(fed, peer, stop),
            (Attack::ForgedHeads | Attack::TinyItems, Some(peer)) => reconnect(fed, peer, stop),
            (Attack::Connections, _) => Ok(hold_sockets(&self.sockets, stop)),
            (_, None) => Ok(0),
        };
        match result {
            Ok(sent) => Volume { sent, error: None },
            Err(e) => Volume {
                sent: 0,
                error: Some(e.to_string()),
            },
        }
    }

    /// Garbage and badly signed records, in chunks, until `stop`.
    fn garbage(
        &self,
        fed: &Federation,
        peer: &HostilePeer,
        stop: &AtomicBool,
    ) -> Result<u64, HostileError> {
        let mut sent = 0u64;
        let mut seq = 1;
        while !stop.load(Ordering::SeqCst) {
            let mut messages = hostile::garbage(FLOOD_CHUNK / 2, 600);
            messages.extend(
                hostile::bad_signatures(
                    fed.network(),
                    &self.member.secret,
                    seq,
                    (FLOOD_CHUNK / 2) as u64,
                    now_us() / 1000,
                )
                .unwrap_or_default(),
            );
            seq += (FLOOD_CHUNK / 2) as u64;
            let offered = messages.len();
            let taken = peer.flood(messages)?;
            sent += taken as u64;
            if taken < offered {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(sent)
    }
}

/// Floods `messages` in order, as fast as gossip takes them, until `stop` or the end.
fn flood(peer: &HostilePeer, messages: &[Vec<u8>], stop: &AtomicBool) -> Result<u64, HostileError> {
    let mut next = 0;
    while next < messages.len() && !stop.load(Ordering::SeqCst) {
        let end = (next + FLOOD_CHUNK).min(messages.len());
        let taken = peer.flood(messages[next..end].to_vec())?;
        next += taken;
        if next < end {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(next as u64)
}

/// Reconnects to every node every half second (each new connection makes a node ask for heads
/// again, and fetch what they claim), until `stop`; a node that banned the peer refuses it.
fn reconnect(fed: &Federation, peer: &HostilePeer, stop: &AtomicBool) -> Result<u64, HostileError> {
    let mut rounds = 0;
    while !stop.load(Ordering::SeqCst) {
        for i in 0..fed.len() {
            let Ok((id, addr)) = hostile::node_address(fed, i) else {
                continue;
            };
            peer.disconnect(id)?;
            let _ = peer.dial(id, addr)?;
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(rounds)
}

/// Opens up to [`SOCKETS_PER_NODE`] TCP connections to each address and holds them until `stop`;
/// how many opened.
fn hold_sockets(addrs: &[(String, u16)], stop: &AtomicBool) -> u64 {
    let mut held = Vec::new();
    for (host, port) in addrs {
        for _ in 0..SOCKETS_PER_NODE {
            if let Ok(s) = TcpStream::connect((host.as_str(), *port)) {
                held.push(s);
            }
        }
    }
    let opened = held.len() as u64;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    opened
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn attacks_parse_and_unknown_ones_name_the_choices() {
        for a in Attack::ALL {
            assert_eq!(a.name().parse::<Attack>().unwrap(), a);
        }
        let err = "ddos".parse::<Attack>().unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("flood, garbage"), "{err}");
        assert_eq!(Attack::ForgedHeads.member_name(), "CERT-EVIL-FORGED-HEADS");
    }

    #[test]
    fn forged_heads_claim_the_nodes_own_feed_at_the_end_of_time() {
        let authors: Vec<AuthorKey> = (0..3u8)
            .map(|i| certnet_protocol::keys::AuthorSecret::from_seed(&[i; 32]).public())
            .collect();
        let script = forged_heads(&authors, 1);
        assert_eq!(script.heads[1].seq, u64::MAX);
        assert_eq!(script.heads[0].seq, 1_000_000);
        assert!(script.ranges.is_empty());
    }
}
