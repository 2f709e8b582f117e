//! How an emulated shop is set up: keys, port, data, limits, paging.

use std::fmt;
use std::time::Duration;

use super::seed::SeedData;

/// Per-minute limits (API notes §5). All can be changed per emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// GET per resource per minute.
    pub get_per_minute: u32,
    /// Each of POST/PUT/PATCH/DELETE per resource per minute.
    pub write_per_minute: u32,
    /// GET /productqueries per minute.
    pub productqueries_per_minute: u32,
    /// All authenticated requests together per minute (the value CCV uses is
    /// unknown; 1,000 leaves room for the documented per-resource limits).
    pub total_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            get_per_minute: 150,
            write_per_minute: 100,
            productqueries_per_minute: 30,
            total_per_minute: 1_000,
        }
    }
}

/// What the shop holds at start.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedSource {
    /// Settings, payment methods, users and categories only.
    Base,
    /// The base plus a few hand-written products and orders with edge cases.
    Sample,
    /// The demo shop `flowc sandbox` syncs, dated relative to now
    /// ([`super::demo::demo`]).
    Demo,
    /// The base plus deterministic synthetic data.
    Generated {
        orders: usize,
        products: usize,
        seed: u64,
    },
    /// Exactly this data.
    Custom(Box<SeedData>),
}

#[derive(Clone)]
pub struct CcvShopConfig {
    pub public_key: String,
    pub secret_key: String,
    /// 0 picks a free port.
    pub port: u16,
    pub data: SeedSource,
    pub limits: RateLimitConfig,
    /// Largest accepted difference between `x-date` and the shop's clock.
    pub max_clock_skew: Duration,
    /// How far the shop's clock is ahead of this machine's (negative:
    /// behind), in seconds: what `x-date` is checked against and what the
    /// `x-date` and `Date` of its answers say. For tests of clock skew.
    pub clock_offset_secs: i64,
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// POST webhook events to registered (loopback) addresses.
    pub deliver_webhooks: bool,
}

impl Default for CcvShopConfig {
    fn default() -> Self {
        Self {
            // Real keys are 32 characters and may contain `! ^ * _ -`
            // (API notes §1.1); using such characters here catches clients
            // that escape or trim the key.
            public_key: "flowcEmuPublic_Key-0000^0000*001".to_string(),
            secret_key: "flowcEmuSecret!Key_0000^0000*001".to_string(),
            port: 0,
            data: SeedSource::Sample,
            limits: RateLimitConfig::default(),
            max_clock_skew: Duration::from_secs(5 * 60),
            clock_offset_secs: 0,
            default_page_size: 25,
            max_page_size: 250,
            deliver_webhooks: true,
        }
    }
}

impl fmt::Debug for CcvShopConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcvShopConfig")
            .field("public_key", &self.public_key)
            .field("secret_key", &"<redacted>")
            .field("port", &self.port)
            .field("data", &self.data)
            .field("limits", &self.limits)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("clock_offset_secs", &self.clock_offset_secs)
            .field("default_page_size", &self.default_page_size)
            .field("max_page_size", &self.max_page_size)
            .field("deliver_webhooks", &self.deliver_webhooks)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let c = CcvShopConfig::default();
        assert!(!format!("{c:?}").contains(&c.secret_key));
    }
}
