//! Local, strict emulators of the services flowc talks to. They ship in the
//! binary (`flowc sandbox`) and back the end-to-end tests: every connector
//! call in the test suite crosses real HTTP on loopback.

pub mod ccvshop;
pub mod eaccounting;
pub mod faults;
pub mod ratelimit;
