//! Clients for the services flowc reads from and writes to.

pub mod ccvshop;
