//! The CCV Shop emulator as `flowc sandbox` starts it: a generated shop on
//! loopback, reached through the same settings a real shop is.

use std::sync::Arc;

use flowc_emulators::ccvshop::{self, CcvShopConfig, SeedSource};

use crate::connectors::registry::{SandboxOptions, SandboxService};

pub(super) fn start(options: &SandboxOptions) -> std::io::Result<SandboxService> {
    let shop = ccvshop::start_blocking(CcvShopConfig {
        data: SeedSource::Generated {
            orders: options.orders,
            products: options.products,
            seed: options.seed,
        },
        deliver_webhooks: false,
        ..CcvShopConfig::default()
    })?;
    shop.faults().set_base_latency(options.latency);
    let shop = Arc::new(shop);
    Ok(SandboxService {
        description: format!(
            "CCV Shop emulator at {} ({} orders, {} products)",
            shop.base_url(),
            options.orders,
            options.products
        ),
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
