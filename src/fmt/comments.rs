//! Recovering `#` comments from the source text: pest skips them as implicit
//! whitespace, so the AST never sees them.

/// One `#` comment. `end` is exclusive and stops before the line break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Comment {
    pub start: usize,
    pub end: usize,
    /// The comment from `#`, without trailing whitespace (a CRLF file leaves a `\r`).
    pub text: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Inside `"…"`, outside any interpolation.
    Str,
    /// Inside `{` … `}` of an interpolation: code again, where comments count.
    Interp,
    /// A `{` of a record literal, record type or block in code.
    Brace,
}

/// What one pass over the text finds.
pub(crate) struct Walk {
    pub comments: Vec<Comment>,
}

/// Finds every comment pest would skip. A `#` inside a string literal is text,
/// but an interpolation (`"{a # note
/// }"`) is code again and may hold comments and further strings, so the scan
/// tracks nesting instead of pairing quotes naively.
pub(crate) fn walk(text: &str) -> Walk {
    // Every delimiter is ASCII and UTF-8 continuation bytes are never ASCII,
    // so walking bytes cannot split a character where it matters.
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut comments = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if stack.last() == Some(&Frame::Str) {
            match b {
                b'\\' => {
                    if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2) == Some(&b'{') {
                        // `\u{1F600}`: its braces are not an interpolation.
                        i += 3;
                        while i < bytes.len() && bytes[i] != b'}' && bytes[i] != b'"' {
                            i += 1;
                        }
                        if bytes.get(i) == Some(&b'}') {
                            i += 1;
                        }
                        continue;
                    }
                    i += 2;
                    continue;
                }
                b'"' => {
                    stack.pop();
                }
                b'{' => stack.push(Frame::Interp),
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                comments.push(Comment {
                    start: i,
                    end,
                    text: text[i..end].trim_end().to_string(),
                });
                i = end;
                continue;
            }
            b'"' => stack.push(Frame::Str),
            b'{' => stack.push(Frame::Brace),
            b'}' => {
                // Popping an `Interp` uncovers the `Str` it sits in.
                if matches!(stack.last(), Some(Frame::Brace | Frame::Interp)) {
                    stack.pop();
                }
            }
            _ => {}
        }
        i += 1;
    }
    Walk { comments }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        walk(src).comments.into_iter().map(|c| c.text).collect()
    }

    #[test]
    fn hash_in_strings_is_text() {
        assert_eq!(texts("let a = \"# no\" # yes\n"), vec!["# yes"]);
        assert_eq!(texts("let a = \"\\\"# no\"\n"), Vec::<String>::new());
        assert_eq!(texts("let a = \"\\u{23}{x}# no\"  # yes"), vec!["# yes"]);
    }

    #[test]
    fn interpolations_are_code() {
        let src = r##"let a = "{b ?? "#x}"} # in text\" # after {
}" # real
"##;
        assert_eq!(texts(src), vec!["# real"]);
        let src = "let a = \"{ {k: 1}.k # inner\n}#text\" # outer\r\n";
        assert_eq!(texts(src), vec!["# inner", "# outer"]);
    }
}
