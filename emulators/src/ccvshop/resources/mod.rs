//! The resources, one module each, and what their handlers share: reading
//! one item, and creating, changing and deleting a record through its model.
//! A resource module says only what is particular to it, in a [`Render`]
//! and a [`Writable`] impl; the request steps live here, once.

pub mod categories;
pub mod combinations;
pub mod links;
pub mod orderrows;
pub mod orders;
pub mod paymethods;
pub mod products;
pub mod root;
pub mod users;
pub mod webhooks;
pub mod webshops;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::app::{App, Ctx, Reply};
use super::errors::ApiError;
use super::events::{emit, Event};
use super::input::Body;
use super::model::{resource, Method};
use super::store::{
    AttributeCombination, Category, Order, OrderRow, Paymethod, Product, ProductToCategory, Store,
    Table, User, Webhook, Webshop,
};

/// A table of the store, found by its record type.
pub(crate) trait Stored: Sized + 'static {
    /// The resource's name in messages ("No product with id 7").
    const KIND: &'static str;
    fn rows(store: &Store) -> &BTreeMap<i64, Self>;
    fn rows_mut(store: &mut Store) -> &mut BTreeMap<i64, Self>;
    fn set_id(&mut self, id: i64);
}

macro_rules! stored {
    ($($record:ty => $table:ident, $kind:literal;)*) => {
        $(impl Stored for $record {
            const KIND: &'static str = $kind;
            fn rows(store: &Store) -> &BTreeMap<i64, Self> {
                &store.$table
            }
            fn rows_mut(store: &mut Store) -> &mut BTreeMap<i64, Self> {
                &mut store.$table
            }
            fn set_id(&mut self, id: i64) {
                self.id = id;
            }
        })*
    };
}

stored! {
    Webshop => webshops, "webshop";
    Paymethod => paymethods, "paymethod";
    User => users, "user";
    Category => categories, "category";
    Product => products, "product";
    ProductToCategory => producttocategories, "producttocategory";
    AttributeCombination => attributecombinations, "attributecombination";
    Order => orders, "order";
    OrderRow => orderrows, "orderrow";
    Webhook => webhooks, "webhook";
}

/// A record as GET answers it.
pub(crate) trait Render {
    fn render(&self, app: &App, store: &Store) -> Value;
}

/// What happened to a record, for its webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Deleted,
}

/// A table the API writes through the model.
pub(crate) trait Writable:
    Stored + Render + Clone + PartialEq + Serialize + DeserializeOwned
{
    /// The name of its resource in the model.
    const MODEL: &'static str;
    const TABLE: Table;
    /// The record's own rules, once the model has stored a write in it:
    /// cross-field checks, references, values the shop derives.
    fn settle(&mut self, _body: &Body, _store: &Store, _change: Change) -> Result<(), ApiError> {
        Ok(())
    }
    /// The webhook event a change fires, with its payload.
    fn event(&self, change: Change) -> Option<(Event, Value)>;
    /// Refuses a delete the shop would refuse.
    fn check_delete(&self, _store: &Store) -> Result<(), ApiError> {
        Ok(())
    }
    /// Removes what hangs off a deleted record.
    fn after_delete(&self, _store: &mut Store) {}
}

/// `{"id": id}`: the payload of most events.
pub(crate) fn id_payload(id: i64) -> Value {
    json!({ "id": id })
}

/// The record addressed by the first `{id}` of the path.
pub(crate) fn found<T: Stored>(store: &Store, id: i64) -> Result<&T, ApiError> {
    T::rows(store)
        .get(&id)
        .ok_or_else(|| ApiError::not_found(T::KIND, id))
}

/// `GET /{collection}/{id}`.
pub(crate) fn get<T: Stored + Render>(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let item = found::<T>(&store, ctx.id(0))?;
    Ok(Reply::ok(item.render(ctx.app, &store)))
}

/// `GET /{collection}` of a table without filters: every item, paged.
pub(crate) fn list<T: Stored + Render>(ctx: &Ctx, collection: &str) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let store = ctx.store();
    let items = T::rows(&store)
        .values()
        .map(|item| item.render(ctx.app, &store))
        .collect();
    ctx.page(collection, items)
}

/// `POST`: `blank` with the write stored in it, settled, given the next
/// id; 201 with the new resource.
pub(crate) fn create<T: Writable>(ctx: &Ctx, blank: T) -> Result<Reply, ApiError> {
    let model = resource(T::MODEL);
    let body = ctx.write(model, Method::Post)?;
    let mut record = model.apply(&body, &blank)?;
    let mut store = ctx.store();
    record.settle(&Body(&body), &store, Change::Created)?;
    let id = store.next_id(T::TABLE);
    record.set_id(id);
    let rendered = record.render(ctx.app, &store);
    let event = record.event(Change::Created);
    T::rows_mut(&mut store).insert(id, record);
    if let Some((event, payload)) = event {
        emit(ctx.app, &mut store, event, payload);
    }
    Ok(Reply::created(rendered))
}

/// `PATCH`: the write stored in a copy and settled; the copy replaces the
/// record only if something changed. 204 either way.
pub(crate) fn patch<T: Writable>(ctx: &Ctx) -> Result<Reply, ApiError> {
    patch_with::<T>(ctx, |_, _| {})
}

/// [`patch`], with `touch` applied to a record that changed (a product's
/// modify date).
pub(crate) fn patch_with<T: Writable>(ctx: &Ctx, touch: fn(&mut T, &T)) -> Result<Reply, ApiError> {
    let model = resource(T::MODEL);
    let body = ctx.write(model, Method::Patch)?;
    let id = ctx.id(0);
    let mut store = ctx.store();
    let before = found::<T>(&store, id)?.clone();
    let mut record = model.apply(&body, &before)?;
    record.settle(&Body(&body), &store, Change::Updated)?;
    if record != before {
        touch(&mut record, &before);
        let event = record.event(Change::Updated);
        T::rows_mut(&mut store).insert(id, record);
        if let Some((event, payload)) = event {
            emit(ctx.app, &mut store, event, payload);
        }
    }
    Ok(Reply::NoContent)
}

/// `DELETE`: 204, after the record's own objections.
pub(crate) fn delete<T: Writable>(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let id = ctx.id(0);
    let mut store = ctx.store();
    found::<T>(&store, id)?.check_delete(&store)?;
    if let Some(record) = T::rows_mut(&mut store).remove(&id) {
        record.after_delete(&mut store);
        if let Some((event, payload)) = record.event(Change::Deleted) {
            emit(ctx.app, &mut store, event, payload);
        }
    }
    Ok(Reply::NoContent)
}
