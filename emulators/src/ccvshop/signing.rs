//! CCV Shop's HMAC-SHA512 scheme, as the API notes describe it (§1.1
//! request signing, §1.2 response signing, §6 webhooks).
//!
//! Written here, from the notes, on purpose: flowc's connector has its own
//! signer, and the emulator must not share it. If both used one module, a
//! bug in it would sign and verify the same wrong bytes and every test would
//! pass; with two independent implementations such a bug becomes a 401.
//!
//! ```text
//! x-hash = hex(HMAC-SHA512(key = secret, msg = public|METHOD|path?query|body|x-date))
//! ```

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// The shop's key pair, as the emulator holds it to check requests and
/// sign responses. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    public: String,
    secret: String,
}

impl Keys {
    pub fn new(public: &str, secret: &str) -> Keys {
        Keys {
            public: public.to_string(),
            secret: secret.to_string(),
        }
    }

    /// The `x-public` value clients must send.
    pub fn public(&self) -> &str {
        &self.public
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The `x-hash` of a request or response signed with these keys.
    /// `method` is hashed as given: the server compares against the method
    /// of the request line, which is upper-case.
    pub fn hash(&self, method: &str, uri: &str, body: &[u8], x_date: &str) -> String {
        let message = string_to_sign(&self.public, method, uri, body, x_date);
        hex::encode(mac(&self.secret, &message).finalize().into_bytes())
    }

    /// Whether `x_hash` is the hash of this request. Compared in constant
    /// time; anything but 128 lower-case hex digits is a mismatch, since
    /// every documented client sends lower-case hex.
    pub fn verify(&self, method: &str, uri: &str, body: &[u8], x_date: &str, x_hash: &str) -> bool {
        let Some(given) = decode_lower_hex(x_hash) else {
            return false;
        };
        let message = string_to_sign(&self.public, method, uri, body, x_date);
        mac(&self.secret, &message).verify_slice(&given).is_ok()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Keys {{ public: {:?}, secret: <redacted> }}",
            self.public
        )
    }
}

/// The headers of the scheme, lower-case as every known client sends them.
pub const HEADER_PUBLIC: &str = "x-public";
pub const HEADER_DATE: &str = "x-date";
pub const HEADER_HASH: &str = "x-hash";

/// The five fields joined by `|`. An empty body leaves two pipes side by
/// side (`…/orders||2024-…`), which is what GET and DELETE sign.
pub fn string_to_sign(public: &str, method: &str, uri: &str, body: &[u8], x_date: &str) -> Vec<u8> {
    let head = format!("{public}|{method}|{uri}|");
    let mut out = Vec::with_capacity(head.len() + body.len() + 1 + x_date.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out.push(b'|');
    out.extend_from_slice(x_date.as_bytes());
    out
}

/// Webhook deliveries: `x-hash = HMAC-SHA512(key, address|body)` (§6; the
/// real scheme is unconfirmed, this is the one the notes recommend).
pub fn webhook_hash(key: &str, address: &str, body: &[u8]) -> String {
    let mut message = format!("{address}|").into_bytes();
    message.extend_from_slice(body);
    hex::encode(mac(key, &message).finalize().into_bytes())
}

fn mac(key: &str, message: &[u8]) -> HmacSha512 {
    // HMAC takes keys of any length (long ones are hashed first), so this
    // cannot fail; the fallback only satisfies the type.
    let mut mac = <HmacSha512 as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac
}

fn decode_lower_hex(text: &str) -> Option<Vec<u8>> {
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if text.len() != 128 || !text.bytes().all(lower_hex) {
        return None;
    }
    hex::decode(text).ok()
}

/// The docs' own form of a timestamp: `2022-11-26T00:45:54Z`.
pub fn format_x_date(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Clients write `x-date` as `…Z`, `…+00:00`, `…+0000`, with or without
/// milliseconds (§1.1), so every one of those is read. A value without a
/// zone is taken as UTC, which the docs say it is.
pub fn parse_x_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// PHP's `urlencode`, which the official SDKs use for the query they sign:
/// letters, digits and `-_.` stay, a space becomes `+`, every other byte is
/// `%XX` in upper-case hex (so `expand=a,b` is sent as `expand=a%2Cb`).
pub fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `http_build_query` of already-rendered pairs, in order, without the `?`.
/// The emulator writes its `next`/`previous` links with it, so a client
/// that follows them signs exactly what a PHP client would.
pub fn build_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k.as_ref()), urlencode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // The test vectors of the API notes §1.1.
    const VECTOR_GET: &str = "f157416d27ca2f6e881e0b0a6a948553d14d6c8cbbcf0e631173b97f80fdb9c5bbad67405cbcfc3c732f7a02f540a9c2e24ec71ea04d41ec08293ac50c541013";
    const VECTOR_PATCH: &str = "a378de184ef72fb96d99ef2ad7edbf92c7e65b89b24800fb7003009180b084eeed364fc7063dca04958c7f62cefae6417c3377c68dec1ac1ce158260e07921d4";
    const NOON: &str = "2024-01-01T12:00:00Z";

    fn demo() -> Keys {
        Keys::new("demo", "demo")
    }

    #[test]
    fn get_vector_with_a_built_query() {
        let uri = format!(
            "/api/rest/v1/orders?{}",
            build_query(&[("start", "0"), ("size", "25")])
        );
        assert_eq!(demo().hash("GET", &uri, b"", NOON), VECTOR_GET);
        assert!(demo().verify("GET", &uri, b"", NOON, VECTOR_GET));
    }

    #[test]
    fn patch_vector_hashes_the_body() {
        let body = br#"{"status":5}"#;
        let uri = "/api/rest/v1/orders/123";
        assert_eq!(demo().hash("PATCH", uri, body, NOON), VECTOR_PATCH);
        assert!(demo().verify("PATCH", uri, body, NOON, VECTOR_PATCH));
        assert!(!demo().verify("PATCH", uri, br#"{"status":6}"#, NOON, VECTOR_PATCH));
    }

    #[test]
    fn empty_body_leaves_two_pipes() {
        assert_eq!(string_to_sign("p", "GET", "/x", b"", "d"), b"p|GET|/x||d");
    }

    #[test]
    fn anything_but_the_exact_lower_case_hash_is_rejected() {
        let uri = "/api/rest/v1/orders?start=0&size=25";
        let c = demo();
        assert!(!c.verify("GET", uri, b"", NOON, &VECTOR_GET.to_uppercase()));
        assert!(!c.verify("GET", uri, b"", NOON, &VECTOR_GET[..127]));
        assert!(
            !c.verify("get", uri, b"", NOON, VECTOR_GET),
            "method as sent"
        );
        assert!(!c.verify(
            "GET",
            "/api/rest/v1/orders?size=25&start=0",
            b"",
            NOON,
            VECTOR_GET
        ));
        assert!(!c.verify("GET", uri, b"", "2024-01-01T12:00:00+00:00", VECTOR_GET));
        assert!(!Keys::new("demo", "other").verify("GET", uri, b"", NOON, VECTOR_GET));
    }

    #[test]
    fn x_date_forms_clients_send() {
        let noon = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).single();
        for form in [
            NOON,
            "2024-01-01T12:00:00+00:00",
            "2024-01-01T12:00:00+0000",
            "2024-01-01T12:00:00.000Z",
            "2024-01-01T13:00:00+01:00",
            "2024-01-01T12:00:00",
        ] {
            assert_eq!(parse_x_date(form), noon, "{form}");
        }
        assert_eq!(parse_x_date("yesterday"), None);
        assert_eq!(noon.map(format_x_date).as_deref(), Some(NOON));
    }

    #[test]
    fn query_is_encoded_like_http_build_query() {
        assert_eq!(
            build_query(&[
                ("productname", "red shoe"),
                ("expand", "productphotos,producttocategories"),
                ("odd", "a/b~c*d'é"),
            ]),
            "productname=red+shoe&expand=productphotos%2Cproducttocategories&odd=a%2Fb%7Ec%2Ad%27%C3%A9"
        );
    }

    #[test]
    fn webhook_hash_covers_address_and_body() {
        let a = webhook_hash("k", "http://127.0.0.1/hook", b"{}");
        assert_eq!(a.len(), 128);
        assert_ne!(a, webhook_hash("k", "http://127.0.0.1/hook2", b"{}"));
        assert_ne!(a, webhook_hash("k2", "http://127.0.0.1/hook", b"{}"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", Keys::new("pub", "very-secret"));
        assert!(shown.contains("pub") && !shown.contains("very-secret"));
    }
}
