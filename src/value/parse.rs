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

/// An exact decimal from text: `12.50`, `-3`, and `12,50` (one comma, no point).
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    let normalised = if t.matches(',').count() == 1 && !t.contains('.') {
        t.replace(',', ".")
    } else {
        t.to_string()
    };
    let valid = !normalised.is_empty()
        && normalised
            .trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && normalised.matches('.').count() <= 1;
    if !valid {
        return Err(format!("{s:?} is not a decimal number"));
    }
    Decimal::from_str_exact(&normalised)
        .map_err(|_| format!("{s:?} is beyond the exact decimal range"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
