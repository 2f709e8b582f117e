//! AST → checked program. Resolves names across modules, infers types, and
//! reports every problem it finds with a code, a span and a fix.

mod connections;
mod decls;
mod expr;
pub mod files;
pub use files::flow_files;
mod find;
mod flow;
pub mod loader;
mod scope;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::diag::{self, codes, Diagnostic};
use crate::program::Program;
use crate::source_map::{SourceMap, Span};
use crate::syntax::ast;
use crate::types::{self, Type};
use loader::{Loaded, Loader};

/// The result of checking: the program (usable when there are no errors),
/// all sources (for rendering), and every diagnostic, sorted.
pub struct Checked {
    pub program: Program,
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a file on disk and everything it imports.
pub fn check_path(path: &Path) -> Result<Checked, Diagnostic> {
    let mut loader = Loader::new();
    loader.load_path(path)?;
    Ok(check_loaded(loader.finish()))
}

/// Checks source text that is not on disk; `dir` is where relative paths resolve.
pub fn check_source(name: &str, dir: Option<&Path>, text: &str) -> Checked {
    let mut loader = Loader::new();
    loader.load_source(name, dir.map(Path::to_path_buf), text);
    check_loaded(loader.finish())
}

pub fn check_loaded(loaded: Loaded) -> Checked {
    let Loaded {
        mut sources,
        modules,
        diagnostics,
    } = loaded;
    let mut checker = Checker::new(&modules);
    checker.diags = diagnostics;
    checker.run();
    // Secrets written in a file are masked in every excerpt of every report.
    for span in &checker.secrets {
        sources.mask(*span);
    }
    let mut diagnostics = checker.diags;
    diag::sort(&mut diagnostics);
    // A mapping used by several flows is checked at each use: say a problem once.
    diagnostics.dedup_by(|a, b| {
        a.code.id == b.code.id && a.message == b.message && a.primary == b.primary
    });
    Checked {
        program: checker.program,
        sources,
        diagnostics,
    }
}

/// What a name in a module's namespace refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decl {
    Table(usize),
    Fn(usize),
    Let(usize),
    Schema(usize),
    Connection(usize),
    Flow(usize),
    Module(usize),
    /// A `mapping` block, by its index in `mapping_sites`.
    Mapping(usize),
}

impl Decl {
    fn describe(self) -> &'static str {
        match self {
            Decl::Table(_) => "table",
            Decl::Fn(_) => "function",
            Decl::Let(_) => "let",
            Decl::Schema(_) => "schema",
            Decl::Connection(_) => "connection",
            Decl::Flow(_) => "flow",
            Decl::Module(_) => "module",
            Decl::Mapping(_) => "mapping",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Progress<T> {
    Pending,
    Checking,
    Done(T),
}

pub(crate) struct Checker<'m> {
    modules: &'m [loader::Module],
    pub(crate) program: Program,
    pub(crate) diags: Vec<Diagnostic>,
    namespaces: Vec<HashMap<Arc<str>, (Decl, Span)>>,
    /// Which module declared each global, fn, table, schema (by index).
    let_sites: Vec<(usize, &'m ast::Let)>,
    let_types: Vec<Progress<Type>>,
    fn_sites: Vec<(usize, &'m ast::FnDecl)>,
    fn_types: Vec<Progress<Type>>,
    table_types: Vec<Type>,
    schema_sites: Vec<(usize, &'m ast::Schema)>,
    schema_progress: Vec<Progress<()>>,
    /// `mapping` blocks: declaring module and body.
    mapping_sites: Vec<(usize, &'m ast::MappingDecl)>,
    /// Mappings being expanded by `use` right now (a mapping that uses
    /// itself would never end).
    expanding: Vec<usize>,
    /// Declarations referenced anywhere, for the unused-declaration warning.
    used: HashSet<(usize, Arc<str>)>,
    /// How the schema being resolved counts string lengths (inline record
    /// types count like the schema they are declared in).
    pub(crate) units: crate::types::LengthUnit,
    /// How `truncate` and `length` count where they are called: as the
    /// schema being written (a flow's target, an upsert's schema) counts.
    pub(crate) call_units: crate::types::LengthUnit,
    /// Where secrets are written in the files (E0401): masked in reports.
    pub(crate) secrets: Vec<Span>,
    /// Modules with a flow whose checking stopped at an error.
    pub(crate) abandoned: HashSet<usize>,
}

impl<'m> Checker<'m> {
    fn new(modules: &'m [loader::Module]) -> Self {
        Checker {
            modules,
            program: Program::default(),
            diags: Vec::new(),
            namespaces: Vec::new(),
            let_sites: Vec::new(),
            let_types: Vec::new(),
            fn_sites: Vec::new(),
            fn_types: Vec::new(),
            table_types: Vec::new(),
            schema_sites: Vec::new(),
            schema_progress: Vec::new(),
            mapping_sites: Vec::new(),
            expanding: Vec::new(),
            units: crate::types::LengthUnit::Chars,
            call_units: crate::types::LengthUnit::Chars,
            secrets: Vec::new(),
            abandoned: HashSet::new(),
            used: HashSet::new(),
        }
    }

    fn run(&mut self) {
        for m in 0..self.modules.len() {
            self.declare(m);
        }
        for m in 0..self.modules.len() {
            self.check_module(m);
        }
        self.warn_unused();
    }

    /// Pass 1: every name in every module, so declarations may refer to
    /// later ones.
    fn declare(&mut self, m: usize) {
        let module = &self.modules[m];
        let mut ns: HashMap<Arc<str>, (Decl, Span)> = HashMap::new();
        for (name, target, span) in &module.imports {
            ns.insert(name.clone(), (Decl::Module(*target), *span));
        }
        for item in &module.ast.items {
            let (name, decl) = match item {
                ast::Item::Table(t) => {
                    self.table_types.push(Type::ANY);
                    self.program.tables.push(crate::program::Table {
                        name: t.name.name.clone(),
                        rows: HashMap::new(),
                        default: None,
                        span: t.span,
                    });
                    (&t.name, Decl::Table(self.program.tables.len() - 1))
                }
                ast::Item::Fn(f) => {
                    self.fn_sites.push((m, f));
                    self.fn_types.push(Progress::Pending);
                    self.program.functions.push(crate::program::Function {
                        name: f.name.name.clone(),
                        arity: f.params.len(),
                        frame_size: 0,
                        body: crate::program::Expr::Const(crate::value::Value::Null),
                        depth: 1,
                    });
                    (&f.name, Decl::Fn(self.program.functions.len() - 1))
                }
                ast::Item::Let(l) => {
                    self.let_sites.push((m, l));
                    self.let_types.push(Progress::Pending);
                    self.program.globals.push(crate::program::Global {
                        name: l.name.name.clone(),
                        expr: crate::program::Expr::Const(crate::value::Value::Null),
                        frame_size: 0,
                        span: l.span,
                    });
                    (&l.name, Decl::Let(self.program.globals.len() - 1))
                }
                ast::Item::Schema(s) => {
                    self.schema_sites.push((m, s));
                    self.schema_progress.push(Progress::Pending);
                    self.program.schemas.push(crate::program::Schema {
                        name: self.qualified(m, &s.name.name),
                        resource: s.resource.as_ref().map(|r| r.0.clone()),
                        key: s.key.as_ref().map(|k| k.name.clone()),
                        cursor: s.cursor.as_ref().map(|c| c.name.clone()),
                        mutable: s.mutable.iter().map(|f| f.name.clone()).collect(),
                        record: Arc::new(types::RecordType {
                            name: None,
                            fields: vec![],
                            open: false,
                            units: crate::types::LengthUnit::Chars,
                        }),
                        connection: None,
                    });
                    (&s.name, Decl::Schema(self.program.schemas.len() - 1))
                }
                ast::Item::Connection(c) => {
                    self.program.connections.push(crate::program::Connection {
                        name: c.name.name.clone(),
                        connector: Arc::from(""),
                        settings: vec![],
                    });
                    (
                        &c.name,
                        Decl::Connection(self.program.connections.len() - 1),
                    )
                }
                ast::Item::Flow(f) => {
                    // Flows are numbered when checked; reserve the name only.
                    (&f.name, Decl::Flow(usize::MAX))
                }
                ast::Item::Mapping(d) => {
                    self.mapping_sites.push((m, d));
                    (&d.name, Decl::Mapping(self.mapping_sites.len() - 1))
                }
                ast::Item::Import(_) | ast::Item::Test(_) => continue,
            };
            if let Some((previous, prev_span)) = ns.get(&name.name) {
                self.diags.push(
                    Diagnostic::new(&codes::E0005, format!("`{}` is declared twice", name.name))
                        .at(name.span, format!("second {} named `{}`", decl.describe(), name.name))
                        .also(*prev_span, format!("first declared here as a {}", previous.describe()))
                        .help("rename one of them; names are shared by tables, functions, lets, schemas, connections, flows and imports"),
                );
                continue;
            }
            ns.insert(name.name.clone(), (decl, name.span));
        }
        self.namespaces.push(ns);
    }

    fn qualified(&self, m: usize, name: &str) -> Arc<str> {
        Arc::from(format!("{}.{name}", self.modules[m].name))
    }

    fn check_module(&mut self, m: usize) {
        let module = &self.modules[m];
        for item in &module.ast.items {
            match item {
                ast::Item::Schema(s) => {
                    if let Some(Decl::Schema(i)) = self.lookup_decl(m, &s.name.name) {
                        if self
                            .schema_sites
                            .get(i)
                            .is_some_and(|(_, site)| std::ptr::eq(*site, s))
                        {
                            self.ensure_schema(i);
                        }
                    }
                }
                ast::Item::Table(t) => self.check_table(m, t),
                ast::Item::Connection(c) => self.check_connection(m, c),
                ast::Item::Fn(f) => {
                    if let Some(Decl::Fn(i)) = self.lookup_decl(m, &f.name.name) {
                        if std::ptr::eq(self.fn_sites[i].1, f) {
                            self.fn_type(i);
                        }
                    }
                }
                ast::Item::Let(l) => {
                    if let Some(Decl::Let(i)) = self.lookup_decl(m, &l.name.name) {
                        if std::ptr::eq(self.let_sites[i].1, l) {
                            self.let_type(i);
                        }
                    }
                }
                // A mapping is checked where it is used, against that target.
                ast::Item::Flow(_)
                | ast::Item::Mapping(_)
                | ast::Item::Import(_)
                | ast::Item::Test(_) => {}
            }
        }
        // Flows after everything they may refer to; tests after flows.
        for item in &module.ast.items {
            if let ast::Item::Flow(f) = item {
                self.check_flow(m, f);
            }
        }
        for item in &module.ast.items {
            if let ast::Item::Test(t) = item {
                self.check_test(m, t);
            }
        }
    }

    pub(crate) fn lookup_decl(&self, m: usize, name: &str) -> Option<Decl> {
        self.namespaces[m].get(name).map(|(d, _)| *d)
    }

    fn mark_used(&mut self, m: usize, name: &Arc<str>) {
        self.used.insert((m, name.clone()));
    }

    fn warn_unused(&mut self) {
        for (m, module) in self.modules.iter().enumerate() {
            if !module.is_root {
                continue;
            }
            let has_flows = module
                .ast
                .items
                .iter()
                .any(|i| matches!(i, ast::Item::Flow(_)));
            if !has_flows || self.abandoned.contains(&m) {
                // A library file (settings, helpers) exists to be used elsewhere;
                // a file whose flow could not be checked used what it names.
                continue;
            }
            for item in &module.ast.items {
                let (name, what) = match item {
                    ast::Item::Let(l) => (&l.name, "let"),
                    ast::Item::Table(t) => (&t.name, "table"),
                    ast::Item::Fn(f) => (&f.name, "function"),
                    ast::Item::Mapping(d) => (&d.name, "mapping"),
                    _ => continue,
                };
                if !self.used.contains(&(m, name.name.clone())) {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::W0001,
                            format!("{what} `{}` is never used", name.name),
                        )
                        .at(name.span, "declared here")
                        .help(format!("remove the {what}, or use it in a flow")),
                    );
                }
            }
            for (name, _, span) in &module.imports {
                if !self.used.contains(&(m, name.clone())) {
                    self.diags.push(
                        Diagnostic::new(&codes::W0001, format!("import `{name}` is never used"))
                            .at(*span, "imported here")
                            .help("remove the import"),
                    );
                }
            }
        }
    }
}
