//! Serving an emulator over HTTP on loopback: inside the caller's tokio
//! runtime, or on a runtime thread of its own for callers without one
//! (`flowc sandbox`, blocking tests, benchmarks).

use std::future::Future;
use std::io;
use std::pin::Pin;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What keeps a server thread busy once the handle has been handed out.
pub(crate) type Serving = Pin<Box<dyn Future<Output = ()>>>;

/// Serve `router` until the returned sender fires (or is dropped).
pub(crate) fn serve(
    listener: TcpListener,
    router: Router,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        // A serve error means the listener died; there is no caller to tell.
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    (tx, task)
}

/// Runs `start` on a new two-worker runtime in a thread called `name` and
/// returns the handle it makes, once the server listens; the thread then
/// drives the [`Serving`] future `start` gave back until it ends.
pub(crate) fn on_own_thread<H, S, F>(
    name: &str,
    start: S,
) -> io::Result<(H, std::thread::JoinHandle<()>)>
where
    H: Send + 'static,
    S: FnOnce() -> F + Send + 'static,
    F: Future<Output = io::Result<(H, Serving)>>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match start().await {
                    // Nobody waits for a handle that cannot be delivered.
                    Ok((handle, serving)) => {
                        if ready_tx.send(Ok(handle)).is_ok() {
                            serving.await;
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    let handle = ready_rx
        .recv()
        .map_err(|_| io::Error::other("emulator thread exited before starting"))??;
    Ok((handle, thread))
}
