//! The one date and timestamp parser, shared by the trainer (time splits,
//! date columns, events) and the server (events and `as_of`).
//!
//! A [`Timestamp`] is milliseconds since 1970-01-01T00:00:00Z. Accepted text:
//! - ISO 8601 / RFC 3339: `2024-03-01`, `2024-03-01T10:00`,
//!   `2024-03-01 10:00:00`, `2024-03-01T10:00:00.250Z`,
//!   `2024-03-01T10:00:00+02:00` (an offset is applied; no offset means UTC);
//! - US month/day/year as CRMs export it: `3/1/2024`, `03/01/24`, optionally
//!   followed by ` HH:MM[:SS]`. Two-digit years follow POSIX `%y`: 00–68 are
//!   2000–2068, 69–99 are 1969–1999.
//!
//! Calendar arithmetic is proleptic Gregorian (Howard Hinnant's
//! `days_from_civil`), exact for every year from −999,999 to 999,999.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// The timestamp at midnight UTC of a calendar date.
    pub fn from_date(year: i64, month: u32, day: u32) -> Self {
        Timestamp(days_from_civil(year, month, day) * MS_PER_DAY)
    }

    /// Whole and fractional days from `earlier` to `self` (negative when
    /// `earlier` is later).
    pub fn days_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / MS_PER_DAY as f64
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2024-03-01T10:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MS_PER_DAY);
        let ms = self.0.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
        let (mi, rest) = (rest / 60_000, rest % 60_000);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{:02}.{:03}Z",
            rest / 1000,
            rest % 1000
        )
    }
}

/// Why a text is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not of any accepted form.
    #[error("'{0}' is not a date or timestamp (expected e.g. 2024-03-01, 2024-03-01T10:00:00Z or 3/1/2024)")]
    Unrecognised(String),
    /// Of an accepted form, but not a real calendar date or time of day.
    #[error("'{0}' is not a valid date or time of day")]
    OutOfRange(String),
}

/// Parses a date or timestamp (see the module docs for the forms).
///
/// # Errors
/// [`TimeError::Unrecognised`] for any other text (numbers included),
/// [`TimeError::OutOfRange`] for e.g. `2024-02-30` or `25:00`.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, TimeError> {
    let t = text.trim();
    let unrecognised = || TimeError::Unrecognised(t.to_string());
    let out_of_range = || TimeError::OutOfRange(t.to_string());
    let b = t.as_bytes();
    let iso_date = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    let (year, month, day, rest) = if iso_date {
        let year: i64 = t[..4].parse().map_err(|_| unrecognised())?;
        let month: u32 = t[5..7].parse().map_err(|_| unrecognised())?;
        let day: u32 = t[8..10].parse().map_err(|_| unrecognised())?;
        (year, month, day, &t[10..])
    } else {
        let (date, rest) = match t.find(' ') {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let parts: Vec<&str> = date.split('/').collect();
        let digits = |s: &str, lens: &[usize]| {
            lens.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())
        };
        if parts.len() != 3
            || !digits(parts[0], &[1, 2])
            || !digits(parts[1], &[1, 2])
            || !digits(parts[2], &[2, 4])
        {
            return Err(unrecognised());
        }
        let month: u32 = parts[0].parse().map_err(|_| unrecognised())?;
        let day: u32 = parts[1].parse().map_err(|_| unrecognised())?;
        let mut year: i64 = parts[2].parse().map_err(|_| unrecognised())?;
        if parts[2].len() == 2 {
            year += if year < 69 { 2000 } else { 1900 };
        }
        (year, month, day, rest)
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(out_of_range());
    }
    let mut ms = days_from_civil(year, month, day) * MS_PER_DAY;
    if rest.is_empty() {
        return Ok(Timestamp(ms));
    }
    let rest = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix(' '))
        .ok_or_else(unrecognised)?;
    let (clock, offset_ms) = split_offset(rest).ok_or_else(unrecognised)?;
    ms += parse_clock(clock)
        .ok_or_else(unrecognised)?
        .ok_or_else(out_of_range)?;
    Ok(Timestamp(ms - offset_ms))
}

/// Splits `10:00:00+02:00` into the clock and the offset in milliseconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        return Some((clock, 0));
    }
    match rest.rfind(['+', '-']) {
        None => Some((rest, 0)),
        Some(i) => {
            let (clock, offset) = (&rest[..i], &rest[i + 1..]);
            let sign = if rest.as_bytes()[i] == b'-' { -1 } else { 1 };
            let digits: String = offset.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            Some((clock, sign * (h * 3_600_000 + m * 60_000)))
        }
    }
}

/// `HH:MM[:SS[.fff]]` into milliseconds since midnight: `None` when not of
/// that form, `Some(None)` when out of range.
fn parse_clock(clock: &str) -> Option<Option<i64>> {
    let (hms, frac) = match clock.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let h: i64 = parts[0].parse().ok()?;
    let m: i64 = parts[1].parse().ok()?;
    let s: i64 = parts.get(2).map_or(Some(0), |p| p.parse().ok())?;
    let millis = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
            let padded: String = f.chars().chain("000".chars()).take(3).collect();
            padded.parse().ok()?
        }
        Some(_) => return None,
    };
    if h > 23 || m > 59 || s > 60 || (frac.is_some() && parts.len() != 3) {
        return Some(None);
    }
    Some(Some(h * 3_600_000 + m * 60_000 + s.min(59) * 1000 + millis))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        parse_timestamp(text).expect(text).0
    }

    #[test]
    fn iso_dates_and_times_parse_to_utc_milliseconds() {
        assert_eq!(ms("1970-01-01"), 0);
        assert_eq!(ms("2024-03-01"), days_from_civil(2024, 3, 1) * MS_PER_DAY);
        assert_eq!(ms("1970-01-01T00:00:01Z"), 1000);
        assert_eq!(ms("1970-01-01 00:01"), 60_000);
        assert_eq!(ms("1970-01-01T00:00:00.25Z"), 250);
        assert_eq!(ms("1970-01-01T02:00:00+02:00"), 0);
        assert_eq!(ms("1969-12-31T22:00:00-0200"), 0);
    }

    #[test]
    fn us_dates_parse_with_posix_two_digit_years() {
        assert_eq!(ms("3/1/2024"), ms("2024-03-01"));
        assert_eq!(ms("03/01/24"), ms("2024-03-01"));
        assert_eq!(ms("12/31/69"), ms("1969-12-31"));
        assert_eq!(ms("1/5/24 10:30"), ms("2024-01-05T10:30:00Z"));
    }

    #[test]
    fn other_text_is_refused_with_the_reason() {
        for bad in [
            "",
            "12.5",
            "yesterday",
            "2024-1-5",
            "2024-03-01X",
            "1/2",
            "13/1/2024x",
        ] {
            assert!(
                matches!(parse_timestamp(bad), Err(TimeError::Unrecognised(_))),
                "{bad}"
            );
        }
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "13/1/2024",
            "2024-03-01T24:00",
            "2024-03-01T10:61",
        ] {
            assert!(
                matches!(parse_timestamp(bad), Err(TimeError::OutOfRange(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn civil_round_trips_and_formats() {
        for days in [-800_000, -1, 0, 11_016, 19_723, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(19_723), "2024-01-01");
        assert_eq!(date_text(-1), "1969-12-31");
        assert_eq!(date_text(11_016), "2000-02-29");
        assert_eq!(Timestamp(1_500).to_string(), "1970-01-01T00:00:01.500Z");
    }
}
