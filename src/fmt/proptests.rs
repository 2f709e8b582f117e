//! Property tests over generated, well-formed `.flow` sources.
//!
//! Generators build *templates*: source text where `\u{0}` marks a place
//! that needs whitespace and `\u{1}` a place that may have some. `fill` then
//! puts random spaces, newlines, blank lines and comments there, so one
//! structure is tested in many spellings.

use proptest::prelude::*;
use proptest::sample::select;

use super::printer::Printer;
use super::tests::{ast_without_spans, check_invariants};
use super::{comment_texts, format_source};
use crate::source_map::FileId;
use crate::syntax::ast::{Expr, ExprKind, StrPart};

/// Plain spaces dominate so that ordinary layouts (aligned runs, flat
/// records) are exercised as often as comment-heavy ones.
const REQUIRED: &[&str] = &[
    " ",
    " ",
    " ",
    " ",
    "\n",
    "\n",
    "  ",
    "\n",
    "\n    ",
    "\t",
    "\r\n",
    "\n\n",
    " # note\n",
    "\n# own line\n",
    " # has \"quote\" {brace} and # hash\n",
    "\n\n# after blank\n\n",
];

fn fill(template: &str, picks: &[usize]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut n = 0;
    for c in template.chars() {
        let pick = picks.get(n % picks.len().max(1)).copied().unwrap_or(0);
        match c {
            '\u{0}' => {
                n += 1;
                out.push_str(REQUIRED[pick % REQUIRED.len()]);
            }
            '\u{1}' => {
                n += 1;
                // Mostly nothing, so tight spellings like `f(a,b)` are common.
                if pick % 3 != 0 {
                    out.push_str(REQUIRED[pick % REQUIRED.len()]);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn s(v: &[&'static str]) -> impl Strategy<Value = String> + Clone {
    select(v.to_vec()).prop_map(String::from)
}

fn ident() -> impl Strategy<Value = String> + Clone {
    s(&[
        "a", "b", "order", "x_1", "Total", "or_x", "in_y", "nota", "_z", "input",
    ])
}

fn field_name() -> impl Strategy<Value = String> + Clone {
    s(&["A", "b", "Name", "in", "if", "key", "total_2"])
}

fn field_path() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(field_name(), 1..3).prop_map(|p| p.join("\u{1}.\u{1}"))
}

fn dotted() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(ident(), 1..3).prop_map(|p| p.join("."))
}

fn text_piece() -> impl Strategy<Value = String> + Clone {
    s(&[
        "abc",
        "#hash",
        "}",
        "é ü",
        "\\\"",
        "\\\\",
        "\\n",
        "\\t",
        "\\{",
        "\\}",
        "\\u{1F600}",
        "\\u{7}",
        "\n",
        "\t",
        " ",
        "'",
    ])
}

fn plain_string() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(text_piece(), 0..3).prop_map(|p| format!("\"{}\"", p.concat()))
}

/// An expression template, and whether its top-level operator is a pipe: a
/// pipe may only be followed by another pipe, so inside a larger chain it
/// needs parentheses.
type Ex = (String, bool);

fn leaf() -> impl Strategy<Value = Ex> + Clone {
    prop_oneof![
        ident(),
        s(&["0", "1", "12.50", "1_000", "007", "3.14159"]),
        s(&[
            "@2024-01-31",
            "@2024-02-29",
            "@2024-01-31T12:00Z",
            "@2024-01-31T12:00:00.25+01:00"
        ]),
        s(&["null", "true", "false"]),
        plain_string(),
    ]
    .prop_map(|t| (t, false))
}

fn operand(e: Ex) -> String {
    if e.1 {
        format!("(\u{1}{}\u{1})", e.0)
    } else {
        e.0
    }
}

fn comma_list(items: Vec<String>, trailing: bool) -> String {
    let mut out = items.join("\u{1},\u{0}");
    if trailing && !items.is_empty() {
        out.push_str("\u{1},");
    }
    out
}

fn expr() -> impl Strategy<Value = Ex> + Clone {
    leaf().prop_recursive(4, 40, 4, |inner| {
        let full = inner.clone().prop_map(|e| e.0);
        let primary = prop_oneof![
            3 => inner.clone().prop_map(operand),
            1 => (s(&["f", "trim", "concat"]), prop::collection::vec(full.clone(), 0..4), any::<bool>())
                .prop_map(|(f, args, t)| format!("{f}\u{1}(\u{1}{}\u{1})", comma_list(args, t))),
            1 => (prop::collection::vec(full.clone(), 0..4), any::<bool>())
                .prop_map(|(items, t)| format!("[\u{1}{}\u{1}]", comma_list(items, t))),
            1 => (prop::collection::vec((prop_oneof![field_name(), plain_string()], full.clone()), 0..4), any::<bool>())
                .prop_map(|(entries, t)| {
                    let entries = entries.into_iter().map(|(k, v)| format!("{k}\u{1}:\u{1}{v}")).collect();
                    format!("{{\u{1}{}\u{1}}}", comma_list(entries, t))
                }),
            1 => full.clone().prop_map(|e| format!("(\u{1}{e}\u{1})")),
            // The else branch runs on over whatever follows, so a pipe in it
            // would be followed by more operators.
            1 => (full.clone(), full.clone(), inner.clone())
                .prop_map(|(c, t, e)| format!("if\u{0}{c}\u{0}then\u{0}{t}\u{0}else\u{0}{}", operand(e))),
            1 => prop::collection::vec(prop_oneof![text_piece(), full.clone().prop_map(|e| format!("{{\u{1}{e}\u{1}}}"))], 0..4)
                .prop_map(|parts| format!("\"{}\"", parts.concat())),
        ];
        let postfix = prop_oneof![
            field_name().prop_map(|f| format!("\u{1}.\u{1}{f}")),
            field_name().prop_map(|f| format!("\u{1}?.\u{1}{f}")),
            full.clone().prop_map(|i| format!("\u{1}[\u{1}{i}\u{1}]")),
        ];
        let prefix = s(&["-\u{1}", "not\u{0}"]);
        let unary = (prop::collection::vec(prefix, 0..2), primary, prop::collection::vec(postfix, 0..2))
            .prop_map(|(pre, p, post)| format!("{}{p}{}", pre.concat(), post.concat()));
        let binop = s(&[
            "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "??", "in", "not\u{0}in",
        ]);
        let pipe = (s(&["trim", "round", "upper"]), prop::option::of(prop::collection::vec(full, 0..3)))
            .prop_map(|(f, args)| match args {
                Some(args) => format!("\u{1}|\u{1}{f}\u{1}(\u{1}{}\u{1})", comma_list(args, false)),
                None => format!("\u{1}|\u{1}{f}"),
            });
        (unary.clone(), prop::collection::vec((binop, unary), 0..3), prop::collection::vec(pipe, 0..2)).prop_map(
            |(first, rest, pipes)| {
                let mut out = first;
                for (op, u) in rest {
                    out.push_str(&format!("\u{0}{op}\u{0}{u}"));
                }
                let piped = !pipes.is_empty();
                out.push_str(&pipes.concat());
                (out, piped)
            },
        )
    })
}

/// Statements ending in an expression would swallow a following `-x`,
/// `(x)` or `[x]` as an operator, call or index; values at the start of a
/// statement therefore never start with one.
fn safe_start(e: Ex) -> String {
    if e.0.starts_with(['-', '(', '[']) {
        format!("x_1\u{0}+\u{0}{}", e.0)
    } else {
        e.0
    }
}

fn ex() -> impl Strategy<Value = String> + Clone {
    expr().prop_map(|e| e.0)
}

fn record_payload() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((field_name(), ex()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(entries, t)| {
            let entries = entries
                .into_iter()
                .map(|(k, v)| format!("{k}\u{1}:\u{1}{v}"))
                .collect();
            format!("{{\u{1}{}\u{1}}}", comma_list(entries, t))
        })
}

fn block(stmts: Vec<String>) -> String {
    format!("{{\u{1}{}\u{1}}}", stmts.join("\u{0}"))
}

fn stmt() -> impl Strategy<Value = String> {
    let mapping =
        (expr(), field_path()).prop_map(|(v, f)| format!("{}\u{1}->\u{1}{f}", safe_start(v)));
    let simple = prop_oneof![
        4 => mapping,
        1 => dotted().prop_map(|d| format!("source\u{0}{d}")),
        1 => (plain_string(), prop::option::of(dotted()))
            .prop_map(|(p, d)| format!("target\u{0}file\u{1}(\u{1}{p}\u{1}){}", d.map_or(String::new(), |d| format!("\u{0}as\u{0}{d}")))),
        1 => ex().prop_map(|e| format!("where\u{0}{e}")),
        1 => (ex(), field_path()).prop_map(|(e, f)| format!("key\u{0}{e}\u{1}->\u{1}{f}")),
        1 => (ident(), ex()).prop_map(|(n, e)| format!("let\u{0}{n}\u{1}=\u{1}{e}")),
        1 => prop::collection::vec(field_path(), 1..3).prop_map(|f| format!("on\u{0}update\u{0}keep\u{0}{}", f.join("\u{1},\u{1}"))),
    ];
    simple.prop_recursive(2, 12, 3, |inner| {
        let body = prop::collection::vec(inner, 0..3).prop_map(block);
        prop_oneof![
            (
                ex(),
                ident(),
                prop::option::of(ex()),
                field_path(),
                body.clone()
            )
                .prop_map(|(l, v, w, f, b)| {
                    let filter = w.map_or(String::new(), |w| format!("\u{0}where\u{0}{w}"));
                    format!("each\u{0}{l}\u{0}as\u{0}{v}{filter}\u{1}->\u{1}{f}\u{1}{b}")
                }),
            (dotted(), ident(), ex(), field_path(), body.clone()).prop_map(
                |(d, v, m, f, b)| format!(
                    "upsert\u{0}{d}\u{0}as\u{0}{v}\u{0}match\u{0}{m}\u{1}->\u{1}{f}\u{1}{b}"
                )
            ),
            body.clone().prop_map(|b| format!("on\u{0}create\u{1}{b}")),
            body.prop_map(|b| format!("on\u{0}update\u{1}{b}")),
        ]
    })
}

fn type_expr() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        s(&["string", "int", "ccvshop.address", "decimal"]),
        s(&["string(50)", "string\u{1}(\u{1}007\u{1})"]),
        prop::collection::vec(plain_string(), 1..3).prop_map(|alts| alts.join("\u{1}|\u{1}")),
    ];
    atom.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|t| format!("list\u{1}<\u{1}{t}\u{1}>")),
            prop::collection::vec((field_name(), inner), 0..3).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(n, t)| format!("{n}\u{1}:\u{1}{t}"))
                    .collect();
                format!("{{\u{1}{}\u{1}}}", fields.join("\u{0}"))
            }),
        ]
    })
}

fn field_decl() -> impl Strategy<Value = String> {
    (
        field_name(),
        type_expr(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(s(&["0..1", "1.5\u{1}..\u{1}100"])),
    )
        .prop_map(|(n, t, opt, ro, range)| {
            let mut out = format!("{n}\u{1}:\u{1}{t}");
            if opt {
                out.push_str("\u{1}?");
            }
            if ro {
                out.push_str("\u{0}readonly");
            }
            if let Some(r) = range {
                out.push_str(&format!("\u{0}range\u{0}{r}"));
            }
            out
        })
}

fn test_stmt() -> impl Strategy<Value = String> {
    prop_oneof![
        ident().prop_map(|f| format!("flow\u{0}{f}")),
        expr().prop_map(|e| format!("input\u{0}{}", e.0)),
        (dotted(), ex()).prop_map(|(d, e)| format!("given\u{0}{d}\u{0}{e}")),
        (
            s(&["create", "update", "unchanged"]),
            prop::option::of(dotted()),
            record_payload()
        )
            .prop_map(|(v, d, p)| format!(
                "expect\u{0}{v}\u{0}{}{p}",
                d.map_or(String::new(), |d| format!("{d}\u{0}"))
            )),
        (s(&["skip", "error"]), prop::option::of(plain_string())).prop_map(|(k, m)| format!(
            "expect\u{0}{k}{}",
            m.map_or(String::new(), |m| format!("\u{0}{m}"))
        )),
    ]
}

fn item() -> impl Strategy<Value = String> {
    let row = (prop::option::of(expr()), ex()).prop_map(|(k, v)| {
        let key = k.map_or_else(|| "_".to_string(), safe_start);
        format!("{key}\u{1}=>\u{1}{v}")
    });
    prop_oneof![
        (plain_string(), prop::option::of(ident())).prop_map(|(p, a)| format!(
            "import\u{0}{p}{}",
            a.map_or(String::new(), |a| format!("\u{0}as\u{0}{a}"))
        )),
        (ident(), ex()).prop_map(|(n, e)| format!("let\u{0}{n}\u{1}=\u{1}{e}")),
        (
            ident(),
            prop::collection::vec(ident(), 0..3),
            any::<bool>(),
            ex()
        )
            .prop_map(|(n, p, t, e)| format!(
                "fn\u{0}{n}\u{1}(\u{1}{}\u{1})\u{1}=\u{1}{e}",
                comma_list(p, t)
            )),
        (ident(), prop::collection::vec(row, 0..4))
            .prop_map(|(n, rows)| format!("table\u{0}{n}\u{1}{}", block(rows))),
        (
            ident(),
            plain_string(),
            prop::option::of(plain_string()),
            prop::option::of(plain_string()),
            prop::option::of(ex())
        )
            .prop_map(|(n, p, k, v, d)| {
                let mut out = format!("table\u{0}{n}\u{0}from\u{0}{p}");
                for (kw, val) in [("key", k), ("value", v), ("default", d)] {
                    if let Some(val) = val {
                        out.push_str(&format!("\u{0}{kw}\u{0}{val}"));
                    }
                }
                out
            }),
        (
            ident(),
            prop::option::of(plain_string()),
            prop::option::of(field_name()),
            prop::collection::vec(field_decl(), 0..4)
        )
            .prop_map(|(n, r, k, fields)| {
                let r = r.map_or(String::new(), |r| format!("\u{0}resource\u{0}{r}"));
                let k = k.map_or(String::new(), |k| format!("\u{0}key\u{0}{k}"));
                format!("schema\u{0}{n}{r}{k}\u{1}{}", block(fields))
            }),
        (
            ident(),
            prop::collection::vec((s(&["url", "retries", "token"]), ex()), 0..3)
        )
            .prop_map(|(n, settings)| {
                let settings = settings
                    .into_iter()
                    .map(|(k, v)| format!("{k}\u{0}{v}"))
                    .collect();
                format!("connection\u{0}{n}\u{1}{}", block(settings))
            }),
        (ident(), prop::collection::vec(stmt(), 0..5))
            .prop_map(|(n, b)| format!("flow\u{0}{n}\u{1}{}", block(b))),
        (plain_string(), prop::collection::vec(test_stmt(), 0..4))
            .prop_map(|(n, b)| format!("test\u{0}{n}\u{1}{}", block(b))),
    ]
}

fn source() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(item(), 0..4),
        prop::collection::vec(0usize..64, 1..64),
    )
        .prop_map(|(items, picks)| fill(&format!("\u{1}{}\u{1}", items.join("\u{0}")), &picks))
}

/// The tree without the user's parentheses: what code building an AST
/// would hand to the printer.
fn strip_parens(e: Expr) -> Expr {
    let b = |e: Box<Expr>| Box::new(strip_parens(*e));
    let v = |es: Vec<Expr>| es.into_iter().map(strip_parens).collect::<Vec<_>>();
    let kind = match e.kind {
        ExprKind::Paren(inner) => return strip_parens(*inner),
        ExprKind::Field {
            base,
            name,
            optional,
        } => ExprKind::Field {
            base: b(base),
            name,
            optional,
        },
        ExprKind::Index { base, index } => ExprKind::Index {
            base: b(base),
            index: b(index),
        },
        ExprKind::Find {
            base,
            conditions,
            all,
        } => ExprKind::Find {
            all,
            base: b(base),
            conditions: conditions
                .into_iter()
                .map(|(k, e)| (k, strip_parens(e)))
                .collect(),
        },
        ExprKind::Call { name, args } => ExprKind::Call {
            name,
            args: v(args),
        },
        ExprKind::Pipe { value, name, args } => ExprKind::Pipe {
            value: b(value),
            name,
            args: v(args),
        },
        ExprKind::Unary { op, operand } => ExprKind::Unary {
            op,
            operand: b(operand),
        },
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op,
            lhs: b(lhs),
            rhs: b(rhs),
        },
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => ExprKind::If {
            cond: b(cond),
            then: b(then),
            otherwise: b(otherwise),
        },
        ExprKind::List(items) => ExprKind::List(v(items)),
        ExprKind::Comprehension {
            item,
            var,
            list,
            filter,
        } => ExprKind::Comprehension {
            item: b(item),
            var,
            list: b(list),
            filter: filter.map(b),
        },
        ExprKind::Record(entries) => ExprKind::Record(
            entries
                .into_iter()
                .map(|(k, e)| (k, strip_parens(e)))
                .collect(),
        ),
        ExprKind::String(parts) => ExprKind::String(
            parts
                .into_iter()
                .map(|p| match p {
                    StrPart::Expr(e) => StrPart::Expr(strip_parens(e)),
                    text => text,
                })
                .collect(),
        ),
        other => other,
    };
    Expr { kind, span: e.span }
}

fn expr_without_spans(e: &Expr) -> String {
    let text = format!("{e:?}");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("Span { file: ") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        rest = rest[at..].find('}').map_or("", |c| &rest[at + c + 1..]);
    }
    out.push_str(rest);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Idempotence, same AST (spans aside) and the same comments, for
    /// generated sources in random spellings.
    #[test]
    fn formatting_is_idempotent_and_keeps_ast_and_comments(src in source()) {
        prop_assert!(ast_without_spans(&src).is_some(), "generator made an unparsable source:\n{}", src);
        let once = check_invariants(&src);
        prop_assert_eq!(comment_texts(&src), comment_texts(&once));
    }

    /// Trees without the user's parentheses print with exactly the ones
    /// needed to parse back to the same tree.
    #[test]
    fn printer_adds_parentheses_where_precedence_needs_them(e in expr(), picks in prop::collection::vec(0usize..64, 1..8)) {
        let text = fill(&e.0, &picks);
        let parsed = crate::syntax::parse_expr(FileId(0), &text);
        prop_assert!(parsed.is_ok(), "generator made an unparsable expression: {}", text);
        let bare = strip_parens(parsed.expect("checked above"));
        let printed = Printer::new("", Vec::new()).flat(&bare);
        let reparsed = crate::syntax::parse_expr(FileId(0), &printed);
        prop_assert!(reparsed.is_ok(), "printed expression does not parse: {}", printed);
        let reparsed = strip_parens(reparsed.expect("checked above"));
        prop_assert_eq!(expr_without_spans(&bare), expr_without_spans(&reparsed), "printed as {}", printed);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = format_source(&text);
    }

    /// Near-valid input reaches deeper into the parser and printer than noise.
    #[test]
    fn damaged_sources_never_panic(src in source(), at in any::<prop::sample::Index>(), junk in s(&["", "#", "\"", "{", "}", "(", "-", "not ", "\\", "@2024-13-45"])) {
        let cut = at.index(src.len() + 1);
        let cut = (0..=cut).rev().find(|&i| src.is_char_boundary(i)).unwrap_or(0);
        let damaged = format!("{}{junk}{}", &src[..cut], &src[cut..]);
        if let Ok(out) = format_source(&damaged) {
            prop_assert_eq!(format_source(&out).ok(), Some(out.clone()));
        }
    }
}
