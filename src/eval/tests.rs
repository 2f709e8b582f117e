//! The interpreter on small flows, checked from source.

use super::*;
use crate::check::check_source;
use crate::value::json;

/// The create and update payloads of the only flow of `body` for `input`.
fn payloads(body: &str, input: &str) -> (String, String) {
    let text =
        format!("flow t {{\n  source file(\"in.json\")\n  target file(\"out.json\")\n{body}\n}}\n");
    let checked = check_source("t.flow", None, &text);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let flow = checked.program.flow("t").unwrap();
    let input = json::parse(input).unwrap();
    match Runtime::new(&checked.program).run_flow(flow, &input, &mut NoUpserts) {
        Ok(Outcome::Mapped(m)) => (
            json::to_string(&Value::record(m.payload.create)),
            json::to_string(&Value::record(m.payload.update)),
        ),
        other => panic!("{other:?}"),
    }
}

const LINES: &str = r#"{"lines": [{"sku": "A"}, {"sku": "B"}]}"#;
/// The rows of [`LINES`] when created: `on create { 1 -> Quantity }`.
const CREATED_ROWS: &str = r#"{"Rows":[{"Sku":"A","Quantity":1},{"Sku":"B","Quantity":1}]}"#;

#[test]
fn an_each_whose_items_differ_by_side_builds_one_list_for_each_side() {
    let (create, update) = payloads(
        "  each lines as l -> Rows {\n    l.sku -> Sku\n    on create { 1 -> Quantity }\n  }",
        LINES,
    );
    assert_eq!(create, CREATED_ROWS);
    assert_eq!(update, r#"{"Rows":[{"Sku":"A"},{"Sku":"B"}]}"#);
}

#[test]
fn an_each_whose_items_differ_by_side_inside_on_create_is_kept_on_create() {
    let (create, update) = payloads(
        "  on create {\n    each lines as l -> Rows {\n      l.sku -> Sku\n      on create { 1 -> Quantity }\n    }\n  }",
        LINES,
    );
    assert_eq!(create, CREATED_ROWS);
    assert_eq!(update, "{}");
}
