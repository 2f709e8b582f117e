//! Lowering pest pairs into the AST.

use std::sync::{Arc, OnceLock};

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use rust_decimal::Decimal;

use super::ast::*;
use super::{syntax_error, FlowParser, Rule};
use crate::diag::{codes, Diagnostic};
use crate::source_map::FileId;

type Result<T> = std::result::Result<T, Diagnostic>;

/// Children of a pair without the keyword tokens (`flow`, `as`, `match`…),
/// which are atomic in the grammar only so that they end at a word boundary.
type KidsIter<'i> = std::iter::Filter<Pairs<'i, Rule>, fn(&Pair<'i, Rule>) -> bool>;

trait Kids<'i> {
    fn kids(self) -> KidsIter<'i>;
}

impl<'i> Kids<'i> for Pair<'i, Rule> {
    fn kids(self) -> KidsIter<'i> {
        self.into_inner().filter(|p| !is_keyword(p.as_rule()))
    }
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_as
            | Rule::kw_append
            | Rule::kw_at
            | Rule::kw_for
            | Rule::kw_in
            | Rule::kw_mapping
            | Rule::kw_use
            | Rule::kw_when
            | Rule::kw_reread
            | Rule::kw_cursor
            | Rule::kw_mutable
            | Rule::kw_length
            | Rule::kw_connection
            | Rule::kw_create
            | Rule::kw_default
            | Rule::kw_each
            | Rule::kw_else
            | Rule::kw_error
            | Rule::kw_expect
            | Rule::kw_flow
            | Rule::kw_fn
            | Rule::kw_from
            | Rule::kw_given
            | Rule::kw_if
            | Rule::kw_import
            | Rule::kw_input
            | Rule::kw_keep
            | Rule::kw_key
            | Rule::kw_let
            | Rule::kw_match
            | Rule::kw_on
            | Rule::kw_range
            | Rule::kw_readonly
            | Rule::kw_resource
            | Rule::kw_schema
            | Rule::kw_skip
            | Rule::kw_source
            | Rule::kw_table
            | Rule::kw_target
            | Rule::kw_test
            | Rule::kw_then
            | Rule::kw_update
            | Rule::kw_upsert
            | Rule::kw_value
            | Rule::kw_where
    )
}

struct Lower {
    file: FileId,
    offset: usize,
}

pub(super) fn parse_items(file: FileId, text: &str, offset: usize) -> Result<Vec<Item>> {
    super::depth::check(file, text, offset)?;
    let mut pairs =
        FlowParser::parse(Rule::file, text).map_err(|e| syntax_error(file, offset, e))?;
    let lower = Lower { file, offset };
    let file_pair = pairs.next().expect("the file rule always yields one pair");
    file_pair
        .kids()
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(|p| lower.item(p))
        .collect()
}

pub(super) fn parse_standalone_expr(file: FileId, text: &str) -> Result<Expr> {
    // `expr ~ EOI` is expressed by parsing a mapping-free wrapper: parse the
    // expression rule and make sure nothing but whitespace follows.
    super::depth::check(file, text, 0)?;
    let mut pairs = FlowParser::parse(Rule::expr, text).map_err(|e| syntax_error(file, 0, e))?;
    let pair = pairs.next().expect("expr yields one pair");
    let end = pair.as_span().end();
    if !text[end..].trim().is_empty() {
        let span = Span::new(file, end, text.len());
        return Err(Diagnostic::new(
            &codes::E0001,
            "syntax error: unexpected text after the expression",
        )
        .at(span, "not part of the expression"));
    }
    Lower { file, offset: 0 }.expr(pair)
}

/// The length of `text` without trailing whitespace and comments. Strings
/// are skipped so that a `#` inside one is not taken for a comment.
fn code_end(text: &str) -> usize {
    if !text.ends_with(|c: char| c.is_whitespace()) && !text.contains('#') {
        return text.len();
    }
    let mut end = 0;
    let mut in_string = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let after = i + c.len_utf8();
        if in_string {
            end = after;
            if c == '\\' {
                if let Some((j, d)) = chars.next() {
                    end = j + d.len_utf8();
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                end = after;
            }
            '#' => while chars.next_if(|&(_, d)| d != '\n').is_some() {},
            c if c.is_whitespace() => {}
            _ => end = after,
        }
    }
    end
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    // Lowest binding first. Must agree with `BinaryOp::precedence`.
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_pipe, Assoc::Left))
            .op(Op::infix(Rule::op_coalesce, Assoc::Right))
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_in, Assoc::Left)
                | Op::infix(Rule::op_not_in, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left)
                | Op::infix(Rule::op_div, Assoc::Left)
                | Op::infix(Rule::op_rem, Assoc::Left))
            .op(Op::prefix(Rule::op_neg))
            .op(Op::postfix(Rule::field)
                | Op::postfix(Rule::opt_field)
                | Op::postfix(Rule::index)
                | Op::postfix(Rule::find))
    })
}

impl Lower {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        // A rule that ends in a repetition (`field_path`, `dotted`, statements)
        // also covers the whitespace and comments pest skipped looking for one
        // more item; labels must stop at the last token.
        let end = s.start() + code_end(pair.as_str());
        Span::new(self.file, self.offset + s.start(), self.offset + end)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: Arc::from(pair.as_str()),
            span: self.span(&pair),
        }
    }

    /// A declaration that starts with its name (`table`, `schema`, a field,
    /// `let`, …): its span, its name, and the children after the name.
    /// `what` names the name in the panic a grammar change would cause.
    fn named<'i>(&self, pair: Pair<'i, Rule>, what: &str) -> (Span, Ident, KidsIter<'i>) {
        let span = self.span(&pair);
        let mut inner = pair.kids();
        let name = self.ident(inner.next().unwrap_or_else(|| panic!("{what}")));
        (span, name, inner)
    }

    fn item(&self, pair: Pair<Rule>) -> Result<Item> {
        Ok(match pair.as_rule() {
            Rule::import_decl => Item::Import(self.import(pair)?),
            Rule::table_decl => Item::Table(self.table(pair)?),
            Rule::fn_decl => Item::Fn(self.fn_decl(pair)?),
            Rule::let_decl => Item::Let(self.let_decl(pair)?),
            Rule::schema_decl => Item::Schema(self.schema(pair)?),
            Rule::connection_decl => Item::Connection(self.connection(pair)?),
            Rule::mapping_decl => {
                let (span, name, mut inner) = self.named(pair, "mapping name");
                let body = self.block(inner.next().expect("mapping body"))?;
                Item::Mapping(MappingDecl { name, body, span })
            }
            Rule::flow_decl => Item::Flow(self.flow(pair)?),
            Rule::test_decl => Item::Test(self.test(pair)?),
            other => unreachable!("grammar yields no item {other:?}"),
        })
    }

    fn import(&self, pair: Pair<Rule>) -> Result<Import> {
        let span = self.span(&pair);
        let mut inner = pair.kids();
        let path_pair = inner.next().expect("import has a path");
        let path_span = self.span(&path_pair);
        let path = self.plain_string(path_pair)?;
        let alias = inner.next().map(|p| self.ident(p));
        Ok(Import {
            path,
            path_span,
            alias,
            span,
        })
    }

    /// A string literal that must not interpolate (paths, names).
    fn plain_string(&self, pair: Pair<Rule>) -> Result<Arc<str>> {
        let span = self.span(&pair);
        let parts = self.string_parts(pair)?;
        let mut out = String::new();
        for part in parts {
            match part {
                StrPart::Text(t) => out.push_str(&t),
                StrPart::Expr(e) => {
                    return Err(
                        Diagnostic::new(&codes::E0002, "interpolation is not allowed here")
                            .at(e.span, "this `{…}` would be computed at run time")
                            .also(span, "this string must be a constant")
                            .help("write `\\{` for a literal brace"),
                    )
                }
            }
        }
        Ok(Arc::from(out))
    }

    fn table(&self, pair: Pair<Rule>) -> Result<Table> {
        let (span, name, mut inner) = self.named(pair, "table name");
        let body_pair = inner.next().expect("table body");
        let body = match body_pair.as_rule() {
            Rule::table_rows => {
                let mut rows = Vec::new();
                for row in body_pair.kids() {
                    let row_span = self.span(&row);
                    let mut parts = row.kids();
                    let key_pair = parts.next().expect("row key");
                    let key = if key_pair.as_rule() == Rule::default_key {
                        None
                    } else {
                        Some(self.expr(key_pair)?)
                    };
                    let value = self.expr(parts.next().expect("row value"))?;
                    rows.push(TableRow {
                        key,
                        value,
                        span: row_span,
                    });
                }
                TableBody::Rows(rows)
            }
            Rule::table_file => {
                let mut parts = body_pair.kids();
                let path_pair = parts.next().expect("table file path");
                let path_span = self.span(&path_pair);
                let path = self.plain_string(path_pair)?;
                let mut key_column = None;
                let mut value_column = None;
                let mut default = None;
                for p in parts {
                    let rule = p.as_rule();
                    let inner = p.kids().next().expect("table file option");
                    match rule {
                        Rule::table_key_col => {
                            let s = self.span(&inner);
                            key_column = Some((self.plain_string(inner)?, s));
                        }
                        Rule::table_value_col => {
                            let s = self.span(&inner);
                            value_column = Some((self.plain_string(inner)?, s));
                        }
                        _ => default = Some(self.expr(inner)?),
                    }
                }
                TableBody::File {
                    path,
                    path_span,
                    key_column,
                    value_column,
                    default,
                }
            }
            other => unreachable!("table body {other:?}"),
        };
        Ok(Table { name, body, span })
    }

    fn fn_decl(&self, pair: Pair<Rule>) -> Result<FnDecl> {
        let span = self.span(&pair);
        let mut pairs: Vec<Pair<Rule>> = pair.kids().collect();
        let body = self.expr(pairs.pop().expect("fn body"))?;
        let mut it = pairs.into_iter();
        let name = self.ident(it.next().expect("fn name"));
        let params = it.map(|p| self.ident(p)).collect();
        Ok(FnDecl {
            name,
            params,
            body,
            span,
        })
    }

    fn let_decl(&self, pair: Pair<Rule>) -> Result<Let> {
        let (span, name, mut inner) = self.named(pair, "let name");
        let value = self.expr(inner.next().expect("let value"))?;
        Ok(Let { name, value, span })
    }

    fn schema(&self, pair: Pair<Rule>) -> Result<Schema> {
        let (span, name, inner) = self.named(pair, "schema name");
        let mut resource = None;
        let mut key = None;
        let mut cursor = None;
        let mut mutable = Vec::new();
        let mut length = None;
        let mut fields = Vec::new();
        for p in inner {
            match p.as_rule() {
                Rule::schema_resource => {
                    let s = p.kids().next().expect("resource name");
                    let sp = self.span(&s);
                    resource = Some((self.plain_string(s)?, sp));
                }
                Rule::schema_key => key = Some(self.ident(p.kids().next().expect("key field"))),
                Rule::schema_cursor => {
                    cursor = Some(self.ident(p.kids().next().expect("cursor field")))
                }
                Rule::schema_mutable => mutable = p.kids().map(|f| self.ident(f)).collect(),
                Rule::schema_length => {
                    let unit = p.kids().next().expect("length unit");
                    let sp = self.span(&unit);
                    let unit = crate::types::LengthUnit::from_keyword(unit.as_str())
                        .expect("the grammar allows only known units");
                    length = Some((unit, sp));
                }
                Rule::field_decl => fields.push(self.field_decl(p)?),
                other => unreachable!("schema part {other:?}"),
            }
        }
        Ok(Schema {
            name,
            resource,
            key,
            cursor,
            mutable,
            length,
            fields,
            span,
        })
    }

    fn field_decl(&self, pair: Pair<Rule>) -> Result<FieldDecl> {
        let (span, name, mut inner) = self.named(pair, "field name");
        let ty = self.type_expr(inner.next().expect("field type"))?;
        let mut optional = false;
        let mut readonly = false;
        let mut range = None;
        for p in inner {
            match p.as_rule() {
                Rule::optional_mark => optional = true,
                Rule::field_mod => {
                    let m = p.kids().next().expect("modifier");
                    match m.as_rule() {
                        Rule::readonly_mod => readonly = true,
                        Rule::range_mod => {
                            let mut bounds = m.kids();
                            let lo = self.number(bounds.next().expect("low"))?;
                            let hi = self.number(bounds.next().expect("high"))?;
                            range = Some((lo, hi));
                        }
                        other => unreachable!("modifier {other:?}"),
                    }
                }
                other => unreachable!("field part {other:?}"),
            }
        }
        Ok(FieldDecl {
            name,
            ty,
            optional,
            readonly,
            range,
            span,
        })
    }

    fn type_expr(&self, pair: Pair<Rule>) -> Result<TypeExpr> {
        let span = self.span(&pair);
        let alternatives = pair
            .kids()
            .map(|a| self.type_atom(a))
            .collect::<Result<_>>()?;
        Ok(TypeExpr { alternatives, span })
    }

    fn type_atom(&self, pair: Pair<Rule>) -> Result<TypeAtom> {
        let inner = pair.kids().next().expect("type atom");
        Ok(match inner.as_rule() {
            Rule::list_type => TypeAtom::List(Box::new(
                self.type_expr(inner.kids().next().expect("elem"))?,
            )),
            Rule::record_type => {
                let span = self.span(&inner);
                TypeAtom::Record(
                    inner
                        .kids()
                        .map(|f| self.field_decl(f))
                        .collect::<Result<_>>()?,
                    span,
                )
            }
            Rule::string_lit => {
                let span = self.span(&inner);
                TypeAtom::Literal(self.plain_string(inner)?, span)
            }
            Rule::sized_type => {
                let span = self.span(&inner);
                let mut parts = inner.kids();
                let name = self.ident(parts.next().expect("type name"));
                let size_pair = parts.next().expect("size");
                let size = size_pair.as_str().parse::<u32>().map_err(|_| {
                    Diagnostic::new(&codes::E0002, "size is too large")
                        .at(self.span(&size_pair), "not a valid size")
                })?;
                TypeAtom::Sized { name, size, span }
            }
            Rule::named_type => {
                let mut parts = inner.kids();
                let first = self.ident(parts.next().expect("type name"));
                match parts.next() {
                    Some(second) => TypeAtom::Named {
                        module: Some(first),
                        name: self.ident(second),
                    },
                    None => TypeAtom::Named {
                        module: None,
                        name: first,
                    },
                }
            }
            other => unreachable!("type atom {other:?}"),
        })
    }

    fn connection(&self, pair: Pair<Rule>) -> Result<Connection> {
        let (span, name, inner) = self.named(pair, "connection name");
        let settings = inner
            .map(|s| {
                let (span, name, mut parts) = self.named(s, "setting name");
                let value = self.expr(parts.next().expect("setting value"))?;
                Ok(Setting { name, value, span })
            })
            .collect::<Result<_>>()?;
        Ok(Connection {
            name,
            settings,
            span,
        })
    }

    fn flow(&self, pair: Pair<Rule>) -> Result<Flow> {
        let (span, name, inner) = self.named(pair, "flow name");
        let mut inner = inner.peekable();
        let when = match inner.peek() {
            Some(p) if p.as_rule() == Rule::flow_when => {
                let w = inner.next().expect("peeked");
                Some(self.expr(w.kids().next().expect("condition"))?)
            }
            _ => None,
        };
        let body = inner.map(|p| self.stmt(p)).collect::<Result<_>>()?;
        Ok(Flow {
            name,
            when,
            body,
            span,
        })
    }

    fn block(&self, pair: Pair<Rule>) -> Result<Vec<Stmt>> {
        pair.kids().map(|p| self.stmt(p)).collect()
    }

    fn dotted(&self, pair: Pair<Rule>) -> (Vec<Ident>, Span) {
        let span = self.span(&pair);
        (pair.kids().map(|p| self.ident(p)).collect(), span)
    }

    fn field_path(&self, pair: Pair<Rule>) -> FieldPath {
        let span = self.span(&pair);
        FieldPath {
            segments: pair.kids().map(|p| self.ident(p)).collect(),
            span,
        }
    }

    fn endpoint(&self, pair: Pair<Rule>) -> Result<Endpoint> {
        let inner = pair.kids().next().expect("endpoint");
        Ok(match inner.as_rule() {
            Rule::dotted => {
                let (path, span) = self.dotted(inner);
                Endpoint::Resource(path, span)
            }
            Rule::file_endpoint => {
                let span = self.span(&inner);
                let mut parts = inner.kids();
                let path_pair = parts.next().expect("file path");
                let path_span = self.span(&path_pair);
                let path = self.plain_string(path_pair)?;
                let schema = parts.next().map(|p| self.dotted(p));
                Endpoint::File {
                    path,
                    path_span,
                    schema,
                    span,
                }
            }
            other => unreachable!("endpoint {other:?}"),
        })
    }

    fn stmt(&self, pair: Pair<Rule>) -> Result<Stmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        // A clone of a pair is two indices and a shared pointer.
        let mut inner = pair.clone().kids();
        Ok(match rule {
            Rule::source_stmt => {
                Stmt::Source(self.endpoint(inner.next().expect("endpoint"))?, span)
            }
            Rule::target_stmt => {
                Stmt::Target(self.endpoint(inner.next().expect("endpoint"))?, span)
            }
            Rule::where_stmt => Stmt::Where(self.expr(inner.next().expect("condition"))?, span),
            Rule::reread_stmt => Stmt::Reread(self.expr(inner.next().expect("days"))?, span),
            Rule::key_stmt => {
                let value = self.expr(inner.next().expect("key value"))?;
                let field = self.field_path(inner.next().expect("key field"));
                Stmt::Key { value, field, span }
            }
            Rule::let_decl => Stmt::Let(self.let_decl(pair)?),
            Rule::mapping => {
                let value = self.expr(inner.next().expect("value"))?;
                let field = self.field_path(inner.next().expect("field"));
                Stmt::Map { value, field, span }
            }
            Rule::each_stmt | Rule::append_stmt => {
                let items = match rule {
                    Rule::each_stmt => {
                        let list = self.expr(inner.next().expect("list"))?;
                        Some((list, self.ident(inner.next().expect("var"))))
                    }
                    _ => None,
                };
                let mut next = inner.next().expect("position, filter or field");
                let position = if next.as_rule() == Rule::position {
                    let p = self.ident(next.kids().next().expect("position name"));
                    next = inner.next().expect("filter or field");
                    Some(p)
                } else {
                    None
                };
                let filter = if next.as_rule() == Rule::expr {
                    let f = self.expr(next)?;
                    next = inner.next().expect("field");
                    Some(f)
                } else {
                    None
                };
                let field = self.field_path(next);
                let body = self.block(inner.next().expect("block"))?;
                Stmt::Each(Each {
                    items,
                    position,
                    filter,
                    field,
                    body,
                    span,
                })
            }
            Rule::use_stmt => Stmt::Use(self.dotted(inner.next().expect("mapping name")).0, span),
            Rule::upsert_stmt => {
                let (schema, schema_span) = self.dotted(inner.next().expect("schema"));
                let var = self.ident(inner.next().expect("var"));
                let first = self.expr(inner.next().expect("filter or match"))?;
                let mut next = inner.next().expect("match or match field");
                let (filter, match_value) = if next.as_rule() == Rule::expr {
                    let m = self.expr(next)?;
                    next = inner.next().expect("match field");
                    (Some(first), m)
                } else {
                    (None, first)
                };
                let match_field = self.field_path(next);
                let body = self.block(inner.next().expect("block"))?;
                Stmt::Upsert(Upsert {
                    schema,
                    schema_span,
                    var,
                    filter,
                    match_value,
                    match_field,
                    body,
                    span,
                })
            }
            Rule::on_create => Stmt::OnCreate(self.block(inner.next().expect("block"))?, span),
            Rule::on_update => Stmt::OnUpdate(self.block(inner.next().expect("block"))?, span),
            Rule::on_update_keep => Stmt::Keep(inner.map(|p| self.field_path(p)).collect(), span),
            other => unreachable!("statement {other:?}"),
        })
    }

    fn test(&self, pair: Pair<Rule>) -> Result<Test> {
        let span = self.span(&pair);
        let mut inner = pair.kids();
        let name_pair = inner.next().expect("test name");
        let name_span = self.span(&name_pair);
        let name = self.plain_string(name_pair)?;
        let mut body = Vec::new();
        for p in inner {
            let stmt_span = self.span(&p);
            let rule = p.as_rule();
            let mut parts = p.kids();
            body.push(match rule {
                Rule::test_flow => TestStmt::Flow(self.ident(parts.next().expect("flow name"))),
                Rule::test_input => {
                    TestStmt::Input(self.expr(parts.next().expect("input"))?, stmt_span)
                }
                Rule::test_given => {
                    let (schema, schema_span) = self.dotted(parts.next().expect("schema"));
                    let records = self.expr(parts.next().expect("records"))?;
                    TestStmt::Given {
                        schema,
                        schema_span,
                        records,
                        span: stmt_span,
                    }
                }
                Rule::test_expect => {
                    let kind = parts.next().expect("expectation");
                    let k_rule = kind.as_rule();
                    let mut kp = kind.kids();
                    let expectation = match k_rule {
                        Rule::expect_skip => {
                            Expectation::Skip(kp.next().map(|s| self.plain_string(s)).transpose()?)
                        }
                        Rule::expect_error => {
                            Expectation::Error(kp.next().map(|s| self.plain_string(s)).transpose()?)
                        }
                        Rule::expect_write => {
                            let verb = match kp.next().expect("verb").as_str().trim() {
                                "create" => WriteVerb::Create,
                                "update" => WriteVerb::Update,
                                _ => WriteVerb::Unchanged,
                            };
                            let mut next = kp.next().expect("payload");
                            let schema = if next.as_rule() == Rule::dotted {
                                let d = self.dotted(next);
                                next = kp.next().expect("payload");
                                Some(d)
                            } else {
                                None
                            };
                            Expectation::Write {
                                verb,
                                schema,
                                payload: self.expr(next)?,
                            }
                        }
                        other => unreachable!("expectation {other:?}"),
                    };
                    TestStmt::Expect(expectation, stmt_span)
                }
                other => unreachable!("test statement {other:?}"),
            });
        }
        Ok(Test {
            name,
            name_span,
            body,
            span,
        })
    }

    // ------------------------------------------------------------ expressions

    fn expr(&self, pair: Pair<Rule>) -> Result<Expr> {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        // Nesting is bounded by `depth::check` before the parse; a deep
        // tree gets more stack instead of overflowing the thread's.
        stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || {
            self.pratt_expr(pair.into_inner())
        })
    }

    fn pratt_expr(&self, pairs: Pairs<Rule>) -> Result<Expr> {
        pratt()
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, operand| {
                let operand = operand?;
                let span = self.span(&op).to(operand.span);
                let op = if op.as_rule() == Rule::op_neg {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Not
                };
                Ok(Expr {
                    kind: ExprKind::Unary {
                        op,
                        operand: Box::new(operand),
                    },
                    span,
                })
            })
            .map_postfix(|base, op| {
                let base = base?;
                let span = base.span.to(self.span(&op));
                let rule = op.as_rule();
                if rule == Rule::find {
                    let mut kids = op.kids().peekable();
                    let all = kids.next_if(|k| k.as_rule() == Rule::find_all).is_some();
                    let conditions = kids
                        .map(|c| {
                            let mut parts = c.kids();
                            let field = self.ident(parts.next().expect("field"));
                            Ok((field, self.expr(parts.next().expect("value"))?))
                        })
                        .collect::<Result<_>>()?;
                    let kind = ExprKind::Find {
                        base: Box::new(base),
                        conditions,
                        all,
                    };
                    return Ok(Expr { kind, span });
                }
                let inner = op.kids().next().expect("postfix operand");
                let kind = match rule {
                    Rule::field => ExprKind::Field {
                        base: Box::new(base),
                        name: self.ident(inner),
                        optional: false,
                    },
                    Rule::opt_field => ExprKind::Field {
                        base: Box::new(base),
                        name: self.ident(inner),
                        optional: true,
                    },
                    Rule::index => ExprKind::Index {
                        base: Box::new(base),
                        index: Box::new(self.expr(inner)?),
                    },
                    other => unreachable!("postfix {other:?}"),
                };
                Ok(Expr { kind, span })
            })
            .map_infix(|lhs, op, rhs| {
                let lhs = lhs?;
                let rhs = rhs?;
                let span = lhs.span.to(rhs.span);
                if op.as_rule() == Rule::op_pipe {
                    return self.pipe(lhs, rhs, span);
                }
                let op = match op.as_rule() {
                    Rule::op_coalesce => BinaryOp::Coalesce,
                    Rule::op_or => BinaryOp::Or,
                    Rule::op_and => BinaryOp::And,
                    Rule::op_eq => BinaryOp::Eq,
                    Rule::op_ne => BinaryOp::Ne,
                    Rule::op_lt => BinaryOp::Lt,
                    Rule::op_le => BinaryOp::Le,
                    Rule::op_gt => BinaryOp::Gt,
                    Rule::op_ge => BinaryOp::Ge,
                    Rule::op_in => BinaryOp::In,
                    Rule::op_not_in => BinaryOp::NotIn,
                    Rule::op_add => BinaryOp::Add,
                    Rule::op_sub => BinaryOp::Sub,
                    Rule::op_mul => BinaryOp::Mul,
                    Rule::op_div => BinaryOp::Div,
                    Rule::op_rem => BinaryOp::Rem,
                    other => unreachable!("infix {other:?}"),
                };
                Ok(Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                })
            })
            .parse(pairs)
    }

    /// `value | f(args)` and `value | f`.
    fn pipe(&self, value: Expr, rhs: Expr, span: Span) -> Result<Expr> {
        let (name, args) = match rhs.kind {
            ExprKind::Call { name, args } => (name, args),
            ExprKind::Var(name) => (name, vec![]),
            _ => {
                return Err(Diagnostic::new(&codes::E0001, "the right side of `|` must be a function")
                    .at(rhs.span, "not a function call")
                    .help("write `value | function(args)`; to combine with other operators, add parentheses: `(value | f(x)) ?? other`"))
            }
        };
        Ok(Expr {
            kind: ExprKind::Pipe {
                value: Box::new(value),
                name,
                args,
            },
            span,
        })
    }

    fn number(&self, pair: Pair<Rule>) -> Result<Decimal> {
        let text = pair.as_str().replace('_', "");
        Decimal::from_str_exact(&text).map_err(|_| {
            Diagnostic::new(&codes::E0002, "number literal is out of the exact decimal range")
                .at(self.span(&pair), "more than 28 significant digits")
                .help("numbers are exact decimals with up to 28 significant digits; write large identifiers as strings")
        })
    }

    fn primary(&self, pair: Pair<Rule>) -> Result<Expr> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::null_lit => ExprKind::Null,
            Rule::bool_lit => ExprKind::Bool(pair.as_str().starts_with("true")),
            Rule::number_lit => ExprKind::Number(self.number(pair)?),
            Rule::string_lit => ExprKind::String(self.string_parts(pair)?),
            Rule::date_lit => {
                let text = &pair.as_str()[1..];
                if crate::value::parse::parse_date(text).is_none() {
                    return Err(Diagnostic::new(
                        &codes::E0002,
                        format!("`{text}` is not a calendar date"),
                    )
                    .at(span, "no such date")
                    .help("dates are written @YYYY-MM-DD, e.g. @2024-02-29"));
                }
                ExprKind::Date(Arc::from(text))
            }
            Rule::datetime_lit => {
                let text = &pair.as_str()[1..];
                if datetime_literal(text).is_none() {
                    return Err(Diagnostic::new(&codes::E0002, format!("`{text}` is not a valid date-time"))
                        .at(span, "no such moment")
                        .help("write @YYYY-MM-DDTHH:MM:SSZ or with an offset, e.g. @2024-01-31T12:00:00+01:00"));
                }
                ExprKind::DateTime(Arc::from(text))
            }
            Rule::variable => ExprKind::Var(self.ident(pair.kids().next().expect("name"))),
            Rule::paren => {
                ExprKind::Paren(Box::new(self.expr(pair.kids().next().expect("inner"))?))
            }
            Rule::if_expr => {
                let mut inner = pair.kids();
                let cond = self.expr(inner.next().expect("cond"))?;
                let then = self.expr(inner.next().expect("then"))?;
                let otherwise = self.expr(inner.next().expect("else"))?;
                ExprKind::If {
                    cond: Box::new(cond),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                }
            }
            Rule::call => {
                let mut inner = pair.kids();
                let name = self.ident(inner.next().expect("fn name"));
                let args = inner.map(|a| self.expr(a)).collect::<Result<_>>()?;
                ExprKind::Call { name, args }
            }
            Rule::list_lit => {
                let kids: Vec<_> = pair.kids().collect();
                match kids.as_slice() {
                    [item, tail] if tail.as_rule() == Rule::comp_tail => {
                        let mut inner = tail.clone().kids();
                        let var = self.ident(inner.next().expect("var"));
                        let list = self.expr(inner.next().expect("list"))?;
                        let filter = inner.next().map(|f| self.expr(f)).transpose()?;
                        ExprKind::Comprehension {
                            item: Box::new(self.expr(item.clone())?),
                            var,
                            list: Box::new(list),
                            filter: filter.map(Box::new),
                        }
                    }
                    _ => ExprKind::List(
                        kids.into_iter()
                            .map(|e| self.expr(e))
                            .collect::<Result<_>>()?,
                    ),
                }
            }
            Rule::record_lit => {
                let mut entries = Vec::new();
                for entry in pair.kids() {
                    let mut parts = entry.kids();
                    let key_pair = parts.next().expect("key");
                    let key = if key_pair.as_rule() == Rule::string_lit {
                        let s = self.span(&key_pair);
                        Ident {
                            name: self.plain_string(key_pair)?,
                            span: s,
                        }
                    } else {
                        self.ident(key_pair)
                    };
                    entries.push((key, self.expr(parts.next().expect("value"))?));
                }
                ExprKind::Record(entries)
            }
            other => unreachable!("primary {other:?}"),
        };
        Ok(Expr { kind, span })
    }

    fn string_parts(&self, pair: Pair<Rule>) -> Result<Vec<StrPart>> {
        let mut parts: Vec<StrPart> = Vec::new();
        let mut text = String::new();
        for p in pair.kids() {
            match p.as_rule() {
                Rule::text => text.push_str(p.as_str()),
                Rule::escape => {
                    let s = p.as_str();
                    match &s[1..2] {
                        "n" => text.push('\n'),
                        "t" => text.push('\t'),
                        "r" => text.push('\r'),
                        "u" => {
                            let hex = &s[3..s.len() - 1];
                            let c = u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    Diagnostic::new(
                                        &codes::E0002,
                                        format!("`{s}` is not a Unicode character"),
                                    )
                                    .at(self.span(&p), "invalid code point")
                                })?;
                            text.push(c);
                        }
                        other => text.push_str(other),
                    }
                }
                Rule::interpolation => {
                    if !text.is_empty() {
                        parts.push(StrPart::Text(Arc::from(std::mem::take(&mut text))));
                    }
                    parts.push(StrPart::Expr(
                        self.expr(p.kids().next().expect("interpolated expr"))?,
                    ));
                }
                other => unreachable!("string part {other:?}"),
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(StrPart::Text(Arc::from(text)));
        }
        Ok(parts)
    }
}

/// The moment a date-time literal (without its `@`) stands for. The grammar
/// admits `2024-01-31T12:00Z`, which RFC 3339 does not (it needs seconds).
pub fn datetime_literal(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let (date_time, zone) = match text
        .find(['Z', '+'])
        .or_else(|| text.rfind('-').filter(|&i| i > 10))
    {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let rfc3339 = if date_time.len() == 16 {
        format!("{date_time}:00{zone}")
    } else {
        text.to_string()
    };
    chrono::DateTime::parse_from_rfc3339(&rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_literals_may_leave_out_the_seconds() {
        let noon = chrono::DateTime::parse_from_rfc3339("2024-01-31T12:00:00+01:00").unwrap();
        for text in [
            "2024-01-31T12:00+01:00",
            "2024-01-31T12:00:00+01:00",
            "2024-01-31T11:00Z",
            "2024-01-31T06:00-05:00",
            "2024-01-31T11:00:00.000Z",
        ] {
            assert_eq!(datetime_literal(text), Some(noon), "{text}");
        }
        assert_eq!(datetime_literal("2024-01-31T25:00Z"), None);
        assert_eq!(datetime_literal("2024-02-30T12:00Z"), None);
    }
}
