//! Which handler answers which path. Each resource module lists its own
//! routes next to its handlers; this module joins them and matches paths.

use axum::http::Method;

use super::app::{Ctx, Reply};
use super::errors::ApiError;
use super::resources::{
    categories, combinations, links, orderrows, orders, paymethods, products, root, users,
    webhooks, webshops,
};

/// The API prefix every resource lives under.
pub const API_PREFIX: &str = "/api/rest/v1";

pub(crate) type Handler = fn(&Ctx) -> Result<Reply, ApiError>;

pub(crate) struct RouteDef {
    /// Relative to the API root, without slashes at either end; `{id}` is a
    /// positive integer segment.
    pub template: &'static str,
    pub methods: &'static [(&'static str, Handler)],
}

impl RouteDef {
    pub const fn new(template: &'static str, methods: &'static [(&'static str, Handler)]) -> Self {
        Self { template, methods }
    }

    /// The collection the rate limit is counted against: the last literal
    /// segment, so `orders/{id}/orderrows` counts as `orderrows`.
    pub fn resource(&self) -> &'static str {
        self.template
            .rsplit('/')
            .find(|s| *s != "{id}")
            .filter(|s| !s.is_empty())
            .unwrap_or("root")
    }

    pub fn handler(&self, method: &Method) -> Option<Handler> {
        self.methods
            .iter()
            .find(|(m, _)| *m == method.as_str())
            .map(|(_, h)| *h)
    }
}

static TABLES: &[&[RouteDef]] = &[
    root::ROUTES,
    orders::ROUTES,
    orderrows::ROUTES,
    products::ROUTES,
    categories::ROUTES,
    links::ROUTES,
    combinations::ROUTES,
    paymethods::ROUTES,
    users::ROUTES,
    webshops::ROUTES,
    webhooks::ROUTES,
];

pub(crate) fn all() -> impl Iterator<Item = &'static RouteDef> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// Top-level collections, for the root listing.
pub(crate) fn top_level_resources() -> impl Iterator<Item = &'static str> {
    all()
        .map(|r| r.template)
        .filter(|t| !t.is_empty() && !t.contains('/'))
}

/// Match a request path to a route, collecting the `{id}` values. Paths are
/// served with and without a trailing slash (API notes §2).
pub(crate) fn match_route(path: &str) -> Option<(&'static RouteDef, Vec<i64>)> {
    let rest = path.strip_prefix(API_PREFIX)?;
    let rest = match rest {
        "" | "/" => "",
        r => {
            let r = r.strip_prefix('/')?;
            r.strip_suffix('/').unwrap_or(r)
        }
    };
    let segments = split(rest);
    all().find_map(|route| {
        let pattern = split(route.template);
        if pattern.len() != segments.len() {
            return None;
        }
        let mut ids = Vec::new();
        for (p, s) in pattern.iter().zip(&segments) {
            match *p {
                "{id}" => ids.push(parse_id(s)?),
                literal if literal != *s => return None,
                _ => {}
            }
        }
        Some((route, ids))
    })
}

fn split(path: &str) -> Vec<&str> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

fn parse_id(segment: &str) -> Option<i64> {
    if segment.is_empty() || segment.len() > 18 || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse::<i64>().ok().filter(|id| *id > 0)
}

/// `"GET /orders/{id}"`-style counter key; unmatched paths are counted as `<unknown>`.
pub(crate) fn counter_key(method: &Method, path: &str) -> String {
    match match_route(path) {
        Some((route, _)) => format!("{} /{}", method.as_str(), route.template),
        None => format!("{} <unknown>", method.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_and_without_trailing_slash() {
        for path in ["/api/rest/v1/orders", "/api/rest/v1/orders/"] {
            let (route, ids) = match_route(path).expect("matches");
            assert_eq!(route.template, "orders");
            assert!(ids.is_empty());
        }
        let (route, ids) = match_route("/api/rest/v1/orders/12/orderrows/").expect("matches");
        assert_eq!((route.template, ids), ("orders/{id}/orderrows", vec![12]));
        assert_eq!(route.resource(), "orderrows");
        for root in ["/api/rest/v1/", "/api/rest/v1"] {
            assert_eq!(match_route(root).map(|(r, _)| r.template), Some(""));
        }
        for bad in [
            "/api/rest/v1/orders//",
            "/api/rest/v1/orders/abc",
            "/api/rest/v1/orders/0",
            "/api/rest/v2/orders",
            "/api/rest/v1/nope",
            "/api/rest/v1orders",
        ] {
            assert!(match_route(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_template_is_routed_once() {
        let templates: Vec<_> = all().map(|r| r.template).collect();
        for (i, t) in templates.iter().enumerate() {
            assert!(!templates[..i].contains(t), "{t} twice");
        }
        assert!(top_level_resources().any(|t| t == "webhooks"));
    }
}
