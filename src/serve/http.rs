//! The HTTP side of `flowc serve` and its main loop: one axum router with
//! `/healthz`, `/metrics`, the webhook receiver and (mounted at `/`) the
//! dashboard; the schedulers; signals.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use super::dashboard::{Backend, Health};
use super::status::ServeBackend;
use super::{webhooks, Server};

/// The server's routes; `dashboard` (the dashboard's router) is mounted
/// at `/` for everything else.
pub fn router(server: Arc<Server>, dashboard: Option<Router>) -> Router {
    let own = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(webhooks::PATH, post(webhooks::receive))
        .with_state(server);
    match dashboard {
        Some(d) => own.merge(d),
        None => own,
    }
}

/// 200 while serving (with each flow's health), 503 once stopping.
async fn healthz(State(server): State<Arc<Server>>) -> impl IntoResponse {
    let flows: Vec<serde_json::Value> = ServeBackend(Arc::clone(&server))
        .flows()
        .into_iter()
        .map(|f| {
            let (health, why) = match f.health {
                Health::Ok => ("ok", None),
                Health::Idle => ("idle", None),
                Health::Failing(why) => ("failing", Some(why)),
            };
            serde_json::json!({
                "flow": f.name,
                "health": health,
                "why": why,
                "last_run": f.last_run.map(|r| serde_json::json!({"id": r.id, "status": r.status, "started_at": r.started_at.to_rfc3339()})),
                "next_run": f.next_run.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    let (status, word) = if server.is_stopping() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping")
    } else {
        (StatusCode::OK, "ok")
    };
    (
        status,
        axum::Json(serde_json::json!({
            "status": word,
            "uptime_seconds": server.uptime().as_secs(),
            "flows": flows,
        })),
    )
}

async fn metrics(State(server): State<Arc<Server>>) -> impl IntoResponse {
    let s = Arc::clone(&server);
    let stats = tokio::task::spawn_blocking(move || s.call_stats())
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        server.metrics.render(&stats),
    )
}

/// Serves until SIGTERM or Ctrl-C: binds, calls `ready` with the address,
/// runs every schedule, then stops cleanly (runs in progress checkpoint and
/// end, nothing half-written). Must be called outside any async runtime:
/// the connectors are blocking clients.
pub fn serve(
    server: Server,
    dashboard: impl FnOnce(Arc<Server>) -> Option<Router>,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flowc-serve")
        .build()?;
    let server = Arc::new(server);
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(server.config.listen).await?;
        ready(listener.local_addr()?);
        for flow in server.flows.keys() {
            tokio::spawn(Arc::clone(&server).schedule(flow.clone()));
        }
        tokio::spawn(Arc::clone(&server).check_sign_ins());
        let app = router(Arc::clone(&server), dashboard(Arc::clone(&server)));
        let stopping = Arc::clone(&server);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                signal().await;
                tracing::info!("stopping: the runs in progress checkpoint and end");
                stopping.stop();
            })
            .await?;
        server.drain().await;
        tracing::info!("stopped");
        Ok(())
    });
    // Tasks still holding the server end here, outside the runtime: the
    // blocking HTTP clients inside may only be dropped there.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(server);
    result
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
