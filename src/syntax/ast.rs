//! The abstract syntax tree. Every node that a diagnostic can point at carries
//! a [`Span`]; the tree owns its strings so it outlives the parser.

use std::sync::Arc;

use rust_decimal::Decimal;

pub use crate::source_map::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: Arc<str>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Import(Import),
    Table(Table),
    Fn(FnDecl),
    Let(Let),
    Schema(Schema),
    Connection(Connection),
    Mapping(MappingDecl),
    Flow(Flow),
    Test(Test),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Table(t) => t.span,
            Item::Fn(f) => f.span,
            Item::Let(l) => l.span,
            Item::Schema(s) => s.span,
            Item::Connection(c) => c.span,
            Item::Mapping(m) => m.span,
            Item::Flow(f) => f.span,
            Item::Test(t) => t.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub path: Arc<str>,
    pub path_span: Span,
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: Ident,
    pub body: TableBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableBody {
    Rows(Vec<TableRow>),
    /// Rows loaded from a CSV or JSON file, relative to the declaring file.
    File {
        path: Arc<str>,
        path_span: Span,
        key_column: Option<(Arc<str>, Span)>,
        value_column: Option<(Arc<str>, Span)>,
        default: Option<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// `None` is the default row `_`.
    pub key: Option<Expr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: Ident,
    /// The connector's name for the resource (`resource "orders"`).
    pub resource: Option<(Arc<str>, Span)>,
    /// The field that identifies a record of this resource (`key Id`).
    pub key: Option<Ident>,
    /// The field incremental reads resume from (`cursor create_date`).
    pub cursor: Option<Ident>,
    /// Fields that change after a record was created (`mutable paid, status`).
    pub mutable: Vec<Ident>,
    /// How the service counts string lengths (`length utf16`); characters if absent.
    pub length: Option<(crate::types::LengthUnit, Span)>,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub optional: bool,
    pub readonly: bool,
    pub range: Option<(Decimal, Decimal)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    /// More than one alternative is a union (only of string literals today).
    pub alternatives: Vec<TypeAtom>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeAtom {
    /// `string`, `int`, `ccvshop.address`...
    Named {
        module: Option<Ident>,
        name: Ident,
    },
    /// `string(50)`: a base type with a size.
    Sized {
        name: Ident,
        size: u32,
        span: Span,
    },
    List(Box<TypeExpr>),
    Record(Vec<FieldDecl>, Span),
    Literal(Arc<str>, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: Ident,
    pub settings: Vec<Setting>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: Ident,
    /// `flow name when condition { … }`: off when the condition is false.
    pub when: Option<Expr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `mapping name { … }`: statements several flows share with `use name`.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingDecl {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// `ccvshop.orders`: a schema whose module declares the connection.
    Resource(Vec<Ident>, Span),
    /// `file("orders.ndjson") as ccvshop.orders`
    File {
        path: Arc<str>,
        path_span: Span,
        schema: Option<(Vec<Ident>, Span)>,
        span: Span,
    },
}

impl Endpoint {
    pub fn span(&self) -> Span {
        match self {
            Endpoint::Resource(_, s) => *s,
            Endpoint::File { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldPath {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl FieldPath {
    pub fn dotted(&self) -> String {
        self.segments
            .iter()
            .map(|s| &*s.name)
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Source(Endpoint, Span),
    Target(Endpoint, Span),
    Where(Expr, Span),
    /// `reread DAYS`: each run reads the source's last DAYS days again.
    Reread(Expr, Span),
    Key {
        value: Expr,
        field: FieldPath,
        span: Span,
    },
    Let(Let),
    Map {
        value: Expr,
        field: FieldPath,
        span: Span,
    },
    Each(Each),
    Upsert(Upsert),
    OnCreate(Vec<Stmt>, Span),
    OnUpdate(Vec<Stmt>, Span),
    Keep(Vec<FieldPath>, Span),
    /// `use name`: the statements of a `mapping` declaration, here.
    Use(Vec<Ident>, Span),
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Source(_, s)
            | Stmt::Target(_, s)
            | Stmt::Where(_, s)
            | Stmt::Reread(_, s)
            | Stmt::OnCreate(_, s)
            | Stmt::OnUpdate(_, s)
            | Stmt::Keep(_, s)
            | Stmt::Use(_, s) => *s,
            Stmt::Key { span, .. } | Stmt::Map { span, .. } => *span,
            Stmt::Let(l) => l.span,
            Stmt::Each(e) => e.span,
            Stmt::Upsert(u) => u.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Each {
    /// `None` for `append`: one element, with no item to name.
    pub items: Option<(Expr, Ident)>,
    /// `at n`: the element's 1-based position in the target list.
    pub position: Option<Ident>,
    pub filter: Option<Expr>,
    pub field: FieldPath,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upsert {
    pub schema: Vec<Ident>,
    pub schema_span: Span,
    pub var: Ident,
    /// `where`: upsert only when this holds (else `var` is absent).
    pub filter: Option<Expr>,
    pub match_value: Expr,
    pub match_field: FieldPath,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: Arc<str>,
    pub name_span: Span,
    pub body: Vec<TestStmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestStmt {
    Flow(Ident),
    Input(Expr, Span),
    Given {
        schema: Vec<Ident>,
        schema_span: Span,
        records: Expr,
        span: Span,
    },
    Expect(Expectation, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Skip(Option<Arc<str>>),
    Error(Option<Arc<str>>),
    Write {
        verb: WriteVerb,
        schema: Option<(Vec<Ident>, Span)>,
        payload: Expr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteVerb {
    Create,
    Update,
    Unchanged,
}

impl WriteVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteVerb::Create => "create",
            WriteVerb::Update => "update",
            WriteVerb::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    /// The literal's text is kept: it is exact and prints back unchanged.
    Number(Decimal),
    String(Vec<StrPart>),
    Date(Arc<str>),
    DateTime(Arc<str>),
    Var(Ident),
    Field {
        base: Box<Expr>,
        name: Ident,
        optional: bool,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `eaccounting.vatcodes[Code: "VH"]`: the one record of a resource
    /// whose fields hold these values (empty: the resource's only record);
    /// with `all` (`[* …]`), every such record, as a list.
    Find {
        base: Box<Expr>,
        conditions: Vec<(Ident, Expr)>,
        all: bool,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `x | f(a)`: kept apart from Call so the formatter prints it back as written.
    Pipe {
        value: Box<Expr>,
        name: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    List(Vec<Expr>),
    /// `[item for var in list where filter]`
    Comprehension {
        item: Box<Expr>,
        var: Ident,
        list: Box<Expr>,
        filter: Option<Box<Expr>>,
    },
    Record(Vec<(Ident, Expr)>),
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Text(Arc<str>),
    Expr(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Coalesce,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Coalesce => "??",
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength, higher binds tighter. The formatter uses it to decide
    /// where parentheses are needed; the parser's Pratt table must agree.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Coalesce => 2,
            BinaryOp::Or => 3,
            BinaryOp::And => 4,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::In
            | BinaryOp::NotIn => 6,
            BinaryOp::Add | BinaryOp::Sub => 7,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 8,
        }
    }
}

/// Precedence of the pipe operator (lowest) and of the prefix operators.
pub const PIPE_PRECEDENCE: u8 = 1;
pub const NOT_PRECEDENCE: u8 = 5;
pub const NEG_PRECEDENCE: u8 = 9;
