//! A hostile roster member: a bare libp2p peer (TCP, Noise, Yamux) that speaks certnet's gossip topic
//! and sync protocol from PROTOCOL.md §13–14 — written here from the spec, not from the node's code —
//! and sends whatever bytes a test or a benchmark scripts.
//!
//! - Gossip: anonymous messages, message id = SHA-256 of the data, as every node; its own transmit
//!   limit is 1 MiB so it can send messages above the nodes' 256 KiB.
//! - Sync: it answers `Heads` with the heads the test scripted for the asking peer, and each `Range`
//!   with the next scripted [`Reply`] — a normally framed body, or raw bytes on the stream (a lying
//!   length prefix, say). Unscripted ranges of a feed it was given to serve ([`HostilePeer::serve`])
//!   get those records, as an honest member would answer; other requests get empty answers.
//!
//! The swarm runs on its own thread and runtime; callers drive it with blocking calls. A flood
//! ([`HostilePeer::flood`]) publishes from inside the loop, as fast as gossip takes messages.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::{
    Head, MAX_RANGE, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SyncRequest, SyncResponse,
};
use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, StreamExt as _};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, noise, ping, tcp, yamux};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};

/// What the hostile peer writes on a sync stream in answer to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A frame: 4-byte big-endian length, then these bytes (which need not be a valid message).
    Framed(Vec<u8>),
    /// These bytes exactly, with no framing added.
    Raw(Vec<u8>),
    /// No answer at all: the request stays open until the asker gives up. Sticky: it answers this
    /// request and every later one of the script.
    Hold,
}

/// How the peer answers one requester: the heads it claims, and the replies to its next `Range`
/// requests, in order.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Claimed in every `Heads` answer.
    pub heads: Vec<Head>,
    /// One per `Range` request; once empty, ranges get an empty `Records`.
    pub ranges: VecDeque<Reply>,
}

/// The raw sync codec: requests are decoded (to know what was asked), replies written as scripted.
#[derive(Debug, Clone, Copy, Default)]
struct RawSyncCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut body = vec![0; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(body);
    out
}

impl request_response::Codec for RawSyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = Reply;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_REQUEST_BYTES).await?;
        SyncRequest::from_cbor(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Reply>
    where
        T: AsyncRead + Unpin + Send,
    {
        // This peer never sends requests.
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await?;
        Ok(Reply::Raw(rest))
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&framed(&request.to_cbor())).await?;
        io.flush().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        reply: Reply,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = match reply {
            Reply::Framed(body) => framed(&body),
            Reply::Raw(bytes) => bytes,
            // Never sent: held requests keep their channel.
            Reply::Hold => Vec::new(),
        };
        io.write_all(&bytes).await?;
        io.flush().await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<RawSyncCodec>,
}

/// Why the hostile peer could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostileError {
    /// The swarm could not be built.
    #[error("cannot start the hostile peer: {0}")]
    Setup(String),
    /// Its loop has stopped.
    #[error("the hostile peer's loop stopped")]
    Stopped,
}

/// Commands from the caller's thread to the swarm's loop.
enum Command {
    Dial {
        peer: PeerId,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Disconnect {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Publish {
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Flood {
        messages: Vec<Vec<u8>>,
        reply: oneshot::Sender<usize>,
    },
    Script {
        peer: PeerId,
        script: Script,
    },
    Serve {
        feed: Feed,
    },
    Subscribed {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    RangesServed {
        peer: PeerId,
        reply: oneshot::Sender<usize>,
    },
    Connected {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
}

/// A feed the peer serves by sync: `author`'s records from seq 1, in order.
#[derive(Debug, Clone)]
struct Feed {
    author: AuthorKey,
    records: Arc<Vec<Vec<u8>>>,
}

impl Feed {
    /// The answer to `Range { from_seq, max }`: the records it holds from there, within the
    /// protocol's count and size limits.
    fn range(&self, from_seq: u64, max: u32) -> Vec<Vec<u8>> {
        let start = usize::try_from(from_seq.saturating_sub(1)).unwrap_or(usize::MAX);
        let count = usize::try_from(max.min(MAX_RANGE)).unwrap_or(0);
        let mut bytes = 16;
        self.records
            .iter()
            .skip(start)
            .take(count)
            .take_while(|r| {
                bytes += r.len() + 8;
                bytes <= MAX_RESPONSE_BYTES
            })
            .cloned()
            .collect()
    }
}

/// The running hostile peer. Dropping it stops the swarm.
pub struct HostilePeer {
    peer_id: PeerId,
    commands: Option<mpsc::UnboundedSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl HostilePeer {
    /// Starts the peer with `keypair` on network `net` (it listens nowhere: it only dials).
    pub fn start(net: &str, keypair: Keypair) -> Result<Self, HostileError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| HostileError::Setup(format!("{what}: {e}"));
        let peer_id = keypair.public().to_peer_id();
        let topic = IdentTopic::new(format!("/certnet/{net}/records/1"));
        let protocol = StreamProtocol::try_from_owned(format!("/certnet/{net}/sync/1"))
            .map_err(|e| setup("sync protocol id", &e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup("runtime", &e))?;
        let mut swarm = {
            let _entered = runtime.enter();
            build_swarm(keypair, protocol)?
        };
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| setup("subscribe", &e))?;
        let (commands, rx) = mpsc::unbounded_channel();
        let thread = std::thread::spawn(move || {
            super::yield_cpu_to_the_nodes();
            runtime.block_on(run(swarm, topic, rx));
        });
        Ok(Self {
            peer_id,
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    /// Its PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, HostileError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.blocking_recv().map_err(|_| HostileError::Stopped)
    }

    fn send(&self, command: Command) -> Result<(), HostileError> {
        let sent = self
            .commands
            .as_ref()
            .is_some_and(|c| c.send(command).is_ok());
        if sent {
            Ok(())
        } else {
            Err(HostileError::Stopped)
        }
    }

    /// Dials `peer` at `addr` and waits until the connection is established (or fails).
    pub fn dial(&self, peer: PeerId, addr: Multiaddr) -> Result<Result<(), String>, HostileError> {
        self.call(|reply| Command::Dial { peer, addr, reply })
    }

    /// Closes every connection to `peer` and waits until they are closed.
    pub fn disconnect(&self, peer: PeerId) -> Result<(), HostileError> {
        self.call(|reply| Command::Disconnect { peer, reply })
    }

    /// Publishes `data` on the records topic.
    pub fn publish(&self, data: Vec<u8>) -> Result<Result<(), String>, HostileError> {
        self.call(|reply| Command::Publish { data, reply })
    }

    /// Publishes `messages` in order from inside the peer's loop, as fast as gossip takes them,
    /// stopping at the first it refuses (its queues full, no peer): how many it took. A caller that
    /// keeps a feed in order floods the rest again later.
    pub fn flood(&self, messages: Vec<Vec<u8>>) -> Result<usize, HostileError> {
        self.call(|reply| Command::Flood { messages, reply })
    }

    /// Replaces how `peer`'s sync requests are answered.
    pub fn script(&self, peer: PeerId, script: Script) -> Result<(), HostileError> {
        self.send(Command::Script { peer, script })
    }

    /// Serves `author`'s feed — `records`, its seq 1, 2, … — to unscripted `Range` requests.
    pub fn serve(&self, author: AuthorKey, records: Arc<Vec<Vec<u8>>>) -> Result<(), HostileError> {
        self.send(Command::Serve {
            feed: Feed { author, records },
        })
    }

    /// Whether `peer` is subscribed to the records topic, as this peer knows.
    pub fn sees_subscribed(&self, peer: PeerId) -> Result<bool, HostileError> {
        self.call(|reply| Command::Subscribed { peer, reply })
    }

    /// Whether a connection to `peer` is established.
    pub fn is_connected(&self, peer: PeerId) -> Result<bool, HostileError> {
        self.call(|reply| Command::Connected { peer, reply })
    }

    /// How many scripted `Range` replies `peer` has been sent.
    pub fn ranges_served(&self, peer: PeerId) -> Result<usize, HostileError> {
        self.call(|reply| Command::RangesServed { peer, reply })
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        // Closing the channel ends the loop.
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn build_swarm(
    keypair: Keypair,
    protocol: StreamProtocol,
) -> Result<Swarm<Behaviour>, HostileError> {
    let setup = |what: &str, e: &dyn std::fmt::Display| HostileError::Setup(format!("{what}: {e}"));
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| MessageId::new(&Sha256::digest(&m.data)))
        .max_transmit_size(1 << 20)
        // A flood must not wait on its own peers' queues.
        .connection_handler_queue_len(65_536)
        .build()
        .map_err(|e| setup("gossipsub config", &e))?;
    let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
        .map_err(|e| setup("gossipsub", &e))?;
    let sync = request_response::Behaviour::with_codec(
        RawSyncCodec,
        [(protocol, ProtocolSupport::Full)],
        request_response::Config::default(),
    );
    Ok(SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup("tcp transport", &e))?
        .with_behaviour(|_| Behaviour {
            ping: ping::Behaviour::new(ping::Config::new()),
            gossipsub,
            sync,
        })
        .map_err(|e| setup("behaviour", &e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build())
}

/// The swarm's loop: commands from the test, events from the network.
async fn run(
    mut swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut dials: HashMap<PeerId, Vec<oneshot::Sender<Result<(), String>>>> = HashMap::new();
    let mut closes: HashMap<PeerId, Vec<oneshot::Sender<()>>> = HashMap::new();
    let mut scripts: HashMap<PeerId, Script> = HashMap::new();
    let mut served: HashMap<PeerId, usize> = HashMap::new();
    let mut feed: Option<Feed> = None;
    let mut held = Vec::new();
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { return };
                match command {
                    Command::Dial { peer, addr, reply } => {
                        if swarm.is_connected(&peer) {
                            let _ = reply.send(Ok(()));
                        } else if let Err(e) = swarm.dial(addr.with_p2p(peer).unwrap_or_else(|a| a)) {
                            let _ = reply.send(Err(e.to_string()));
                        } else {
                            dials.entry(peer).or_default().push(reply);
                        }
                    }
                    Command::Disconnect { peer, reply } => {
                        if swarm.disconnect_peer_id(peer).is_ok() {
                            closes.entry(peer).or_default().push(reply);
                        } else {
                            let _ = reply.send(());
                        }
                    }
                    Command::Publish { data, reply } => {
                        let result = swarm
                            .behaviour_mut()
                            .gossipsub
                            .publish(topic.clone(), data)
                            .map(drop)
                            .map_err(|e| e.to_string());
                        let _ = reply.send(result);
                    }
                    Command::Flood { messages, reply } => {
                        let gossip = &mut swarm.behaviour_mut().gossipsub;
                        let taken = messages
                            .into_iter()
                            .take_while(|m| gossip.publish(topic.clone(), m.clone()).is_ok())
                            .count();
                        let _ = reply.send(taken);
                    }
                    Command::Script { peer, script } => {
                        scripts.insert(peer, script);
                    }
                    Command::Serve { feed: f } => feed = Some(f),
                    Command::Subscribed { peer, reply } => {
                        let hash = topic.hash();
                        let subscribed = swarm
                            .behaviour()
                            .gossipsub
                            .all_peers()
                            .any(|(p, topics)| *p == peer && topics.contains(&&hash));
                        let _ = reply.send(subscribed);
                    }
                    Command::Connected { peer, reply } => {
                        let _ = reply.send(swarm.is_connected(&peer));
                    }
                    Command::RangesServed { peer, reply } => {
                        let _ = reply.send(served.get(&peer).copied().unwrap_or(0));
                    }
                }
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    for reply in dials.remove(&peer_id).unwrap_or_default() {
                        let _ = reply.send(Ok(()));
                    }
                }
                SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. } => {
                    for reply in dials.remove(&peer).unwrap_or_default() {
                        let _ = reply.send(Err(error.to_string()));
                    }
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    for reply in closes.remove(&peer_id).unwrap_or_default() {
                        let _ = reply.send(());
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                    peer,
                    message: request_response::Message::Request { request, channel, .. },
                    ..
                })) => {
                    let script = scripts.entry(peer).or_default();
                    let reply = match request {
                        SyncRequest::Heads => {
                            Reply::Framed(SyncResponse::Heads(script.heads.clone()).to_cbor())
                        }
                        SyncRequest::Range { author, from_seq, max } => match script.ranges.pop_front() {
                            Some(Reply::Hold) => {
                                script.ranges.push_front(Reply::Hold);
                                *served.entry(peer).or_default() += 1;
                                held.push(channel);
                                continue;
                            }
                            Some(reply) => {
                                *served.entry(peer).or_default() += 1;
                                reply
                            }
                            None => {
                                let records = feed
                                    .as_ref()
                                    .filter(|f| f.author == author)
                                    .map(|f| f.range(from_seq, max))
                                    .unwrap_or_default();
                                Reply::Framed(SyncResponse::Records(records).to_cbor())
                            }
                        },
                    };
                    let _ = swarm.behaviour_mut().sync.send_response(channel, reply);
                }
                _ => {}
            },
        }
    }
}
