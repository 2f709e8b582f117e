//! Before/after fixtures. Every fixture also goes through `check_invariants`:
//! idempotence, same AST and the same multiset of comments.

use super::{comment_texts, format_source};
use crate::source::FileId;

/// The AST's `Debug` text with every `Span { … }` blanked out. Comparing
/// these is a span-blind equality that keeps working when the AST grows new
/// fields, which a hand-written span eraser would silently skip.
pub(super) fn ast_without_spans(text: &str) -> Option<String> {
    let (file, diags) = crate::syntax::parse(FileId(0), text);
    if !diags.is_empty() {
        return None;
    }
    let debug = format!("{file:?}");
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span { file: ") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        match rest[at..].find('}') {
            Some(close) => rest = &rest[at + close + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The three properties every formatted file must have; returns the output.
pub(super) fn check_invariants(input: &str) -> String {
    let once =
        format_source(input).unwrap_or_else(|d| panic!("input does not parse: {d:?}\n{input}"));
    let twice =
        format_source(&once).unwrap_or_else(|d| panic!("output does not parse: {d:?}\n{once}"));
    assert_eq!(
        once, twice,
        "not idempotent\n--- input\n{input}\n--- once\n{once}\n--- twice\n{twice}"
    );
    assert_eq!(
        ast_without_spans(input),
        ast_without_spans(&once),
        "AST changed\n--- input\n{input}\n--- once\n{once}"
    );
    assert_eq!(
        comment_texts(input),
        comment_texts(&once),
        "comments changed\n--- input\n{input}\n--- once\n{once}"
    );
    assert!(
        once.is_empty() || (once.ends_with('\n') && !once.ends_with("\n\n")),
        "bad final newline: {once:?}"
    );
    assert!(
        once.lines().all(|l| l == l.trim_end()),
        "trailing whitespace:\n{once}"
    );
    once
}

fn check(input: &str, expected: &str) {
    let got = check_invariants(input);
    assert_eq!(got, expected, "\n--- got\n{got}\n--- expected\n{expected}");
}

#[test]
fn show() {
    for src in std::env::var("FMT_SHOW").unwrap_or_default().split("@@@") {
        if !src.trim().is_empty() {
            println!("=====\n{}=====", check_invariants(src));
        }
    }
}

#[test]
fn probe_spans() {
    let src = "let a = f(x)   # c\n\nlet b = 1 + 2  \n# d\nflow f { a -> B  # e\n c -> D }\n";
    let (file, _) = crate::syntax::parse(FileId(0), src);
    for item in &file.items {
        let s = item.span();
        println!("{:?}", &src[s.range()]);
        if let crate::syntax::ast::Item::Let(l) = item {
            println!("  value {:?}", &src[l.value.span.range()]);
        }
        if let crate::syntax::ast::Item::Flow(f) = item {
            for st in &f.body {
                println!("  stmt {:?}", &src[st.span().range()]);
            }
        }
    }
}
