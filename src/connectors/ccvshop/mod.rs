//! CCV Shop REST API connector.

pub mod client;
mod pushdown;
#[cfg(feature = "sandbox")]
mod sandbox;
pub mod signing;

pub use client::{CcvShopClientConfig, CcvShopConnector, ClientLimits, Clock};

use super::registry::{ConnectorSpec, OpenContext, SettingSpec, SettingType};
use super::{Connector, ConnectorError};

pub static SPEC: ConnectorSpec = ConnectorSpec {
    name: "ccvshop",
    doc: "A CCV Shop web shop through its REST API (`/api/rest/v1`), every request signed with HMAC-SHA512",
    settings: &[
        SettingSpec::new(
            "url",
            SettingType::ServiceUrl,
            "the shop's base URL (`https://myshop.ccvshop.nl`); the API is under `/api/rest/v1`",
        )
        .required(),
        SettingSpec::new(
            "public_key",
            SettingType::Text,
            "the API public key (My web shop → Settings → API)",
        )
        .required(),
        SettingSpec::new(
            "secret_key",
            SettingType::Text,
            "the API secret key; signs every request and is never sent",
        )
        .required()
        .secret(),
        SettingSpec::new(
            "verify_responses",
            SettingType::Bool,
            "check the signature (`x-hash`) of every successful response",
        )
        .default("false"),
    ],
    schema_module: Some((
        "stdlib/ccvshop.flow",
        include_str!("../../../stdlib/ccvshop.flow"),
    )),
    id_field: Some("id"),
    auth_help: "check `public_key` and `secret_key` (API settings in the shop's backend) and that this machine's clock is right",
    sign_in_probe: Some("webshops"),
    open,
    auth: None,
    #[cfg(feature = "sandbox")]
    sandbox: Some(sandbox::start),
    #[cfg(not(feature = "sandbox"))]
    sandbox: None,
};

fn open(ctx: &OpenContext<'_>) -> Result<Box<dyn Connector>, ConnectorError> {
    Ok(Box::new(CcvShopConnector::from_settings(ctx.settings)?))
}
