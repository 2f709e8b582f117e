//! What may be kept of the words services and HTTP libraries use when
//! something fails: error texts end up in the state store (activity rows,
//! dead letters) and on screen, where the docs promise no personal data.
//!
//! * [`scrub`]: every URL becomes its path (a query string such as
//!   `$filter=EmailAddress eq '…'` carries search values) and every e-mail
//!   address becomes `<e-mail>`.
//! * [`service_text`]: a service's own message, scrubbed, with quoted values
//!   replaced by `'…'` unless they are ids, numbers or field names (services
//!   quote the value they refused: a name, an address, a personal number).

/// `text` without URLs (each replaced by its path) and without e-mail addresses.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = next_url(rest) {
        out.push_str(&rest[..start]);
        let url_text = &rest[start..];
        let end = url_text
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(url_text.len());
        out.push_str(&url_path(&url_text[..end]));
        rest = &url_text[end..];
    }
    out.push_str(rest);
    without_emails(&out)
}

/// A service's message as it may be stored: [`scrub`]bed, and quoted values
/// that could be personal replaced by `'…'`.
pub fn service_text(text: &str) -> String {
    let scrubbed = scrub(text);
    let mut out = String::with_capacity(scrubbed.len());
    let mut rest = scrubbed.as_str();
    while let Some(open) = rest.find(['\'', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('\'');
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            break;
        };
        out.push_str(&rest[..=open]);
        let inner = &after[..close];
        if keeps(inner) {
            out.push_str(inner);
        } else {
            out.push('…');
        }
        out.push(quote);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A service's error body as it may be stored: a JSON body keeps its shape
/// with every text passed through [`service_text`]; anything else is
/// [`scrub`]bed. At most `max` characters.
pub fn service_body(body: &[u8], max: usize) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => redact_json(v).to_string(),
        Err(_) => scrub(&String::from_utf8_lossy(body)),
    };
    text.chars().take(max).collect()
}

fn redact_json(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(s) => J::String(service_text(&s)),
        J::Array(items) => J::Array(items.into_iter().map(redact_json).collect()),
        J::Object(map) => J::Object(map.into_iter().map(|(k, v)| (k, redact_json(v))).collect()),
        other => other,
    }
}

/// Quoted text that names something rather than someone: empty, a number,
/// a UUID, or a field-like name (`TermsOfPaymentId`, `Rows[0].ArticleId`).
fn keeps(inner: &str) -> bool {
    // Short plain numbers are amounts and counts; longer digit runs and
    // digits with separators inside may be personal or phone numbers.
    let digits = inner.chars().filter(char::is_ascii_digit).count();
    let numeric = inner
        .replace(',', ".")
        .parse::<rust_decimal::Decimal>()
        .is_ok()
        && digits <= 8;
    let field_like = inner.len() <= 40
        && inner
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
        && inner
            .split(['[', ']'])
            .step_by(2)
            .all(|part| !part.chars().any(|c| c.is_ascii_digit()));
    inner.is_empty() || numeric || uuid::Uuid::parse_str(inner).is_ok() || field_like
}

fn next_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("http://"), lower.find("https://")]
        .into_iter()
        .flatten()
        .min()
}

/// `https://host/a/b?x=1#f` → `/a/b`.
fn url_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => "<url>".to_string(),
    }
}

/// Replaces every `local@domain.tld` with `<e-mail>`.
fn without_emails(text: &str) -> String {
    let is_local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let is_domain = |c: char| c.is_alphanumeric() || ".-".contains(c);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (i, &(at, c)) in chars.iter().enumerate() {
        if c != '@' || at < copied {
            continue;
        }
        let start = chars[..i]
            .iter()
            .rev()
            .take_while(|(_, c)| is_local(*c))
            .last()
            .map(|(p, _)| *p);
        let end = chars[i + 1..]
            .iter()
            .take_while(|(_, c)| is_domain(*c))
            .last()
            .map(|(p, c)| p + c.len_utf8());
        if let (Some(start), Some(end)) = (start, end) {
            let domain = text[at + 1..end].trim_end_matches('.');
            if domain.contains('.') && start >= copied {
                out.push_str(&text[copied..start]);
                out.push_str("<e-mail>");
                copied = at + 1 + domain.len();
            }
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_paths_and_e_mail_addresses_go() {
        let reqwest = "error sending request for url (http://127.0.0.1:4242/v2/customers?$filter=EmailAddress%20eq%20%27jan%40x.nl%27&$page=1): connection closed";
        assert_eq!(
            scrub(reqwest),
            "error sending request for url (/v2/customers): connection closed"
        );
        assert_eq!(
            scrub("customer jan.de-vries+shop@example.co.uk exists; ask Jan"),
            "customer <e-mail> exists; ask Jan"
        );
        assert_eq!(scrub("a@b and x@y.z."), "a@b and <e-mail>.");
        assert_eq!(scrub("plain text, ünïcode"), "plain text, ünïcode");
    }

    #[test]
    fn json_bodies_keep_their_shape() {
        let body = br#"{"ErrorCode":2000,"DeveloperErrorMessage":"EmailAddress 'jan@x.nl' taken by 'Jan de Vries'","ErrorId":"abc"}"#;
        assert_eq!(
            service_body(body, 4000),
            r#"{"ErrorCode":2000,"DeveloperErrorMessage":"EmailAddress '…' taken by '…'","ErrorId":"abc"}"#
        );
        assert_eq!(service_body(b"<html>jan@x.nl</html>", 9), "<html><e-");
    }

    #[test]
    fn service_texts_keep_names_of_things_and_lose_values_of_people() {
        assert_eq!(
            service_text("DataModelValidationError - EmailAddress: 'jan@x.nl' is not valid; Name 'Jan de Vries' too long"),
            "DataModelValidationError - EmailAddress: '…' is not valid; Name '…' too long"
        );
        assert_eq!(
            service_text("ResourceNotFound - TermsOfPaymentId: no resource with id '8f0a6c1e-1111-4222-8333-944445555666' exists in 'Rows[0].ArticleId', count '12.5'"),
            "ResourceNotFound - TermsOfPaymentId: no resource with id '8f0a6c1e-1111-4222-8333-944445555666' exists in 'Rows[0].ArticleId', count '12.5'"
        );
        assert_eq!(
            service_text("CorporateIdentityNumber \"19800101-1234\" is invalid"),
            "CorporateIdentityNumber \"…\" is invalid"
        );
        assert_eq!(service_text("unbalanced 'quote"), "unbalanced 'quote");
    }
}
