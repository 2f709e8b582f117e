//! Checking flows (source, filter, key, mappings onto the target) and the
//! test blocks that exercise them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::expr::preview;
use super::scope::Scope;
use super::{Checker, Decl};
use crate::diag::{codes, Diagnostic};
use crate::program::{self, EachOp, Endpoint, FileFormat, Mapping, Op, UpsertOp};
use crate::source_map::Span;
use crate::syntax::ast::{self, Stmt};
use crate::types::{FieldType, Kind, Missing, RecordType, Type};
use crate::value::Value;

/// The record a block of mappings writes into.
struct Target {
    record: Option<Arc<RecordType>>,
    /// How the target is named in messages (`eaccounting.customers`, `Rows[]`).
    name: String,
    /// The statement that chose it, where "missing required field" points.
    span: Span,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Common,
    Create,
    Update,
}

#[derive(Default)]
struct Mapped {
    common: HashMap<String, Span>,
    create: HashMap<String, Span>,
    update: HashMap<String, Span>,
    /// List fields written by `each`/`append`: further blocks append to them.
    lists: HashMap<String, Span>,
    /// For common, create and update: each proper prefix of a mapped path
    /// (`Addr` of `Addr.City`) with one mapped path below it.
    inner: [HashMap<String, (String, Span)>; 3],
}

impl<'m> Checker<'m> {
    pub(crate) fn check_flow(&mut self, m: usize, f: &ast::Flow) {
        let mut source = None;
        let mut target = None;
        let mut filter = None;
        let mut key = None;
        let mut reread = None;
        for stmt in &f.body {
            let (slot, what) = match stmt {
                Stmt::Source(e, s) => (&mut source, (e, *s)),
                Stmt::Target(e, s) => (&mut target, (e, *s)),
                Stmt::Where(..) | Stmt::Key { .. } | Stmt::Reread(..) => {
                    let (slot, span, name) = match stmt {
                        Stmt::Where(_, s) => (&mut filter, *s, "where"),
                        Stmt::Reread(_, s) => (&mut reread, *s, "reread"),
                        Stmt::Key { span, .. } => (&mut key, *span, "key"),
                        _ => unreachable!(),
                    };
                    if let Some(prev) = slot.replace((stmt, span)) {
                        self.duplicate_clause(span, prev.1, name);
                    }
                    continue;
                }
                _ => continue,
            };
            if let Some(prev) = slot.replace(what) {
                let name = if matches!(stmt, Stmt::Source(..)) {
                    "source"
                } else {
                    "target"
                };
                self.duplicate_clause(what.1, prev.1, name);
            }
        }
        let Some((source_ep, _)) = source else {
            self.diags.push(
                Diagnostic::new(&codes::E0301, format!("flow `{}` has no source", f.name.name))
                    .at(f.name.span, "no `source` clause")
                    .help("add `source ccvshop.orders` or `source file(\"orders.ndjson\") as ccvshop.orders`"),
            );
            return self.abandon(m);
        };
        let Some((target_ep, target_span)) = target else {
            self.diags.push(
                Diagnostic::new(&codes::E0302, format!("flow `{}` has no target", f.name.name))
                    .at(f.name.span, "no `target` clause")
                    .help("add `target eaccounting.customer_invoice_drafts` or `target file(\"out.ndjson\")`"),
            );
            return self.abandon(m);
        };
        let base_dir = self.modules[m].dir.clone().unwrap_or_default();
        let (source, source_schema) = match self.endpoint(m, source_ep, &base_dir) {
            Some(x) => x,
            None => return self.abandon(m),
        };
        let (target_endpoint, target_schema) = match self.endpoint(m, target_ep, &base_dir) {
            Some(x) => x,
            None => return self.abandon(m),
        };
        // `truncate` and `length` count the way the target's service does.
        let outer_units = std::mem::replace(
            &mut self.call_units,
            target_schema.map_or(crate::types::LengthUnit::Chars, |i| {
                self.program.schemas[i].record.units
            }),
        );
        let input = match source_schema {
            Some(i) => Type::of(Kind::Record(self.program.schemas[i].record.clone())),
            None => Type::ANY,
        };
        let reread = reread.map(|(stmt, _)| {
            let Stmt::Reread(e, _) = stmt else {
                unreachable!()
            };
            // A number of days from the settings, known before any record.
            let mut settings_scope = Scope::new(m, None);
            let t = self.check_expr(&mut settings_scope, e);
            self.require_present(&t.ty, e.span, "a number of days to read again", "?? 7");
            if !t.ty.is_numeric() && !t.ty.is_any() {
                self.type_error(e.span, "`reread`", "a number of days", &t.ty);
            }
            (t.ir, settings_scope.frame_size)
        });
        let when = f.when.as_ref().map(|w| {
            // Settings only: whether the flow runs cannot depend on a record.
            let mut settings_scope = Scope::new(m, None);
            let t = self.check_expr(&mut settings_scope, w);
            self.require_bool(&t, w.span, "a flow's `when`");
            (t.ir, settings_scope.frame_size)
        });
        let mut scope = Scope::new(m, Some(input));
        let filter_ir = filter.map(|(stmt, _)| {
            let Stmt::Where(e, _) = stmt else {
                unreachable!()
            };
            let t = self.check_expr(&mut scope, e);
            self.require_bool(&t, e.span, "a `where` filter");
            if let Some(Value::Bool(b)) = t.constant {
                self.diags.push(
                    Diagnostic::new(&codes::W0002, format!("this filter is always {b}"))
                        .at(e.span, format!("always {b}"))
                        .help(if b {
                            "remove the `where` clause"
                        } else {
                            "no record will ever be synced: check the condition"
                        }),
                );
            }
            t.ir
        });
        let target = Target {
            record: target_schema.map(|i| self.program.schemas[i].record.clone()),
            name: target_schema
                .map(|i| self.program.schemas[i].name.to_string())
                .unwrap_or_else(|| "the target".into()),
            span: target_span,
        };
        let mut mapped = Mapped::default();
        let mut mapping = Mapping::default();
        let mut key_ir = None;
        // `key x -> id` onto the target's own key: the flow updates records
        // that exist (found by that id) and never creates one.
        let mut updates_only = false;
        if let Some((Stmt::Key { value, field, .. }, _)) = key {
            let t = self.check_expr(&mut scope, value);
            self.require_present(&t.ty, value.span, "used as the key", "?? \"\"");
            updates_only = target_schema
                .and_then(|i| self.program.schemas[i].key.as_deref())
                .is_some_and(|k| k == field.dotted());
            if let Some(ft) = self.target_field(&target, field) {
                if ft.readonly && !updates_only {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::E0305,
                            format!(
                                "{}.{} is read-only and cannot hold the key",
                                target.name,
                                field.dotted()
                            ),
                        )
                        .at(field.span, "read-only field")
                        .help("store the key in a writable reference field, e.g. `YourReference`; or map onto the target's own key (`key id -> id`) to update existing records only"),
                    );
                }
                self.check_fits(&t, value.span, &ft, field.span, &target.name);
            } else if target.record.is_some() {
                // target_field already reported E0105; say how the key is used.
                if let Some(last) = self.diags.last_mut() {
                    last.notes.push("the key is written to this field and used to find the record on later runs".into());
                }
            }
            let path = path_of(field);
            mapped.common.insert(field.dotted(), field.span);
            mapping.common.push(Op::Map {
                path: path.clone(),
                expr: t.ir.clone(),
                span: value.span,
            });
            key_ir = Some((t.ir, path));
        }
        self.check_block(
            &mut scope,
            &f.body,
            &target,
            Phase::Common,
            true,
            &mut mapping,
            &mut mapped,
        );
        if !updates_only {
            self.check_required(&target, &mapped);
        }
        self.check_keep(&target, &mapping, &mapped);
        self.report_unused_locals(&mut scope);
        self.call_units = outer_units;
        self.program.flows.push(program::Flow {
            name: f.name.name.clone(),
            source,
            source_schema,
            target: target_endpoint,
            target_schema,
            filter: filter_ir,
            when,
            reread,
            key: key_ir,
            mapping,
            frame_size: scope.frame_size,
            span: f.span,
            base_dir,
        });
    }

    /// A flow that cannot be checked further: what its statements would
    /// have used is unknown, so no "never used" warning follows in its file
    /// (it would only echo the error).
    fn abandon(&mut self, m: usize) {
        self.abandoned.insert(m);
    }

    fn duplicate_clause(&mut self, span: Span, prev: Span, name: &str) {
        self.diags.push(
            Diagnostic::new(
                &codes::E0308,
                format!("a flow has one `{name}` clause, this is the second"),
            )
            .at(span, format!("second `{name}`"))
            .also(prev, "first here")
            .help(if name == "where" {
                "combine the conditions with `and`".to_string()
            } else {
                format!("remove one `{name}`")
            }),
        );
    }

    fn endpoint(
        &mut self,
        m: usize,
        e: &ast::Endpoint,
        base_dir: &std::path::Path,
    ) -> Option<(Endpoint, Option<usize>)> {
        match e {
            ast::Endpoint::Resource(path, span) => {
                let i = self.resolve_schema(m, path, *span)?;
                let schema_module = self.schema_sites[i].0;
                if self.program.schemas[i].resource.is_none() {
                    self.diags.push(
                        Diagnostic::new(&codes::E0106, format!("schema `{}` is a record type, not a resource", self.program.schemas[i].name))
                            .at(*span, "not a resource")
                            .help("a resource schema names its API resource: `schema orders resource \"orders\" { … }`; for files use `file(\"…\") as schema`"),
                    );
                    return None;
                }
                let connection =
                    self.namespaces[schema_module]
                        .values()
                        .find_map(|(d, _)| match d {
                            Decl::Connection(c) => Some(*c),
                            _ => None,
                        });
                if connection.is_none() {
                    self.diags.push(
                        Diagnostic::new(&codes::E0403, format!("`{}` has no connection to read or write it", self.program.schemas[i].name))
                            .at(*span, "no connection")
                            .help("declare `connection name { connector \"…\" … }` in the module that declares the schema"),
                    );
                }
                self.program.schemas[i].connection = connection;
                let schema = self.program.schemas[i].name.clone();
                Some((Endpoint::Resource { schema, connection }, Some(i)))
            }
            ast::Endpoint::File {
                path,
                path_span,
                schema,
                ..
            } => {
                let Some(format) = FileFormat::from_path(path) else {
                    self.diags.push(
                        Diagnostic::new(&codes::E0402, format!("cannot tell the format of `{path}`"))
                            .at(*path_span, "unknown extension")
                            .help("name the file .json (an array), .ndjson / .jsonl (one record per line) or .csv"),
                    );
                    return None;
                };
                let schema_idx = match schema {
                    Some((p, s)) => Some(self.resolve_schema(m, p, *s)?),
                    None => None,
                };
                let full = PathBuf::from(&**path);
                let full = if full.is_absolute() {
                    full
                } else {
                    base_dir.join(full)
                };
                Some((
                    Endpoint::File {
                        path: full,
                        display: path.to_string(),
                        format,
                        schema: schema_idx.map(|i| self.program.schemas[i].name.clone()),
                    },
                    schema_idx,
                ))
            }
        }
    }

    /// The declared type of a target field path, reporting unknown names.
    fn target_field(&mut self, target: &Target, path: &ast::FieldPath) -> Option<FieldType> {
        let mut record = target.record.clone()?;
        let mut walked = String::new();
        for (i, seg) in path.segments.iter().enumerate() {
            let Some(field) = record.field(&seg.name).cloned() else {
                if record.open {
                    return None;
                }
                let d = Diagnostic::new(
                    &codes::E0105,
                    format!("{}{walked} has no field `{}`", target.name, seg.name),
                )
                .at(seg.span, "unknown target field")
                .help_typo(
                    &seg.name,
                    record.field_names(),
                    format!("its fields are: {}", preview(record.field_names())),
                );
                self.diags.push(d);
                return None;
            };
            if i + 1 == path.segments.len() {
                return Some(field);
            }
            walked.push('.');
            walked.push_str(&field.name);
            match &field.ty.kind {
                Kind::Record(r) => record = r.clone(),
                Kind::Any => return None,
                other => {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::E0105,
                            format!("{}{walked} is {other}, it has no fields", target.name),
                        )
                        .at(path.segments[i + 1].span, "cannot go deeper")
                        .help("map onto the field itself"),
                    );
                    return None;
                }
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn check_block(
        &mut self,
        scope: &mut Scope,
        stmts: &[Stmt],
        target: &Target,
        phase: Phase,
        top: bool,
        mapping: &mut Mapping,
        mapped: &mut Mapped,
    ) {
        let mark = scope.mark();
        self.check_stmts(scope, stmts, target, phase, top, mapping, mapped);
        if phase == Phase::Common {
            scope.reset(mark);
        }
    }

    /// The statements of a block, in the block's scope: names they bind stay
    /// visible to the statements after them (also after a `use`).
    #[allow(clippy::too_many_arguments)]
    fn check_stmts(
        &mut self,
        scope: &mut Scope,
        stmts: &[Stmt],
        target: &Target,
        phase: Phase,
        top: bool,
        mapping: &mut Mapping,
        mapped: &mut Mapped,
    ) {
        for stmt in stmts {
            match stmt {
                Stmt::Source(_, s)
                | Stmt::Target(_, s)
                | Stmt::Where(_, s)
                | Stmt::Reread(_, s)
                | Stmt::Key { span: s, .. } => {
                    if !top {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0308,
                                "this clause belongs at the top of the flow",
                            )
                            .at(*s, "not allowed inside a block")
                            .help("move source, target, where and key to the flow's top level"),
                        );
                    }
                }
                Stmt::Let(l) => {
                    let t = self.check_expr(scope, &l.value);
                    self.warn_shadowed(scope, &l.name);
                    // A shared mapping's lets serve many flows; one flow may not need them all.
                    let warn = self.expanding.is_empty();
                    let slot = scope.bind(l.name.name.clone(), t.ty.clone(), l.name.span, warn);
                    ops(mapping, phase).push(Op::Let { slot, expr: t.ir });
                }
                Stmt::Map { value, field, .. } => {
                    let t = self.check_expr(scope, value);
                    if let Some(ft) = self.target_field(target, field) {
                        if ft.readonly {
                            self.diags.push(
                                Diagnostic::new(&codes::E0306, format!("{}.{} is read-only: the service sets it", target.name, field.dotted()))
                                    .at(field.span, "read-only")
                                    .help("remove this mapping; read the value back from the created record instead"),
                            );
                        }
                        self.check_fits(&t, value.span, &ft, field.span, &target.name);
                    }
                    self.note_mapped(mapped, phase, field);
                    ops(mapping, phase).push(Op::Map {
                        path: path_of(field),
                        expr: t.ir,
                        span: value.span,
                    });
                }
                Stmt::Each(each) => self.check_each(scope, each, target, phase, mapping, mapped),
                Stmt::Upsert(upsert) => self.check_upsert(scope, upsert, phase, mapping),
                Stmt::OnCreate(body, span) | Stmt::OnUpdate(body, span) => {
                    if phase != Phase::Common {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0308,
                                "`on create` and `on update` blocks cannot be nested",
                            )
                            .at(*span, "nested here")
                            .help("move this block to the level of the mappings it belongs to"),
                        );
                        continue;
                    }
                    let inner = if matches!(stmt, Stmt::OnCreate(..)) {
                        Phase::Create
                    } else {
                        Phase::Update
                    };
                    self.check_block(scope, body, target, inner, false, mapping, mapped);
                }
                Stmt::Keep(paths, _) => {
                    for p in paths {
                        self.target_field(target, p);
                        mapping.keep.push(path_of(p));
                    }
                }
                Stmt::Use(path, span) => {
                    let Some((site, decl)) = self.resolve_mapping(scope.module, path, *span) else {
                        continue;
                    };
                    if self.expanding.contains(&site) {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0004,
                                format!("mapping `{}` uses itself", decl.name.name),
                            )
                            .at(*span, "used again while it is being used")
                            .help(
                                "a mapping cannot use itself, directly or through another mapping",
                            ),
                        );
                        continue;
                    }
                    // Its own names (settings, tables) are those of the file
                    // that declares it; the record and the locals are the flow's.
                    let module = std::mem::replace(&mut scope.module, self.mapping_sites[site].0);
                    self.expanding.push(site);
                    self.check_stmts(scope, &decl.body, target, phase, false, mapping, mapped);
                    self.expanding.pop();
                    scope.module = module;
                }
            }
        }
    }

    /// The `mapping` a `use` names: `name` or `module.name`.
    fn resolve_mapping(
        &mut self,
        m: usize,
        path: &[ast::Ident],
        span: Span,
    ) -> Option<(usize, &'m ast::MappingDecl)> {
        let (module, name) = match path {
            [name] => (m, name),
            [module, name] => match self.lookup_decl(m, &module.name) {
                Some(Decl::Module(t)) => {
                    self.mark_used(m, &module.name);
                    (t, name)
                }
                _ => (usize::MAX, name),
            },
            _ => (usize::MAX, &path[0]),
        };
        let found = (module != usize::MAX)
            .then(|| self.lookup_decl(module, &name.name))
            .flatten();
        match found {
            Some(Decl::Mapping(i)) => {
                self.mark_used(module, &name.name);
                Some((i, self.mapping_sites[i].1))
            }
            _ => {
                let names: Vec<String> = self
                    .mapping_sites
                    .iter()
                    .map(|(_, d)| d.name.name.to_string())
                    .collect();
                self.diags.push(
                    Diagnostic::new(&codes::E0102, format!("there is no mapping `{}`", name.name))
                        .at(span, "unknown mapping")
                        .help_typo(
                            &name.name,
                            names.iter().map(String::as_str),
                            "declare it with `mapping name { … }`; one in another file is `module.name`",
                        ),
                );
                None
            }
        }
    }

    fn note_mapped(&mut self, mapped: &mut Mapped, phase: Phase, field: &ast::FieldPath) {
        let key = field.dotted();
        let clash = match phase {
            Phase::Common => mapped
                .common
                .get(&key)
                .or(mapped.create.get(&key))
                .or(mapped.update.get(&key)),
            Phase::Create => mapped.common.get(&key).or(mapped.create.get(&key)),
            Phase::Update => mapped.common.get(&key).or(mapped.update.get(&key)),
        };
        if let Some(prev) = clash {
            self.diags.push(
                Diagnostic::new(&codes::E0304, format!("`{key}` is mapped twice"))
                    .at(field.span, "mapped again here")
                    .also(*prev, "first mapped here")
                    .help("keep one mapping; to choose between values use `if … then … else …` or `??`"),
            );
            return;
        }
        // A record and a field inside it (`Addr` and `Addr.City`): one would
        // silently overwrite the other.
        // Both directions by hash lookups, so a flow with many mappings stays
        // linear: the key's own prefixes among the mapped paths, and mapped
        // paths below the key (each mapping notes its prefixes in `inner`).
        let phases: &[usize] = match phase {
            Phase::Common => &[0, 1, 2],
            Phase::Create => &[0, 1],
            Phase::Update => &[0, 2],
        };
        let sets = [&mapped.common, &mapped.create, &mapped.update];
        let overlap = phases.iter().find_map(|&p| {
            let above = key
                .match_indices('.')
                .map(|(i, _)| &key[..i])
                .find_map(|prefix| sets[p].get(prefix).map(|span| (prefix.to_string(), *span)));
            above.or_else(|| mapped.inner[p].get(&key).cloned())
        });
        if let Some((other, prev)) = overlap {
            let (outer, inner) = if other.len() < key.len() {
                (other.as_str(), key.as_str())
            } else {
                (key.as_str(), other.as_str())
            };
            self.diags.push(
                Diagnostic::new(
                    &codes::E0304,
                    format!("`{outer}` and `{inner}` are both mapped: `{inner}` is part of `{outer}`"),
                )
                .at(field.span, "mapped here")
                .also(prev, "overlaps this mapping")
                .help(format!(
                    "map `{outer}` as a whole (with `{}` inside its record), or map its fields one by one",
                    &inner[outer.len() + 1..]
                )),
            );
            return;
        }
        let p = match phase {
            Phase::Common => 0,
            Phase::Create => 1,
            Phase::Update => 2,
        };
        for (i, _) in key.match_indices('.') {
            mapped.inner[p]
                .entry(key[..i].to_string())
                .or_insert_with(|| (key.clone(), field.span));
        }
        let set = match phase {
            Phase::Common => &mut mapped.common,
            Phase::Create => &mut mapped.create,
            Phase::Update => &mut mapped.update,
        };
        set.insert(key, field.span);
    }

    fn check_each(
        &mut self,
        scope: &mut Scope,
        each: &ast::Each,
        target: &Target,
        phase: Phase,
        mapping: &mut Mapping,
        mapped: &mut Mapped,
    ) {
        // `append` is `each` over one element with nothing to name.
        let (list, elem) = match &each.items {
            Some((list_expr, _)) => {
                let list = self.check_expr(scope, list_expr);
                self.require_present(&list.ty, list_expr.span, "iterated with `each`", "?? []");
                let elem = match &list.ty.kind {
                    Kind::List(e) => (**e).clone(),
                    Kind::Any => Type::ANY,
                    other => {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0203,
                                format!("`each` needs a list, but this is {other}"),
                            )
                            .at(list_expr.span, format!("{other}"))
                            .help("iterate over a list field, e.g. `each orderrows as row -> Rows { … }`"),
                        );
                        Type::ANY
                    }
                };
                (list.ir, elem)
            }
            None => (
                program::Expr::Const(Value::list(vec![Value::Null])),
                Type::ANY,
            ),
        };
        let element_target = match self.target_field(target, &each.field) {
            Some(ft) => match &ft.ty.kind {
                Kind::List(inner) => match &inner.kind {
                    Kind::Record(r) => Some(r.clone()),
                    _ => None,
                },
                other => {
                    self.diags.push(
                        Diagnostic::new(&codes::E0201, format!("{}.{} is {other}, not a list of records", target.name, each.field.dotted()))
                            .at(each.field.span, format!("{other}"))
                            .help("`each` maps a list onto a list field; map a single value with `expr -> Field`"),
                    );
                    None
                }
            },
            None => None,
        };
        // Several blocks may write one list: each appends its elements.
        if !mapped.lists.contains_key(&each.field.dotted()) {
            self.note_mapped(mapped, phase, &each.field);
            mapped.lists.insert(each.field.dotted(), each.field.span);
        }
        let mark = scope.mark();
        let slot = match &each.items {
            Some((_, var)) => {
                self.warn_shadowed(scope, var);
                scope.bind(var.name.clone(), elem.present(), var.span, false)
            }
            // A slot nobody can name (no identifier is empty).
            None => scope.bind(Arc::from(""), elem, each.span, false),
        };
        let position = each.position.as_ref().map(|p| {
            self.warn_shadowed(scope, p);
            scope.bind(p.name.clone(), Type::INT, p.span, false)
        });
        let filter = each.filter.as_ref().map(|f| {
            let t = self.check_expr(scope, f);
            self.require_bool(&t, f.span, "an `each … where` filter");
            t.ir
        });
        let inner_target = Target {
            record: element_target,
            name: format!("{}.{}[]", target.name, each.field.dotted()),
            span: each.field.span,
        };
        let mut inner_mapping = Mapping::default();
        let mut inner_mapped = Mapped::default();
        self.check_block(
            scope,
            &each.body,
            &inner_target,
            Phase::Common,
            false,
            &mut inner_mapping,
            &mut inner_mapped,
        );
        self.check_required(&inner_target, &inner_mapped);
        scope.reset(mark);
        ops(mapping, phase).push(Op::Each(Box::new(EachOp {
            list,
            slot,
            position,
            filter,
            path: path_of(&each.field),
            body: inner_mapping,
            span: each.span,
        })));
    }

    fn check_upsert(
        &mut self,
        scope: &mut Scope,
        upsert: &ast::Upsert,
        phase: Phase,
        mapping: &mut Mapping,
    ) {
        let Some(schema) = self.resolve_schema(scope.module, &upsert.schema, upsert.schema_span)
        else {
            return self.abandon(scope.module);
        };
        let record = self.program.schemas[schema].record.clone();
        let target = Target {
            record: Some(record.clone()),
            name: self.program.schemas[schema].name.to_string(),
            span: upsert.schema_span,
        };
        let filter = upsert.filter.as_ref().map(|f| {
            let t = self.check_expr(scope, f);
            self.require_bool(&t, f.span, "an `upsert … where` condition");
            t.ir
        });
        let m = self.check_expr(scope, &upsert.match_value);
        self.require_present(
            &m.ty,
            upsert.match_value.span,
            "used to match existing records",
            "?? \"\"",
        );
        if let Some(ft) = self.target_field(&target, &upsert.match_field) {
            self.check_fits(
                &m,
                upsert.match_value.span,
                &ft,
                upsert.match_field.span,
                &target.name,
            );
        }
        let mut inner_mapping = Mapping::default();
        let mut inner_mapped = Mapped::default();
        inner_mapped
            .common
            .insert(upsert.match_field.dotted(), upsert.match_field.span);
        inner_mapping.common.push(Op::Map {
            path: path_of(&upsert.match_field),
            expr: m.ir.clone(),
            span: upsert.match_value.span,
        });
        // `truncate` and `length` count the way this schema's service does.
        let outer_units = std::mem::replace(&mut self.call_units, record.units);
        self.check_block(
            scope,
            &upsert.body,
            &target,
            Phase::Common,
            false,
            &mut inner_mapping,
            &mut inner_mapped,
        );
        self.call_units = outer_units;
        self.check_required(&target, &inner_mapped);
        self.check_keep(&target, &inner_mapping, &inner_mapped);
        // The variable holds the record as the service returns it.
        let mut ty = Type::of(Kind::Record(Arc::new(RecordType {
            name: record.name.clone(),
            fields: record
                .fields
                .iter()
                .map(|f| FieldType {
                    optional: f.optional && !f.readonly,
                    ..f.clone()
                })
                .collect(),
            open: false,
            units: record.units,
        })));
        if upsert.filter.is_some() {
            // Not upserted when the condition is false.
            ty = ty.maybe(Missing::Other {
                span: upsert.var.span,
            });
        }
        self.warn_shadowed(scope, &upsert.var);
        let slot = scope.bind(upsert.var.name.clone(), ty, upsert.var.span, true);
        if let Some(schema_connection) = self.program.schemas[schema].connection.or_else(|| {
            let module = self.schema_sites[schema].0;
            self.namespaces[module].values().find_map(|(d, _)| match d {
                Decl::Connection(c) => Some(*c),
                _ => None,
            })
        }) {
            self.program.schemas[schema].connection = Some(schema_connection);
        }
        ops(mapping, phase).push(Op::Upsert(Box::new(UpsertOp {
            schema,
            slot,
            filter,
            match_value: m.ir,
            match_field: path_of(&upsert.match_field),
            mapping: inner_mapping,
            span: upsert.span,
        })));
    }

    /// Every required, writable field must be written when a record is created.
    fn check_required(&mut self, target: &Target, mapped: &Mapped) {
        let Some(record) = &target.record else { return };
        let missing: Vec<&FieldType> = record
            .fields
            .iter()
            .filter(|f| !f.optional && !f.readonly)
            .filter(|f| {
                !mapped.common.contains_key(&*f.name) && !mapped.create.contains_key(&*f.name)
            })
            .filter(|f| {
                // A nested record counts as mapped when any of its fields is.
                let prefix = format!("{}.", f.name);
                !mapped
                    .common
                    .keys()
                    .chain(mapped.create.keys())
                    .any(|k| k.starts_with(&prefix))
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let names: Vec<String> = missing.iter().map(|f| format!("`{}`", f.name)).collect();
        let example = missing
            .iter()
            .take(3)
            .map(|f| format!("… -> {}", f.name))
            .collect::<Vec<_>>()
            .join("; ");
        self.diags.push(
            Diagnostic::new(
                &codes::E0303,
                format!("creating {} needs {} mapped: {}", target.name, if missing.len() == 1 { "this field" } else { "these fields" }, names.join(", ")),
            )
            .at(target.span, "records created here would be rejected")
            .help(format!("map them (e.g. {example}), or inside `on create {{ … }}` if they only matter for new records")),
        );
    }

    fn check_keep(&mut self, target: &Target, mapping: &Mapping, mapped: &Mapped) {
        for path in &mapping.keep {
            let key = path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
            if !mapped.common.contains_key(&key) && !mapped.update.contains_key(&key) {
                let span = mapped.create.get(&key).copied().unwrap_or(target.span);
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0309,
                        format!("`keep {key}` has no effect: `{key}` is not written on update"),
                    )
                    .at(span, "not mapped for updates")
                    .help("remove it from `keep`, or map the field outside `on create`"),
                );
            }
        }
    }

    /// A variable named like an outer variable, a source field or a
    /// declaration hides it from every later expression: W0003.
    fn warn_shadowed(&mut self, scope: &Scope, name: &ast::Ident) {
        let hidden = if let Some(local) = scope.locals.iter().rev().find(|l| l.name == name.name) {
            Some(("an outer variable".to_string(), local.span))
        } else if let Some(field) = match scope.input.as_ref().map(|t| &t.kind) {
            Some(Kind::Record(rt)) => rt.field(&name.name),
            _ => None,
        } {
            Some((format!("the source field `{}`", field.name), field.span))
        } else {
            self.namespaces[scope.module]
                .get(&name.name)
                .map(|(decl, span)| (format!("the {} `{}`", decl.describe(), name.name), *span))
        };
        if let Some((what, span)) = hidden {
            self.diags.push(
                Diagnostic::new(&codes::W0003, format!("`{}` hides {what}", name.name))
                    .at(name.span, format!("hides {what}"))
                    .also(span, "hidden name declared here")
                    .help(format!("give the variable its own name, e.g. `{}_value`, so later uses of `{}` keep meaning the original", name.name, name.name)),
            );
        }
    }

    fn report_unused_locals(&mut self, scope: &mut Scope) {
        scope.reset((0, 0));
        for (name, span) in std::mem::take(&mut scope.unused) {
            self.diags.push(
                Diagnostic::new(&codes::W0001, format!("`{name}` is never used"))
                    .at(span, "declared here")
                    .help("remove the let, or use it in a mapping"),
            );
        }
    }

    pub(crate) fn check_test(&mut self, m: usize, t: &ast::Test) {
        let mut flow = None;
        let mut input = None;
        let mut given = Vec::new();
        let mut expect = Vec::new();
        let mut scope = Scope::new(m, None);
        for stmt in &t.body {
            match stmt {
                ast::TestStmt::Flow(name) => {
                    match self.program.flows.iter().position(|f| f.name == name.name) {
                        Some(i) => flow = Some(i),
                        None => {
                            let names: Vec<String> = self
                                .program
                                .flows
                                .iter()
                                .map(|f| f.name.to_string())
                                .collect();
                            self.diags.push(
                                Diagnostic::new(
                                    &codes::E0501,
                                    format!("test \"{}\" names no flow `{}`", t.name, name.name),
                                )
                                .at(name.span, "unknown flow")
                                .help_typo(
                                    &name.name,
                                    names.iter().map(String::as_str),
                                    "name a flow declared in this file or one it imports",
                                ),
                            );
                        }
                    }
                }
                ast::TestStmt::Input(e, _) => input = Some(self.check_expr(&mut scope, e).ir),
                ast::TestStmt::Given {
                    schema,
                    schema_span,
                    records,
                    ..
                } => {
                    if let Some(i) = self.resolve_schema(m, schema, *schema_span) {
                        given.push((i, self.check_expr(&mut scope, records).ir));
                    }
                }
                ast::TestStmt::Expect(e, span) => expect.push(match e {
                    ast::Expectation::Skip(reason) => {
                        program::Expectation::Skip(reason.clone(), *span)
                    }
                    ast::Expectation::Error(text) => {
                        program::Expectation::Error(text.clone(), *span)
                    }
                    ast::Expectation::Write {
                        verb,
                        schema,
                        payload,
                    } => {
                        let schema = schema
                            .as_ref()
                            .and_then(|(p, s)| self.resolve_schema(m, p, *s));
                        program::Expectation::Write {
                            verb: *verb,
                            schema,
                            payload: self.check_expr(&mut scope, payload).ir,
                            span: *span,
                        }
                    }
                }),
            }
        }
        let flow = match (flow, self.program.flows.len()) {
            (Some(f), _) => f,
            // One flow in the program: the test may leave it implicit.
            (None, 1) => 0,
            (None, _) => {
                if !t.body.iter().any(|s| matches!(s, ast::TestStmt::Flow(_))) {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::E0501,
                            format!("test \"{}\" does not say which flow it tests", t.name),
                        )
                        .at(t.name_span, "no `flow` statement")
                        .help("add `flow <name>` inside the test"),
                    );
                }
                return;
            }
        };
        let Some(input) = input else {
            self.diags.push(
                Diagnostic::new(
                    &codes::E0501,
                    format!("test \"{}\" has no input record", t.name),
                )
                .at(t.name_span, "no `input`")
                .help("add `input { field: value, … }` with a source record"),
            );
            return;
        };
        if expect.is_empty() {
            self.diags.push(
                Diagnostic::new(&codes::E0501, format!("test \"{}\" expects nothing, so it cannot fail", t.name))
                    .at(t.name_span, "no `expect`")
                    .help("add `expect create { … }`, `expect update { … }`, `expect skip` or `expect error \"…\"`"),
            );
            return;
        }
        self.program.tests.push(program::TestCase {
            name: t.name.clone(),
            flow,
            input,
            given,
            expect,
            span: t.span,
        });
    }
}

fn ops(mapping: &mut Mapping, phase: Phase) -> &mut Vec<Op> {
    match phase {
        Phase::Common => &mut mapping.common,
        Phase::Create => &mut mapping.on_create,
        Phase::Update => &mut mapping.on_update,
    }
}

fn path_of(field: &ast::FieldPath) -> Vec<Arc<str>> {
    field.segments.iter().map(|s| s.name.clone()).collect()
}
