//! JSON ↔ [`Value`] without a detour through f64: every number is read into
//! an exact decimal (or kept verbatim when it is a huge integer), and printed
//! back with the digits it came with.
//!
//! Why a decoder of our own rather than serde_json: it decodes straight into
//! [`Value`] (no intermediate `serde_json::Value` tree to convert), skips the
//! fields a flow never reads without building them (`decode_projected`), and
//! reuses its buffers from record to record. The mapping benchmark
//! (`benches/run.sh`, 200k orders) measures flowc against a hand-written
//! serde program on the same input; decoding is most of a record's cost, and
//! a `serde_json::Value` tree would add a second pass over every record.

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{format_date, format_datetime, Record, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

/// The interner's map, hashed with FNV-1a (keys are short).
type KeyMap = HashMap<Box<[u8]>, Arc<str>, super::names::FnvBuild>;

/// Object keys, each allocated once. Records of one shape list the same
/// keys in the same order, so the interner first guesses that the n-th key
/// of a document is the n-th key of the one before — one byte comparison —
/// and looks the key up by its hash only when the guess is wrong.
#[derive(Default)]
struct Interner {
    /// At most 4096 keys: a document of ever-new keys does not grow it.
    map: KeyMap,
    /// The keys of the last document, in the order they came.
    recent: Vec<Arc<str>>,
    /// How many keys of the current document came so far.
    next: usize,
}

impl Interner {
    /// A new document starts: the guesses start again from its first key.
    fn start(&mut self) {
        self.next = 0;
    }

    /// The key whose raw (escape-free) bytes are `raw`; `None` when they
    /// are not UTF-8.
    fn intern(&mut self, raw: &[u8]) -> Option<Arc<str>> {
        let n = self.next;
        self.next += 1;
        if let Some(k) = self.recent.get(n) {
            if k.as_bytes() == raw {
                return Some(k.clone());
            }
        }
        let key = match self.map.get(raw) {
            Some(k) => k.clone(),
            None => {
                let k: Arc<str> = Arc::from(std::str::from_utf8(raw).ok()?);
                if self.map.len() < 4096 {
                    self.map.insert(raw.into(), k.clone());
                }
                k
            }
        };
        match self.recent.get_mut(n) {
            Some(slot) => *slot = key.clone(),
            None if n < 4096 => self.recent.push(key.clone()),
            None => {}
        }
        Some(key)
    }
}

/// A reusable decoder. It interns object keys, so decoding many records of
/// the same shape allocates each key once.
#[derive(Default)]
pub struct Decoder {
    keys: Interner,
    /// The top-level keys a projection skipped in the current document
    /// (reused, so finding duplicates among them allocates nothing).
    skipped: Vec<Arc<str>>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one JSON document; trailing whitespace is allowed, anything else is an error.
    pub fn decode(&mut self, input: &[u8]) -> Result<Value, JsonError> {
        self.decode_with(input, None)
    }

    /// Decodes one JSON document, building only the top-level fields that
    /// `keep` accepts: a flow that reads 10 of an order's 40 fields does not
    /// pay for the other 30.
    pub fn decode_projected(
        &mut self,
        input: &[u8],
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Value, JsonError> {
        self.decode_with(input, Some(keep))
    }

    fn decode_with(
        &mut self,
        input: &[u8],
        keep: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Value, JsonError> {
        self.keys.start();
        let mut p = Parser {
            input,
            pos: 0,
            keys: &mut self.keys,
            skipped: &mut self.skipped,
            depth: 0,
            keep,
        };
        p.skip_ws();
        let v = p.value()?;
        p.skip_ws();
        if p.pos != input.len() {
            return Err(p.err("unexpected text after the JSON value"));
        }
        Ok(v)
    }

    /// Decodes a top-level JSON array element by element, handing each to `f`.
    /// The array itself is never materialised, so memory stays flat.
    pub fn decode_array_stream(
        &mut self,
        input: &[u8],
        mut f: impl FnMut(Value) -> bool,
    ) -> Result<(), JsonError> {
        let mut p = Parser {
            input,
            pos: 0,
            keys: &mut self.keys,
            skipped: &mut self.skipped,
            depth: 0,
            keep: None,
        };
        p.skip_ws();
        if p.peek() != Some(b'[') {
            // Fails, with the same error as anywhere a byte is expected.
            return p.expect(b'[');
        }
        if p.open(b']')? {
            loop {
                p.skip_ws();
                p.keys.start();
                let v = p.value()?;
                if !f(v) {
                    return Ok(());
                }
                if !p.more(b']', ARRAY_END)? {
                    break;
                }
            }
        }
        p.skip_ws();
        if p.pos != input.len() {
            return Err(p.err("unexpected text after the JSON array"));
        }
        Ok(())
    }
}

fn duplicate(key: &str, offset: usize) -> JsonError {
    JsonError {
        offset,
        message: format!("the key {key:?} appears twice in one object"),
    }
}

/// A bit of a 64-bit mask standing for a key, from its length and its first
/// and last bytes: equal keys always get the same bit, so an object whose
/// keys all have different bits (nearly every object) has no duplicates,
/// and only a collision costs a scan. Cheaper than hashing every byte.
fn key_bit(key: &str) -> u64 {
    let b = key.as_bytes();
    let (first, last) = (
        b.first().copied().unwrap_or(0),
        b.last().copied().unwrap_or(0),
    );
    let mix = (b.len() as u32)
        .wrapping_mul(31)
        .wrapping_add(u32::from(first).wrapping_mul(7))
        .wrapping_add(u32::from(last));
    1u64 << (mix % 64)
}

pub fn parse(input: &str) -> Result<Value, JsonError> {
    Decoder::new().decode(input.as_bytes())
}

const MAX_DEPTH: usize = 256;
const OBJECT_END: &str = "expected `,` or `}` in the object";
const ARRAY_END: &str = "expected `,` or `]` in the array";

struct Parser<'a, 'k> {
    input: &'a [u8],
    pos: usize,
    keys: &'k mut Interner,
    skipped: &'k mut Vec<Arc<str>>,
    depth: usize,
    /// Top-level fields to decode; the others are skipped (checked for
    /// well-formedness, not built). `None` decodes everything.
    keep: Option<&'a dyn Fn(&str) -> bool>,
}

impl Parser<'_, '_> {
    fn err(&self, message: &str) -> JsonError {
        JsonError {
            offset: self.pos,
            message: message.to_string(),
        }
    }
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }
    fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        if self.next() == Some(b) {
            Ok(())
        } else {
            self.pos = self.pos.saturating_sub(1);
            Err(self.err(&format!("expected `{}`", b as char)))
        }
    }
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }
    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::Str(Arc::from(self.string()?))),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// Steps into the object or array whose opening bracket is next, which
    /// `close` ends. `false` when it is empty (then it is also left again).
    fn open(&mut self, close: u8) -> Result<bool, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting is deeper than 256 levels"));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            self.depth -= 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an item of an object or array: `true` if a `,` announces
    /// another, `false` at `close` (the container is left); else `expected`.
    fn more(&mut self, close: u8, expected: &str) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.next() {
            Some(b',') => Ok(true),
            Some(b) if b == close => {
                self.depth -= 1;
                Ok(false)
            }
            _ => {
                // Point at what is there instead (at the end, at the last byte).
                self.pos = self.pos.saturating_sub(1);
                Err(self.err(expected))
            }
        }
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        let mut record = Record::with_capacity(8);
        if !self.open(b'}')? {
            return Ok(Value::record(record));
        }
        // Keys skipped by the projection (only at the top level), to find
        // duplicates among them too: a bloom mask of their hashes spares the
        // scan in the common case.
        if self.depth == 1 {
            self.skipped.clear();
        }
        let mut seen_mask = 0u64;
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key_at = self.pos;
            let key = self.key()?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            let bit = key_bit(&key);
            let maybe_seen = seen_mask & bit != 0;
            seen_mask |= bit;
            if self.depth == 1 && self.keep.is_some_and(|keep| !keep(&key)) {
                // A key is kept or skipped by its name alone: a duplicate of a
                // skipped key is among the skipped ones.
                if maybe_seen && self.skipped.iter().any(|k| **k == *key) {
                    return Err(duplicate(&key, key_at));
                }
                self.skipped.push(key);
                self.skip_value()?;
            } else {
                if maybe_seen && record.get(&key).is_some() {
                    // Which of two values would be meant is anyone's guess (most
                    // decoders keep the last): the record is refused instead.
                    return Err(duplicate(&key, key_at));
                }
                let v = self.value()?;
                record.push_unchecked(key, v);
            }
            if !self.more(b'}', OBJECT_END)? {
                return Ok(Value::record(record));
            }
        }
    }

    /// Passes over one value, checking its structure without building it.
    fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                loop {
                    match self.next() {
                        Some(b'"') => return Ok(()),
                        Some(b'\\') => {
                            if self.next().is_none() {
                                return Err(self.err("unterminated string"));
                            }
                        }
                        Some(b) if b < 0x20 => {
                            self.pos -= 1;
                            return Err(self.err("control character in a string"));
                        }
                        Some(_) => {}
                        None => return Err(self.err("unterminated string")),
                    }
                }
            }
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                if !self.open(close)? {
                    return Ok(());
                }
                loop {
                    self.skip_ws();
                    if close == b'}' {
                        if self.peek() != Some(b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        self.skip_value()?;
                        self.skip_ws();
                        self.expect(b':')?;
                        self.skip_ws();
                    }
                    self.skip_value()?;
                    if !self.more(close, "expected `,` or a closing bracket")? {
                        return Ok(());
                    }
                }
            }
            // Scalars are short: decoding them is the simplest strict check.
            Some(_) => self.value().map(|_| ()),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        let mut items = Vec::new();
        if !self.open(b']')? {
            return Ok(Value::list(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            if !self.more(b']', ARRAY_END)? {
                return Ok(Value::list(items));
            }
        }
    }

    fn key(&mut self) -> Result<Arc<str>, JsonError> {
        // Fast path: a key without escapes is interned by its raw bytes.
        let start = self.pos + 1;
        if let Some(len) = self.input[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
        {
            if self.input[start + len] == b'"' {
                let raw = &self.input[start..start + len];
                self.pos = start + len + 1;
                return self
                    .keys
                    .intern(raw)
                    .ok_or_else(|| self.err("invalid UTF-8 in a key"));
            }
        }
        Ok(Arc::from(self.string()?))
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.input[start..self.pos]);
            match self.next() {
                Some(b'"') => break,
                Some(b'\\') => {
                    let c = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.err("invalid escape in a string")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => {
                    self.pos -= 1;
                    return Err(self.err("control character in a string"));
                }
                None => return Err(self.err("unterminated string")),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in a string"))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let s = std::str::from_utf8(digits).map_err(|_| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
                return Err(self.err("unpaired surrogate in \\u escape"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.err("unpaired surrogate in \\u escape"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.err("invalid code point in \\u escape"))
    }

    /// Passes over a run of ASCII digits; whether there was at least one.
    fn digits(&mut self) -> bool {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos > start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        if !self.digits() {
            return Err(self.err("expected digits"));
        }
        if self.input[int_start] == b'0' && self.pos - int_start > 1 {
            return Err(JsonError {
                offset: int_start,
                message: "leading zeros are not allowed".into(),
            });
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            if !self.digits() {
                return Err(self.err("expected digits after `.`"));
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !self.digits() {
                return Err(self.err("expected digits in the exponent"));
            }
        }
        // Safe: the bytes are ASCII digits and signs.
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default();
        let parsed = if exponent {
            Decimal::from_scientific(text)
        } else {
            Decimal::from_str_exact(text)
        };
        let _ = integral;
        match parsed {
            Ok(d) if !exponent || significant_digits(text) <= 28 => Ok(Value::Num(d)),
            // A number that cannot be held exactly is kept verbatim: copied,
            // it is written back unchanged; computed with, it fails that
            // record (E0907). Only a fraction of trailing zeros is dropped.
            _ => Ok(
                match trim_fraction_zeros(text).map(Decimal::from_str_exact) {
                    Some(Ok(d)) => Value::Num(d),
                    _ => Value::BigNum(Arc::from(text)),
                },
            ),
        }
    }
}

/// The significant digits of a number's mantissa (`0.0120e5` has 2).
fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len()
}

/// `1.2500…0` without the zeros that make it too long to hold exactly.
fn trim_fraction_zeros(text: &str) -> Option<&str> {
    if text.contains(['e', 'E']) || !text.contains('.') {
        return None;
    }
    Some(text.trim_end_matches('0').trim_end_matches('.'))
}

/// Writes compact JSON. Absent fields are left out; an absent top-level value prints `null`.
pub fn write(value: &Value, out: &mut String) {
    match value {
        Value::Absent | Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Num(d) => {
            use std::fmt::Write;
            let _ = write!(out, "{}", super::unsigned_zero(*d));
        }
        Value::BigNum(s) => out.push_str(s),
        Value::Str(s) => write_str(s, out),
        Value::Date(d) => write_str(&format_date(d), out),
        Value::DateTime(dt) => write_str(&format_datetime(dt), out),
        Value::List(items) => write_members(out, ('[', ']'), list_members(items), None),
        Value::Record(r) => write_members(out, ('{', '}'), record_members(r), None),
    }
}

/// The items of a list, as members without a key. Absent values are left
/// out, as a record leaves out a field it does not have.
fn list_members(items: &[Value]) -> impl Iterator<Item = (Option<&str>, &Value)> {
    items
        .iter()
        .filter(|v| !matches!(v, Value::Absent))
        .map(|v| (None, v))
}

/// The fields of a record that are there.
fn record_members(r: &Record) -> impl Iterator<Item = (Option<&str>, &Value)> {
    r.iter()
        .filter(|(_, v)| !matches!(v, Value::Absent))
        .map(|(k, v)| (Some(&**k), v))
}

/// Writes members between `open` and `close`, separated by commas: all on
/// one line, or with `indent` (that of the line the container starts on)
/// one per line, two spaces deeper.
fn write_members<'v>(
    out: &mut String,
    (open, close): (char, char),
    members: impl Iterator<Item = (Option<&'v str>, &'v Value)>,
    indent: Option<usize>,
) {
    out.push(open);
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(n) = indent {
            out.push('\n');
            pad(n + 2, out);
        }
        if let Some(key) = key {
            write_str(key, out);
            out.push_str(if indent.is_some() { ": " } else { ":" });
        }
        match indent {
            Some(n) => pretty(value, n + 2, out),
            None => write(value, out),
        }
    }
    if let Some(n) = indent {
        out.push('\n');
        pad(n, out);
    }
    out.push(close);
}

fn pad(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write;
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

pub fn to_string(value: &Value) -> String {
    let mut s = String::new();
    write(value, &mut s);
    s
}

/// Indented JSON with two spaces, for people (plans, test diffs).
pub fn to_string_pretty(value: &Value) -> String {
    let mut out = String::new();
    pretty(value, 0, &mut out);
    out
}

fn pretty(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::List(items) if !items.is_empty() => {
            write_members(out, ('[', ']'), list_members(items), Some(indent))
        }
        Value::Record(r) if !r.is_empty() => {
            write_members(out, ('{', '}'), record_members(r), Some(indent))
        }
        other => write(other, out),
    }
}

/// The value as it would be sent: a date equals its ISO text, `12.0`
/// equals `12.00`. For comparing what was mapped with what is expected.
pub fn canonical(v: &Value) -> Value {
    parse(&to_string(v)).unwrap_or(Value::Null)
}

/// Converts a serde_json value (read with `arbitrary_precision`) exactly.
pub fn from_serde(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            match Decimal::from_str_exact(&text).or_else(|_| Decimal::from_scientific(&text)) {
                Ok(d) => Value::Num(d),
                Err(_) => Value::BigNum(Arc::from(text)),
            }
        }
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(items) => Value::list(items.iter().map(from_serde).collect()),
        serde_json::Value::Object(map) => Value::record(
            map.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), from_serde(v)))
                .collect(),
        ),
    }
}

/// Converts to serde_json exactly (numbers keep their digits).
pub fn to_serde(v: &Value) -> serde_json::Value {
    serde_json::from_str(&to_string(v)).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        to_string(&parse(s).unwrap())
    }

    #[test]
    fn numbers_are_exact() {
        assert_eq!(roundtrip("12.950"), "12.950");
        assert_eq!(roundtrip("1234567890123456789"), "1234567890123456789");
        assert_eq!(
            roundtrip("99999999999999999999999999999999999"),
            "99999999999999999999999999999999999"
        );
        assert_eq!(roundtrip("-0.1"), "-0.1");
        assert_eq!(roundtrip("1e3"), "1000");
        // Too many digits to hold exactly: kept verbatim, not refused.
        assert_eq!(
            roundtrip("0.12345678901234567890123456789012345"),
            "0.12345678901234567890123456789012345"
        );
        assert!(matches!(
            parse("0.12345678901234567890123456789012345"),
            Ok(Value::BigNum(_))
        ));
        assert_eq!(roundtrip("1e400"), "1e400");
        assert_eq!(
            roundtrip("1.23456789012345678901234567890123e5"),
            "1.23456789012345678901234567890123e5"
        );
        assert_eq!(roundtrip("0.100000000000000000000000000000000"), "0.1");
        // Negative zero is written without its sign.
        assert_eq!(roundtrip("-0.00"), "0.00");
        assert_eq!(roundtrip("-0"), "0");
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            roundtrip(r#""a\"b\\c\n\u00e9\ud83d\ude00""#),
            "\"a\\\"b\\\\c\\né😀\""
        );
        assert!(parse(r#""\ud83d""#).is_err());
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "tru",
            "\"a",
            "[1] x",
            "{\"a\":1,}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let deep = "[".repeat(300) + &"]".repeat(300);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn keys_that_share_a_mask_bit_are_told_apart_and_every_duplicate_is_found() {
        // Same length, first and last byte: the same bit, different keys.
        let keys: Vec<String> = (0..150).map(|i| format!("k{i:03}z")).collect();
        let object = |extra: &str| {
            let fields: Vec<String> = keys.iter().map(|k| format!("\"{k}\":1")).collect();
            format!("{{{}{extra}}}", fields.join(","))
        };
        assert!(parse(&object("")).is_ok());
        let e = parse(&object(",\"k077z\":2")).unwrap_err();
        assert_eq!(e.message, r#"the key "k077z" appears twice in one object"#);
        // An escaped spelling is the same key.
        assert!(parse(r#"{"ab":1,"a\u0062":2}"#).is_err());
    }

    #[test]
    fn records_keep_order_and_duplicate_keys_are_refused() {
        assert_eq!(roundtrip(r#"{"b":1,"a":2}"#), r#"{"b":1,"a":2}"#);
        let e = parse(r#"{"total": 5.00, "total": 700.00}"#).unwrap_err();
        assert_eq!(e.message, r#"the key "total" appears twice in one object"#);
        assert_eq!(e.offset, 16);
        assert!(parse(r#"{"a": {"x": 1, "x": 2}}"#).is_err());
        assert!(parse(r#"[{"x": 1}, {"x": 2}]"#).is_ok());
        // Also among the fields a projection skips, and with escapes.
        let keep = |k: &str| k == "a";
        let mut d = Decoder::new();
        assert!(d
            .decode_projected(br#"{"a":1,"b":2,"b":3}"#, &keep)
            .is_err());
        assert!(d.decode_projected(br#"{"a":1,"a":2}"#, &keep).is_err());
        assert!(d.decode_projected(br#"{"a":1,"b":2,"c":3}"#, &keep).is_ok());
    }

    #[test]
    fn projection_skips_unused_fields_but_still_rejects_broken_ones() {
        let keep = |k: &str| k == "a";
        let mut d = Decoder::new();
        let v = d
            .decode_projected(br#"{"a":{"x":1},"b":[1,{"c":"\"}"}],"d":"t"}"#, &keep)
            .unwrap();
        assert_eq!(to_string(&v), r#"{"a":{"x":1}}"#);
        assert!(d.decode_projected(br#"{"a":1,"b":[1,}"#, &keep).is_err());
        assert!(d.decode_projected(br#"{"a":1,"b":"open}"#, &keep).is_err());
        assert!(d.decode_projected(br#"{"a":1,"b":tru}"#, &keep).is_err());
    }

    #[test]
    fn a_missing_separator_is_reported_where_it_stands() {
        let at = |r: Result<(), JsonError>| {
            let e = r.unwrap_err();
            (e.offset, e.message)
        };
        let array = "expected `,` or `]` in the array".to_string();
        assert_eq!(at(parse("[1 2]").map(drop)), (3, array.clone()));
        assert_eq!(
            at(parse(r#"{"a":1 "b":2}"#).map(drop)),
            (7, "expected `,` or `}` in the object".into())
        );
        let mut d = Decoder::new();
        assert_eq!(at(d.decode_array_stream(b"[1 2]", |_| true)), (3, array));
        assert_eq!(
            at(d.decode_array_stream(b"", |_| true)),
            (0, "expected `[`".into())
        );
        let keep = |k: &str| k == "a";
        assert_eq!(
            at(d.decode_projected(br#"{"a":1,"b":[1 2]}"#, &keep).map(drop)),
            (14, "expected `,` or a closing bracket".into())
        );
    }

    #[test]
    fn compact_and_indented_output_leave_out_absent_values() {
        let mut inner = Record::new();
        inner.insert("a", Value::int(1));
        inner.insert("gone", Value::Absent);
        let mut top = Record::new();
        top.insert("list", Value::list(vec![Value::int(2), Value::Absent]));
        top.insert("inner", Value::record(inner));
        top.insert("empty", Value::list(vec![]));
        let v = Value::record(top);
        assert_eq!(to_string(&v), r#"{"list":[2],"inner":{"a":1},"empty":[]}"#);
        assert_eq!(
            to_string_pretty(&v),
            "{\n  \"list\": [\n    2\n  ],\n  \"inner\": {\n    \"a\": 1\n  },\n  \"empty\": []\n}"
        );
    }

    #[test]
    fn streams_arrays() {
        let mut seen = vec![];
        Decoder::new()
            .decode_array_stream(b" [1, {\"a\": 2}, []] ", |v| {
                seen.push(to_string(&v));
                true
            })
            .unwrap();
        assert_eq!(seen, vec!["1", r#"{"a":2}"#, "[]"]);
    }
}
