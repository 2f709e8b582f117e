//! Seed JSON: reference data and company settings replace what is there;
//! business collections are created through the same validation as a POST.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::resources;
use super::store::{schema_of, Store, REFERENCE_SEED, WRITABLE};

/// The demo company's customers and articles `flowc sandbox` starts with
/// (over the built-in reference data): a customer stored as
/// `Ann@Example.com`, a default debtor (number 9000) and two articles.
pub const DEMO: &str = include_str!("seed/demo.json");

/// Seed JSON for another company: the same reference data under other
/// ids, in another order, with private persons' prices shown excluding VAT
/// (`ShowPricesExclVatPC`). Flows that name reference data by code, rate or
/// days work on both; flows that hold one company's ids do not.
pub fn other_company() -> String {
    let mut seed: Value = serde_json::from_str(REFERENCE_SEED).unwrap_or(Value::Null);
    rekey(&mut seed);
    if let Some(top) = seed.as_object_mut() {
        for list in top.values_mut().filter_map(Value::as_array_mut) {
            list.reverse();
        }
        if let Some(c) = top
            .get_mut("CompanySettings")
            .and_then(Value::as_object_mut)
        {
            c.insert("Name".into(), Value::from("Koffiebranderij Het Anker B.V."));
            c.insert("ShowPricesExclVatPC".into(), Value::Bool(true));
            c.insert("NextCustomerNumber".into(), Value::from(20001));
            c.insert("NextInvoiceNumber".into(), Value::from(77001));
        }
    }
    seed.to_string()
}

/// Every GUID in `v` replaced by another one, the same everywhere it occurs.
fn rekey(v: &mut Value) {
    match v {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {
            // Each group read backwards: still a GUID, never the same one.
            *s = s
                .split('-')
                .map(|g| g.chars().rev().collect::<String>())
                .collect::<Vec<_>>()
                .join("-");
        }
        Value::Array(items) => items.iter_mut().for_each(rekey),
        Value::Object(m) => m.values_mut().for_each(rekey),
        _ => {}
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_and_the_other_company_load() {
        let now = chrono::Utc::now();
        let mut demo = Store::with_reference_seed();
        apply(&mut demo, DEMO, now).expect("demo seed");
        assert_eq!(demo.all("customers").len(), 2);
        let mut other = Store::with_reference_seed();
        apply(&mut other, &other_company(), now).expect("other company");
        let ids = |s: &Store| -> Vec<String> {
            s.all("vatcodes")
                .iter()
                .filter_map(|v| v["Id"].as_str().map(str::to_string))
                .collect()
        };
        let (a, b) = (ids(&demo), ids(&other));
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter().all(|id| !b.contains(id)),
            "the other company shares ids"
        );
        // The demo's seeded article keeps its coding: the reference ids it uses exist.
        apply(&mut other, DEMO, now).expect_err("the demo names the first company's ids");
    }
}
