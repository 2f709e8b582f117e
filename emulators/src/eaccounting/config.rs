//! How an emulated eAccounting company is set up: clients, tokens, limits, data.

use std::time::Duration;

use super::identity::OAuthClient;

/// What a connector asks for in production (see the notes, §1).
pub const DEFAULT_SCOPE: &str = "ea:api offline_access ea:sales ea:accounting";

#[derive(Debug, Clone)]
pub struct EaccountingConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// Where the API is mounted; the real service uses `/v2`.
    pub api_base: String,
    pub clients: Vec<OAuthClient>,
    /// The user every authorize request logs in as.
    pub user: String,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    /// Requests per minute per client per endpoint (method + path template).
    pub rate_limit_per_minute: u32,
    /// Extra seed JSON (same format as [`EaccountingEmulator::load_seed`])
    /// applied over the built-in reference data.
    pub seed: Option<String>,
}

impl Default for EaccountingConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_base: "/v2".into(),
            clients: vec![OAuthClient {
                client_id: "flowc-test".into(),
                client_secret: "flowc-test-secret".into(),
                redirect_uris: vec!["http://localhost/callback".into()],
            }],
            user: "test.user@example.com".into(),
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(60 * 60 * 24 * 60),
            rate_limit_per_minute: 600,
            seed: None,
        }
    }
}
