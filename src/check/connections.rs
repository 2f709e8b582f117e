//! Connections (which connector, with which settings) and table files.
//! Secrets may only come from the environment or a file: a literal secret in
//! a flow ends up in git, in screenshots and in support tickets.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::scope::Scope;
use super::{Checker, Decl};
use crate::connectors::registry::{self, SettingSpec};
use crate::diag::{codes, did_you_mean, Diagnostic};
use crate::program::SettingValue;
use crate::program::TableKey;
use crate::syntax::ast::{self, ExprKind, StrPart};
use crate::value::Value;

impl Checker<'_> {
    pub(crate) fn check_connection(&mut self, m: usize, c: &ast::Connection) {
        let Some(Decl::Connection(i)) = self.lookup_decl(m, &c.name.name) else {
            return;
        };
        // The module's resources belong to its connection whether or not a
        // flow uses them: the connector is opened with all their types.
        for (schema, (module, _)) in self.program.schemas.iter_mut().zip(&self.schema_sites) {
            if *module == m && schema.resource.is_some() && schema.connection.is_none() {
                schema.connection = Some(i);
            }
        }
        let connector_setting = c.settings.iter().find(|s| &*s.name.name == "connector");
        let Some(connector_setting) = connector_setting else {
            self.diags.push(
                Diagnostic::new(
                    &codes::E0402,
                    format!(
                        "connection `{}` does not say which connector it uses",
                        c.name.name
                    ),
                )
                .at(c.name.span, "no `connector` setting")
                .help(format!(
                    "add `connector \"…\"` with one of {}",
                    registry::quoted_names(registry::REGISTRY.iter().copied())
                )),
            );
            return;
        };
        let connector = match &connector_setting.value.kind {
            ExprKind::String(parts) => match parts.as_slice() {
                [StrPart::Text(t)] => t.clone(),
                _ => Arc::from(""),
            },
            _ => Arc::from(""),
        };
        let Some(spec) = registry::spec(&connector) else {
            let mut d = Diagnostic::new(
                &codes::E0402,
                format!("there is no connector {:?}", &*connector),
            )
            .at(connector_setting.value.span, "unknown connector");
            d = match did_you_mean(&connector, registry::REGISTRY.iter().map(|s| s.name)) {
                Some(s) => d.help(format!("did you mean \"{s}\"?")),
                None => d.help(format!(
                    "connectors are {}",
                    registry::quoted_names(registry::REGISTRY.iter().copied())
                )),
            };
            self.diags.push(d);
            return;
        };
        let mut settings = Vec::new();
        for s in c.settings.iter().filter(|s| &*s.name.name != "connector") {
            let Some(setting) = spec.setting(&s.name.name) else {
                let mut d = Diagnostic::new(
                    &codes::E0402,
                    format!("connector \"{connector}\" has no setting `{}`", s.name.name),
                )
                .at(s.name.span, "unknown setting");
                d = match did_you_mean(&s.name.name, spec.settings.iter().map(|x| x.name)) {
                    Some(x) => d.help(format!("did you mean `{x}`?")),
                    None if spec.settings.is_empty() => {
                        d.help(format!("connector \"{connector}\" takes no settings"))
                    }
                    None => d.help(format!(
                        "its settings are {}",
                        spec.settings
                            .iter()
                            .map(|x| format!("`{}`", x.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                self.diags.push(d);
                continue;
            };
            if let Some(value) = self.setting_value(m, s, setting) {
                settings.push((Arc::from(setting.name), value));
            }
        }
        for setting in spec.settings.iter().filter(|s| s.required) {
            let name = setting.name;
            if !c.settings.iter().any(|s| &*s.name.name == name) {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0402,
                        format!("connection `{}` needs the setting `{name}`", c.name.name),
                    )
                    .at(c.name.span, format!("no `{name}`"))
                    .help(format!(
                        "add `{name} env(\"{}\")`",
                        env_name(&connector, name)
                    )),
                );
            }
        }
        let conn = &mut self.program.connections[i];
        conn.connector = connector;
        conn.settings = settings;
    }

    fn setting_value(
        &mut self,
        m: usize,
        s: &ast::Setting,
        spec: &SettingSpec,
    ) -> Option<SettingValue> {
        let secret = spec.secret;
        if let ExprKind::Call { name, args } = &s.value.kind {
            match (&*name.name, args.as_slice()) {
                ("env", [var]) | ("env", [var, _]) => {
                    let var_name = self.constant_string(m, var)?;
                    let default = match args.get(1) {
                        Some(d) => {
                            if secret {
                                self.literal_secret(s, d.span);
                                return None;
                            }
                            Some(Arc::from(self.constant_string(m, d)?.as_str()))
                        }
                        None => None,
                    };
                    return Some(SettingValue::Env {
                        name: Arc::from(var_name.as_str()),
                        default,
                    });
                }
                ("file", [path]) => {
                    let p = self.constant_string(m, path)?;
                    let dir = self.modules[m].dir.clone().unwrap_or_default();
                    return Some(SettingValue::File(dir.join(p)));
                }
                ("env" | "file", _) => {
                    self.diags.push(
                        Diagnostic::new(&codes::E0402, format!("`{}` takes a name (and for env, a default)", name.name))
                            .at(s.value.span, "wrong arguments")
                            .help("write `env(\"NAME\")`, `env(\"NAME\", \"default\")` or `file(\"path\")`"),
                    );
                    return None;
                }
                _ => {}
            }
        }
        if secret {
            self.literal_secret(s, s.value.span);
            return None;
        }
        let mut scope = Scope::new(m, None);
        let v = self.check_expr(&mut scope, &s.value);
        match v.constant {
            Some(c) => {
                // A literal is known now: a wrong one is reported now, not at the first run.
                let text = c.to_text().unwrap_or_default();
                if let Err(why) = spec.ty.check(&text) {
                    self.diags.push(
                        Diagnostic::new(&codes::E0402, format!("setting `{}` {why}", s.name.name))
                            .at(s.value.span, format!("not a {}", spec.ty.name()))
                            .help(format!("`{}`: {}", spec.name, spec.doc)),
                    );
                    return None;
                }
                Some(SettingValue::Literal(c))
            }
            None => {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0402,
                        format!(
                            "setting `{}` must be a constant, env(…) or file(…)",
                            s.name.name
                        ),
                    )
                    .at(s.value.span, "computed value")
                    .help("write a literal, or read it with env(\"NAME\")"),
                );
                None
            }
        }
    }

    fn literal_secret(&mut self, s: &ast::Setting, span: crate::source_map::Span) {
        self.secrets.push(span);
        // The span is reported but the secret's text never appears in the message.
        self.diags.push(
            Diagnostic::new(&codes::E0401, format!("`{}` is a secret and must not be written in the flow", s.name.name))
                .at(span, "a secret written in the file")
                .help(format!(
                    "read it from the environment: `{} env(\"{}\")`, or from a file: `file(\"…\")`; then rotate the exposed secret",
                    s.name.name,
                    s.name.name.to_uppercase()
                )),
        );
    }

    fn constant_string(&mut self, m: usize, e: &ast::Expr) -> Option<String> {
        let mut scope = Scope::new(m, None);
        match self.check_expr(&mut scope, e).constant {
            Some(Value::Str(s)) => Some(s.to_string()),
            _ => {
                self.diags.push(
                    Diagnostic::new(&codes::E0402, "expected a constant string")
                        .at(e.span, "not a constant string")
                        .help("write it in quotes, e.g. \"CCVSHOP_URL\""),
                );
                None
            }
        }
    }
}

fn env_name(connector: &str, setting: &str) -> String {
    format!("{}_{}", connector.to_uppercase(), setting.to_uppercase())
}

/// Rows of a table kept in a file: CSV with a header, or a JSON object.
pub(crate) fn load_table_file(
    path: &Path,
    key: Option<&str>,
    value: Option<&str>,
) -> Result<HashMap<TableKey, Value>, String> {
    let text =
        crate::source_map::read_text(path).map_err(|e| format!("{e} ({})", path.display()))?;
    let lower = path.to_string_lossy().to_ascii_lowercase();
    let mut rows = HashMap::new();
    if lower.ends_with(".json") {
        let v = crate::value::json::parse(&text).map_err(|e| e.to_string())?;
        match v {
            Value::Record(r) => {
                for (k, v) in r.iter() {
                    rows.insert(TableKey::Str(k.clone()), v.clone());
                }
            }
            Value::List(items) => {
                let (kc, vc) = (key.unwrap_or("key"), value.unwrap_or("value"));
                for item in items.iter() {
                    let r = item
                        .as_record()
                        .ok_or("a JSON table list must hold records")?;
                    let k = r
                        .get(kc)
                        .and_then(TableKey::of)
                        .ok_or(format!("a record has no `{kc}` usable as a key"))?;
                    let v = r
                        .get(vc)
                        .cloned()
                        .ok_or(format!("a record has no `{vc}`"))?;
                    if rows.contains_key(&k) {
                        return Err(format!("key {k} appears twice (keys compare by value)"));
                    }
                    rows.insert(k, v);
                }
            }
            _ => return Err("a JSON table must be an object or a list of records".into()),
        }
        return Ok(rows);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let find = |name: Option<&str>, fallback: usize| -> Result<usize, String> {
        match name {
            Some(n) => headers.iter().position(|h| h == n).ok_or_else(|| {
                format!(
                    "no column `{n}` (columns: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            }),
            None if headers.len() > fallback => Ok(fallback),
            None => Err("the CSV needs at least two columns".into()),
        }
    };
    let (ki, vi) = (find(key, 0)?, find(value, 1)?);
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", n + 2))?;
        let k = record.get(ki).unwrap_or_default().trim();
        let v = record.get(vi).unwrap_or_default().trim();
        // Numbers in a CSV are exact decimals like everywhere else.
        let value = match rust_decimal::Decimal::from_str_exact(v) {
            Ok(d) if !v.is_empty() => Value::Num(d),
            _ => Value::str(v),
        };
        // So are keys that are numbers: `21` and `21.0` are one key.
        let key = match rust_decimal::Decimal::from_str_exact(k) {
            Ok(d) if !k.is_empty() => TableKey::of(&Value::Num(d)),
            _ => Some(TableKey::Str(Arc::from(k))),
        };
        let key = key.unwrap_or_else(|| TableKey::Str(Arc::from(k)));
        if rows.insert(key, value).is_some() {
            return Err(format!(
                "key {k:?} appears twice (line {}; keys compare by value)",
                n + 2
            ));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use crate::check::check_source;

    /// (code, message, help) of every diagnostic.
    fn diagnostics(text: &str) -> Vec<(&'static str, String, String)> {
        check_source("c.flow", None, text)
            .diagnostics
            .into_iter()
            .map(|d| (d.code.id, d.message, d.help.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn every_setting_a_connector_reads_can_be_given() {
        let found = diagnostics(
            r#"
connection books {
  connector "eaccounting"
  client_id env("ID")
  client_secret env("SECRET")
  page_size 100
  rate_limit_per_minute "300"
  timeout_secs 20
  redirect_uri "http://127.0.0.1:8765/callback"
}
connection archive {
  connector "file"
  path "archive.ndjson"
}
connection scratch {
  connector "memory"
}
"#,
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn settings_nothing_reads_are_refused_with_the_nearest_name() {
        let found = diagnostics(
            r#"
connection books {
  connector "eaccounting"
  client_id env("ID")
  client_secret env("SECRET")
  redirect_port 8765
}
connection scratch {
  connector "memory"
  path "x.ndjson"
}
connection shop {
  connector "ccvshp"
}
"#,
        );
        let messages: Vec<String> = found
            .iter()
            .map(|(code, m, h)| format!("{code} {m} | {h}"))
            .collect();
        assert_eq!(
            messages,
            [
                "E0402 connector \"eaccounting\" has no setting `redirect_port` | did you mean `redirect_uri`?",
                "E0402 connector \"memory\" has no setting `path` | connector \"memory\" takes no settings",
                "E0402 there is no connector \"ccvshp\" | did you mean \"ccvshop\"?",
            ]
        );
    }

    #[test]
    fn literal_settings_are_checked_against_their_type() {
        let found = diagnostics(
            r#"
connection books {
  connector "eaccounting"
  client_id env("ID")
  client_secret env("SECRET")
  page_size "many"
  api_url "eaccountingapi.vismaonline.com"
}
connection shop {
  connector "ccvshop"
  url env("URL")
  public_key env("KEY")
  secret_key env("SECRET")
  verify_responses "perhaps"
}
"#,
        );
        let messages: Vec<&str> = found.iter().map(|(_, m, _)| m.as_str()).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|(code, _, _)| *code == "E0402"));
        assert!(messages[0].starts_with("setting `page_size` must be a whole number"));
        assert!(messages[1].starts_with("setting `api_url` is not a URL"));
        assert!(messages[2].starts_with("setting `verify_responses` must be true or false"));
    }
}
