//! Declarations other than flows: schemas, tables, functions and lets.

use std::collections::HashMap;
use std::sync::Arc;

use super::expr::preview;
use super::scope::Scope;
use super::{Checker, Decl, Progress};
use crate::diag::{codes, Diagnostic};
use crate::types::{FieldType, Kind, RecordType, Type};

use crate::program::TableKey;
use crate::source_map::Span;
use crate::syntax::ast::{self, TableBody, TypeAtom, TypeExpr};
use crate::value::Value;

const BASE_TYPES: &[&str] = &[
    "string", "int", "decimal", "bool", "date", "datetime", "uuid", "any",
];

impl Checker<'_> {
    /// Resolves a schema's field types once (schemas may refer to each other).
    pub(crate) fn ensure_schema(&mut self, i: usize) -> Arc<RecordType> {
        match self.schema_progress[i] {
            Progress::Done(()) => return self.program.schemas[i].record.clone(),
            Progress::Checking => {
                // A schema that contains itself: treat the inner use as any.
                return Arc::new(RecordType {
                    name: Some(self.program.schemas[i].name.clone()),
                    fields: vec![],
                    open: true,
                    units: self.units,
                });
            }
            Progress::Pending => {}
        }
        self.schema_progress[i] = Progress::Checking;
        let (m, schema) = self.schema_sites[i];
        // Its string fields, inline record types included, count in its unit.
        let outer_units = self.units;
        self.units = schema
            .length
            .map_or(crate::types::LengthUnit::Chars, |(u, _)| u);
        let mut fields = self.field_types(m, &schema.fields);
        fields.shrink_to_fit();
        let record = Arc::new(RecordType {
            name: Some(self.program.schemas[i].name.clone()),
            fields,
            open: false,
            units: self.units,
        });
        self.units = outer_units;
        if let Some(key) = &schema.key {
            if record.field(&key.name).is_none() {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0305,
                        format!(
                            "schema `{}` has no field `{}` to use as its key",
                            schema.name.name, key.name
                        ),
                    )
                    .at(key.span, "not a field of this schema")
                    .help_typo(
                        &key.name,
                        record.field_names(),
                        "name one of the fields declared below",
                    ),
                );
            }
        }
        if let Some(cursor) = &schema.cursor {
            match record.field(&cursor.name) {
                None => self.diags.push(
                    Diagnostic::new(&codes::E0101, format!("schema `{}` has no field `{}` to resume reads from", schema.name.name, cursor.name))
                        .at(cursor.span, "not a field of this schema")
                        .help_typo(&cursor.name, record.field_names(), "name a date-time field that only grows, e.g. a creation or modification time"),
                ),
                Some(f) if !matches!(f.ty.kind, Kind::DateTime | Kind::Date | Kind::Int | Kind::Str { .. }) => self.diags.push(
                    Diagnostic::new(&codes::E0201, format!("`{}` is {}, which cannot order reads", cursor.name, f.ty))
                        .at(cursor.span, "not orderable")
                        .help("use a date-time, date or integer field"),
                ),
                Some(_) => {}
            }
        }
        for field in &schema.mutable {
            if record.field(&field.name).is_none() {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0101,
                        format!(
                            "schema `{}` has no field `{}` to declare mutable",
                            schema.name.name, field.name
                        ),
                    )
                    .at(field.span, "not a field of this schema")
                    .help_typo(
                        &field.name,
                        record.field_names(),
                        "name fields declared below whose values change after a record is created",
                    ),
                );
            }
        }
        self.program.schemas[i].record = record.clone();
        self.schema_progress[i] = Progress::Done(());
        record
    }

    fn field_types(&mut self, m: usize, decls: &[ast::FieldDecl]) -> Vec<FieldType> {
        let mut fields: Vec<FieldType> = Vec::new();
        // By name, so a schema with many fields is checked in linear time.
        let mut seen: HashMap<Arc<str>, Span> = HashMap::with_capacity(decls.len());
        for f in decls {
            if let Some(&prev_span) = seen.get(&f.name.name) {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0005,
                        format!("field `{}` is declared twice", f.name.name),
                    )
                    .at(f.name.span, "second declaration")
                    .also(prev_span, "first declared here")
                    .help("remove one of them"),
                );
                continue;
            }
            seen.insert(f.name.name.clone(), f.name.span);
            let ty = self.resolve_type(m, &f.ty);
            fields.push(FieldType {
                name: f.name.name.clone(),
                ty,
                optional: f.optional,
                readonly: f.readonly,
                range: f.range,
                span: f.name.span,
            });
        }
        fields
    }

    fn resolve_type(&mut self, m: usize, t: &TypeExpr) -> Type {
        if t.alternatives.len() > 1 || matches!(t.alternatives.first(), Some(TypeAtom::Literal(..)))
        {
            let mut values: Vec<Arc<str>> = Vec::new();
            for alt in &t.alternatives {
                match alt {
                    TypeAtom::Literal(s, _) => values.push(s.clone()),
                    _ => {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0106,
                                "a union type may only list string literals",
                            )
                            .at(t.span, "mixes literals and types")
                            .help("write an enum as `\"a\" | \"b\"`, or use one type"),
                        );
                        return Type::ANY;
                    }
                }
            }
            return Type::of(Kind::Enum(values.into()));
        }
        match &t.alternatives[0] {
            TypeAtom::List(inner) => Type::list(self.resolve_type(m, inner)),
            TypeAtom::Record(fields, _) => {
                let fields = self.field_types(m, fields);
                Type::of(Kind::Record(Arc::new(RecordType {
                    name: None,
                    fields,
                    open: false,
                    units: self.units,
                })))
            }
            TypeAtom::Literal(..) => unreachable!("handled above"),
            TypeAtom::Sized { name, size, span } => match &*name.name {
                "string" => Type::string_max_in(Some(*size), self.units),
                other => {
                    self.diags.push(
                        Diagnostic::new(&codes::E0106, format!("`{other}` takes no size"))
                            .at(*span, "only string(N) has a size")
                            .help("write `string(50)` for a string of at most 50 characters"),
                    );
                    Type::ANY
                }
            },
            TypeAtom::Named { module: None, name } => match &*name.name {
                "string" => Type::string(),
                "int" => Type::INT,
                "decimal" => Type::DECIMAL,
                "bool" => Type::BOOL,
                "date" => Type::DATE,
                "datetime" => Type::DATETIME,
                "uuid" => Type::of(Kind::Uuid),
                "any" => Type::ANY,
                other => match self.lookup_decl(m, other) {
                    Some(Decl::Schema(i)) => Type::of(Kind::Record(self.ensure_schema(i))),
                    _ => {
                        let mut names: Vec<String> =
                            BASE_TYPES.iter().map(|s| s.to_string()).collect();
                        names.extend(
                            self.namespaces[m]
                                .iter()
                                .filter(|(_, (d, _))| matches!(d, Decl::Schema(_)))
                                .map(|(k, _)| k.to_string()),
                        );
                        self.unknown_type(name, &names);
                        Type::ANY
                    }
                },
            },
            TypeAtom::Named {
                module: Some(module),
                name,
            } => {
                let target = match self.lookup_decl(m, &module.name) {
                    Some(Decl::Module(t)) => t,
                    _ => {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0106,
                                format!("`{}` is not an imported module", module.name),
                            )
                            .at(module.span, "unknown module")
                            .help(format!(
                                "import the file that declares it: `import \"{}.flow\"`",
                                module.name
                            )),
                        );
                        return Type::ANY;
                    }
                };
                self.mark_used(m, &module.name);
                match self.lookup_decl(target, &name.name) {
                    Some(Decl::Schema(i)) => Type::of(Kind::Record(self.ensure_schema(i))),
                    _ => {
                        let names: Vec<String> = self.namespaces[target]
                            .iter()
                            .filter(|(_, (d, _))| matches!(d, Decl::Schema(_)))
                            .map(|(k, _)| k.to_string())
                            .collect();
                        self.unknown_type(name, &names);
                        Type::ANY
                    }
                }
            }
        }
    }

    fn unknown_type(&mut self, name: &ast::Ident, candidates: &[String]) {
        let d = Diagnostic::new(
            &codes::E0106,
            format!("there is no type or schema `{}`", name.name),
        )
        .at(name.span, "unknown type")
        .help_typo(
            &name.name,
            candidates.iter().map(String::as_str),
            format!(
                "types are {}, or a schema name",
                preview(BASE_TYPES.iter().copied())
            ),
        );
        self.diags.push(d);
    }

    /// Resolves a dotted schema reference (`eaccounting.customers` or `orders`).
    pub(crate) fn resolve_schema(
        &mut self,
        m: usize,
        path: &[ast::Ident],
        span: crate::source_map::Span,
    ) -> Option<usize> {
        let (scope_module, name) = match path {
            [name] => (m, name),
            [module, name] => match self.lookup_decl(m, &module.name) {
                Some(Decl::Module(t)) => {
                    self.mark_used(m, &module.name);
                    (t, name)
                }
                _ => {
                    let modules: Vec<String> = self.namespaces[m]
                        .iter()
                        .filter(|(_, (d, _))| matches!(d, Decl::Module(_)))
                        .map(|(k, _)| k.to_string())
                        .collect();
                    let d = Diagnostic::new(
                        &codes::E0106,
                        format!("`{}` is not an imported module", module.name),
                    )
                    .at(module.span, "unknown module")
                    .help_typo(
                        &module.name,
                        modules.iter().map(String::as_str),
                        format!(
                            "add `import \"stdlib/{}.flow\"` at the top of the file",
                            module.name
                        ),
                    );
                    self.diags.push(d);
                    return None;
                }
            },
            _ => {
                self.diags.push(
                    Diagnostic::new(&codes::E0106, "a resource is named `module.schema`")
                        .at(span, "too many parts")
                        .help("e.g. `eaccounting.customers`"),
                );
                return None;
            }
        };
        match self.lookup_decl(scope_module, &name.name) {
            Some(Decl::Schema(i)) => {
                self.ensure_schema(i);
                Some(i)
            }
            _ => {
                let names: Vec<String> = self.namespaces[scope_module]
                    .iter()
                    .filter(|(_, (d, _))| matches!(d, Decl::Schema(_)))
                    .map(|(k, _)| k.to_string())
                    .collect();
                let otherwise = if names.is_empty() {
                    "declare it with `schema name { … }`".to_string()
                } else {
                    format!(
                        "schemas there: {}",
                        preview(names.iter().map(String::as_str))
                    )
                };
                let d =
                    Diagnostic::new(&codes::E0106, format!("there is no schema `{}`", name.name))
                        .at(name.span, "unknown schema")
                        .help_typo(&name.name, names.iter().map(String::as_str), otherwise);
                self.diags.push(d);
                None
            }
        }
    }

    pub(crate) fn check_table(&mut self, m: usize, t: &ast::Table) {
        let Some(Decl::Table(i)) = self.lookup_decl(m, &t.name.name) else {
            return;
        };
        if self.program.tables[i].span != t.span {
            return; // a duplicate name, already reported
        }
        let mut rows: HashMap<TableKey, Value> = HashMap::new();
        let mut spans: HashMap<TableKey, (Span, String)> = HashMap::new();
        let mut default = None;
        let mut ty: Option<Type> = None;
        let mut scope = Scope::new(m, None);
        let join = |ty: &mut Option<Type>, t: &Type| {
            *ty = Some(match ty.take() {
                None => t.clone(),
                Some(prev) => prev.join(t),
            })
        };
        match &t.body {
            TableBody::Rows(list) => {
                for row in list {
                    let value = self.check_expr(&mut scope, &row.value);
                    let Some(v) = value.constant.clone() else {
                        self.diags.push(
                            Diagnostic::new(&codes::E0002, "table values must be constants")
                                .at(row.value.span, "computed value")
                                .help("write a literal (number, string, list or record); compute with a function applied to the lookup instead"),
                        );
                        continue;
                    };
                    join(&mut ty, &value.ty);
                    match &row.key {
                        None => {
                            if default.is_some() {
                                self.diags.push(
                                    Diagnostic::new(
                                        &codes::E0005,
                                        "the table has two default rows",
                                    )
                                    .at(row.span, "second `_` row")
                                    .help("keep one `_ => …` row"),
                                );
                            }
                            default = Some(v);
                        }
                        Some(k) => {
                            let key = self.check_expr(&mut scope, k);
                            let written = key
                                .constant
                                .as_ref()
                                .map(crate::value::json::to_string)
                                .unwrap_or_default();
                            match key.constant.as_ref().and_then(TableKey::of) {
                                Some(table_key) => {
                                    if let Some((first, first_text)) = spans.get(&table_key) {
                                        let message = if *first_text == written {
                                            format!(
                                                "key {written} appears twice in table `{}`",
                                                t.name.name
                                            )
                                        } else {
                                            format!(
                                                "keys {first_text} and {written} of table `{}` are the same key: keys compare by value, as `==` does",
                                                t.name.name
                                            )
                                        };
                                        self.diags.push(
                                            Diagnostic::new(&codes::E0005, message)
                                                .at(k.span, "repeated key")
                                                .also(*first, "first row with this key")
                                                .help("remove one of the rows"),
                                        );
                                    } else {
                                        spans.insert(table_key.clone(), (k.span, written));
                                        rows.insert(table_key, v);
                                    }
                                }
                                None => self.diags.push(
                                    Diagnostic::new(
                                        &codes::E0002,
                                        "table keys must be constant strings, numbers or booleans",
                                    )
                                    .at(k.span, "not a constant key")
                                    .help("write the key as a literal, e.g. \"NL\" or 8000"),
                                ),
                            }
                        }
                    }
                }
            }
            TableBody::File {
                path,
                path_span,
                key_column,
                value_column,
                default: dflt,
            } => {
                let dir = self.modules[m].dir.clone().unwrap_or_default();
                match super::connections::load_table_file(&dir.join(&**path), key_column.as_ref().map(|k| &*k.0), value_column.as_ref().map(|v| &*v.0)) {
                    Ok(loaded) => {
                        for v in loaded.values() {
                            join(&mut ty, &type_of_value(v));
                        }
                        rows = loaded;
                    }
                    Err(message) => self.diags.push(
                        Diagnostic::new(&codes::E0006, format!("cannot use table file `{path}`: {message}"))
                            .at(*path_span, "this file")
                            .help("a CSV needs a header row (key and value columns: the first two, or those named with `key \"…\" value \"…\"`); JSON must be an object {\"key\": value}"),
                    ),
                }
                if let Some(d) = dflt {
                    let value = self.check_expr(&mut scope, d);
                    join(&mut ty, &value.ty);
                    default = value.constant;
                }
            }
        }
        self.table_types[i] = ty.unwrap_or(Type::ANY).present();
        let table = &mut self.program.tables[i];
        table.rows = rows;
        table.default = default;
    }

    /// The type of a function's result; checks its body the first time.
    pub(crate) fn fn_type(&mut self, i: usize) -> Type {
        match &self.fn_types[i] {
            Progress::Done(t) => return t.clone(),
            // Recursion: the result type is not known yet.
            Progress::Checking => return Type::ANY,
            Progress::Pending => {}
        }
        self.fn_types[i] = Progress::Checking;
        let (m, f) = self.fn_sites[i];
        let mut scope = Scope::new(m, None);
        for param in &f.params {
            if scope.find(&param.name).is_some() {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0005,
                        format!("parameter `{}` is declared twice", param.name),
                    )
                    .at(param.span, "repeated parameter")
                    .help("give each parameter its own name"),
                );
            }
            // Parameters are untyped: values are checked where they are used.
            scope.bind(param.name.clone(), Type::ANY, param.span, false);
        }
        let body = self.check_expr(&mut scope, &f.body);
        let ty = body.ty.clone();
        let func = &mut self.program.functions[i];
        func.depth = body.ir.depth();
        func.body = body.ir;
        func.frame_size = scope.frame_size;
        self.fn_types[i] = Progress::Done(ty.clone());
        ty
    }

    pub(crate) fn let_type(&mut self, i: usize) -> Type {
        match &self.let_types[i] {
            Progress::Done(t) => return t.clone(),
            Progress::Checking => {
                let (_, l) = self.let_sites[i];
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0102,
                        format!("`{}` is defined in terms of itself", l.name.name),
                    )
                    .at(l.name.span, "refers back to itself")
                    .help("a let must be computable from other lets, tables and constants"),
                );
                self.let_types[i] = Progress::Done(Type::ANY);
                return Type::ANY;
            }
            Progress::Pending => {}
        }
        self.let_types[i] = Progress::Checking;
        let (m, l) = self.let_sites[i];
        let mut scope = Scope::new(m, None);
        let value = self.check_expr(&mut scope, &l.value);
        if let Progress::Done(_) = self.let_types[i] {
            return Type::ANY;
        }
        let ty = value.ty.clone();
        let global = &mut self.program.globals[i];
        global.expr = value.ir;
        global.frame_size = scope.frame_size;
        self.let_types[i] = Progress::Done(ty.clone());
        ty
    }
}

fn type_of_value(v: &Value) -> Type {
    match v {
        Value::Num(d) if d.scale() == 0 => Type::INT,
        Value::Num(_) => Type::DECIMAL,
        Value::Str(s) => Type::string_max(Some(s.chars().count() as u32)),
        Value::Bool(_) => Type::BOOL,
        _ => Type::ANY,
    }
}
