//! The request path, outermost first: request counter → fault injection
//! ([`faults::middleware`]) → routing (paths are case-insensitive) →
//! bearer check (401/4005) → `ea:api` (403) → per-client-per-endpoint
//! minute window (429/4010) → endpoint scope (403) → the company's product
//! variant (403/4002) → handler.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::errors::{ApiError, EaccountingFaultResponses};
use super::handlers::{self, Answer, Call};
use super::identity::Grant;
use super::request::parse_query;
use super::routes::{api_rest, resolve, split_path, template_of, Resolved};
use super::shared::{lock, Shared};
use crate::faults::{self, FaultLayerState};
use crate::ratelimit::Admission;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        responses: EaccountingFaultResponses {
            limits: shared.limits.clone(),
            limit: shared.rate_limit,
        },
    };
    Router::new()
        .fallback(entry)
        .with_state(shared.clone())
        .layer(from_fn_with_state(
            fault_state,
            faults::middleware::<EaccountingFaultResponses>,
        ))
        .layer(from_fn_with_state(shared, count_requests))
}

async fn count_requests(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let key = template_of(&shared, request.method(), request.uri().path());
    *lock(&shared.counters).entry(key).or_default() += 1;
    next.run(request).await
}

async fn entry(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let now = shared.clock();
    match path.to_ascii_lowercase().trim_end_matches('/') {
        "/connect/token" if method == Method::POST => {
            return lock(&shared.identity).token(&headers, &body, now)
        }
        "/connect/authorize" if method == Method::GET => {
            return lock(&shared.identity).authorize(query, now)
        }
        "/connect/token" => return only(Method::POST),
        "/connect/authorize" => return only(Method::GET),
        _ => {}
    }
    let Some(rest) = api_rest(&shared, path) else {
        return no_such_resource(path).into_response();
    };
    match api(&shared, &method, rest, query, &headers, &body) {
        Ok(Answer::Json(status, value)) => (status, axum::Json(value)).into_response(),
        Ok(Answer::Empty(status)) => status.into_response(),
        Err(e) => e.into_response(),
    }
}

/// 405 for the identity endpoints, which answer one method each.
fn only(allowed: Method) -> Response {
    let allow = [(header::ALLOW, allowed.to_string())];
    (StatusCode::METHOD_NOT_ALLOWED, allow).into_response()
}

fn no_such_resource(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        3000,
        format!(
            "ResourceNotFound - No HTTP resource was found that matches the request URI '{path}'."
        ),
    )
}

fn api(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let resolved = match resolve(method, &split_path(rest)) {
        Ok(r) => r,
        Err(StatusCode::METHOD_NOT_ALLOWED) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                2000,
                format!("The requested resource does not support http method '{method}'."),
            ))
        }
        Err(_) => return Err(no_such_resource(&format!("{}{rest}", shared.api_base))),
    };
    let grant = authenticate(shared, headers)?;
    admit(shared, &grant, method, &resolved)?;
    let mut store = lock(&shared.store);
    offered(&store.company, &resolved)?;
    let call = Call {
        store: &mut store,
        params: parse_query(query),
        headers,
        body,
        now: shared.now(),
    };
    handlers::handle(resolved.route, call)
}

/// The grant behind a valid `Authorization: Bearer` token (4005, 401).
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Grant, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    token
        .and_then(|t| lock(&shared.identity).authenticate(&t, shared.clock()))
        .ok_or_else(ApiError::unauthorized)
}

/// The company's product variant offers the endpoint: orders and
/// currencies are "Available in any of the following variants: Pro,
/// Standard, Invoicing" (2018 Swagger), so a Solo or Bookkeeping company is
/// refused with 4002 NoAccessToModule, as the API refuses a module the
/// company lacks. A company whose variant is not stated is not restricted.
fn offered(
    company: &serde_json::Map<String, serde_json::Value>,
    to: &Resolved,
) -> Result<(), ApiError> {
    let family = to
        .template
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if !matches!(family, "orders" | "currencies") {
        return Ok(());
    }
    match company.get("ProductVariant").and_then(serde_json::Value::as_i64) {
        None | Some(1 | 2 | 5) => Ok(()),
        Some(v) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            4002,
            format!("NoAccessToModule - The company's product variant ({v}) has no access to /{family}."),
        )),
    }
}

/// `ea:api`, then the minute window of this client on this endpoint, then
/// the endpoint's own scopes: a request over the limit is refused even if
/// its scope would be.
fn admit(shared: &Shared, grant: &Grant, method: &Method, to: &Resolved) -> Result<(), ApiError> {
    if !grant.has("ea:api") {
        return Err(ApiError::forbidden(&["ea:api"]));
    }
    let key = format!("{} {method} {}", grant.client_id, to.template);
    if let Admission::Rejected { retry_after_secs } = shared.limits.hit(&key, shared.rate_limit) {
        return Err(ApiError::quota_exceeded(
            shared.rate_limit,
            retry_after_secs,
        ));
    }
    match to.scopes.iter().any(|s| grant.has(s)) {
        true => Ok(()),
        false => Err(ApiError::forbidden(to.scopes)),
    }
}
