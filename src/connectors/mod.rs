//! Connectors: the only code that knows where records live and how they
//! are encoded on the wire or on disk.

pub mod ccvshop;
pub mod file;
pub mod memory;
