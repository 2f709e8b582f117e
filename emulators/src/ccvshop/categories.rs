//! Categories and product↔category links (API notes §3.5).

use serde_json::{json, Value};

use super::collections::envelope;
use super::errors::ApiError;
use super::input::Fields;
use super::store::{Category, ProductToCategory, Store, Table};
use super::webhooks::{emit, Event};
use super::{App, Ctx, Reply};

pub(crate) fn render_link(app: &App, l: &ProductToCategory) -> Value {
    json!({
        "href": app.url(&format!("producttocategories/{}", l.id)),
        "id": l.id,
        "position": l.position,
        "product_id": l.product_id,
        "category_id": l.category_id,
        "product_href": app.url(&format!("products/{}", l.product_id)),
        "category_href": app.url(&format!("categories/{}", l.category_id)),
    })
}

fn render(app: &App, store: &Store, c: &Category) -> Value {
    let parent = c.parentcategory_id.and_then(|id| store.categories.get(&id));
    let alias = c
        .alias
        .clone()
        .unwrap_or_else(|| c.name.to_lowercase().replace(' ', "-"));
    json!({
        "href": app.url(&format!("categories/{}", c.id)),
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "photo": Value::Null,
        "position": c.position,
        "show_on_website": c.show_on_website,
        "alias": alias,
        "deeplink": format!("{}/{alias}", app.base_url),
        "meta_description": c.meta_description,
        "meta_keywords": c.meta_keywords,
        "page_title": c.page_title,
        "parentcategory": parent.map(|p| json!({
            "href": app.url(&format!("categories/{}", p.id)), "id": p.id, "name": p.name,
        })),
        "categories": { "href": app.url(&format!("categories/{}/categories", c.id)) },
        "producttocategories": { "href": app.url(&format!("categories/{}/producttocategories", c.id)) },
        "products": { "href": app.url(&format!("categories/{}/products", c.id)) },
        "parent": { "href": app.url("categories") },
    })
}

pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let items = store
        .categories
        .values()
        .map(|c| render(ctx.app, &store, c))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url("categories"),
        &ctx.query,
        paging,
        items,
    )))
}

pub fn children(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let id = ctx.id(0);
    if !store.categories.contains_key(&id) {
        return Err(ApiError::not_found("category", id));
    }
    let items = store
        .categories
        .values()
        .filter(|c| c.parentcategory_id == Some(id))
        .map(|c| render(ctx.app, &store, c))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url(&format!("categories/{id}/categories")),
        &ctx.query,
        paging,
        items,
    )))
}

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let c = store
        .categories
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("category", ctx.id(0)))?;
    Ok(Reply::ok(render(ctx.app, &store, c)))
}

const WRITABLE: &[&str] = &[
    "name",
    "description",
    "position",
    "show_on_website",
    "parentcategory_id",
    "alias",
    "page_title",
    "meta_description",
    "meta_keywords",
];
const HINTS: &[(&str, &str)] = &[
    ("parentcategory", "write 'parentcategory_id'"),
    ("id", "read-only"),
    ("href", "read-only"),
];

fn apply(f: &Fields, store: &Store, c: &mut Category) -> Result<(), ApiError> {
    if let Some(v) = f.nonempty("name")? {
        c.name = v;
    }
    if let Some(v) = f.nullable_string("description")? {
        c.description = v;
    }
    if let Some(v) = f.int("position", 0, i64::from(i32::MAX))? {
        c.position = v;
    }
    if let Some(v) = f.boolean("show_on_website")? {
        c.show_on_website = v;
    }
    if let Some(parent) = f.nullable_int("parentcategory_id", 1, i64::MAX)? {
        if let Some(pid) = parent {
            if !store.categories.contains_key(&pid) {
                return Err(ApiError::invalid(format!(
                    "parentcategory_id {pid} does not exist"
                )));
            }
            // Walk up from the new parent: meeting ourselves would make a cycle.
            let mut cursor = Some(pid);
            while let Some(cur) = cursor {
                if cur == c.id {
                    return Err(ApiError::invalid("parentcategory_id would create a cycle"));
                }
                cursor = store.categories.get(&cur).and_then(|x| x.parentcategory_id);
            }
        }
        c.parentcategory_id = parent;
    }
    if let Some(v) = f.nullable_string("alias")? {
        c.alias = v;
    }
    if let Some(v) = f.nullable_string("page_title")? {
        c.page_title = v;
    }
    if let Some(v) = f.nullable_string("meta_description")? {
        c.meta_description = v;
    }
    if let Some(v) = f.nullable_string("meta_keywords")? {
        c.meta_keywords = v;
    }
    Ok(())
}

pub fn create(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(WRITABLE, HINTS)?;
    f.require("name", f.nonempty("name")?)?;
    let mut store = ctx.store();
    let mut c = Category {
        id: i64::MAX,
        name: String::new(),
        description: None,
        position: 0,
        show_on_website: true,
        alias: None,
        parentcategory_id: None,
        page_title: None,
        meta_description: None,
        meta_keywords: None,
    };
    apply(&f, &store, &mut c)?;
    if !f.has("position") {
        // "When the position isn't filled the highest position will be used."
        c.position = store
            .categories
            .values()
            .filter(|x| x.parentcategory_id == c.parentcategory_id)
            .map(|x| x.position)
            .max()
            .unwrap_or(0)
            + 1;
    }
    c.id = store.next_id(Table::Categories);
    let id = c.id;
    store.categories.insert(id, c);
    emit(
        ctx.app,
        &mut store,
        Event::CategoriesCreated,
        json!({ "id": id }),
    );
    let rendered = store
        .categories
        .get(&id)
        .map(|c| render(ctx.app, &store, c))
        .unwrap_or(Value::Null);
    Ok(Reply::created(rendered))
}

pub fn patch(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(WRITABLE, HINTS)?;
    let id = ctx.id(0);
    let mut store = ctx.store();
    let before = store
        .categories
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("category", id))?;
    let mut c = before.clone();
    apply(&f, &store, &mut c)?;
    if c != before {
        store.categories.insert(id, c);
        emit(
            ctx.app,
            &mut store,
            Event::CategoriesUpdated,
            json!({ "id": id }),
        );
    }
    Ok(Reply::NoContent)
}

pub fn delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let id = ctx.id(0);
    let mut store = ctx.store();
    if !store.categories.contains_key(&id) {
        return Err(ApiError::not_found("category", id));
    }
    if store
        .categories
        .values()
        .any(|c| c.parentcategory_id == Some(id))
    {
        return Err(ApiError::invalid("Category still has child categories"));
    }
    store.categories.remove(&id);
    store.producttocategories.retain(|_, l| l.category_id != id);
    emit(
        ctx.app,
        &mut store,
        Event::CategoriesDeleted,
        json!({ "id": id }),
    );
    Ok(Reply::NoContent)
}

fn link_page(
    ctx: &Ctx,
    collection: &str,
    keep: impl Fn(&ProductToCategory) -> bool,
) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let items = store
        .producttocategories
        .values()
        .filter(|l| keep(l))
        .map(|l| render_link(ctx.app, l))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url(collection),
        &ctx.query,
        paging,
        items,
    )))
}

pub fn links(ctx: &Ctx) -> Result<Reply, ApiError> {
    link_page(ctx, "producttocategories", |_| true)
}

pub fn links_of_product(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = ctx.id(0);
    if !ctx.store().products.contains_key(&id) {
        return Err(ApiError::not_found("product", id));
    }
    link_page(ctx, &format!("products/{id}/producttocategories"), |l| {
        l.product_id == id
    })
}

pub fn links_of_category(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = ctx.id(0);
    if !ctx.store().categories.contains_key(&id) {
        return Err(ApiError::not_found("category", id));
    }
    link_page(ctx, &format!("categories/{id}/producttocategories"), |l| {
        l.category_id == id
    })
}

pub fn link(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let l = store
        .producttocategories
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("producttocategory", ctx.id(0)))?;
    Ok(Reply::ok(render_link(ctx.app, l)))
}

pub fn create_link(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(&["product_id", "category_id", "position"], &[])?;
    let product_id = f.require("product_id", f.int("product_id", 1, i64::MAX)?)?;
    let category_id = f.require("category_id", f.int("category_id", 1, i64::MAX)?)?;
    let position = f.int("position", 0, i64::from(i32::MAX))?;
    let mut store = ctx.store();
    if !store.products.contains_key(&product_id) {
        return Err(ApiError::invalid(format!(
            "product_id {product_id} does not exist"
        )));
    }
    if !store.categories.contains_key(&category_id) {
        return Err(ApiError::invalid(format!(
            "category_id {category_id} does not exist"
        )));
    }
    if store
        .producttocategories
        .values()
        .any(|l| l.product_id == product_id && l.category_id == category_id)
    {
        return Err(ApiError::invalid(format!(
            "Product {product_id} is already in category {category_id}"
        )));
    }
    let position = position.unwrap_or_else(|| {
        store
            .producttocategories
            .values()
            .filter(|l| l.category_id == category_id)
            .map(|l| l.position)
            .max()
            .unwrap_or(0)
            + 1
    });
    let id = store.next_id(Table::ProductToCategories);
    let link = ProductToCategory {
        id,
        product_id,
        category_id,
        position,
    };
    let rendered = render_link(ctx.app, &link);
    store.producttocategories.insert(id, link);
    emit(
        ctx.app,
        &mut store,
        Event::ProductsUpdated,
        json!({ "id": product_id }),
    );
    Ok(Reply::created(rendered))
}

pub fn delete_link(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let mut store = ctx.store();
    let link = store
        .producttocategories
        .remove(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("producttocategory", ctx.id(0)))?;
    emit(
        ctx.app,
        &mut store,
        Event::ProductsUpdated,
        json!({ "id": link.product_id }),
    );
    Ok(Reply::NoContent)
}
