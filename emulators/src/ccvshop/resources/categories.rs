//! Categories (API notes §3.5): a tree, through `parentcategory_id`.

use serde_json::{json, Value};

use super::{create, delete, found, get, id_payload, list, patch, Change, Render, Writable};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::events::Event;
use crate::ccvshop::input::Body;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Category, Store, Table};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("categories", &[("GET", all), ("POST", new)]),
    RouteDef::new(
        "categories/{id}",
        &[
            ("GET", get::<Category>),
            ("PATCH", patch::<Category>),
            ("DELETE", delete::<Category>),
        ],
    ),
    RouteDef::new("categories/{id}/categories", &[("GET", children)]),
];

impl Render for Category {
    fn render(&self, app: &App, store: &Store) -> Value {
        let parent = self
            .parentcategory_id
            .and_then(|id| store.categories.get(&id));
        let alias = self
            .alias
            .clone()
            .unwrap_or_else(|| self.name.to_lowercase().replace(' ', "-"));
        let own = |sub: &str| json!({ "href": app.url(&format!("categories/{}/{sub}", self.id)) });
        let computed = json!({
            "href": app.url(&format!("categories/{}", self.id)),
            "alias": alias,
            "deeplink": format!("{}/{alias}", app.base_url),
            "parentcategory": parent.map(|p| json!({
                "href": app.url(&format!("categories/{}", p.id)), "id": p.id, "name": p.name,
            })),
            "categories": own("categories"),
            "producttocategories": own("producttocategories"),
            "parent": { "href": app.url("categories") },
        });
        resource("categories").render(self, [computed])
    }
}

impl Writable for Category {
    const MODEL: &'static str = "categories";
    const TABLE: Table = Table::Categories;

    fn settle(&mut self, body: &Body, store: &Store, change: Change) -> Result<(), ApiError> {
        if let Some(parent) = self
            .parentcategory_id
            .filter(|_| body.has("parentcategory_id"))
        {
            check_parent(store, self.id, parent)?;
        }
        if change == Change::Created && !body.has("position") {
            // "When the position isn't filled the highest position will be used."
            let siblings = store
                .categories
                .values()
                .filter(|c| c.parentcategory_id == self.parentcategory_id);
            self.position = siblings.map(|c| c.position).max().unwrap_or(0) + 1;
        }
        Ok(())
    }

    fn event(&self, change: Change) -> Option<(Event, Value)> {
        let event = match change {
            Change::Created => Event::CategoriesCreated,
            Change::Updated => Event::CategoriesUpdated,
            Change::Deleted => Event::CategoriesDeleted,
        };
        Some((event, id_payload(self.id)))
    }

    fn check_delete(&self, store: &Store) -> Result<(), ApiError> {
        let has_children = store
            .categories
            .values()
            .any(|c| c.parentcategory_id == Some(self.id));
        match has_children {
            true => Err(ApiError::invalid("Category still has child categories")),
            false => Ok(()),
        }
    }

    fn after_delete(&self, store: &mut Store) {
        store
            .producttocategories
            .retain(|_, l| l.category_id != self.id);
    }
}

/// The new parent must exist and must not be the category or below it.
fn check_parent(store: &Store, id: i64, parent: i64) -> Result<(), ApiError> {
    if !store.categories.contains_key(&parent) {
        return Err(ApiError::invalid(format!(
            "parentcategory_id {parent} does not exist"
        )));
    }
    // Walk up from the new parent: meeting ourselves would make a cycle.
    let mut cursor = Some(parent);
    while let Some(current) = cursor {
        if current == id {
            return Err(ApiError::invalid("parentcategory_id would create a cycle"));
        }
        cursor = store
            .categories
            .get(&current)
            .and_then(|c| c.parentcategory_id);
    }
    Ok(())
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    list::<Category>(ctx, "categories")
}

fn children(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let store = ctx.store();
    let id = found::<Category>(&store, ctx.id(0))?.id;
    let items = store
        .categories
        .values()
        .filter(|c| c.parentcategory_id == Some(id))
        .map(|c| c.render(ctx.app, &store))
        .collect();
    ctx.page(&format!("categories/{id}/categories"), items)
}

fn new(ctx: &Ctx) -> Result<Reply, ApiError> {
    let blank = Category {
        // Not an id any category has, so the cycle check cannot trip on it.
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
    create(ctx, blank)
}
