//! The nesting guard. Every pass over an expression (the parser, lowering,
//! the checker, the interpreter, the formatter, and dropping the tree) is
//! recursive, so an expression nested deeper than [`MAX_DEPTH`] levels is
//! refused before any of them runs (E0007), instead of overflowing the stack.
//!
//! The scan works on the text, not on a tree, so that it can run before the
//! (recursive) parser. For every position it computes an upper bound of the
//! depth of the tree the parser could build there: each open bracket (`(`,
//! `[`, `{`, a string's `{…}` interpolation) is a level, and within one level
//! every operator, `if` and bracketed group since the expression began counts
//! one more (`a + b + c` is a tree two levels deep). An expression begins
//! after `->`, `=>`, `,`, `:`, and wherever two operands meet without an
//! operator between them (`x -> A  y -> B`), which no single expression can
//! contain.

use crate::diag::{codes, Diagnostic};
use crate::source_map::{FileId, Span};

/// The deepest brackets and `if`s may nest (the parser recurses on these).
pub const MAX_NESTING: usize = 256;
/// The deepest the tree of one expression may be: brackets, `if`s and the
/// operators of one chain each count one level (`a + b + c` is two).
pub const MAX_DEPTH: usize = 1024;

/// Finds the first place where the text nests deeper than [`MAX_DEPTH`].
pub(crate) fn check(file: FileId, text: &str, offset: usize) -> Result<(), Diagnostic> {
    match deepest(text) {
        Some((at, what)) => {
            let len = text[at..].chars().next().map_or(0, char::len_utf8);
            let span = Span::new(file, offset + at, offset + at + len);
            let (message, label) = match what {
                Limit::Nesting => (
                    format!("brackets and `if`s nest more than {MAX_NESTING} levels deep here"),
                    format!("level {} starts here", MAX_NESTING + 1),
                ),
                Limit::Depth => (
                    format!("this expression is more than {MAX_DEPTH} levels deep (brackets, `if`s and chained operators)"),
                    format!("level {} starts here", MAX_DEPTH + 1),
                ),
            };
            Err(Diagnostic::new(&codes::E0007, message)
                .at(span, label)
                .help(
                    "split it: name parts with `let`, add a long list of numbers with sum([…]), \
                 or use a table instead of a long `if … else if …` chain",
                ))
        }
        None => Ok(()),
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Limit {
    Nesting,
    Depth,
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// Code inside a bracket (or the top level); `count` is the operators
    /// and groups since the current expression began, `ifs` the `if`s among them.
    Code {
        count: usize,
        ifs: usize,
        string: bool,
    },
    /// Inside a string literal.
    Str,
}

/// The byte offset of the first token past a limit, if any.
fn deepest(text: &str) -> Option<(usize, Limit)> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Level> = vec![Level::Code {
        count: 0,
        ifs: 0,
        string: false,
    }];
    // Sum over the stack of (count + 1) for code levels: the bound at this point.
    let mut depth = 1usize;
    // Code levels plus the `if`s open in them: how deep the parser recurses.
    let mut nesting = 0usize;
    // Whether the previous token ends an operand (a name, a literal, a closing bracket).
    let mut operand_end = false;
    let mut i = 0;
    let bump = |stack: &mut Vec<Level>, depth: &mut usize| {
        if let Some(Level::Code { count, .. }) = stack.last_mut() {
            *count += 1;
            *depth += 1;
        }
    };
    let reset = |stack: &mut Vec<Level>, depth: &mut usize, nesting: &mut usize| {
        if let Some(Level::Code { count, ifs, .. }) = stack.last_mut() {
            *depth -= *count;
            *nesting -= *ifs;
            *count = 0;
            *ifs = 0;
        }
    };
    let mut last = 0;
    while i < bytes.len() {
        if nesting > MAX_NESTING {
            return Some((last, Limit::Nesting));
        }
        if depth > MAX_DEPTH {
            return Some((last, Limit::Depth));
        }
        last = i;
        let b = bytes[i];
        if matches!(stack.last(), Some(Level::Str)) {
            match b {
                b'\\' if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2) == Some(&b'{') => {
                    // `\u{e9}`: its braces are not an interpolation.
                    i += 3;
                    while i < bytes.len() && bytes[i] != b'}' && bytes[i] != b'"' {
                        i += 1;
                    }
                    if bytes.get(i) == Some(&b'}') {
                        i += 1;
                    }
                }
                b'\\' => i += 2,
                b'"' => {
                    stack.pop();
                    operand_end = true;
                    i += 1;
                }
                b'{' => {
                    stack.push(Level::Code {
                        count: 0,
                        ifs: 0,
                        string: true,
                    });
                    depth += 1;
                    nesting += 1;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                if operand_end {
                    reset(&mut stack, &mut depth, &mut nesting);
                }
                stack.push(Level::Str);
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                // After an operand, `(` and `[` continue it (a call, an
                // index); `{` starts a block or a new value.
                if operand_end && b == b'{' {
                    reset(&mut stack, &mut depth, &mut nesting);
                }
                stack.push(Level::Code {
                    count: 0,
                    ifs: 0,
                    string: false,
                });
                depth += 1;
                nesting += 1;
                operand_end = false;
                i += 1;
            }
            b')' | b']' | b'}' => {
                i += 1;
                if stack.len() == 1 {
                    operand_end = true;
                    continue;
                }
                if let Some(Level::Code { count, ifs, string }) = stack.pop() {
                    depth -= count + 1;
                    nesting -= ifs + 1;
                    if string {
                        // Back inside the string literal.
                        operand_end = false;
                        continue;
                    }
                }
                // The group is one more node of the enclosing expression.
                bump(&mut stack, &mut depth);
                operand_end = true;
            }
            b',' | b':' | b';' => {
                reset(&mut stack, &mut depth, &mut nesting);
                operand_end = false;
                i += 1;
            }
            b'-' | b'=' if bytes.get(i + 1) == Some(&b'>') => {
                reset(&mut stack, &mut depth, &mut nesting);
                operand_end = false;
                i += 2;
            }
            b'@' => {
                if operand_end {
                    reset(&mut stack, &mut depth, &mut nesting);
                }
                i += 1;
                while i < bytes.len()
                    && matches!(
                        bytes[i],
                        b'0'..=b'9' | b'-' | b':' | b'.' | b'+' | b'T' | b'Z'
                    )
                {
                    i += 1;
                }
                operand_end = true;
            }
            b'0'..=b'9' => {
                if operand_end {
                    reset(&mut stack, &mut depth, &mut nesting);
                }
                while i < bytes.len() {
                    match bytes[i] {
                        b'0'..=b'9' | b'_' => i += 1,
                        b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => i += 1,
                        _ => break,
                    }
                }
                operand_end = true;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                match &text[start..i] {
                    "if" => {
                        if let Some(Level::Code { ifs, .. }) = stack.last_mut() {
                            *ifs += 1;
                            nesting += 1;
                        }
                        bump(&mut stack, &mut depth);
                        operand_end = false;
                    }
                    "and" | "or" | "in" | "not" => {
                        bump(&mut stack, &mut depth);
                        operand_end = false;
                    }
                    "then" | "else" => operand_end = false,
                    _ => {
                        if operand_end {
                            reset(&mut stack, &mut depth, &mut nesting);
                        }
                        operand_end = true;
                    }
                }
            }
            b'.' if bytes.get(i + 1) == Some(&b'.') => {
                operand_end = false;
                i += 2;
            }
            b'=' if bytes.get(i + 1) != Some(&b'=') => {
                operand_end = false;
                i += 1;
            }
            b'?' if bytes.get(i + 1) != Some(&b'?') && bytes.get(i + 1) != Some(&b'.') => {
                // The optional mark of a schema field.
                i += 1;
            }
            _ if b.is_ascii() => {
                // An operator: `+ - * / % | ?? ?. . == != < <= > >=`.
                let len = match (b, bytes.get(i + 1)) {
                    (b'?', Some(b'?' | b'.'))
                    | (b'=' | b'!' | b'<' | b'>', Some(b'='))
                    | (b'|', Some(b'|')) => 2,
                    _ => 1,
                };
                bump(&mut stack, &mut depth);
                operand_end = false;
                i += len;
            }
            _ => {
                // Other characters are not part of the language: the parser
                // reports them; step over the whole character.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    if nesting > MAX_NESTING {
        Some((last, Limit::Nesting))
    } else if depth > MAX_DEPTH {
        Some((last, Limit::Depth))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_deep(text: &str) -> bool {
        deepest(text).is_some()
    }

    #[test]
    fn realistic_text_passes() {
        let flow = r#"
schema order { id: int  status: "a" | "b" | "c"  n: int range 1..14  note: string? }
table t { "NL" => 1  "BE" => 2  _ => 3 }
flow f {
  source file("x.ndjson") as order
  target file("y.ndjson")
  where status == "a" and n > 2
  let a = if n > 1 then 1 else 2
  "ID-{id}-{note ?? "-"}" -> Ref
  a + n * 2 - 1 -> X
}
"#;
        let many_lets = "let a = if x then 1 else 2\n".repeat(2000);
        let many_maps = "a + b + c -> X\n".repeat(2000);
        let long_list = format!("[{}]", vec!["1 + 2"; 5000].join(", "));
        let long_table = format!("table t {{ {} }}", "\"a\" => 1 + 2\n".repeat(5000));
        for text in [flow, &many_lets, &many_maps, &long_list, &long_table] {
            assert!(!too_deep(text), "{}", &text[..80.min(text.len())]);
        }
    }

    #[test]
    fn deep_or_long_expressions_are_caught() {
        let n = MAX_NESTING + 1;
        let nested = [
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("{}1{}", "if a then ".repeat(n), " else 2".repeat(n)),
            format!("{}1{}", "\"{".repeat(n), "}\"".repeat(n)),
            format!("f({}1{})", "[".repeat(n), "]".repeat(n)),
        ];
        for text in &nested {
            assert_eq!(
                deepest(text).map(|d| d.1),
                Some(Limit::Nesting),
                "{}",
                &text[..40]
            );
        }
        let n = MAX_DEPTH + 1;
        let cases = [
            format!("{}1", "-".repeat(n)),
            format!("{}true", "not ".repeat(n)),
            vec!["1"; n + 1].join(" + "),
            vec!["a"; n + 1].join(" ?? "),
            format!("x{}", "?.a".repeat(n)),
            format!("x{}", "[0]".repeat(n)),
            format!("a{}", " | f".repeat(n)),
            format!("({})", vec!["(1)"; n].join(" * ")),
        ];
        for text in &cases {
            assert!(too_deep(text), "{}", &text[..40]);
        }
        // Just below the limits is fine.
        let ok = vec!["1"; MAX_DEPTH - 1].join(" + ");
        assert!(!too_deep(&ok));
        let ok = format!("{}1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(!too_deep(&ok));
    }

    #[test]
    fn the_diagnostic_points_at_the_first_level_too_many() {
        let text = format!("let x = {}1{}", "(".repeat(300), ")".repeat(300));
        let d = check(FileId(0), &text, 0).unwrap_err();
        assert_eq!(d.code.id, "E0007");
        let span = d.primary.unwrap().span;
        assert_eq!(&text[span.range()], "(");
        // 256 parentheses are allowed; the 257th is pointed at.
        assert_eq!(span.start as usize, "let x = ".len() + MAX_NESTING);
    }
}
