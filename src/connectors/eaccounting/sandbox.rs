//! The eAccounting emulator as `flowc sandbox` starts it: the demo company
//! (reference data, a customer stored as `Ann@Example.com`, a default
//! debtor, two articles) and an identity server that hands out a refresh
//! token, so no sign-in is needed.

use std::sync::Arc;

use flowc_emulators::eaccounting::{self, EaccountingConfig};

use crate::connectors::registry::{SandboxOptions, SandboxService};

pub(super) fn start(options: &SandboxOptions) -> std::io::Result<SandboxService> {
    let books = eaccounting::start_blocking(EaccountingConfig {
        seed: Some(eaccounting::DEMO_SEED.to_string()),
        ..EaccountingConfig::default()
    })?;
    books.faults().set_base_latency(options.latency);
    let books = Arc::new(books);
    let env = vec![
        ("EACCOUNTING_API_URL".into(), books.api_url()),
        ("EACCOUNTING_IDENTITY_URL".into(), books.identity_url()),
        (
            "EACCOUNTING_CLIENT_ID".into(),
            books.client_id().to_string(),
        ),
        (
            "EACCOUNTING_CLIENT_SECRET".into(),
            books.client_secret().to_string(),
        ),
        (
            "EACCOUNTING_REFRESH_TOKEN".into(),
            books.refresh_token(eaccounting::DEFAULT_SCOPE),
        ),
    ];
    Ok(SandboxService {
        description: format!("eAccounting emulator at {}", books.api_url()),
        env,
        summary: Box::new(move || {
            let count = |name: &str| books.collection(name).len();
            Some(format!(
                "eAccounting now holds {} customers and {} articles.",
                count("customers"),
                count("articles")
            ))
        }),
    })
}
