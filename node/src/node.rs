//! The node's event loop: one task owns the node's state; everything else holds a [`NodeHandle`].
//!
//! Shaped like rust-libp2p's `examples/file-sharing`: the cloneable handle sends
//! `Command { .., reply: oneshot }` over a bounded channel, and [`Node::run`] answers commands in one
//! `select!`. The libp2p Swarm, sync state and pending-request maps join this loop's state when
//! networking lands; nothing else will ever touch them.

use std::future::Future;
use std::time::{Duration, Instant};

use certnet_protocol::keys::AuthorKey;
use libp2p_identity::PeerId;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use crate::roster::{MemberName, NetworkId};

/// How many commands may wait for the loop before senders wait too.
pub const COMMAND_QUEUE: usize = 256;

/// Who this node is: the facts every status and log line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Member name (config.toml `name`, matching the roster).
    pub name: MemberName,
    /// Network id (roster.toml `network`).
    pub network: NetworkId,
    /// This node's author public key.
    pub author_key: AuthorKey,
    /// This node's libp2p PeerId.
    pub peer_id: PeerId,
}

/// The node's answer to [`Command::Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Who the node is.
    pub identity: NodeIdentity,
    /// The certnet version running.
    pub version: &'static str,
    /// Time since the event loop started.
    pub uptime: Duration,
}

/// A request to the event loop. Each carries the channel its answer goes back on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Report identity, version and uptime.
    Status {
        /// Where the answer goes.
        reply: oneshot::Sender<NodeStatus>,
    },
}

/// The event loop stopped before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node's event loop has stopped (the node is shutting down)")]
pub struct NodeStopped;

/// A cloneable way to talk to the event loop from API handlers and other tasks.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
}

impl NodeHandle {
    /// Sends a command, waiting for queue space if the loop is busy.
    pub async fn send(&self, command: Command) -> Result<(), NodeStopped> {
        self.commands.send(command).await.map_err(|_| NodeStopped)
    }

    /// Asks the loop for its status.
    pub async fn status(&self) -> Result<NodeStatus, NodeStopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Status { reply }).await?;
        answer.await.map_err(|_| NodeStopped)
    }
}

/// The event loop and the state it alone owns.
#[derive(Debug)]
pub struct Node {
    commands: mpsc::Receiver<Command>,
    identity: NodeIdentity,
    started: Instant,
}

impl Node {
    /// A new loop for this identity and the handle that talks to it. Call [`Node::run`] to start it.
    pub fn new(identity: NodeIdentity) -> (NodeHandle, Node) {
        let (sender, commands) = mpsc::channel(COMMAND_QUEUE);
        let node = Node {
            commands,
            identity,
            started: Instant::now(),
        };
        (NodeHandle { commands: sender }, node)
    }

    /// Runs until `shutdown` completes or every handle is dropped.
    ///
    /// Shutdown comes first in the `select!`, so a stop is never starved by a busy command queue.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        self.started = Instant::now();
        info!(
            name = %self.identity.name,
            network = %self.identity.network,
            peer_id = %self.identity.peer_id,
            "event loop started"
        );
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => break,
                },
            }
        }
        info!("event loop stopped");
    }

    /// Handles one command. Must stay short and never block: it runs on the loop.
    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Status { reply } => {
                debug!("status requested");
                // The asker may have gone away (client disconnected): nothing to do then.
                let _ = reply.send(self.status());
            }
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            identity: self.identity.clone(),
            version: env!("CARGO_PKG_VERSION"),
            uptime: self.started.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;

    use super::*;
    use crate::keys::NodeSecret;

    fn identity() -> NodeIdentity {
        NodeIdentity {
            name: "CERT-T".parse().unwrap(),
            network: "test".parse().unwrap(),
            author_key: AuthorSecret::from_seed(&[1; 32]).public(),
            peer_id: NodeSecret::from_seed(&[2; 32]).unwrap().peer_id(),
        }
    }

    #[tokio::test]
    async fn status_round_trip_then_shutdown() {
        let (handle, node) = Node::new(identity());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(node.run(async {
            let _ = stopped.await;
        }));
        let status = handle.clone().status().await.unwrap();
        assert_eq!(status.identity, identity());
        assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(handle.status().await, Err(NodeStopped));
    }

    #[tokio::test]
    async fn loop_ends_when_all_handles_drop() {
        let (handle, node) = Node::new(identity());
        let task = tokio::spawn(node.run(std::future::pending()));
        drop(handle);
        task.await.unwrap();
    }
}
