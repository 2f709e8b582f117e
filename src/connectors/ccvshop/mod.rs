//! CCV Shop REST API connector.

pub mod signing;
