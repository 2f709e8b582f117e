//! Visma eAccounting API v2 connector.
//!
//! - [`client`]: [`EaccountingConnector`], the [`Connector`](super::Connector) over HTTP;
//! - [`oauth`]: token requests and the interactive sign-in ([`authorize_interactive`]);
//! - [`tokens`]: the token file under `$FLOWC_STATE/tokens/` (rotating refresh tokens);
//! - [`odata`]: the typed `$filter` builder.

pub mod client;
pub mod oauth;
pub mod odata;
pub mod tokens;

pub use client::{ConnectorConfig, EaccountingConnector};
pub use oauth::{authorize_interactive, OAuthClient};
pub use tokens::{StoredTokens, TokenStore};
