//! `StartingPositionTimestamp`: the forms the AWS CLI takes, to milliseconds since epoch.
//!
//! The API's type is a timestamp; the CLI (botocore) accepts seconds since the epoch (a
//! JSON number, or a string of digits, fractions allowed) and ISO 8601 date-times,
//! UTC when no offset is written (the skeleton shows `1970-01-01T00:00:00`). This file
//! only converts; it never reads the clock, so a time in the future is not refused here.

use serde_json::Value;

const EXPECTED: &str = "must be seconds since the epoch (1714564800) or an ISO 8601 time \
     (2024-05-01T12:00:00Z)";

/// Milliseconds since the Unix epoch, never negative.
pub fn parse_timestamp(v: &Value) -> Result<i64, String> {
    let millis = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.checked_mul(1000)
            } else {
                n.as_f64().and_then(seconds_f64_to_millis)
            }
        }
        Value::String(s) => parse_string(s.trim()),
        _ => None,
    };
    match millis {
        Some(m) if m >= 0 => Ok(m),
        Some(_) => Err(format!("must not be before 1970-01-01T00:00:00Z, got {v}")),
        None => Err(format!("{EXPECTED}, got {v}")),
    }
}

fn seconds_f64_to_millis(s: f64) -> Option<i64> {
    let m = (s * 1000.0).floor();
    (m.is_finite() && m.abs() < 9.0e15).then_some(m as i64)
}

fn parse_string(s: &str) -> Option<i64> {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return seconds_f64_to_millis(s.parse().ok()?);
    }
    parse_iso8601(s)
}

/// Takes `n` ASCII digits from the front of `s`.
fn digits(s: &mut &str, n: usize) -> Option<i64> {
    let head = s.get(..n)?;
    if !head.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    *s = &s[n..];
    head.parse().ok()
}

fn expect(s: &mut &str, c: char) -> Option<()> {
    *s = s.strip_prefix(c)?;
    Some(())
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM|±HHMM]`.
fn parse_iso8601(mut s: &str) -> Option<i64> {
    let s = &mut s;
    let year = digits(s, 4)?;
    expect(s, '-')?;
    let month = digits(s, 2)?;
    expect(s, '-')?;
    let day = digits(s, 2)?;
    let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
    if let Some(rest) = s.strip_prefix(['T', 't', ' ']) {
        *s = rest;
        hour = digits(s, 2)?;
        expect(s, ':')?;
        minute = digits(s, 2)?;
        if expect(s, ':').is_some() {
            second = digits(s, 2)?;
            if expect(s, '.').is_some() {
                let frac: String = s.chars().take_while(char::is_ascii_digit).collect();
                if frac.is_empty() {
                    return None;
                }
                *s = &s[frac.len()..];
                let padded = format!("{frac:0<3}");
                millis = padded[..3].parse().ok()?;
            }
        }
    }
    let offset_minutes = match *s {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match s.chars().next()? {
                '+' => 1,
                '-' => -1,
                _ => return None,
            };
            *s = &s[1..];
            let h = digits(s, 2)?;
            let _ = expect(s, ':');
            let m = digits(s, 2)?;
            if !s.is_empty() || h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let month_ok = (1..=12).contains(&month);
    if !month_ok || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn epoch_seconds_as_numbers_and_strings() {
        assert_eq!(parse_timestamp(&json!(1714564800)), Ok(1_714_564_800_000));
        assert_eq!(
            parse_timestamp(&json!(1714564800.25)),
            Ok(1_714_564_800_250)
        );
        assert_eq!(parse_timestamp(&json!("1714564800")), Ok(1_714_564_800_000));
        assert_eq!(
            parse_timestamp(&json!("1714564800.5")),
            Ok(1_714_564_800_500)
        );
        assert_eq!(parse_timestamp(&json!(0)), Ok(0));
    }

    #[test]
    fn iso8601_in_the_forms_people_write() {
        let t = 1_714_564_800_000; // 2024-05-01T12:00:00Z
        for s in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01 12:00:00",
            "2024-05-01T12:00",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T07:00:00-0500",
            "2024-05-01T12:00:00.000Z",
        ] {
            assert_eq!(parse_timestamp(&json!(s)), Ok(t), "{s}");
        }
        assert_eq!(
            parse_timestamp(&json!("2024-05-01T12:00:00.5Z")),
            Ok(t + 500)
        );
        assert_eq!(
            parse_timestamp(&json!("2024-05-01T12:00:00.123456Z")),
            Ok(t + 123)
        );
        assert_eq!(
            parse_timestamp(&json!("2024-05-01")),
            Ok(t - 12 * 3_600_000)
        );
        assert_eq!(parse_timestamp(&json!("1970-01-01T00:00:00")), Ok(0));
        assert_eq!(
            parse_timestamp(&json!("2000-02-29T00:00:00Z")),
            Ok(951_782_400_000)
        );
    }

    #[test]
    fn nonsense_and_the_past_before_1970_are_refused() {
        for bad in [
            json!("yesterday"),
            json!("2024-13-01T00:00:00Z"),
            json!("2023-02-29T00:00:00Z"),
            json!("2024-05-01T24:00:00Z"),
            json!("2024-05-01T12:00:00+25:00"),
            json!("2024-05-01T12:00:00Zjunk"),
            json!("2024-05-01T12:00:00."),
            json!(""),
            json!(true),
            json!([1]),
        ] {
            let e = parse_timestamp(&bad).unwrap_err();
            assert!(
                e.starts_with("must be seconds since the epoch"),
                "{bad}: {e}"
            );
        }
        let e = parse_timestamp(&json!(-1)).unwrap_err();
        assert_eq!(e, "must not be before 1970-01-01T00:00:00Z, got -1");
        assert!(parse_timestamp(&json!("1969-12-31T23:59:59Z")).is_err());
    }
}
