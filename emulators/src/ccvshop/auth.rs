//! Request signature verification (API notes §1.1).
//!
//! The hash is checked over the path and query exactly as they appeared in
//! the request line and the body bytes exactly as received: re-encoding
//! either would hide a client that signs something other than what it sends.
//! Failures are 401 (the real status is undocumented); see
//! [`super::errors`] for the sub-codes.

use axum::http::{HeaderMap, Method};

use super::app::App;
use super::errors::ApiError;
use super::signing::{parse_x_date, HEADER_DATE, HEADER_HASH, HEADER_PUBLIC};

/// Exactly one non-empty, visible-ASCII value for `name`.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values
        .next()
        .ok_or_else(|| ApiError::auth_missing(format!("Missing {name} header")))?;
    if values.next().is_some() {
        return Err(ApiError::auth_missing(format!(
            "{name} header given more than once"
        )));
    }
    match first.to_str() {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::auth_missing(format!(
            "Empty or non-ASCII {name} header"
        ))),
    }
}

pub(crate) fn authenticate(
    app: &App,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let public = single_header(headers, HEADER_PUBLIC)?;
    let date = single_header(headers, HEADER_DATE)?;
    let hash = single_header(headers, HEADER_HASH)?;

    if public != app.keys.public() {
        return Err(ApiError::auth_rejected());
    }
    let when = parse_x_date(date).ok_or_else(|| {
        ApiError::auth_date(format!("x-date '{date}' is not an ISO 8601 date-time"))
    })?;
    let skew = (app.now() - when).abs();
    let max =
        chrono::Duration::from_std(app.config.max_clock_skew).unwrap_or(chrono::Duration::MAX);
    if skew > max {
        return Err(ApiError::auth_date(format!(
            "x-date '{date}' differs {}s from server time (max {}s)",
            skew.num_seconds(),
            max.num_seconds()
        )));
    }
    // The raw header value is hashed, whatever date format the client chose.
    if app
        .keys
        .verify(method.as_str(), path_and_query, body, date, hash)
    {
        Ok(())
    } else {
        Err(ApiError::auth_rejected())
    }
}
