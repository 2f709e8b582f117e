//! Text → AST. The pest grammar lives in `grammar/flow.pest`; this module
//! is the only place that sees pest's pairs.

pub mod ast;
pub mod depth;
mod lower;

pub use lower::datetime_literal;

use crate::diag::{codes, Diagnostic};
use crate::source_map::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/flow.pest"]
pub(crate) struct FlowParser;

/// Parses one file. Syntax errors do not stop the parse: the text is cut at
/// top-level declarations and each piece is parsed on its own, so one broken
/// declaration yields one diagnostic and the rest of the file is still read.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    match lower::parse_items(file, text, 0) {
        Ok(items) => (ast::File { items }, vec![]),
        Err(first) => {
            let mut items = Vec::new();
            let mut diags = Vec::new();
            let chunks = top_level_chunks(text);
            if chunks.len() <= 1 {
                return (ast::File { items }, vec![first]);
            }
            for (start, end) in chunks {
                match lower::parse_items(file, &text[start..end], start) {
                    Ok(mut found) => items.append(&mut found),
                    Err(diag) => diags.push(diag),
                }
            }
            if diags.is_empty() {
                // The split itself cured the error (a keyword at column 0 in a
                // strange place); report the original error rather than nothing.
                diags.push(first);
            }
            (ast::File { items }, diags)
        }
    }
}

/// Parses a single expression (used by the REPL-ish corners: doc examples, `flowc eval`).
pub fn parse_expr(file: FileId, text: &str) -> Result<ast::Expr, Diagnostic> {
    lower::parse_standalone_expr(file, text)
}

const ITEM_KEYWORDS: &[&str] = &[
    "import",
    "table",
    "fn",
    "let",
    "schema",
    "connection",
    "mapping",
    "flow",
    "test",
];

/// Byte ranges of the text, each starting at a line that begins (column 0)
/// with a declaration keyword.
fn top_level_chunks(text: &str) -> Vec<(usize, usize)> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let word: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if offset > 0 && ITEM_KEYWORDS.contains(&word.as_str()) {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut chunks = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(text.len());
        chunks.push((s, e));
    }
    chunks
}

pub(crate) fn syntax_error(
    file: FileId,
    offset: usize,
    err: pest::error::Error<Rule>,
) -> Diagnostic {
    let (start, end) = match err.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((s, e)) => (s, e),
    };
    let expected = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    let span = Span::new(file, offset + start, offset + end.max(start));
    Diagnostic::new(&codes::E0001, format!("syntax error: expected {expected}"))
        .at(span, format!("expected {expected}"))
        .help("check the statement at this position against docs/language.md")
}

fn describe_expected(rules: &[Rule]) -> String {
    let mut names: Vec<String> = rules
        .iter()
        .filter_map(|r| {
            let debug = format!("{r:?}");
            rule_name(*r)
                .map(str::to_string)
                .or_else(|| debug.strip_prefix("kw_").map(|word| format!("`{word}`")))
        })
        .collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => "something else".to_string(),
        1 => names[0].clone(),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {}", names.join(", "), last)
        }
    }
}

/// Names for the rules a user can be told were expected.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        // Nothing of the file parsed: the text does not start a declaration.
        Rule::file
        | Rule::import_decl
        | Rule::table_decl
        | Rule::fn_decl
        | Rule::let_decl
        | Rule::schema_decl
        | Rule::connection_decl
        | Rule::flow_decl
        | Rule::test_decl => {
            "a declaration (import, table, fn, let, schema, connection, flow, test)"
        }
        Rule::expr
        | Rule::paren
        | Rule::call
        | Rule::variable
        | Rule::if_expr
        | Rule::list_lit
        | Rule::record_lit => "an expression",
        Rule::null_lit
        | Rule::bool_lit
        | Rule::number_lit
        | Rule::string_lit
        | Rule::date_lit
        | Rule::datetime_lit => "an expression",
        Rule::op_pipe
        | Rule::op_coalesce
        | Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_in
        | Rule::op_not_in
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_rem => "an operator",
        Rule::field | Rule::opt_field | Rule::index => "`.field` or `[key]`",
        Rule::field_path | Rule::any_ident => "a field name",
        Rule::ident => "a name",
        Rule::source_stmt
        | Rule::target_stmt
        | Rule::where_stmt
        | Rule::key_stmt
        | Rule::upsert_stmt
        | Rule::each_stmt
        | Rule::on_create
        | Rule::on_update
        | Rule::on_update_keep
        | Rule::mapping => {
            "a flow statement (`expr -> Field`, source, target, where, key, let, each, upsert, on)"
        }
        Rule::field_decl => "a field declaration (`name: type`)",
        Rule::type_expr | Rule::type_atom => "a type",
        Rule::table_row | Rule::default_key => "a table row (`key => value`)",
        Rule::table_rows | Rule::table_file => "`{` or `from \"file.csv\"`",
        Rule::block => "`{`",
        Rule::endpoint | Rule::dotted | Rule::file_endpoint => {
            "a resource (`module.schema`) or `file(\"path\")`"
        }
        Rule::setting => "a setting (`name value`)",
        Rule::test_flow | Rule::test_input | Rule::test_given | Rule::test_expect => {
            "a test statement (flow, input, given, expect)"
        }
        Rule::write_verb | Rule::expect_skip | Rule::expect_error | Rule::expect_write => {
            "create, update, unchanged, skip or error"
        }
        Rule::optional_mark | Rule::field_mod | Rule::readonly_mod | Rule::range_mod => {
            "`?`, readonly or range"
        }
        Rule::schema_resource | Rule::schema_key | Rule::schema_cursor | Rule::schema_length => {
            "resource, key, cursor, length or `{`"
        }
        Rule::kw_length => "`length`",
        Rule::length_unit => "`utf16` or `chars`",
        Rule::escape | Rule::text | Rule::interpolation => "string text or `\"`",
        // Keywords are matched through these lookaheads, so they are what a
        // parse error reports as expected.
        Rule::kw_import
        | Rule::kw_table
        | Rule::kw_fn
        | Rule::kw_schema
        | Rule::kw_connection
        | Rule::kw_test => "a declaration (import, table, fn, let, schema, connection, flow, test)",
        Rule::kw_source
        | Rule::kw_target
        | Rule::kw_where
        | Rule::kw_upsert
        | Rule::kw_each
        | Rule::kw_on => {
            "a flow statement (`expr -> Field`, source, target, where, key, let, each, upsert, on)"
        }
        Rule::kw_input | Rule::kw_given | Rule::kw_expect => {
            "a test statement (flow, input, given, expect)"
        }
        Rule::kw_let => "`let`",
        Rule::kw_flow => "`flow`",
        Rule::kw_key => "`key`",
        Rule::kw_as => "`as`",
        Rule::kw_from => "`from`",
        Rule::kw_value => "`value`",
        Rule::kw_default => "`default`",
        Rule::kw_resource => "`resource`",
        Rule::kw_range => "`range`",
        Rule::kw_match => "`match`",
        Rule::kw_create => "`create`",
        Rule::kw_update => "`update`",
        Rule::kw_keep => "`keep`",
        Rule::kw_skip | Rule::kw_error => "create, update, unchanged, skip or error",
        Rule::kw_if => "an expression",
        Rule::kw_then => "`then`",
        Rule::kw_else => "`else`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_starts_no_declaration_is_told_what_may_start_one() {
        for text in ["@", "\u{1}flow f {}", "42\nflow f {}\n"] {
            let (_, diags) = parse(FileId(0), text);
            assert_eq!(diags[0].code.id, "E0001", "{text:?}");
            assert!(
                diags[0].message.contains("a declaration (import, table"),
                "{text:?}: {}",
                diags[0].message
            );
        }
    }
}
