//! A strict, in-process emulator of the Visma eAccounting API v2 and its
//! OAuth2 identity server, served over real HTTP on loopback.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use flowc_emulators::eaccounting::{start, EaccountingConfig};
//! let emu = start(EaccountingConfig::default()).await?;
//! let token = emu.access_token("ea:api ea:sales");
//! let url = format!("{}/customers", emu.api_url());
//! # let _ = (token, url); Ok(()) }
//! ```
//!
//! | module | one idea |
//! |---|---|
//! | [`model`] | the API models as data: properties, types, lengths, required, read-only |
//! | [`resources`] | building entities from writes: rules, references, derived fields |
//! | `handlers`, `routes`, `http` | what each route does, which route a path is, the request path |
//! | [`identity`] | the OAuth2 token service with rotating refresh tokens |
//! | [`odata`], `listing` | `$filter`/`$orderby` and the paged list envelope |
//! | [`store`], `seed` | the company's data and seed JSON |

pub mod config;
mod emulator;
pub mod errors;
mod handlers;
mod http;
pub mod identity;
mod listing;
pub mod model;
pub mod odata;
mod request;
pub mod resources;
mod routes;
mod seed;
mod shared;
pub mod store;
pub mod values;

pub use config::{EaccountingConfig, DEFAULT_SCOPE};
pub use emulator::{start, start_blocking, BlockingEaccountingEmulator, EaccountingEmulator};
pub use seed::{other_company, DEMO as DEMO_SEED};
