//! Timer definitions: ISO-8601 dates, durations and repeating cycles (`R3/PT1H`,
//! `R/2026-12-01T09:00/P1D`) and Quartz-style cron expressions (`0 0 9 * * ?`), as Camunda
//! accepts them in `timeDate`, `timeDuration` and `timeCycle`.
//!
//! Pure functions of their input and a given `now` (milliseconds since the Unix epoch): the
//! engine reads no clock. Dates without an offset are Shanghai time (UTC+08:00, no daylight
//! saving), which is also the zone cron expressions are evaluated in.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

use crate::script::Template;

/// Which of the three timer elements a definition has; the text may contain `${…}`.
#[derive(Debug, Clone)]
pub struct TimerDefinition {
    pub kind: TimerKind,
    pub text: Arc<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    Date,
    Duration,
    Cycle,
}

/// How a repeating timer goes on after it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cycle {
    /// `R[n]/…/duration`: `remaining` more firings (`None` = unbounded) every `every`.
    Repeat { remaining: Option<u32>, every: IsoDuration },
    /// A cron expression.
    Cron(String),
}

/// An ISO-8601 duration, kept in calendar units so `P1M` is a month, not 30 days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsoDuration {
    pub months: u32,
    pub days: u32,
    pub millis: u64,
}

/// Shanghai time.
fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"))
}

fn to_datetime(millis: i64) -> Result<DateTime<FixedOffset>, String> {
    DateTime::from_timestamp_millis(millis)
        .map(|utc| utc.with_timezone(&shanghai()))
        .ok_or_else(|| format!("time {millis} is out of range"))
}

/// Parses `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]`.
pub fn parse_duration(text: &str) -> Result<IsoDuration, String> {
    let invalid = || format!("'{text}' is not an ISO-8601 duration such as PT5M, P1D or P1Y2M3DT4H");
    let rest = text.trim().strip_prefix('P').ok_or_else(invalid)?;
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut duration = IsoDuration::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for character in rest.chars() {
        match character {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if character == ',' { '.' } else { character }),
            unit => {
                let value: f64 = number.parse().map_err(|_| invalid())?;
                number.clear();
                any = true;
                let whole = || -> Result<u32, String> {
                    if value.fract() != 0.0 || value > u32::MAX as f64 { Err(invalid()) } else { Ok(value as u32) }
                };
                match (in_time, unit) {
                    (false, 'Y') => duration.months += whole()? * 12,
                    (false, 'M') => duration.months += whole()?,
                    (false, 'W') => duration.days += whole()? * 7,
                    (false, 'D') => duration.days += whole()?,
                    (true, 'H') => duration.millis += (value * 3_600_000.0) as u64,
                    (true, 'M') => duration.millis += (value * 60_000.0) as u64,
                    (true, 'S') => duration.millis += (value * 1000.0).round() as u64,
                    _ => return Err(invalid()),
                }
            }
        }
    }
    if !number.is_empty() || !any {
        return Err(invalid());
    }
    Ok(duration)
}

/// `millis` plus a calendar duration.
pub fn add_duration(millis: i64, duration: &IsoDuration) -> Result<i64, String> {
    let start = to_datetime(millis)?;
    let overflow = || "the timer is too far in the future".to_string();
    let shifted = start
        .checked_add_months(Months::new(duration.months))
        .and_then(|date| date.checked_add_signed(Duration::days(duration.days as i64)))
        .and_then(|date| date.checked_add_signed(Duration::milliseconds(duration.millis as i64)))
        .ok_or_else(overflow)?;
    Ok(shifted.timestamp_millis())
}

/// Parses an ISO-8601 date-time (`2026-12-01T09:00:00+08:00`, `…Z`, `2026-12-01T09:00`, or a plain
/// date `2026-12-01`, meaning midnight). No offset means Shanghai time.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Ok(with_offset.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(with_offset) = DateTime::parse_from_str(text, format) {
            return Ok(with_offset.timestamp_millis());
        }
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|date| date.and_hms_opt(0, 0, 0)));
    match local.map(|local| shanghai().from_local_datetime(&local).single()) {
        Some(Some(date)) => Ok(date.timestamp_millis()),
        _ => Err(format!("'{text}' is not an ISO-8601 date such as 2026-12-01T09:00:00+08:00")),
    }
}

/// A task's due (or follow-up) date from its evaluated `camunda:dueDate`: a date, or a duration
/// from `created` (`P3D`: three days to handle it), as Camunda's text in Shanghai time
/// (`2026-12-06T10:00:00.000+0800`). Every stored due date has this one fixed-width form, so
/// its text sorts in time order. `None` when the text is neither.
pub fn due_text(text: &str, created: i64) -> Option<String> {
    let millis = parse_date(text)
        .or_else(|_| parse_duration(text.trim()).and_then(|duration| add_duration(created, &duration)))
        .ok()?;
    to_datetime(millis).ok().map(|time| time.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string())
}

/// The first due time of a timer whose text has been evaluated, and how it repeats.
pub fn schedule(kind: TimerKind, text: &str, now: i64) -> Result<(i64, Option<Cycle>), String> {
    match kind {
        TimerKind::Date => Ok((parse_date(text)?, None)),
        TimerKind::Duration => Ok((add_duration(now, &parse_duration(text)?)?, None)),
        TimerKind::Cycle => parse_cycle(text, now),
    }
}

/// After a cycle fired at `fired`, the next due time and the cycle after that; `None` when the
/// repetitions are used up.
pub fn next(cycle: &Cycle, fired: i64) -> Result<Option<(i64, Cycle)>, String> {
    match cycle {
        Cycle::Repeat { remaining: Some(0), .. } => Ok(None),
        Cycle::Repeat { remaining, every } => {
            let due = add_duration(fired, every)?;
            Ok(Some((due, Cycle::Repeat { remaining: remaining.map(|left| left - 1), every: *every })))
        }
        Cycle::Cron(expression) => Ok(Some((next_cron(expression, fired)?, cycle.clone()))),
    }
}

fn parse_cycle(text: &str, now: i64) -> Result<(i64, Option<Cycle>), String> {
    let text = text.trim();
    let Some(repeat) = text.strip_prefix('R') else {
        let due = next_cron(text, now)?;
        return Ok((due, Some(Cycle::Cron(text.to_string()))));
    };
    let invalid = || format!("'{text}' is not a cycle such as R3/PT1H, R/2026-12-01T09:00/P1D or a cron expression");
    let parts: Vec<&str> = repeat.split('/').collect();
    let count = parts.first().copied().unwrap_or_default();
    let repetitions: Option<u32> = if count.is_empty() { None } else { Some(count.parse().map_err(|_| invalid())?) };
    if repetitions == Some(0) {
        return Err(format!("'{text}': a cycle must repeat at least once"));
    }
    let (start, every) = match parts.as_slice() {
        [_, duration] => (None, parse_duration(duration)?),
        [_, start, duration] if !start.starts_with('P') => (Some(parse_date(start)?), parse_duration(duration)?),
        _ => return Err(invalid()),
    };
    if every == IsoDuration::default() {
        return Err(format!("'{text}': the repeat interval must be longer than zero"));
    }
    // The first firing is one of the repetitions.
    let remaining = repetitions.map(|count| count - 1);
    let due = match start {
        Some(start) => start,
        None => add_duration(now, &every)?,
    };
    Ok((due, Some(Cycle::Repeat { remaining, every })))
}

fn next_cron(expression: &str, after: i64) -> Result<i64, String> {
    let schedule = cron::Schedule::from_str(expression).map_err(|error| {
        format!("'{expression}' is not a cron expression (sec min hour day month weekday [year]): {error}")
    })?;
    let after = to_datetime(after)?;
    schedule
        .after(&after)
        .next()
        .map(|due| due.timestamp_millis())
        .ok_or_else(|| format!("cron expression '{expression}' never fires again"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn due_dates_are_stored_in_one_sortable_form() {
        let created = super::parse_date("2026-12-03T10:00:00+08:00").expect("date");
        assert_eq!(super::due_text("2026-12-06T09:30", created).as_deref(), Some("2026-12-06T09:30:00.000+0800"));
        assert_eq!(super::due_text("2026-12-06T01:30:00Z", created).as_deref(), Some("2026-12-06T09:30:00.000+0800"));
        assert_eq!(super::due_text("P3D", created).as_deref(), Some("2026-12-06T10:00:00.000+0800"));
        assert_eq!(super::due_text("PT36H", created).as_deref(), Some("2026-12-04T22:00:00.000+0800"));
        assert_eq!(super::due_text("next week", created), None);
    }

    use super::*;

    const NOW: i64 = 1_796_000_000_000; // 2026-11-29T…Z

    #[test]
    fn durations_in_calendar_units() {
        assert_eq!(parse_duration("PT5M"), Ok(IsoDuration { millis: 300_000, ..IsoDuration::default() }));
        assert_eq!(parse_duration("P1Y2M3W4DT1H0.5S"), Ok(IsoDuration { months: 14, days: 25, millis: 3_600_500 }));
        for bad in ["", "P", "5M", "PT", "P1H", "PT1D", "P1.5D", "PT5"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
        let jan31 = parse_date("2027-01-31T10:00:00+08:00").unwrap();
        let month_later = add_duration(jan31, &parse_duration("P1M").unwrap()).unwrap();
        assert_eq!(month_later, parse_date("2027-02-28T10:00:00+08:00").unwrap());
    }

    #[test]
    fn dates_default_to_shanghai_time() {
        let utc = parse_date("2026-12-01T01:00:00Z").unwrap();
        assert_eq!(parse_date("2026-12-01T09:00:00+08:00"), Ok(utc));
        assert_eq!(parse_date("2026-12-01T09:00:00"), Ok(utc));
        assert_eq!(parse_date("2026-12-01T09:00"), Ok(utc));
        assert_eq!(parse_date("2026-12-01"), Ok(utc - 9 * 3_600_000));
        assert!(parse_date("tomorrow").is_err());
        assert!(parse_date("2026-13-01").is_err());
    }

    #[test]
    fn cycles_count_their_repetitions() {
        let (due, cycle) = schedule(TimerKind::Cycle, "R3/PT1H", NOW).unwrap();
        assert_eq!(due, NOW + 3_600_000);
        let mut cycle = cycle.unwrap();
        let mut fired = vec![due];
        while let Some((due, following)) = next(&cycle, *fired.last().unwrap()).unwrap() {
            fired.push(due);
            cycle = following;
        }
        assert_eq!(fired, [NOW + 3_600_000, NOW + 7_200_000, NOW + 10_800_000]);

        let start = parse_date("2026-12-01T09:00").unwrap();
        let (due, cycle) = schedule(TimerKind::Cycle, "R/2026-12-01T09:00/P1D", NOW).unwrap();
        assert_eq!(due, start);
        assert_eq!(next(&cycle.unwrap(), due).unwrap().map(|(due, _)| due), Some(start + 86_400_000));
        for bad in ["R0/PT1H", "Rx/PT1H", "R/PT0S", "R3/PT1H/P1D", "every hour"] {
            assert!(schedule(TimerKind::Cycle, bad, NOW).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn cron_fires_in_shanghai_time() {
        // 2026-11-29T09:30+08:00 → the next 09:00 is tomorrow's.
        let now = parse_date("2026-11-29T09:30:00+08:00").unwrap();
        let (due, cycle) = schedule(TimerKind::Cycle, "0 0 9 * * ?", now).unwrap();
        assert_eq!(due, parse_date("2026-11-30T09:00:00+08:00").unwrap());
        let (after, _) = next(&cycle.unwrap(), due).unwrap().unwrap();
        assert_eq!(after, parse_date("2026-12-01T09:00:00+08:00").unwrap());
    }
}
