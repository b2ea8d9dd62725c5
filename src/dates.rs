//! Calendar helpers shared by the engine and the policy API: ISO 8601 dates (`YYYY-MM-DD`) and
//! durations (`P1Y`, `P730D`, `PT0S`), on top of `jiff`'s civil dates.

use jiff::civil::Date;
use jiff::{Span, ToSpan};

/// Parses `YYYY-MM-DD`, or the date part of an RFC 3339 date-time (`2024-01-10T08:00:00Z`).
pub fn parse_date(text: &str) -> Option<Date> {
    let day = text.get(..10)?;
    if text.len() > 10 && text.as_bytes()[10] != b'T' {
        return None;
    }
    day.parse::<Date>().ok()
}

/// Parses an ISO 8601 duration such as `P1Y`, `P3M`, `P730D`, `PT0S`.
pub fn parse_duration(text: &str) -> Option<Span> {
    if !text.starts_with('P') {
        return None;
    }
    text.parse::<Span>().ok()
}

pub fn add_days(date: Date, days: i64) -> Option<Date> {
    date.checked_add(days.days()).ok()
}

pub fn add_months(date: Date, months: i64) -> Option<Date> {
    date.checked_add(months.months()).ok()
}

pub fn add_duration(date: Date, duration: Span) -> Option<Date> {
    date.checked_add(duration).ok()
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: Date, to: Date) -> i64 {
    i64::from(to.since(from).map(|s| s.get_days()).unwrap_or(0))
}

/// Length of a duration in days, counting a year as 365 days and a month as 30 (how Partner
/// Center states GDAP limits: `P2Y` and `P730D` are the same maximum).
pub fn duration_days(duration: Span) -> i64 {
    let hours = i64::from(duration.get_hours())
        + duration.get_minutes() / 60
        + duration.get_seconds() / 3600;
    i64::from(duration.get_years()) * 365
        + i64::from(duration.get_months()) * 30
        + i64::from(duration.get_weeks()) * 7
        + i64::from(duration.get_days())
        + hours / 24
}

/// Today's date in UTC, the default evaluation date.
/// The evaluation date given as `--as-of` (`YYYY-MM-DD`).
pub fn parse_as_of(text: &str) -> Result<Date, String> {
    text.parse::<Date>()
        .map_err(|_| format!("--as-of `{text}` is not a date (YYYY-MM-DD)"))
}

pub fn today_utc() -> Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        parse_date(text).unwrap()
    }

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(d("2024-02-29").to_string(), "2024-02-29");
        assert_eq!(d("2024-01-10T08:00:00Z").to_string(), "2024-01-10");
        assert!(parse_date("2024-02-30").is_none());
        assert!(parse_date("2024/01/10").is_none());
        assert!(parse_date("2024-01-10x").is_none());
    }

    #[test]
    fn arithmetic() {
        assert_eq!(
            add_days(d("2024-03-31"), 30).unwrap().to_string(),
            "2024-04-30"
        );
        assert_eq!(
            add_months(d("2024-01-31"), 1).unwrap().to_string(),
            "2024-02-29"
        );
        assert_eq!(
            add_duration(d("2024-06-17"), parse_duration("P1Y").unwrap())
                .unwrap()
                .to_string(),
            "2025-06-17"
        );
        assert_eq!(days_between(d("2024-03-04"), d("2024-03-16")), 12);
        assert_eq!(days_between(d("2024-03-16"), d("2024-03-04")), -12);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_days(parse_duration("P2Y").unwrap()), 730);
        assert_eq!(duration_days(parse_duration("P730D").unwrap()), 730);
        assert_eq!(duration_days(parse_duration("P3Y").unwrap()), 1095);
        assert_eq!(duration_days(parse_duration("PT0S").unwrap()), 0);
        assert!(parse_duration("1Y").is_none());
        assert!(parse_duration("P").is_none());
    }
}
