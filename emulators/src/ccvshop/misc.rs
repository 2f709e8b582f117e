//! The API root, payment methods, users and webshops (API notes §2, §3.6–3.8).

use serde_json::{json, Value};

use super::collections::{envelope, ordered};
use super::errors::ApiError;
use super::store::{User, Webshop};
use super::{num, top_level_resources, ts, App, Ctx, Reply};

/// `GET /api/rest/v1/`: what these credentials may use.
pub fn root(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let items: Vec<Value> = top_level_resources()
        .map(|name| {
            json!({
                "href": ctx.url(name),
                "title": name,
                "description": format!("The {name} resource"),
                "uri": format!("/{name}/"),
            })
        })
        .collect();
    Ok(Reply::ok(
        json!({ "href": ctx.app.api_root.clone() + "/", "items": items }),
    ))
}

pub fn paymethods(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let items = store
        .paymethods
        .values()
        .map(|p| {
            json!({
                "href": ctx.url(&format!("paymethods/{}", p.id)),
                "id": p.id,
                "psp": p.psp,
                "method": p.method,
                "combined_name": p.combined_name,
                "label": p.label,
                "extra_costs": p.extra_costs,
                "extra_costs_fixed": num(p.extra_costs_fixed),
                "extra_costs_percentage": num(p.extra_costs_percentage),
                "apppsp": Value::Null,
                "apppsppaymethod": Value::Null,
            })
        })
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url("paymethods"),
        &ctx.query,
        paging,
        items,
    )))
}

fn render_user(app: &App, u: &User) -> Value {
    json!({
        "href": app.url(&format!("users/{}", u.id)),
        "id": u.id,
        "username": u.username,
        "group_id": u.group_id,
        "status": u.status,
        "approval_status": u.approval_status,
        "createdate": ts(u.createdate),
        "userinfo": serde_json::to_value(&u.userinfo).unwrap_or(Value::Null),
        "creditpoints": { "href": app.url(&format!("users/{}/creditpoints", u.id)) },
        "parent": { "href": app.url("users") },
    })
}

pub fn users(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(&["start", "size", "approval_status", "orderby"])?;
    let paging = ctx.paging()?;
    let approval = match q.string("approval_status")? {
        Some(s @ ("pending" | "accepted")) => Some(s),
        Some(other) => {
            return Err(ApiError::bad_query(format!(
                "approval_status must be pending or accepted, got '{other}'"
            )))
        }
        None => None,
    };
    let orderby = q.orderby(&["id", "first_name", "last_name"])?;
    let store = ctx.store();
    let mut hits: Vec<&User> = store
        .users
        .values()
        .filter(|u| approval.is_none_or(|a| u.approval_status == a))
        .collect();
    if let Some((field, desc)) = orderby {
        let key = |u: &User| -> String {
            let b = &u.userinfo.billingaddress;
            match field.as_str() {
                "first_name" => b.first_name.clone().unwrap_or_default().to_lowercase(),
                "last_name" => b.last_name.clone().unwrap_or_default().to_lowercase(),
                _ => String::new(),
            }
        };
        hits.sort_by(|a, b| ordered((key(a), a.id), (key(b), b.id), desc));
    }
    let items = hits.into_iter().map(|u| render_user(ctx.app, u)).collect();
    Ok(Reply::ok(envelope(&ctx.url("users"), q, paging, items)))
}

pub fn user(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let u = store
        .users
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("user", ctx.id(0)))?;
    Ok(Reply::ok(render_user(ctx.app, u)))
}

fn render_webshop(app: &App, w: &Webshop) -> Value {
    json!({
        "href": app.url(&format!("webshops/{}", w.id)),
        "id": w.id,
        "name": w.name,
        "is_multishop_system": w.is_multishop_system,
        "is_main_shop": w.is_main_shop,
        "domain": app.base_url,
        "settings": { "href": app.url(&format!("webshops/{}/settings", w.id)) },
        "products": { "href": app.url(&format!("webshops/{}/products", w.id)) },
        "parent": { "href": app.url("webshops") },
    })
}

pub fn webshops(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let items = store
        .webshops
        .values()
        .map(|w| render_webshop(ctx.app, w))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url("webshops"),
        &ctx.query,
        paging,
        items,
    )))
}

pub fn webshop(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let w = store
        .webshops
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("webshop", ctx.id(0)))?;
    Ok(Reply::ok(render_webshop(ctx.app, w)))
}

pub fn settings(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let w = store
        .webshops
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("webshop", ctx.id(0)))?;
    Ok(Reply::ok(json!({
        "href": ctx.url(&format!("webshops/{}/settings", w.id)),
        "currency": w.currency,
        "prices_include_vat": w.prices_include_vat,
        "stock_enabled": w.stock_enabled,
        "order_status": w.order_status,
        "multishop_readonly_properties": [],
        "parent": { "href": ctx.url(&format!("webshops/{}", w.id)) },
    })))
}
