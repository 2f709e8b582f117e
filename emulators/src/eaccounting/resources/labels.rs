//! Article labels (2018 Swagger ArticleLabelApi): a name unique in the
//! company, ignoring case, and a description. Articles refer to them by id.

use serde_json::{json, Value};

use super::{checked, entity_id, s};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::schema;
use crate::eaccounting::store::{id_eq, Store};

pub(super) fn build(
    store: &Store,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
) -> Result<Value, ApiError> {
    let model = schema("ArticleLabelApi");
    let mut m = checked(model, body)?;
    let name = s(&m, "Name").unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::validation(
            "DataModelValidationError - Name: must not be blank.",
        ));
    }
    let id = entity_id(existing, keep_id);
    let taken = store.all("articlelabels").iter().any(|l| {
        l["Name"]
            .as_str()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(&name))
            && !id_eq(l, &id)
    });
    if taken {
        return Err(ApiError::conflict(format!(
            "Conflict - An article label with Name '{name}' already exists."
        )));
    }
    m.insert("Id".into(), json!(id));
    Ok(model.complete(m))
}

/// Whether any article carries the label.
pub fn label_in_use(store: &Store, id: &str) -> bool {
    store.all("articles").iter().any(|a| {
        a["ArticleLabels"]
            .as_array()
            .is_some_and(|labels| labels.iter().any(|l| id_eq(l, id)))
    })
}
