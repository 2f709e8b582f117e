//! `flowc auth <connector>`: the interactive sign-in of a connector whose
//! registry entry has one (eAccounting: the OAuth2 authorization-code flow),
//! with the settings of one of its connections — the flow file's, or the one
//! in the connector's built-in module — and the tokens kept in the state
//! folder where the connector looks for them.

use std::path::Path;

use super::print_plain;
use super::run::{check_or_exit, real_env, state_dir};
use crate::check::Checked;
use crate::connectors::registry::{self, AuthContext, ConnectorSpec, AUTH_TIMEOUT};
use crate::connectors::settings::Settings;
use crate::diag::{codes, Diagnostic};
use crate::program::{Connection, SettingValue};

pub(crate) fn run(connector: &str, file: Option<&Path>, no_browser: bool) -> u8 {
    let Some((spec, auth)) = registry::spec(connector).and_then(|spec| Some((spec, spec.auth?)))
    else {
        let what = match registry::spec(connector) {
            Some(_) => format!("connector \"{connector}\" has no sign-in"),
            None => format!("there is no connector \"{connector}\""),
        };
        print_plain(&Diagnostic::new(&codes::E0402, what).help(format!(
            "`flowc auth` signs in to {}",
            registry::quoted_names(registry::with_auth())
        )));
        return 2;
    };
    let (checked, origin) = match file {
        Some(f) => match check_or_exit(f) {
            Ok(c) => (c, f.display().to_string()),
            Err(code) => return code,
        },
        None => match spec.schema_module {
            Some((path, text)) => (
                crate::check::check_source(path, None, text),
                format!("the built-in {path}"),
            ),
            None => {
                print_plain(&Diagnostic::new(
                    &codes::E0402,
                    format!("connector \"{connector}\" has no built-in connection to sign in with"),
                ).help(format!("give the .flow file that declares its connection: `flowc auth {connector} FILE`")));
                return 2;
            }
        },
    };
    let connection = match connection_of(&checked, spec, &origin) {
        Ok(c) => c,
        Err(d) => {
            print_plain(&d);
            return 2;
        }
    };
    let settings = match Settings::resolve(spec, connection, &real_env) {
        Ok(s) => s,
        Err(e) => {
            print_plain(
                &e.diagnostic()
                    .help(where_settings_come_from(connection, &origin)),
            );
            return 2;
        }
    };
    let dir = state_dir(file, &real_env);
    let mut out = std::io::stdout();
    let outcome = auth(AuthContext {
        settings: &settings,
        state_dir: &dir,
        open_browser: !no_browser,
        timeout: AUTH_TIMEOUT,
        out: &mut out,
    });
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            print_plain(
                &e.diagnostic()
                    .help(where_settings_come_from(connection, &origin)),
            );
            2
        }
    }
}

/// The one connection of `checked` that uses `spec`'s connector.
fn connection_of<'c>(
    checked: &'c Checked,
    spec: &ConnectorSpec,
    origin: &str,
) -> Result<&'c Connection, Diagnostic> {
    if checked.has_errors() {
        return Err(Diagnostic::new(
            &codes::E0402,
            format!("{origin} does not check; `flowc check` shows why"),
        ));
    }
    let found: Vec<&Connection> = checked
        .program
        .connections
        .iter()
        .filter(|c| &*c.connector == spec.name)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(Diagnostic::new(
            &codes::E0402,
            format!("{origin} declares no connection with connector \"{}\"", spec.name),
        )
        .help(format!(
            "import the connector's module (`import \"stdlib/{}.flow\"`) or declare a connection",
            spec.name
        ))),
        several => Err(Diagnostic::new(
            &codes::E0402,
            format!(
                "{origin} declares {} connections with connector \"{}\" ({}); tokens are kept once per state folder",
                several.len(),
                spec.name,
                several.iter().map(|c| format!("`{}`", c.name)).collect::<Vec<_>>().join(", ")
            ),
        )
        .help("give a flow file with one such connection")),
    }
}

/// "connection `x` (origin) reads `client_id` from EACCOUNTING_CLIENT_ID, …"
fn where_settings_come_from(connection: &Connection, origin: &str) -> String {
    let from_env: Vec<String> = connection
        .settings
        .iter()
        .filter_map(|(name, value)| match value {
            SettingValue::Env { name: var, .. } => Some(format!("`{name}` from {var}")),
            SettingValue::File(path) => Some(format!("`{name}` from {}", path.display())),
            SettingValue::Literal(_) => None,
        })
        .collect();
    if from_env.is_empty() {
        return format!(
            "connection `{}` in {origin} gives its settings itself",
            connection.name
        );
    }
    format!(
        "connection `{}` in {origin} reads {}",
        connection.name,
        from_env.join(", ")
    )
}
