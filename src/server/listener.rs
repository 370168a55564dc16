//! The accept loop: its own rather than `axum::serve`, because it terminates TLS with the
//! acceptor current at each connection (the web config can change under it), caps connections,
//! bounds how long a client may take to send its headers and how large they may be, and closes
//! connections that stay open too long. Knows nothing of routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::web_config::LiveWebConfig;

/// Limits against hostile or broken clients.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests served at once (`--web.max-requests`); more get 503. 0 means no limit.
    pub max_requests: usize,
    /// Connections open at once; more are closed on accept.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (and a TLS client its handshake).
    pub header_read_timeout: Duration,
    /// Largest request head accepted, in bytes.
    pub max_header_bytes: usize,
    /// Longest a connection may stay open, however busy.
    pub max_connection_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_requests: 40,
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connection_age: Duration::from_secs(600),
        }
    }
}

/// Serves `router` on every listener until `shutdown` is cancelled, then lets open requests
/// finish (for up to five seconds). TLS, when the web config has it, is taken per connection.
/// The listeners share the connection cap: it bounds the process, not an address.
pub async fn serve(
    listeners: Vec<TcpListener>,
    router: Router,
    web: Arc<LiveWebConfig>,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let tracker = TaskTracker::new();
    let accepting = listeners.into_iter().map(|listener| {
        let context = Accepting {
            router: router.clone(),
            web: Arc::clone(&web),
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            connections: Arc::clone(&connections),
            tracker: tracker.clone(),
        };
        accept(listener, context)
    });
    futures_util::future::join_all(accepting).await;
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open after 5 s; closing them");
    }
    Ok(())
}

/// What one listener's accept loop shares with the others.
struct Accepting {
    router: Router,
    web: Arc<LiveWebConfig>,
    limits: Limits,
    shutdown: CancellationToken,
    connections: Arc<Semaphore>,
    tracker: TaskTracker,
}

/// Accepts connections on `listener` until shutdown, each served on a task of the tracker.
async fn accept(listener: TcpListener, context: Accepting) {
    let Accepting {
        router,
        web,
        limits,
        shutdown,
        connections,
        tracker,
    } = context;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            continue;
        };
        let tls = web.current().tls.clone();
        let service = TowerToHyperService::new(router.clone());
        let (limits, shutdown) = (limits.clone(), shutdown.clone());
        tracker.spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    serve_tls(acceptor, stream, peer, service, &limits, &shutdown).await
                }
                None => serve_connection(TokioIo::new(stream), service, &limits, &shutdown).await,
            }
        });
    }
}

/// The TLS handshake, bounded like a request head, then the connection.
async fn serve_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    service: TowerToHyperService<Router>,
    limits: &Limits,
    shutdown: &CancellationToken,
) {
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), service, limits, shutdown).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<Router>,
    limits: &Limits,
    shutdown: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .serve_connection(io, service);
    tokio::pin!(connection);
    let age = tokio::time::sleep(limits.max_connection_age);
    tokio::pin!(age);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = shutdown.cancelled() => {}
        _ = &mut age => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
}
