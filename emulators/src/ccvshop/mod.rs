//! A strict, in-process emulator of the CCV Shop REST API (`/api/rest/v1`).
//!
//! It verifies request signatures as the API notes describe them (with its
//! own HMAC code, not flowc's), signs its responses, pages with absolute
//! `next` links, enforces per-minute limits and rejects anything it does
//! not understand with CCV's error shape. Being stricter than the real API
//! is deliberate: every laxity here is a bug a user would meet first.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use flowc_emulators::ccvshop::{start, CcvShopConfig};
//! let shop = start(CcvShopConfig::default()).await?;
//! let api = format!("{}/api/rest/v1", shop.base_url());
//! # let _ = api; Ok(()) }
//! ```
//!
//! | module | one idea |
//! |---|---|
//! | [`model`] | the resources as data: fields, types, lengths, who may write them |
//! | [`resources`] | one module per resource: its routes, rendering and rules |
//! | [`signing`], [`auth`] | HMAC-SHA512 request signatures and their check |
//! | [`http`], [`routes`] | the request path and the route table |
//! | [`collections`], [`input`], [`json`] | query strings and paging, write bodies, JSON values |
//! | [`store`], [`seed`], [`generate`] | the shop's data, seed files, synthetic shops |
//! | [`events`] | webhook events and their delivery |

mod app;
pub mod auth;
pub mod collections;
pub mod config;
pub mod demo;
mod emulator;
pub mod errors;
mod events;
pub mod generate;
mod http;
pub mod input;
pub mod json;
pub mod model;
mod resources;
mod routes;
pub mod seed;
pub mod signing;
pub mod store;

pub use config::{CcvShopConfig, RateLimitConfig, SeedSource};
pub use emulator::{start, start_blocking, CcvShopEmulator};
pub use events::Event;
pub use routes::API_PREFIX;
pub use seed::SeedData;
