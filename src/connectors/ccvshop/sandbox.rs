//! The CCV Shop emulator as `flowc sandbox` starts it: the demo shop (or a
//! generated one of `orders` orders) on loopback, reached through the same
//! settings a real shop is.

use std::sync::Arc;

use flowc_emulators::ccvshop::{self, CcvShopConfig, SeedSource};

use crate::connectors::registry::{SandboxOptions, SandboxService};

pub(super) fn start(options: &SandboxOptions) -> std::io::Result<SandboxService> {
    let data = match options.orders {
        0 => SeedSource::Demo,
        orders => SeedSource::Generated {
            orders,
            products: options.products,
            seed: options.seed,
        },
    };
    let what = match options.orders {
        0 => "the demo shop".to_string(),
        n => format!("{n} generated orders, {} products", options.products),
    };
    let shop = ccvshop::start_blocking(CcvShopConfig {
        data,
        deliver_webhooks: options.webhooks,
        ..CcvShopConfig::default()
    })?;
    shop.faults().set_base_latency(options.latency);
    let shop = Arc::new(shop);
    Ok(SandboxService {
        description: format!("CCV Shop emulator at {} ({what})", shop.base_url()),
        env: vec![
            ("CCVSHOP_URL".into(), shop.base_url().to_string()),
            ("CCVSHOP_PUBLIC_KEY".into(), shop.public_key().to_string()),
            ("CCVSHOP_SECRET_KEY".into(), shop.secret_key().to_string()),
        ],
        // Holds the emulator: it runs as long as the service is kept.
        summary: Box::new(move || {
            let _running = &shop;
            None
        }),
    })
}
