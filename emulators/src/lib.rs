//! Local, strict emulators of the services flowc talks to: CCV Shop
//! ([`ccvshop`]) and Visma eAccounting ([`eaccounting`]), served over real
//! HTTP on loopback. They back flowc's end-to-end tests and `flowc sandbox`.
//!
//! This crate does not depend on flowc. The emulators verify signatures and
//! tokens and validate bodies with their own code and their own models
//! (`ccvshop::model`, `eaccounting::model`), written from the API notes, so
//! that a mistake in flowc's connectors meets an emulator that disagrees.

pub mod ccvshop;
pub mod eaccounting;
pub mod faults;
mod models;
pub mod ratelimit;
mod server;
