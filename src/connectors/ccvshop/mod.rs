//! CCV Shop REST API connector.

pub mod client;
mod pushdown;
pub mod signing;

pub use client::{CcvShopClientConfig, CcvShopConnector, ClientLimits, Clock};
