//! The request path, outermost first: count (per method + path template) →
//! sign the response → fault injection → authenticate → route (404/405) →
//! rate limits (429) → resource handler.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::app::{App, Ctx, Reply};
use super::auth;
use super::collections::Query;
use super::errors::{self, ApiError, CcvFaultResponses};
use super::routes::{counter_key, match_route, RouteDef};
use super::signing;
use crate::faults::{self, FaultLayerState};
use crate::ratelimit::Admission;

/// Largest request body accepted; CCV documents a "payload too big" error.
const MAX_BODY: usize = 8 * 1024 * 1024;

pub(crate) fn router(app: Arc<App>) -> Router {
    let fault_state = FaultLayerState {
        faults: app.faults.clone(),
        responses: CcvFaultResponses,
    };
    Router::new()
        .fallback(handle)
        .with_state(app.clone())
        .layer(middleware::from_fn_with_state(
            fault_state,
            faults::middleware::<CcvFaultResponses>,
        ))
        .layer(middleware::from_fn_with_state(app, count_and_sign))
}

/// Outermost layer: count the call, then sign whatever answer comes back
/// (API notes §1.2), so a strict client can check every response.
async fn count_and_sign(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    *app.counters()
        .entry(counter_key(&method, request.uri().path()))
        .or_insert(0) += 1;

    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        // The fault layer dropped the response on purpose; keep it dropped.
        Err(_) => return faults::dropped_connection(),
    };
    let now = app.now();
    let x_date = signing::format_x_date(now);
    let x_hash = app.keys.hash(method.as_str(), &uri, &bytes, &x_date);
    // HTTP's own `Date` by the shop's clock too (the server adds one only
    // when the answer has none).
    let http_date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let (Ok(d), Ok(h), Ok(hd)) = (
        HeaderValue::from_str(&x_date),
        HeaderValue::from_str(&x_hash),
        HeaderValue::from_str(&http_date),
    ) {
        parts.headers.insert(signing::HEADER_DATE, d);
        parts.headers.insert(signing::HEADER_HASH, h);
        parts.headers.insert(axum::http::header::DATE, hd);
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return ApiError::payload_too_big().into_response(),
    };
    match dispatch(&app, &parts.method, &parts.uri, &parts.headers, &bytes) {
        Ok(Reply::Json(status, value)) => errors::json_response(status, &value),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) fn dispatch(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    auth::authenticate(app, method, path_and_query, headers, body)?;
    let (route, ids) = match_route(uri.path()).ok_or_else(ApiError::unknown_resource)?;
    let handler = route
        .handler(method)
        .ok_or_else(ApiError::method_not_allowed)?;
    check_limits(app, method, route)?;
    let ctx = Ctx {
        app,
        headers,
        query: Query::parse(uri.query())?,
        body,
        ids,
    };
    handler(&ctx)
}

/// Per resource per method per minute, then all requests together (API
/// notes §5); `productqueries` has its own, lower limit.
fn check_limits(app: &App, method: &Method, route: &RouteDef) -> Result<(), ApiError> {
    let cfg = &app.config.limits;
    if !cfg.enabled {
        return Ok(());
    }
    let resource = route.resource();
    let limit = match (method.as_str(), resource) {
        ("GET", "productqueries") => cfg.productqueries_per_minute,
        ("GET", _) => cfg.get_per_minute,
        _ => cfg.write_per_minute,
    };
    let key = format!("{} {resource}", method.as_str());
    if let Admission::Rejected { .. } = app.limits.hit(&key, limit) {
        return Err(ApiError::rate_limited_resource());
    }
    if let Admission::Rejected { .. } = app.limits.hit("total", cfg.total_per_minute) {
        return Err(ApiError::rate_limited_total());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::Value;

    use super::*;
    use crate::ccvshop::config::{CcvShopConfig, RateLimitConfig};
    use crate::ccvshop::emulator::initial_store;
    use crate::ccvshop::routes::API_PREFIX;
    use crate::ccvshop::signing::Keys;
    use crate::faults::Faults;
    use crate::ratelimit::MinuteWindows;

    fn test_app() -> App {
        let config = CcvShopConfig {
            limits: RateLimitConfig {
                enabled: false,
                ..RateLimitConfig::default()
            },
            ..CcvShopConfig::default()
        };
        let store = initial_store(&config.data).expect("sample seed");
        App {
            base_url: "http://127.0.0.1:1".into(),
            api_root: format!("http://127.0.0.1:1{API_PREFIX}"),
            keys: Keys::new(&config.public_key, &config.secret_key),
            config,
            store: Arc::new(Mutex::new(store)),
            limits: MinuteWindows::new(),
            faults: Faults::new(),
            counters: Mutex::new(BTreeMap::new()),
            http: reqwest::Client::new(),
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "-?[0-9]{1,20}(\\.[0-9]{1,30})?(e[0-9]{1,3})?".prop_map(|s| s
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            "[a-z0-9 ._-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("status".to_string()),
                        Just("paid".to_string()),
                        Just("price".to_string()),
                        Just("stock".to_string()),
                        Just("active".to_string()),
                        Just("orderrows".to_string()),
                        Just("count".to_string()),
                        Just("customer".to_string()),
                        Just("billingaddress".to_string()),
                        Just("name".to_string()),
                        Just("event".to_string()),
                        Just("address".to_string()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        // Whatever a signed client sends, the emulator answers with a
        // CCV-shaped status and never panics.
        #[test]
        fn never_panics_on_signed_garbage(
            method in proptest::sample::select(vec!["GET", "POST", "PATCH", "PUT", "DELETE"]),
            route in proptest::sample::select(crate::ccvshop::routes::all().map(|r| r.template).collect::<Vec<_>>()),
            id in proptest::prop_oneof![proptest::prelude::Just("1".to_string()), "[0-9]{1,20}", "[a-z%]{1,4}"],
            slash in proptest::prelude::any::<bool>(),
            query in proptest::collection::vec(("[a-z_]{1,14}", "[a-z0-9 ,:+%_-]{0,12}"), 0..4),
            body in json_value(),
            raw_body in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
        ) {
            let app = test_app();
            let path = format!("{API_PREFIX}/{}{}", route.replace("{id}", &id), if slash { "/" } else { "" });
            let q = signing::build_query(&query);
            let pq = if q.is_empty() { path } else { format!("{path}?{q}") };
            let Ok(uri) = pq.parse::<axum::http::Uri>() else { return Ok(()) };
            let bytes = raw_body.unwrap_or_else(|| serde_json::to_vec(&body).unwrap_or_default());
            let x_date = signing::format_x_date(chrono::Utc::now());
            let x_hash = app.keys.hash(method, &pq, &bytes, &x_date);
            let mut headers = HeaderMap::new();
            for (k, v) in [
                (signing::HEADER_PUBLIC, app.keys.public().to_string()),
                (signing::HEADER_DATE, x_date),
                (signing::HEADER_HASH, x_hash),
            ] {
                headers.insert(k, HeaderValue::from_str(&v).expect("ascii"));
            }
            headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let m = Method::from_bytes(method.as_bytes()).expect("method");
            match dispatch(&app, &m, &uri, &headers, &bytes) {
                Ok(Reply::Json(status, _)) => proptest::prop_assert!(status == StatusCode::OK || status == StatusCode::CREATED),
                Ok(Reply::NoContent) => {}
                Err(e) => {
                    proptest::prop_assert!([400, 404, 405].contains(&e.status), "{e}");
                    proptest::prop_assert!(e.code.starts_with(&e.status.to_string()));
                }
            }
        }
    }
}
