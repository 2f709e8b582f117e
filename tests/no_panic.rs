//! The parser and checker must answer every input with diagnostics, never a
//! panic: random text, and random soups of real tokens (which get much
//! further into the checker than random bytes do).

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "flow",
    "f",
    "{",
    "}",
    "source",
    "target",
    "file(\"a.ndjson\")",
    "as",
    "where",
    "key",
    "->",
    "let",
    "x",
    "=",
    "each",
    "rows",
    "r",
    "upsert",
    "match",
    "on",
    "create",
    "update",
    "keep",
    "table",
    "t",
    "=>",
    "_",
    "fn",
    "(",
    ")",
    ",",
    "schema",
    "s",
    "a",
    ":",
    "string(5)",
    "int",
    "list<int>",
    "?",
    "readonly",
    "range",
    "0..1",
    "import",
    "\"x.flow\"",
    "connection",
    "c",
    "connector",
    "\"ccvshop\"",
    "env(\"X\")",
    "test",
    "\"n\"",
    "input",
    "expect",
    "skip",
    "given",
    "1",
    "0.5",
    "\"s{x}\"",
    "@2024-01-01",
    "null",
    "true",
    "and",
    "or",
    "not",
    "in",
    "??",
    "|",
    "+",
    "-",
    "*",
    "/",
    "==",
    "<",
    "if",
    "then",
    "else",
    "[",
    "]",
    ".",
    "?.",
    "trim",
    "round",
    "t[x]",
    "\n",
    "# c\n",
    "a.b",
    "{a: 1}",
];

fn check(text: &str) {
    let checked = flowc::check::check_source("fuzz.flow", None, text);
    // Rendering must not panic either, whatever the spans.
    for d in &checked.diagnostics {
        let _ = flowc::diag::render_human(d, &checked.sources, Default::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..60)) {
        check(&tokens.join(" "));
    }
}

#[test]
fn a_well_formed_flow_with_every_construct_checks_and_runs_without_panic() {
    let text = r#"
schema row { sku: string(10) qty: decimal }
schema src resource "x" key id { id: int readonly items: list<row> name: string(40)? }
schema dst { Id: string(21) Name: string(10) Rows: list<{ Sku: string(10) Q: decimal }> }
table t { "a" => 1 _ => 2 }
fn twice(x) = x * 2
flow f {
  source file("in.ndjson") as src
  target file("out.ndjson") as dst
  key "K{id}" -> Id
  let n = name ?? "none"
  n | truncate(10) -> Name
  each items as r where r.qty > 0 -> Rows {
    r.sku -> Sku
    twice(r.qty) + t[r.sku] -> Q
  }
}
"#;
    let checked = flowc::check::check_source("ok.flow", None, text);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
