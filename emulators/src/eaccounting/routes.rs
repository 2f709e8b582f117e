//! Which route a request is, and which scopes may call it (2018 Swagger:
//! "Requires any of the following scopes"). Paths are case-insensitive, as
//! ASP.NET routes them.

use axum::http::{Method, StatusCode};

use super::shared::Shared;
use super::store;

pub(crate) const SALES_R: &[&str] = &["ea:sales", "ea:sales_readonly"];
pub(crate) const SALES_W: &[&str] = &["ea:sales"];
pub(crate) const ACC_R: &[&str] = &["ea:accounting", "ea:accounting_readonly"];
pub(crate) const ACC_W: &[&str] = &["ea:accounting"];
// termsofpayments and currencies are shared with purchasing (2018 Swagger).
const SALES_PURCHASE_R: &[&str] = &[
    "ea:sales",
    "ea:sales_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
];
// fiscalyears accepts sales or accounting scopes (2018 Swagger).
const FY_R: &[&str] = &[
    "ea:sales",
    "ea:sales_readonly",
    "ea:accounting",
    "ea:accounting_readonly",
];
const FY_W: &[&str] = &["ea:sales", "ea:accounting"];

/// What a request asks for, with the path segments it names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    List(&'static str),
    Get(&'static str, String),
    Create(&'static str),
    Update(&'static str, String),
    Delete(&'static str, String),
    Convert(&'static str, String),
    AccountsInYear(String),
    Account(String, String),
    AccountPut(String, String),
    VouchersInYear(String),
    Voucher(String, String),
    CompanySettings,
}

/// A matched route: the path template it is counted under and the scopes
/// that may call it.
pub(crate) struct Resolved {
    pub template: String,
    pub route: Route,
    pub scopes: &'static [&'static str],
}

fn collection_name(seg: &str) -> Option<&'static str> {
    store::REFERENCE
        .iter()
        .chain(store::WRITABLE)
        .map(|(n, _)| *n)
        .find(|n| *n == seg)
}

/// Maps `segments` (already split, original case) to a route. `Err` is a
/// 404 (no such resource) or 405 (known path, wrong method).
pub(crate) fn resolve(method: &Method, segments: &[&str]) -> Result<Resolved, StatusCode> {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let first = lower.first().map(String::as_str).unwrap_or("");
    let Some(name) =
        collection_name(first).or((first == "companysettings").then_some("companysettings"))
    else {
        return Err(StatusCode::NOT_FOUND);
    };
    let arg = |i: usize| segments.get(i).map(|s| s.to_string()).unwrap_or_default();
    let m = method.clone();
    let (read, write) = match name {
        "vatcodes" | "accounts" | "vouchers" => (ACC_R, ACC_W),
        "termsofpayments" | "currencies" => (SALES_PURCHASE_R, SALES_W),
        "fiscalyears" => (FY_R, FY_W),
        "companysettings" => (FY_R, FY_W),
        _ => (SALES_R, SALES_W),
    };
    let is_ref = store::REFERENCE.iter().any(|(n, _)| *n == name);
    let ok = |template: String, route: Route, write_op: bool| {
        Ok(Resolved {
            template: format!("/{name}{template}"),
            route,
            scopes: if write_op { write } else { read },
        })
    };
    match (lower.len(), name) {
        (1, "companysettings") if m == Method::GET => {
            ok(String::new(), Route::CompanySettings, false)
        }
        (_, "companysettings") => Err(if lower.len() == 1 {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::NOT_FOUND
        }),
        (1, _) if m == Method::GET => ok(String::new(), Route::List(name), false),
        (1, _) if m == Method::POST && !is_ref => ok(String::new(), Route::Create(name), true),
        (1, _) => Err(StatusCode::METHOD_NOT_ALLOWED),
        (2, "currencies") => Err(StatusCode::NOT_FOUND),
        (2, "countries") if m == Method::GET => {
            ok("/{countrycode}".into(), Route::Get(name, arg(1)), false)
        }
        (2, "accounts") if m == Method::GET => ok(
            "/{fiscalyearId}".into(),
            Route::AccountsInYear(arg(1)),
            false,
        ),
        (2, "vouchers") if m == Method::GET => ok(
            "/{fiscalyearId}".into(),
            Route::VouchersInYear(arg(1)),
            false,
        ),
        (2, "accounts" | "vouchers") => Err(StatusCode::METHOD_NOT_ALLOWED),
        (2, _) if m == Method::GET => ok("/{id}".into(), Route::Get(name, arg(1)), false),
        (
            2,
            "customers"
            | "articles"
            | "articlelabels"
            | "orders"
            | "quotes"
            | "customerinvoicedrafts",
        ) if m == Method::PUT => ok("/{id}".into(), Route::Update(name, arg(1)), true),
        (2, "customers" | "articlelabels" | "orders" | "quotes" | "customerinvoicedrafts")
            if m == Method::DELETE =>
        {
            ok("/{id}".into(), Route::Delete(name, arg(1)), true)
        }
        (2, _) => Err(StatusCode::METHOD_NOT_ALLOWED),
        (3, "accounts") if m == Method::GET => ok(
            "/{fiscalyearId}/{accountNumber}".into(),
            Route::Account(arg(1), arg(2)),
            false,
        ),
        (3, "accounts") if m == Method::PUT => ok(
            "/{fiscalyearId}/{accountNumber}".into(),
            Route::AccountPut(arg(1), arg(2)),
            true,
        ),
        (3, "vouchers") if m == Method::GET => ok(
            "/{fiscalyearId}/{voucherId}".into(),
            Route::Voucher(arg(1), arg(2)),
            false,
        ),
        (3, "customerinvoicedrafts" | "orders") if lower[2] == "convert" => {
            if m == Method::POST {
                ok("/{id}/convert".into(), Route::Convert(name, arg(1)), true)
            } else {
                Err(StatusCode::METHOD_NOT_ALLOWED)
            }
        }
        (3, "accounts" | "vouchers") => Err(StatusCode::METHOD_NOT_ALLOWED),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

pub(crate) fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// `"METHOD /template"` for counting, or the raw path when nothing matches.
pub(crate) fn template_of(shared: &Shared, method: &Method, path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('/');
    if trimmed == "/connect/token" || trimmed == "/connect/authorize" {
        return format!("{method} {trimmed}");
    }
    if let Some(rest) = api_rest(shared, path) {
        if let Ok(r) = resolve(method, &split_path(rest)) {
            return format!("{method} {}{}", shared.api_base, r.template);
        }
    }
    format!("{method} {trimmed}")
}

/// The part of `path` after the API base, matched case-insensitively.
pub(crate) fn api_rest<'a>(shared: &Shared, path: &'a str) -> Option<&'a str> {
    let base = &shared.api_base;
    if path.len() < base.len()
        || !path.is_char_boundary(base.len())
        || !path[..base.len()].eq_ignore_ascii_case(base)
    {
        return None;
    }
    let rest = &path[base.len()..];
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_case_insensitive_and_templated() {
        let r = resolve(&Method::GET, &["Customers", "ABC"]).ok().unwrap();
        assert_eq!(r.template, "/customers/{id}");
        assert_eq!(r.route, Route::Get("customers", "ABC".into()));
        assert_eq!(
            resolve(&Method::DELETE, &["articles", "x"]).err(),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            resolve(&Method::POST, &["units"]).err(),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            resolve(&Method::GET, &["nope"]).err(),
            Some(StatusCode::NOT_FOUND)
        );
        let r = resolve(&Method::POST, &["CustomerInvoiceDrafts", "x", "Convert"])
            .ok()
            .unwrap();
        assert_eq!(r.template, "/customerinvoicedrafts/{id}/convert");
        assert_eq!(r.scopes, SALES_W);
        assert_eq!(
            resolve(&Method::GET, &["vatcodes"]).ok().unwrap().scopes,
            ACC_R
        );
    }
}
