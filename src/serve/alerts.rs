//! Alerts: a run failed, dead letters grew, a flow read nothing for N runs
//! in a row, eAccounting's tokens stopped refreshing. Each goes to a
//! webhook (JSON with a `text` field, which chat tools show as it is)
//! and/or by e-mail (SMTP, `lettre`). One alert per cause per flow per
//! period; a failure is held back while an automatic retry is pending; a
//! recovery message follows when the cause clears.
//!
//! Deciding ([`Alerts::observe`]) is separate from sending ([`Alerts::send`])
//! so that the rules are tested without a network. Which alerts are firing
//! is kept in the state store by the caller (`Server::after_run`) and given
//! back to [`Alerts::new`], so a restart neither repeats an alert within its
//! period nor forgets the recovery.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::{AlertsConfig, SmtpSecurity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    RunFailed,
    /// The run failed because a service refused the credentials (for
    /// eAccounting: its tokens stopped refreshing).
    SignIn,
    DeadLetters,
    ZeroRecords,
}

impl Cause {
    const ALL: [Cause; 4] = [
        Cause::RunFailed,
        Cause::SignIn,
        Cause::DeadLetters,
        Cause::ZeroRecords,
    ];

    /// The cause `as_str` names.
    pub fn parse(text: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::RunFailed => "run_failed",
            Cause::SignIn => "sign_in",
            Cause::DeadLetters => "dead_letters",
            Cause::ZeroRecords => "zero_records",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Cause::RunFailed => "run failed",
            Cause::SignIn => "sign-in failing (tokens not refreshing)",
            Cause::DeadLetters => "dead letters grew",
            Cause::ZeroRecords => "reading no records",
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub flow: String,
    pub cause: Cause,
    /// `false`: the recovery message.
    pub firing: bool,
    pub message: String,
}

impl Alert {
    /// One line, as a chat shows it and as the e-mail's subject.
    pub fn text(&self) -> String {
        if self.firing {
            format!(
                "[flowc] {}: {} — {}",
                self.flow,
                self.cause.title(),
                self.message
            )
        } else {
            format!("[flowc] {}: recovered — {}", self.flow, self.message)
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "text": self.text(),
            "flow": self.flow,
            "cause": self.cause.as_str(),
            "state": if self.firing { "firing" } else { "resolved" },
            "message": self.message,
        })
    }
}

/// What one finished run (or failed start of one) says about its flow.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Why the run failed as a whole, if it did.
    pub failure: Option<(Cause, String)>,
    /// Serve will retry the failed run soon by itself.
    pub retry_pending: bool,
    /// Runs in a row, this one included, that read no record (0 after a
    /// run that read some or that failed).
    pub zero_streak: u32,
    /// Dead letters of the flow before and after the run.
    pub dead_letters: (u64, u64),
}

pub struct Alerts {
    config: Option<AlertsConfig>,
    /// The alerts that are firing, with when each was last sent.
    open: Mutex<HashMap<(String, Cause), DateTime<Utc>>>,
    /// The flows whose `sign_in` alert the sign-in check raised (and so may
    /// clear): a check that works says nothing of a run that failed on
    /// another resource's permissions.
    raised_by_check: Mutex<HashSet<String>>,
    http: reqwest::Client,
}

impl Alerts {
    /// `firing`: the alerts that were firing when serve last stopped.
    pub fn new(
        config: Option<AlertsConfig>,
        firing: impl IntoIterator<Item = (String, Cause, DateTime<Utc>)>,
    ) -> Alerts {
        let open = firing
            .into_iter()
            .map(|(flow, cause, at)| ((flow, cause), at))
            .collect();
        Alerts {
            config,
            open: Mutex::new(open),
            raised_by_check: Mutex::new(HashSet::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    fn period(&self) -> Duration {
        self.config
            .as_ref()
            .map_or(Duration::from_secs(3600), |c| c.period)
    }

    fn zero_runs(&self) -> u32 {
        self.config.as_ref().map_or(5, |c| c.zero_records_runs)
    }

    /// The alerts (and recoveries) a run's outcome calls for, at `now`.
    pub fn observe(&self, flow: &str, o: &Observation, now: DateTime<Utc>) -> Vec<Alert> {
        let mut out = Vec::new();
        match &o.failure {
            Some((cause, message)) if !o.retry_pending => {
                self.fire(flow, *cause, message, now, &mut out);
            }
            // Held back: the retry may well succeed.
            Some(_) => {}
            None => {
                self.clear(flow, Cause::RunFailed, "runs succeed again", &mut out);
                self.clear(flow, Cause::SignIn, "signing in works again", &mut out);
                self.raised_by_check
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(flow);
            }
        }
        if o.failure.is_none() {
            if o.zero_streak >= self.zero_runs() {
                let message = format!(
                    "the last {} runs read no records; check the source's filters, credentials and cursor",
                    o.zero_streak
                );
                self.fire(flow, Cause::ZeroRecords, &message, now, &mut out);
            } else if o.zero_streak == 0 {
                self.clear(flow, Cause::ZeroRecords, "records are read again", &mut out);
            }
        }
        let (before, after) = o.dead_letters;
        if after > before {
            let message = format!(
                "dead letters grew from {before} to {after}; `flowc dlq list` or the dashboard shows why"
            );
            self.fire(flow, Cause::DeadLetters, &message, now, &mut out);
        } else if after == 0 {
            self.clear(flow, Cause::DeadLetters, "no dead letters left", &mut out);
        }
        out
    }

    /// The causes firing for `flow`, in a stable order.
    pub fn firing(&self, flow: &str) -> Vec<Cause> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut causes: Vec<Cause> = open
            .keys()
            .filter(|(f, _)| f == flow)
            .map(|(_, c)| *c)
            .collect();
        causes.sort_by_key(|c| c.as_str());
        causes
    }

    /// The alerts a sign-in check between runs calls for: `refused` is why
    /// a service refused the credentials `flow` uses, `None` when every one
    /// signed in. A check clears only the alert a check raised.
    pub fn sign_in_checked(
        &self,
        flow: &str,
        refused: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        let mut raised = self
            .raised_by_check
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match refused {
            Some(message) => {
                self.fire(flow, Cause::SignIn, message, now, &mut out);
                raised.insert(flow.to_string());
            }
            None if raised.remove(flow) => {
                self.clear(flow, Cause::SignIn, "signing in works again", &mut out);
            }
            None => {}
        }
        out
    }

    fn fire(
        &self,
        flow: &str,
        cause: Cause,
        message: &str,
        now: DateTime<Utc>,
        out: &mut Vec<Alert>,
    ) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let key = (flow.to_string(), cause);
        if let Some(last_sent) = open.get(&key) {
            // A clock that went back counts as within the period.
            let since = (now - *last_sent).to_std().unwrap_or_default();
            if since < self.period() {
                return;
            }
        }
        open.insert(key, now);
        out.push(Alert {
            flow: flow.to_string(),
            cause,
            firing: true,
            message: message.to_string(),
        });
    }

    fn clear(&self, flow: &str, cause: Cause, message: &str, out: &mut Vec<Alert>) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.remove(&(flow.to_string(), cause)).is_some() {
            out.push(Alert {
                flow: flow.to_string(),
                cause,
                firing: false,
                message: format!("{}: {message}", cause.title()),
            });
        }
    }

    /// Sends each alert to every configured channel; failures are logged
    /// (an alert that cannot be sent must not stop the sync).
    pub async fn send(&self, alerts: &[Alert]) {
        let Some(config) = &self.config else {
            for a in alerts {
                tracing::warn!(flow = %a.flow, cause = a.cause.as_str(), firing = a.firing, "{}", a.text());
            }
            return;
        };
        for alert in alerts {
            tracing::warn!(flow = %alert.flow, cause = alert.cause.as_str(), firing = alert.firing, "alert: {}", alert.text());
            if let Some(url) = &config.webhook {
                let sent = self.http.post(url.clone()).json(&alert.json()).send().await;
                match sent.map(|r| r.error_for_status()) {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) | Err(e) => {
                        tracing::error!(flow = %alert.flow, "the alert webhook failed: {}", e.without_url())
                    }
                }
            }
            if !config.email_to.is_empty() {
                let config = config.clone();
                let a = alert.clone();
                let sent = tokio::task::spawn_blocking(move || email(&config, &a)).await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(flow = %alert.flow, "the alert e-mail failed: {e}")
                    }
                    Err(e) => tracing::error!(flow = %alert.flow, "the alert e-mail failed: {e}"),
                }
            }
        }
    }
}

/// One e-mail per alert to every `email_to` address.
fn email(config: &AlertsConfig, alert: &Alert) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{Message, SmtpTransport, Transport};
    let (Some(host), Some(from)) = (&config.smtp_host, &config.smtp_from) else {
        return Err("smtp_host and smtp_from are needed".into());
    };
    let mut message = Message::builder()
        .from(
            from.parse()
                .map_err(|e| format!("smtp_from `{from}`: {e}"))?,
        )
        .subject(alert.text())
        .header(ContentType::TEXT_PLAIN);
    for to in &config.email_to {
        message = message.to(to.parse().map_err(|e| format!("email_to `{to}`: {e}"))?);
    }
    let body = format!(
        "{}\n\nflow: {}\ncause: {}\nstate: {}\n",
        alert.message,
        alert.flow,
        alert.cause.as_str(),
        if alert.firing { "firing" } else { "resolved" }
    );
    let message = message.body(body).map_err(|e| e.to_string())?;
    let builder = match config.smtp_security {
        SmtpSecurity::StartTls => SmtpTransport::starttls_relay(host).map_err(|e| e.to_string())?,
        SmtpSecurity::Tls => SmtpTransport::relay(host).map_err(|e| e.to_string())?,
        SmtpSecurity::None => SmtpTransport::builder_dangerous(host),
    };
    let mut builder = builder
        .port(config.smtp_port)
        .timeout(Some(Duration::from_secs(15)));
    if let (Ok(user), Ok(password)) = (
        std::env::var("FLOWC_SMTP_USER"),
        std::env::var("FLOWC_SMTP_PASSWORD"),
    ) {
        builder = builder.credentials(Credentials::new(user, password));
    }
    builder
        .build()
        .send(&message)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relay that offers no STARTTLS: what it was told, line by line.
    fn plain_relay() -> (u16, std::sync::Arc<Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Write};
        let heard = std::sync::Arc::new(Mutex::new(Vec::new()));
        let keep = std::sync::Arc::clone(&heard);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = stream.write_all(b"220 relay ESMTP\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                keep.lock().unwrap().push(line.trim_end().to_string());
                let reply: &[u8] = if line.to_ascii_uppercase().starts_with("QUIT") {
                    b"221 bye\r\n"
                } else {
                    b"250 relay\r\n"
                };
                let _ = stream.write_all(reply);
                line.clear();
            }
        });
        (port, heard)
    }

    #[test]
    fn starttls_never_falls_back_to_plain_text() {
        let (port, heard) = plain_relay();
        let config = AlertsConfig {
            webhook: None,
            email_to: vec!["ops@example.com".into()],
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: port,
            smtp_from: Some("flowc@example.com".into()),
            smtp_security: SmtpSecurity::StartTls,
            zero_records_runs: 5,
            period: Duration::from_secs(3600),
            sign_in_check: None,
        };
        let alert = Alert {
            flow: "orders".into(),
            cause: Cause::RunFailed,
            firing: true,
            message: "eAccounting answered 500".into(),
        };
        let err = email(&config, &alert).unwrap_err();
        assert!(err.to_ascii_lowercase().contains("tls"), "{err}");
        let heard = heard.lock().unwrap().clone();
        assert!(
            heard.first().is_some_and(|l| l.starts_with("EHLO")),
            "{heard:?}"
        );
        assert!(
            heard
                .iter()
                .all(|l| !l.starts_with("MAIL") && !l.starts_with("AUTH") && l != "DATA"),
            "sent in clear: {heard:?}"
        );
    }

    fn alerts(period: Duration) -> Alerts {
        alerts_firing(period, [])
    }

    fn alerts_firing<const N: usize>(
        period: Duration,
        firing: [(String, Cause, DateTime<Utc>); N],
    ) -> Alerts {
        Alerts::new(
            Some(AlertsConfig {
                webhook: None,
                email_to: vec![],
                smtp_host: None,
                smtp_port: 25,
                smtp_from: None,
                smtp_security: SmtpSecurity::None,
                zero_records_runs: 3,
                period,
                sign_in_check: None,
            }),
            firing,
        )
    }

    fn failed(retry_pending: bool) -> Observation {
        Observation {
            failure: Some((Cause::RunFailed, "eAccounting answered 500".into())),
            retry_pending,
            ..Observation::default()
        }
    }

    fn ok(zero_streak: u32, dead_letters: (u64, u64)) -> Observation {
        Observation {
            zero_streak,
            dead_letters,
            ..Observation::default()
        }
    }

    fn shape(alerts: &[Alert]) -> Vec<(Cause, bool)> {
        alerts.iter().map(|a| (a.cause, a.firing)).collect()
    }

    #[test]
    fn a_failure_waits_for_its_retry_then_alerts_once_per_period_and_recovers() {
        let a = alerts(Duration::from_secs(3600));
        let t0 = Utc::now();
        assert!(
            a.observe("orders", &failed(true), t0).is_empty(),
            "held while the retry is pending"
        );
        let first = a.observe("orders", &failed(false), t0);
        assert_eq!(shape(&first), [(Cause::RunFailed, true)]);
        assert!(first[0]
            .text()
            .contains("orders: run failed — eAccounting answered 500"));
        assert!(a
            .observe("orders", &failed(false), t0 + chrono::Duration::seconds(60))
            .is_empty());
        assert!(
            a.observe("other", &failed(false), t0).len() == 1,
            "per flow"
        );
        let again = a.observe(
            "orders",
            &failed(false),
            t0 + chrono::Duration::seconds(3600),
        );
        assert_eq!(shape(&again), [(Cause::RunFailed, true)], "once per period");
        let recovered = a.observe(
            "orders",
            &ok(0, (0, 0)),
            t0 + chrono::Duration::seconds(3700),
        );
        assert_eq!(shape(&recovered), [(Cause::RunFailed, false)]);
        assert!(recovered[0].text().contains("recovered"));
        assert!(
            a.observe("orders", &ok(0, (0, 0)), t0).is_empty(),
            "recovery once"
        );
    }

    #[test]
    fn zero_record_streaks_and_growing_dead_letters() {
        let a = alerts(Duration::from_secs(3600));
        let t = Utc::now();
        assert!(a.observe("orders", &ok(2, (0, 0)), t).is_empty());
        assert_eq!(
            shape(&a.observe("orders", &ok(3, (0, 0)), t)),
            [(Cause::ZeroRecords, true)]
        );
        assert!(a.observe("orders", &ok(4, (0, 0)), t).is_empty());
        assert_eq!(
            shape(&a.observe("orders", &ok(0, (0, 2)), t)),
            [(Cause::ZeroRecords, false), (Cause::DeadLetters, true)]
        );
        assert!(
            a.observe("orders", &ok(0, (2, 2)), t).is_empty(),
            "not growing"
        );
        assert!(
            a.observe("orders", &ok(0, (2, 3)), t).is_empty(),
            "within the period"
        );
        assert_eq!(
            shape(&a.observe("orders", &ok(0, (3, 0)), t)),
            [(Cause::DeadLetters, false)]
        );
    }

    #[test]
    fn a_sign_in_check_raises_once_and_clears_only_what_it_raised() {
        let a = alerts(Duration::from_secs(3600));
        let t = Utc::now();
        let refused = "eAccounting refused the refresh token";
        let raised = a.sign_in_checked("orders", Some(refused), t);
        assert_eq!(shape(&raised), [(Cause::SignIn, true)]);
        assert!(raised[0]
            .text()
            .contains("orders: sign-in failing (tokens not refreshing) — eAccounting refused"));
        assert!(a.sign_in_checked("orders", Some(refused), t).is_empty());
        let cleared = a.sign_in_checked("orders", None, t);
        assert_eq!(shape(&cleared), [(Cause::SignIn, false)]);
        assert!(a.sign_in_checked("orders", None, t).is_empty());

        // Raised by a run: a check that signs in fine leaves it to a run.
        let signed_out = Observation {
            failure: Some((Cause::SignIn, "403 on vouchers".into())),
            ..Observation::default()
        };
        assert_eq!(
            shape(&a.observe("stock", &signed_out, t)),
            [(Cause::SignIn, true)]
        );
        assert!(a.sign_in_checked("stock", None, t).is_empty());
        assert_eq!(
            shape(&a.observe("stock", &ok(0, (0, 0)), t)),
            [(Cause::SignIn, false)]
        );
    }

    #[test]
    fn firing_alerts_survive_a_restart() {
        let t0 = Utc::now();
        let a = alerts_firing(
            Duration::from_secs(3600),
            [("orders".into(), Cause::RunFailed, t0)],
        );
        assert!(
            a.observe("orders", &failed(false), t0 + chrono::Duration::seconds(60))
                .is_empty(),
            "sent before the restart, within the period"
        );
        assert_eq!(
            shape(&a.observe("orders", &ok(0, (0, 0)), t0)),
            [(Cause::RunFailed, false)],
            "the recovery is not forgotten"
        );
        for c in Cause::ALL {
            assert_eq!(Cause::parse(c.as_str()), Some(c));
        }
    }
}
