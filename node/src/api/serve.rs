//! Serving the router on already-bound listeners, plain HTTP or HTTPS (rustls), with the limits of
//! [`super::limits`]: a cap on open connections, a deadline for every request head (slowloris), and a
//! TLS handshake deadline. HTTP/1.1 only. Each request carries the [`ConnInfo`] of its connection.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::Service as _;
use tracing::{debug, warn};

use super::access::ConnInfo;
use super::limits::{
    HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES, MAX_HEADERS, TLS_HANDSHAKE_TIMEOUT,
};
use crate::datadir::fsutil::{self, PrivateReadError};

/// A bound listener and, for HTTPS, its TLS acceptor.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.tcp.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Listener {
    /// Plain HTTP on `tcp`.
    pub fn plain(tcp: TcpListener) -> Self {
        Self { tcp, tls: None }
    }

    /// HTTPS on `tcp`.
    pub fn tls(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            tls: Some(acceptor),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Why the HTTPS certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The key file may be read by group or others.
    #[error("TLS key {} is readable or writable by group or others (mode {mode:04o}): run `chmod 600 {}`", .path.display(), .path.display())]
    KeyTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{}: {what} (set [api] tls_cert to a PEM certificate chain, leaf first, and tls_key to its PEM private key)", .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the pair.
    #[error("the TLS certificate and key do not work together: {0}")]
    Rustls(String),
}

/// A TLS acceptor for a PEM certificate chain and private key (the key file must be private).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsSetupError> {
    let chain_pem = std::fs::read(cert).map_err(|source| TlsSetupError::Read {
        path: cert.to_owned(),
        source,
    })?;
    let pem_error = |path: &Path, what: String| TlsSetupError::Pem {
        path: path.to_owned(),
        what,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(pem_error(cert, "holds no certificate".into()));
    }
    let key_pem = fsutil::read_private(key).map_err(|e| match e {
        PrivateReadError::Io(source) => TlsSetupError::Read {
            path: key.to_owned(),
            source,
        },
        PrivateReadError::TooOpen(mode) => TlsSetupError::KeyTooOpen {
            path: key.to_owned(),
            mode,
        },
    })?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem_error(key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on every listener until `shutdown` completes, then lets open requests finish
/// (keep-alive connections close after their current request).
pub async fn serve(
    listeners: Vec<Listener>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopping) = watch::channel(false);
    let mut accepting = tokio::task::JoinSet::new();
    for listener in listeners {
        accepting.spawn(accept_loop(
            listener,
            router.clone(),
            slots.clone(),
            stopping.clone(),
        ));
    }
    tokio::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => {}
        Some(done) = accepting.join_next() => {
            accepting.abort_all();
            return match done {
                Ok(Err(e)) => Err(e),
                _ => Err(io::Error::other("an API listener stopped")),
            };
        }
    }
    accepting.abort_all();
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots free means all connections ended.
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

async fn accept_loop(
    listener: Listener,
    router: Router,
    slots: Arc<Semaphore>,
    stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let local = listener.tcp.local_addr()?;
    loop {
        let (stream, remote) = match listener.tcp.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or a connection reset before accept: keep serving.
            Err(e) => {
                warn!(error = %e, "API accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(client = %remote, "API connection refused: {MAX_CONNECTIONS} connections open");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo {
            remote,
            local,
            tls: listener.tls.is_some(),
        };
        let router = router.clone();
        let stopping = stopping.clone();
        let tls = listener.tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, info, router, stopping).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => serve_connection(stream, info, router, stopping).await,
                        Ok(Err(e)) => debug!(client = %remote, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(client = %remote, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
}

async fn serve_connection<I>(
    io: I,
    info: ConnInfo,
    router: Router,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(info);
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        debug!(client = %info.remote, error = %e, "API connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    async fn server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(vec![Listener::plain(tcp)], router, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Whether the server closed `conn` (EOF or reset) within `within`.
    async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 512];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_cut_off() {
        let (addr, _stop) = server().await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // One header line a second, never the end of the head.
        let mut cut = false;
        for i in 0..(HEADER_TIMEOUT.as_secs() + 5) {
            if conn
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
                || closed_within(&mut conn, Duration::from_secs(1)).await
            {
                cut = true;
                break;
            }
        }
        assert!(
            cut,
            "the connection stayed open for {:?}",
            started.elapsed()
        );
        assert!(started.elapsed() >= HEADER_TIMEOUT - Duration::from_secs(1));
        // A well-behaved client still gets its answer.
        let mut ok = TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn connections_past_the_cap_are_closed_at_once() {
        let (addr, _stop) = server().await;
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        // Let the accept loop take them all.
        let mut probe = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut probe, Duration::from_secs(5)).await,
            "connection {} was kept",
            MAX_CONNECTIONS + 1
        );
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = TcpStream::connect(addr).await.unwrap();
        again
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        again.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}
