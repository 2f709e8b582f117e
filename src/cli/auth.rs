//! `flowc auth eaccounting`: the OAuth2 authorization-code flow, once per
//! company; tokens are kept in the state folder (mode 0600) and rotated.

use std::path::Path;

use super::print_plain;
use super::run::{connector_diagnostic, real_env, state_dir};
use crate::connectors::settings::Settings;
use crate::program::{Connection, SettingValue};

pub(crate) fn eaccounting(file: Option<&Path>, no_browser: bool) -> u8 {
    // The settings come from the same variables the stdlib connection reads.
    let var = |name: &str, default: Option<&str>| SettingValue::Env {
        name: name.into(),
        default: default.map(Into::into),
    };
    let connection = Connection {
        name: "eaccounting".into(),
        connector: "eaccounting".into(),
        settings: vec![
            (
                "identity_url".into(),
                var(
                    "EACCOUNTING_IDENTITY_URL",
                    Some("https://identity.vismaonline.com"),
                ),
            ),
            (
                "api_url".into(),
                var(
                    "EACCOUNTING_API_URL",
                    Some("https://eaccountingapi.vismaonline.com/v2"),
                ),
            ),
            ("client_id".into(), var("EACCOUNTING_CLIENT_ID", None)),
            (
                "client_secret".into(),
                var("EACCOUNTING_CLIENT_SECRET", None),
            ),
            (
                "redirect_port".into(),
                var("EACCOUNTING_REDIRECT_PORT", None),
            ),
        ],
    };
    let settings = match Settings::resolve(&connection, &real_env) {
        Ok(s) => s,
        Err(e) => {
            print_plain(&connector_diagnostic(&e));
            return 2;
        }
    };
    let dir = state_dir(file, &real_env);
    let mut out = std::io::stdout();
    match crate::connectors::eaccounting::oauth::authorize_interactive(
        &settings,
        &dir,
        !no_browser,
        &mut out,
    ) {
        Ok(()) => {
            println!(
                "signed in; tokens stored in {}",
                dir.join("tokens").display()
            );
            0
        }
        Err(e) => {
            print_plain(&connector_diagnostic(&e).help("set EACCOUNTING_CLIENT_ID and EACCOUNTING_CLIENT_SECRET to your app's credentials from the Visma developer portal"));
            2
        }
    }
}
