//! The dashboard's routes: signing in and out, the pages, the retry
//! button. Each page handler fetches on a blocking thread (SQLite) and
//! renders through `pages`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use serde::Deserialize;

use super::auth::{self, same_token, Auth, Session, Sessions};
use super::html::{self, Frame};
use super::{chart, pages, Backend};
use crate::state::{ActivityFilter, SqliteStore, StateError, Store};

/// The dashboard's routes, for `backend` and signed in with `auth`.
pub(super) fn build(backend: Arc<dyn Backend>, auth: Auth) -> Router {
    let app = Arc::new(App {
        backend,
        auth,
        sessions: Sessions::default(),
        store: Mutex::new(None),
    });
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/", get(flows_page))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/activity", get(activity_page))
        .route("/dead-letters", get(letters_page))
        .route("/dead-letters/{id}/retry", post(retry))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

struct App {
    backend: Arc<dyn Backend>,
    auth: Auth,
    sessions: Sessions,
    /// Opened on first use: the state folder may not exist before the first run.
    store: Mutex<Option<Arc<SqliteStore>>>,
}

impl App {
    fn store(&self) -> Result<Arc<SqliteStore>, StateError> {
        let mut slot = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = &*slot {
            return Ok(store.clone());
        }
        let store = Arc::new(SqliteStore::open(self.backend.state_dir())?);
        *slot = Some(store.clone());
        Ok(store)
    }

    /// The signed-in session of this request: (its id, the session).
    fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let session = self.sessions.take(&id)?;
        Some((id, session))
    }
}

pub(super) const SESSION_COOKIE: &str = "flowc_session";
/// Holds the sign-in form's CSRF token until the form comes back.
pub(super) const LOGIN_COOKIE: &str = "flowc_login";

/// The value of cookie `name`, if the request carries it.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
) -> (header::HeaderName, String) {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    (
        header::SET_COOKIE,
        format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}"),
    )
}

/// No script may run, nothing may load from elsewhere, no other site may
/// frame the pages, and nothing is cached.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

// ------------------------------------------------------------ signing in

async fn login_form(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if app.session(&headers).is_some() {
        return Redirect::to("/").into_response();
    }
    login_page(&app, StatusCode::OK, None)
}

/// The sign-in page with a fresh CSRF token in its form and cookie.
fn login_page(app: &App, status: StatusCode, error: Option<&str>) -> Response {
    let csrf = auth::random_token();
    let page = html::login_page(&csrf, app.auth.wants_user(), error);
    (
        [set_cookie(LOGIN_COOKIE, &csrf, "/login", None)],
        html(status, page),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    user: Option<String>,
    secret: String,
}

async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let form_ok = cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same_token(&c, &form.csrf));
    if !form_ok {
        return login_page(
            &app,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired; please sign in again."),
        );
    }
    if !app.auth.verify(form.user.as_deref(), &form.secret) {
        // Slows down guessing; the comparison itself is constant-time.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        return login_page(
            &app,
            StatusCode::UNAUTHORIZED,
            Some("Wrong sign-in; try again."),
        );
    }
    let id = app.sessions.start();
    // Appended: an array of headers would keep only the last cookie.
    (
        AppendHeaders([
            set_cookie(SESSION_COOKIE, &id, "/", None),
            set_cookie(LOGIN_COOKIE, "", "/login", Some(0)),
        ]),
        Redirect::to("/"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// The session of a form post whose CSRF token matches, or the answer.
fn posted(app: &App, headers: &HeaderMap, form: &CsrfForm) -> Result<String, Response> {
    match app.session(headers) {
        Some((id, s)) if same_token(&s.csrf, &form.csrf) => Ok(id),
        Some(_) => Err(html(
            StatusCode::FORBIDDEN,
            "<!doctype html><p>This form is stale (its CSRF token does not match your session). \
             Go <a href=\"/\">back</a> and try again.</p>"
                .into(),
        )),
        None => Err(Redirect::to("/login").into_response()),
    }
}

async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    match posted(&app, &headers, &form) {
        Ok(id) => {
            app.sessions.end(&id);
            (
                [set_cookie(SESSION_COOKIE, "", "/", Some(0))],
                Redirect::to("/login"),
            )
                .into_response()
        }
        Err(answer) => answer,
    }
}

// ------------------------------------------------------------ pages

/// A signed-in page: `build` renders its body from the store on a blocking
/// thread (SQLite); `Ok(None)` is "not found".
async fn page(
    app: Arc<App>,
    headers: HeaderMap,
    section: &'static str,
    title: String,
    build: impl FnOnce(&App, &SqliteStore, &Session) -> Result<Option<String>, StateError>
        + Send
        + 'static,
) -> Response {
    let Some((_, session)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let built = tokio::task::spawn_blocking(move || {
        let body = app.store().and_then(|store| build(&app, &store, &session));
        (body, session)
    })
    .await;
    let (body, session) = match built {
        Ok(b) => b,
        Err(e) => return html(StatusCode::INTERNAL_SERVER_ERROR, html::esc(&e.to_string())),
    };
    let (status, title, body) = match body {
        Ok(Some(body)) => (StatusCode::OK, title, body),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "Not found".to_string(),
            "<p>There is no such page; it may have been purged.</p>".to_string(),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The state store could not be read".to_string(),
            format!("<p class=\"error\">{}</p>", html::esc(&e.to_string())),
        ),
    };
    let frame = Frame {
        title: &title,
        section,
        csrf: &session.csrf,
        notice: session.notice.as_deref(),
    };
    html(status, html::page(&frame, &body))
}

/// How many days the chart shows.
const CHART_DAYS: u32 = 14;

async fn flows_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    page(app, headers, "/", "Flows".into(), |app, store, _| {
        let now = Utc::now();
        let mut letters = BTreeMap::new();
        for l in store.dead_letters(None)? {
            *letters.entry(l.flow).or_insert(0) += 1;
        }
        let since = (now - chrono::Duration::days(i64::from(CHART_DAYS)))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(now, |t| t.and_utc());
        let chart = chart::per_day(
            &store.activity_per_day(since)?,
            now.date_naive(),
            CHART_DAYS,
        );
        Ok(Some(pages::flows(&app.backend.flows(), &letters, &chart)))
    })
    .await
}

#[derive(Deserialize)]
struct FlowQuery {
    flow: Option<String>,
}

async fn runs_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    page(app, headers, "/runs", "Runs".into(), move |_, store, _| {
        let flow = q.flow.filter(|f| !f.is_empty());
        let runs = store.runs(flow.as_deref(), pages::ROWS)?;
        Ok(Some(pages::runs(&runs, flow.as_deref(), Utc::now())))
    })
    .await
}

async fn run_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    page(
        app,
        headers,
        "/runs",
        format!("Run #{id}"),
        move |_, store, _| {
            let Some(run) = store.run(id)? else {
                return Ok(None);
            };
            let activity = store.activity(&ActivityFilter {
                run: Some(id),
                limit: Some(pages::ROWS * 5),
                ..ActivityFilter::default()
            })?;
            let letters: Vec<_> = store
                .dead_letters(Some(&run.flow))?
                .into_iter()
                .filter(|l| l.run == id)
                .collect();
            Ok(Some(pages::run(&run, &activity, &letters, Utc::now())))
        },
    )
    .await
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn activity_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    page(
        app,
        headers,
        "/activity",
        "Activity".into(),
        move |_, store, _| {
            let query = q.q.unwrap_or_default().trim().to_string();
            let rows = if query.is_empty() {
                store.activity(&ActivityFilter {
                    limit: Some(pages::ROWS),
                    ..ActivityFilter::default()
                })?
            } else {
                store.search_activity(&query, pages::ROWS)?
            };
            Ok(Some(pages::activity(&query, &rows)))
        },
    )
    .await
}

async fn letters_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    page(
        app,
        headers,
        "/dead-letters",
        "Dead letters".into(),
        move |_, store, session| {
            let flow = q.flow.filter(|f| !f.is_empty());
            let letters = store.dead_letters(flow.as_deref())?;
            Ok(Some(pages::dead_letters(
                &letters,
                flow.as_deref(),
                &session.csrf,
            )))
        },
    )
    .await
}

async fn retry(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match posted(&app, &headers, &form) {
        Ok(id) => id,
        Err(answer) => return answer,
    };
    let backend = app.backend.clone();
    let notice = match tokio::task::spawn_blocking(move || backend.retry_dead_letter(id)).await {
        Ok(Ok(summary)) => format!("Dead letter #{id} retried. {summary}"),
        Ok(Err(why)) => format!("Dead letter #{id} could not be retried: {why}"),
        Err(e) => format!("Dead letter #{id} could not be retried: {e}"),
    };
    app.sessions.set_notice(&session, notice);
    Redirect::to("/dead-letters").into_response()
}
