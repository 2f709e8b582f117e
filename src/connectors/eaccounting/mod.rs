//! Visma eAccounting API v2 connector.
//!
//! - [`client`]: [`EaccountingConnector`], the [`Connector`] over HTTP;
//! - [`oauth`]: token requests and the interactive sign-in ([`authorize_interactive`]);
//! - [`tokens`]: the token file under the state folder's `tokens/` (rotating refresh tokens);
//! - [`odata`]: the typed `$filter` builder.

pub mod client;
pub mod oauth;
pub mod odata;
#[cfg(feature = "sandbox")]
mod sandbox;
pub mod tokens;

pub use client::{ConnectorConfig, EaccountingConnector};
pub use oauth::{authorize_interactive, OAuthClient};
pub use tokens::{StoredTokens, TokenStore};

use super::registry::{ConnectorSpec, OpenContext, SettingSpec, SettingType};
use super::{Connector, ConnectorError};

pub static SPEC: ConnectorSpec = ConnectorSpec {
    name: "eaccounting",
    doc: "Visma eAccounting through its API v2, signed in with OAuth2 (`flowc auth eaccounting`)",
    settings: &[
        SettingSpec::new(
            "api_url",
            SettingType::ServiceUrl,
            "the API (sandbox: `https://eaccountingapi-sandbox.test.vismaonline.com/v2`)",
        )
        .default(client::DEFAULT_API_URL),
        SettingSpec::new(
            "identity_url",
            SettingType::ServiceUrl,
            "the identity server; the token endpoint is `/connect/token` under it",
        )
        .default(oauth::DEFAULT_IDENTITY_URL),
        SettingSpec::new(
            "client_id",
            SettingType::Text,
            "your app's client id (Visma developer portal)",
        )
        .required(),
        SettingSpec::new(
            "client_secret",
            SettingType::Text,
            "your app's client secret",
        )
        .required()
        .secret(),
        SettingSpec::new(
            "refresh_token",
            SettingType::Text,
            "headless set-up: a refresh token to start from when none is stored (a new one replaces the stored chain)",
        )
        .secret(),
        SettingSpec::new(
            "redirect_uri",
            SettingType::Url,
            "`flowc auth`: the loopback address registered for your app that the browser returns to (default `http://127.0.0.1:<free port>/callback`)",
        ),
        SettingSpec::new(
            "page_size",
            SettingType::Number,
            "records per page when listing (1–500)",
        )
        .default("500"),
        SettingSpec::new(
            "rate_limit_per_minute",
            SettingType::Number,
            "requests per minute per endpoint that flowc allows itself (eAccounting allows 600)",
        )
        .default("600"),
        SettingSpec::new(
            "timeout_secs",
            SettingType::Number,
            "seconds one request may take, connecting included",
        )
        .default("60"),
    ],
    schema_module: Some((
        "stdlib/eaccounting.flow",
        include_str!("../../../stdlib/eaccounting.flow"),
    )),
    id_field: Some("Id"),
    auth_help: "run `flowc auth eaccounting` to sign in again",
    sign_in_probe: Some("companysettings"),
    open,
    auth: Some(authorize_interactive),
    #[cfg(feature = "sandbox")]
    sandbox: Some(sandbox::start),
    #[cfg(not(feature = "sandbox"))]
    sandbox: None,
};

fn open(ctx: &OpenContext<'_>) -> Result<Box<dyn Connector>, ConnectorError> {
    Ok(Box::new(
        EaccountingConnector::from_settings(ctx.settings, ctx.state_dir)?
            .with_schemas(ctx.schemas.clone()),
    ))
}
