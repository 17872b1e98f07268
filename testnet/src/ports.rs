//! Free 127.0.0.1 ports for the nodes, picked before the nodes start (each node's API and p2p
//! addresses are written into its config and into everyone's roster, so they must be known up front).
//!
//! Per node: one TCP port for the API, and one port number free for both TCP and UDP for the p2p
//! listeners (TCP and QUIC, like the node's default 4471). Within one process no port is handed out
//! twice, so tests running side by side never collide with each other.

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::{Mutex, PoisonError};

/// Ports handed out by this process so far.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Attempts per port before giving up.
const ATTEMPTS: usize = 200;

/// One node's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePorts {
    /// TCP port of the HTTP API.
    pub api: u16,
    /// Port of the p2p listeners: TCP, and UDP for QUIC.
    pub p2p: u16,
}

/// Why ports could not be found.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A port of the fixed range is taken.
    #[error("port {port} on 127.0.0.1 ({what}) is in use: pick another --base-port")]
    InUse {
        /// The port.
        port: u16,
        /// What it was meant for.
        what: &'static str,
    },
    /// The fixed range runs past 65535.
    #[error(
        "--base-port {base} leaves no room for {nodes} nodes (2 ports each, up to 65535): pick a lower one"
    )]
    OutOfRange {
        /// The base port.
        base: u16,
        /// How many nodes.
        nodes: usize,
    },
    /// The system gave no usable free port.
    #[error("cannot find a free port on 127.0.0.1")]
    Exhausted(#[source] io::Error),
}

/// Sockets held open until every port is picked, so no port is picked twice.
#[derive(Default)]
struct Held {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
}

/// Ports for `count` nodes: node `i` gets API `base + 2i` and p2p `base + 2i + 1` when `base` is
/// given (each checked free), else ports the system picks.
pub fn allocate(count: usize, base: Option<u16>) -> Result<Vec<NodePorts>, PortError> {
    let mut held = Held::default();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let ports = match base {
            Some(base) => fixed(base, i, count, &mut held)?,
            None => NodePorts {
                api: free_tcp(&mut held)?,
                p2p: free_tcp_and_udp(&mut held)?,
            },
        };
        out.push(ports);
    }
    Ok(out)
}

fn fixed(base: u16, i: usize, nodes: usize, held: &mut Held) -> Result<NodePorts, PortError> {
    let port = |offset: usize| {
        u16::try_from(usize::from(base) + 2 * i + offset)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(PortError::OutOfRange { base, nodes })
    };
    let (api, p2p) = (port(0)?, port(1)?);
    let tcp = |port, what| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|_| PortError::InUse { port, what })
    };
    held.tcp.push(tcp(api, "API")?);
    held.tcp.push(tcp(p2p, "p2p TCP")?);
    held.udp.push(
        UdpSocket::bind((Ipv4Addr::LOCALHOST, p2p)).map_err(|_| PortError::InUse {
            port: p2p,
            what: "p2p QUIC (UDP)",
        })?,
    );
    reserve(api);
    reserve(p2p);
    Ok(NodePorts { api, p2p })
}

/// Marks `port` handed out; false if it already was.
fn reserve(port: u16) -> bool {
    HANDED_OUT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(port)
}

fn free_tcp(held: &mut Held) -> Result<u16, PortError> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| Ok((l.local_addr()?, l))) {
            Ok((addr, listener)) => {
                held.tcp.push(listener);
                if reserve(addr.port()) {
                    return Ok(addr.port());
                }
            }
            Err(err) => last = Some(err),
        }
    }
    Err(PortError::Exhausted(last.unwrap_or_else(|| {
        io::Error::other("every free port offered was handed out already")
    })))
}

fn free_tcp_and_udp(held: &mut Held) -> Result<u16, PortError> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let port = free_tcp(held)?;
        match UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(socket) => {
                held.udp.push(socket);
                return Ok(port);
            }
            Err(err) => last = Some(err),
        }
    }
    Err(PortError::Exhausted(last.unwrap_or_else(|| {
        io::Error::other("no port free for both TCP and UDP")
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ports_are_distinct_across_calls() {
        let a = allocate(4, None).unwrap();
        let b = allocate(4, None).unwrap();
        let all: BTreeSet<u16> = a.iter().chain(&b).flat_map(|p| [p.api, p.p2p]).collect();
        assert_eq!(all.len(), 16);
        // The p2p port is free for UDP as well.
        for p in &a {
            UdpSocket::bind((Ipv4Addr::LOCALHOST, p.p2p)).unwrap();
        }
    }

    #[test]
    fn base_port_ranges_are_fixed_and_checked() {
        // A run of 4 free ports, starting at one the system says is free.
        let (base, ports) = (0..50)
            .find_map(|_| {
                let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                let base = probe.local_addr().unwrap().port();
                drop(probe);
                allocate(2, Some(base)).ok().map(|ports| (base, ports))
            })
            .unwrap();
        assert_eq!(
            ports,
            [
                NodePorts {
                    api: base,
                    p2p: base + 1
                },
                NodePorts {
                    api: base + 2,
                    p2p: base + 3
                }
            ]
        );
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = allocate(1, Some(port)).unwrap_err();
        assert!(
            matches!(err, PortError::InUse { port: p, .. } if p == port),
            "{err}"
        );
        let err = allocate(3, Some(65_533)).unwrap_err();
        assert!(matches!(err, PortError::OutOfRange { .. }), "{err}");
    }
}
