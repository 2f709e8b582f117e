//! Reading dates, date-times and exact decimals from text: the forms the
//! shop APIs, CSV files and flows write them in. Every stage that needs to
//! read a date or a number from text (functions, connectors, the engine's
//! cursors) uses these, so they all agree on what a date is.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;

use super::Value;

/// An ISO 8601 date-time with or without offset (no offset means UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt);
        }
    }
    // No offset: the APIs document their timestamps as UTC.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(naive.and_utc().fixed_offset());
        }
    }
    None
}

/// An ISO 8601 calendar date, `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// A date as a moment: its start, in UTC (the zone the APIs document).
fn midnight_utc(d: NaiveDate) -> DateTime<FixedOffset> {
    d.and_time(NaiveTime::MIN).and_utc().fixed_offset()
}

/// A value as a moment in time, for comparisons across dates, date-times and
/// ISO strings: a date is its midnight in UTC.
pub fn datetime_of(v: &Value) -> Option<DateTime<FixedOffset>> {
    match v {
        Value::DateTime(dt) => Some(*dt),
        Value::Date(d) => Some(midnight_utc(*d)),
        Value::Str(s) => parse_datetime(s).or_else(|| parse_date(s).map(midnight_utc)),
        _ => None,
    }
}

/// A value as a calendar date: a date, the date of a date-time in its own
/// offset, or ISO text of either.
pub fn date_of(v: &Value) -> Option<NaiveDate> {
    match v {
        Value::Date(d) => Some(*d),
        Value::DateTime(dt) => Some(dt.date_naive()),
        Value::Str(s) => parse_date(s).or_else(|| parse_datetime(s).map(|dt| dt.date_naive())),
        _ => None,
    }
}

/// How a number's text separates thousands and decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFormat {
    /// `1,234.56`: comma thousands, point decimals.
    PointDecimal,
    /// `1.234,56`: point thousands, comma decimals.
    CommaDecimal,
}

impl NumberFormat {
    /// The format a sample such as `"1,234.56"` or `"1.234,56"` shows.
    pub fn from_sample(sample: &str) -> Option<NumberFormat> {
        match sample {
            "1,234.56" | "1234.56" => Some(NumberFormat::PointDecimal),
            "1.234,56" | "1234,56" => Some(NumberFormat::CommaDecimal),
            _ => None,
        }
    }
}

/// An exact decimal from text: `12.50`, `-3`, and `12,50` (one comma, no
/// point). Text whose separators could mean two numbers — `1,234` is 1234
/// with a thousands comma or 1.234 with a decimal comma — is refused: say
/// which with [`parse_decimal_as`].
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    let (int, frac) = match (t.matches(',').count(), t.contains('.')) {
        (0, _) => return exact(s, t),
        (1, false) => t.split_once(',').unwrap_or((t, "")),
        _ => {
            return Err(format!(
                "{s:?} has thousands separators; say which separator is which: to_number(x, \"1,234.56\") or to_number(x, \"1.234,56\")"
            ))
        }
    };
    if frac.len() == 3 && int.trim_start_matches(['-', '+']).len() <= 3 {
        return Err(format!(
            "{s:?} is ambiguous: {} with a thousands comma, or {int}.{frac} with a decimal comma; say which: to_number(x, \"1,234.56\") or to_number(x, \"1.234,56\")",
            format_args!("{int}{frac}")
        ));
    }
    exact(s, &format!("{int}.{frac}"))
}

/// An exact decimal from text in a given format: thousands separators in
/// groups of three are dropped, the decimal separator is read as the point.
pub fn parse_decimal_as(s: &str, format: NumberFormat) -> Result<Decimal, String> {
    let t = s.trim();
    let (thousands, decimal) = match format {
        NumberFormat::PointDecimal => (',', '.'),
        NumberFormat::CommaDecimal => ('.', ','),
    };
    if t.matches(decimal).count() > 1 {
        return Err(format!(
            "{s:?} has more than one decimal separator `{decimal}`"
        ));
    }
    let (int, frac) = t
        .split_once(decimal)
        .map_or((t, None), |(i, f)| (i, Some(f)));
    if frac.is_some_and(|f| f.contains(thousands)) {
        return Err(format!(
            "{s:?} has a thousands separator after its decimal separator"
        ));
    }
    let unsigned = int.trim_start_matches(['-', '+']);
    let groups: Vec<&str> = unsigned.split(thousands).collect();
    let grouped = groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3));
    if !grouped {
        return Err(format!("{s:?} does not group its thousands by three"));
    }
    let digits = format!("{}{}", &int[..int.len() - unsigned.len()], groups.concat());
    match frac {
        Some(f) => exact(s, &format!("{digits}.{f}")),
        None => exact(s, &digits),
    }
}

fn exact(original: &str, normalised: &str) -> Result<Decimal, String> {
    let valid = !normalised.is_empty()
        && normalised
            .trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && normalised.matches('.').count() <= 1
        && normalised
            .trim_start_matches(['-', '+'])
            .chars()
            .any(|c| c.is_ascii_digit());
    if !valid {
        return Err(format!("{original:?} is not a decimal number"));
    }
    Decimal::from_str_exact(normalised)
        .map_err(|_| format!("{original:?} is beyond the exact decimal range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn separators_that_could_mean_two_numbers_are_refused() {
        assert_eq!(parse_decimal("12.50"), Ok(d("12.50")));
        assert_eq!(parse_decimal("12,50"), Ok(d("12.50")));
        assert_eq!(parse_decimal("-0,5"), Ok(d("-0.5")));
        assert_eq!(parse_decimal("1234,5678"), Ok(d("1234.5678")));
        assert!(parse_decimal("1,234").unwrap_err().contains("ambiguous"));
        assert!(parse_decimal("-123,456").unwrap_err().contains("ambiguous"));
        assert!(parse_decimal("1,234.5").is_err());
        assert!(parse_decimal("1.234,5").is_err());
        assert!(parse_decimal(".").is_err());
        assert!(parse_decimal("").is_err());
    }

    #[test]
    fn a_format_says_which_separator_is_which() {
        use NumberFormat::*;
        assert_eq!(parse_decimal_as("1,234", PointDecimal), Ok(d("1234")));
        assert_eq!(parse_decimal_as("1,234", CommaDecimal), Ok(d("1.234")));
        assert_eq!(
            parse_decimal_as("1,234,567.89", PointDecimal),
            Ok(d("1234567.89"))
        );
        assert_eq!(
            parse_decimal_as("-1.234.567,89", CommaDecimal),
            Ok(d("-1234567.89"))
        );
        assert_eq!(parse_decimal_as("12.50", PointDecimal), Ok(d("12.50")));
        assert!(parse_decimal_as("12,34,567.1", PointDecimal).is_err());
        assert!(parse_decimal_as("1.2.3", PointDecimal).is_err());
        assert!(parse_decimal_as("1.5,3", PointDecimal).is_err());
    }

    fn moment(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn date_times_come_in_the_forms_the_apis_send() {
        for text in [
            "2024-01-31T12:00:00+01:00",
            "2024-01-31T12:00:00.000+0100",
            " 2024-01-31 11:00:00Z ",
            "2024-01-31T11:00:00",
            "2024-01-31T11:00",
        ] {
            assert_eq!(
                parse_datetime(text),
                Some(moment("2024-01-31T11:00:00Z")),
                "{text}"
            );
        }
        assert_eq!(parse_datetime("2024-01-31"), None);
        assert_eq!(parse_datetime("31-01-2024 11:00"), None);
    }

    #[test]
    fn dates_and_date_times_convert_into_each_other() {
        let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(parse_date(" 2024-02-29 "), Some(day));
        assert_eq!(parse_date("2023-02-29"), None);

        // A date is its midnight in UTC; text may be either form.
        let midnight = moment("2024-02-29T00:00:00Z");
        assert_eq!(datetime_of(&Value::Date(day)), Some(midnight));
        assert_eq!(datetime_of(&Value::str("2024-02-29")), Some(midnight));
        assert_eq!(
            datetime_of(&Value::str("2024-02-29T23:30:00-01:00")),
            Some(moment("2024-03-01T00:30:00Z"))
        );
        // The date of a date-time is the one in its own offset.
        let late = Value::DateTime(moment("2024-02-29T23:30:00-01:00"));
        assert_eq!(date_of(&late), Some(day));
        assert_eq!(date_of(&Value::str("2024-02-29T23:30:00-01:00")), Some(day));
        assert_eq!(date_of(&Value::str("2024-02-29")), Some(day));

        for not_a_date in [Value::str("soon"), Value::Null, Value::int(20240229)] {
            assert_eq!(date_of(&not_a_date), None, "{not_a_date:?}");
            assert_eq!(datetime_of(&not_a_date), None, "{not_a_date:?}");
        }
    }

    #[test]
    fn decimals_read_exactly_with_a_point_or_one_comma() {
        assert_eq!(parse_decimal("12.50").unwrap().to_string(), "12.50");
        assert_eq!(parse_decimal(" 12,5 ").unwrap().to_string(), "12.5");
        assert_eq!(parse_decimal("-3").unwrap().to_string(), "-3");
        for bad in ["1,000.5", "1.2.3", "", "12 EUR", "1e3"] {
            assert!(parse_decimal(bad).is_err(), "{bad}");
        }
    }
}
