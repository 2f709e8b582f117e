//! Seed JSON: reference data and company settings replace what is there;
//! business collections are created through the same validation as a POST.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::resources;
use super::store::{schema_of, Store, WRITABLE};

/// Applies `json` to `store`, or nothing of it when any entity is refused.
pub(crate) fn apply(store: &mut Store, json: &str, now: DateTime<Utc>) -> Result<(), String> {
    let seed: Value =
        serde_json::from_str(json).map_err(|e| format!("seed is not valid JSON: {e}"))?;
    let Some(top) = seed.as_object() else {
        return Err("seed must be a JSON object".into());
    };
    if let Some(key) = top
        .keys()
        .find(|k| *k != "CompanySettings" && schema_of(k).is_none())
    {
        return Err(format!("seed: unknown collection '{key}'"));
    }
    let mut next = store.clone();
    next.load_reference(&seed);
    // Fiscal years and accounts load as reference data; the rest is built.
    for (name, _) in &WRITABLE[2..] {
        let Some(items) = seed.get(*name).and_then(Value::as_array) else {
            continue;
        };
        next.data.insert(name, Vec::new());
        for (i, item) in items.iter().enumerate() {
            let keep = item.get("Id").and_then(Value::as_str).map(str::to_string);
            let built = resources::build(&mut next, name, item, None, keep, now)
                .map_err(|e| format!("seed {name}[{i}]: {} ({})", e.message, e.code))?;
            next.push(name, built);
        }
    }
    *store = next;
    Ok(())
}
