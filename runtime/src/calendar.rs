//! The system's working-day calendar (`definitions/calendar/shanghai.toml`), which timers
//! marked `calendar = workdays` count (issue 14: a reminder after 3 working days).

use chrono::NaiveDate;
use engine::timer::WorkCalendar;
use serde::Deserialize;

/// The shipped calendar file.
pub const SHANGHAI: &str = include_str!("../../definitions/calendar/shanghai.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    years: Vec<Year>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Year {
    year: i32,
    #[allow(dead_code)]
    source: String,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    workdays: Vec<String>,
}

/// Reads a calendar file; an error names the year and the day.
pub fn parse(text: &str) -> Result<WorkCalendar, String> {
    let file: File = toml::from_str(text).map_err(|error| format!("working-day calendar: {error}"))?;
    let (mut years, mut holidays, mut workdays) = (Vec::new(), Vec::new(), Vec::new());
    for year in &file.years {
        if years.contains(&year.year) {
            return Err(format!("working-day calendar: {} is listed twice", year.year));
        }
        years.push(year.year);
        for (days, into) in [(&year.holidays, &mut holidays), (&year.workdays, &mut workdays)] {
            for day in days {
                let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
                    format!("working-day calendar {}: '{day}' is not a date such as 2026-10-01", year.year)
                })?;
                if date.format("%Y").to_string() != year.year.to_string() {
                    return Err(format!("working-day calendar {}: {day} belongs to another year", year.year));
                }
                into.push(date);
            }
        }
    }
    WorkCalendar::new(&years, &holidays, &workdays).map_err(|error| format!("working-day calendar: {error}"))
}

/// The shipped Shanghai calendar.
pub fn shanghai() -> WorkCalendar {
    match parse(SHANGHAI) {
        Ok(calendar) => calendar,
        // The file is part of the binary and checked by the test below.
        Err(error) => unreachable!("the shipped calendar is valid: {error}"),
    }
}

/// This year and the next (in Shanghai, at `now`) when the calendar does not list them: their
/// holidays would not be counted. `serve` warns, the system page says so.
pub fn missing_years(calendar: &WorkCalendar, now: i64) -> Vec<i32> {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"));
    let Some(today) = chrono::DateTime::from_timestamp_millis(now).map(|time| time.with_timezone(&shanghai)) else {
        return Vec::new();
    };
    let year = chrono::Datelike::year(&today);
    [year, year + 1].into_iter().filter(|year| !calendar.covers(*year)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_shipped_calendar_reads_and_knows_the_2026_holidays() {
        let calendar = parse(SHANGHAI).expect("shipped calendar");
        assert!(calendar.covers(2025) && calendar.covers(2026));
        // 春节 2026: Saturday 2-14 is worked, Monday 2-16 … Monday 2-23 are off.
        assert!(calendar.is_working_day(day("2026-02-14")));
        assert!(!calendar.is_working_day(day("2026-02-16")));
        assert!(!calendar.is_working_day(day("2026-02-23")));
        assert!(calendar.is_working_day(day("2026-02-24")));
        // 国庆 2026 and its make-up Saturday.
        assert!(!calendar.is_working_day(day("2026-10-07")));
        assert!(calendar.is_working_day(day("2026-10-10")));
        assert!(!calendar.is_working_day(day("2026-12-12")), "a plain Saturday");
    }

    #[test]
    fn missing_years_are_this_and_next_year_when_unlisted() {
        let calendar = parse(SHANGHAI).expect("shipped calendar");
        let mid_2025 = 1_750_000_000_000; // 2025-06-15
        assert!(missing_years(&calendar, mid_2025).is_empty());
        let late_2026 = 1_796_000_000_000; // 2026-11-30
        assert_eq!(missing_years(&calendar, late_2026), [2027]);
    }

    #[test]
    fn a_broken_calendar_names_the_year_and_day() {
        let bad = "[[years]]\nyear = 2026\nsource = \"x\"\nholidays = [\"2026-02-30\"]\n";
        assert!(parse(bad).unwrap_err().contains("'2026-02-30'"));
        let other = "[[years]]\nyear = 2026\nsource = \"x\"\nholidays = [\"2027-01-01\"]\n";
        assert!(parse(other).unwrap_err().contains("another year"));
        let twice = "[[years]]\nyear = 2026\nsource = \"x\"\n[[years]]\nyear = 2026\nsource = \"y\"\n";
        assert!(parse(twice).unwrap_err().contains("twice"));
    }
}
