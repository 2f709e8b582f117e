//! `flowc fmt`: the canonical layout of `.flow` files.
//!
//! The formatter parses the file, prints the AST back in one fixed layout and
//! weaves the `#` comments (which the parser drops) back in by position. It is
//! idempotent, and the printed text parses to the same AST as the input
//! (spans aside; `1_000` loses its underscores and `x | f()` / `x | f` keep the
//! spelling the user chose).
//!
//! # Layout
//!
//! - Two spaces per indentation level, one statement, field, setting or table
//!   row per line, no trailing whitespace, exactly one final newline (an empty
//!   file stays empty).
//! - Top-level declarations are separated by exactly one blank line, except
//!   that consecutive `import`s keep their grouping. Inside blocks at most one
//!   blank line is kept where the user had blank lines; none after `{` or
//!   before `}`.
//! - Spaces around binary operators, `|`, `->`, `=>` and `=`; `name: type`;
//!   `fn f(a, b) = expr`; `not x`, `-x`.
//! - Lists, records and argument lists stay on one line when the whole
//!   expression fits in 100 columns; otherwise (or when a comment sits inside
//!   them) the outermost ones that do not fit get one entry per line with a
//!   trailing comma. Other expressions are never broken.
//! - Record types in schemas always have one field per line.
//! - Table rows: keys are padded so that the `=>` arrows of one table line up.
//! - Mappings: a run of consecutive one-line mappings, not interrupted by a
//!   blank line, an own-line comment or another statement, aligns its `->`
//!   arrows (like gofmt aligns comments).
//! - Parentheses written by the user are kept; none are added unless a tree
//!   built by code needs them to parse back the same way.
//! - Strings are re-escaped (`\"`, `\\`, `\{`, `\}`, `\n`, `\t`, `\r`, other
//!   control characters as `\u{…}`); interpolations print as `{expr}`.
//! - Record keys print bare when they are identifiers, quoted otherwise.
//!
//! # Comments
//!
//! A comment on its own line belongs to the next declaration, statement,
//! field, setting, table row or list/record/argument entry and is printed
//! before it at its indentation. A comment after a node on the same line
//! stays there, two spaces after it. Comments before a closing `}`/`]`/`)`
//! stay inside, before it; comments at the end of the file stay at the end.
//! A comment inside an expression that is printed on one line moves to its
//! own line before the next printed line. No comment is ever dropped or
//! duplicated.

mod comments;
mod printer;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use crate::diag::Diagnostic;
use crate::source_map::FileId;

/// The parser and printer recurse once per nesting level and per prefix or
/// chained operator; a generous stack of their own (reserved, not committed)
/// keeps odd but legal files from overflowing the caller's.
const STACK_SIZE: usize = 256 * 1024 * 1024;

/// Formats a whole file. Errors are the parse diagnostics (the file is left alone then).
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    // Too deep a file is refused by the parser's nesting guard (E0007).
    let walk = comments::walk(text);
    let run = move || format_walked(text, walk.comments);
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("flowc-fmt".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, run.clone())
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had (resource limits): use the caller's stack.
            Err(_) => run(),
        }
    })
}

fn format_walked(text: &str, comments: Vec<comments::Comment>) -> Result<String, Vec<Diagnostic>> {
    let (file, diags) = crate::syntax::parse(FileId(0), text);
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(printer::Printer::new(text, comments).finish_file(&file))
}

/// The comment texts of a source, for checking that formatting keeps them all.
#[cfg(test)]
pub(crate) fn comment_texts(text: &str) -> Vec<String> {
    let mut texts: Vec<String> = comments::walk(text)
        .comments
        .into_iter()
        .map(|c| c.text)
        .collect();
    texts.sort();
    texts
}
