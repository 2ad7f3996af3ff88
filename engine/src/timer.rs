//! Timer definitions: ISO-8601 dates, durations and repeating cycles (`R3/PT1H`,
//! `R/2026-12-01T09:00/P1D`) and Quartz-style cron expressions (`0 0 9 * * ?`), as Camunda
//! accepts them in `timeDate`, `timeDuration` and `timeCycle`.
//!
//! Pure functions of their input and a given `now` (milliseconds since the Unix epoch): the
//! engine reads no clock. Dates without an offset are Shanghai time (UTC+08:00, no daylight
//! saving), which is also the zone cron expressions are evaluated in.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use serde::{Deserialize, Serialize};

use crate::script::Template;

/// Which of the three timer elements a definition has; the text may contain `${…}`.
#[derive(Debug, Clone)]
pub struct TimerDefinition {
    pub kind: TimerKind,
    pub text: Arc<Template>,
    /// Whether its durations count working days of the node's [`WorkCalendar`] (the event's
    /// extension property `calendar = workdays`) rather than calendar days.
    pub workdays: bool,
}

/// The extension property (`camunda:properties`) of a timer event that makes its durations
/// count working days, and its one value.
pub const CALENDAR_PROPERTY: &str = "calendar";
pub const WORKDAYS: &str = "workdays";

/// Which days are working days: Monday to Friday, except the listed holidays, plus the listed
/// weekend days that are worked instead (调休). A business calendar in the BPM sense; the
/// runtime loads the system's from its definitions, the engine only counts with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    years: BTreeSet<i32>,
}

/// The most working days a duration may count (some forty years).
const MAX_WORKDAYS: u32 = 10_000;

/// Monday to Friday, no holidays: what counts where no calendar is given.
pub static WEEKDAYS: WorkCalendar =
    WorkCalendar { holidays: BTreeSet::new(), workdays: BTreeSet::new(), years: BTreeSet::new() };

impl WorkCalendar {
    /// A calendar of the given years: `holidays` are days off (weekdays among them), `workdays`
    /// weekend days worked. A day in both, or a date outside the listed years, is refused.
    pub fn new(years: &[i32], holidays: &[NaiveDate], workdays: &[NaiveDate]) -> Result<WorkCalendar, String> {
        let calendar = WorkCalendar {
            holidays: holidays.iter().copied().collect(),
            workdays: workdays.iter().copied().collect(),
            years: years.iter().copied().collect(),
        };
        if let Some(both) = calendar.holidays.intersection(&calendar.workdays).next() {
            return Err(format!("{both} is listed both as a holiday and as a working day"));
        }
        if let Some(outside) =
            calendar.holidays.iter().chain(&calendar.workdays).find(|day| !calendar.covers(day.year()))
        {
            return Err(format!("{outside} is outside the calendar's years"));
        }
        if let Some(weekday) = calendar.workdays.iter().find(|day| !is_weekend(**day)) {
            return Err(format!("{weekday} is a weekday: list only weekend days that are worked"));
        }
        Ok(calendar)
    }

    /// Whether the calendar lists the holidays of `year` (outside them, only weekends are off).
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// The years it lists, in order.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if is_weekend(day) { self.workdays.contains(&day) } else { !self.holidays.contains(&day) }
    }

    /// `millis` plus `days` working days: the same time of day on the `days`-th working day
    /// after its date (a start on a day off counts from the next working day the same way).
    pub fn add_workdays(&self, millis: i64, days: u32) -> Result<i64, String> {
        if days > MAX_WORKDAYS {
            return Err(format!("at most {MAX_WORKDAYS} working days"));
        }
        let start = to_datetime(millis)?;
        let mut day = start.date_naive();
        let mut counted = 0;
        while counted < days {
            day = day.succ_opt().ok_or("the timer is too far in the future")?;
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        let shifted = day.and_time(start.time());
        match shanghai().from_local_datetime(&shifted).single() {
            Some(time) => Ok(time.timestamp_millis()),
            None => Err("the timer is too far in the future".into()),
        }
    }
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A duration that counts working days: `P<n>D` and nothing else (weeks, months and times of
/// day have no single meaning in working days).
fn workdays_of(text: &str) -> Result<u32, String> {
    let text = text.trim();
    text.strip_prefix('P')
        .and_then(|rest| rest.strip_suffix('D'))
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u32>().ok())
        .filter(|days| *days > 0)
        .ok_or_else(|| format!("'{text}': a timer counting working days takes whole days such as P3D"))
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
    /// `R[n]/…/duration`: `remaining` more firings (`None` = unbounded) every `every`, in
    /// working days when `workdays` (then `every.days` is the count).
    Repeat {
        remaining: Option<u32>,
        every: IsoDuration,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        workdays: bool,
    },
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
    schedule_on(kind, text, now, None)
}

/// [`schedule`], counting the durations in working days of `workdays` when one is given: a
/// duration `P<n>D`, or a cycle `R[n]/P<n>D` (a date or a cron expression is refused).
pub fn schedule_on(
    kind: TimerKind,
    text: &str,
    now: i64,
    workdays: Option<&WorkCalendar>,
) -> Result<(i64, Option<Cycle>), String> {
    match (kind, workdays) {
        (TimerKind::Date, None) => Ok((parse_date(text)?, None)),
        (TimerKind::Date, Some(_)) => Err("a timeDate timer cannot count working days".into()),
        (TimerKind::Duration, None) => Ok((add_duration(now, &parse_duration(text)?)?, None)),
        (TimerKind::Duration, Some(calendar)) => Ok((calendar.add_workdays(now, workdays_of(text)?)?, None)),
        (TimerKind::Cycle, _) => parse_cycle(text, now, workdays),
    }
}

/// After a cycle fired at `fired`, the next due time and the cycle after that; `None` when the
/// repetitions are used up. A cycle in working days counts them in `calendar`.
pub fn next(cycle: &Cycle, fired: i64, calendar: &WorkCalendar) -> Result<Option<(i64, Cycle)>, String> {
    match cycle {
        Cycle::Repeat { remaining: Some(0), .. } => Ok(None),
        Cycle::Repeat { remaining, every, workdays } => {
            let due = if *workdays { calendar.add_workdays(fired, every.days)? } else { add_duration(fired, every)? };
            let remaining = remaining.map(|left| left - 1);
            Ok(Some((due, Cycle::Repeat { remaining, every: *every, workdays: *workdays })))
        }
        Cycle::Cron(expression) => Ok(Some((next_cron(expression, fired)?, cycle.clone()))),
    }
}

fn parse_cycle(text: &str, now: i64, workdays: Option<&WorkCalendar>) -> Result<(i64, Option<Cycle>), String> {
    let text = text.trim();
    let Some(repeat) = text.strip_prefix('R') else {
        if workdays.is_some() {
            return Err(format!("'{text}': a cron cycle cannot count working days; write R3/P1D"));
        }
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
    let every = |duration: &str| match workdays {
        None => parse_duration(duration),
        Some(_) => workdays_of(duration).map(|days| IsoDuration { days, ..IsoDuration::default() }),
    };
    let (start, every) = match parts.as_slice() {
        [_, duration] => (None, every(duration)?),
        [_, start, duration] if !start.starts_with('P') => (Some(parse_date(start)?), every(duration)?),
        _ => return Err(invalid()),
    };
    if every == IsoDuration::default() {
        return Err(format!("'{text}': the repeat interval must be longer than zero"));
    }
    // The first firing is one of the repetitions.
    let remaining = repetitions.map(|count| count - 1);
    let due = match (start, workdays) {
        (Some(start), _) => start,
        (None, Some(calendar)) => calendar.add_workdays(now, every.days)?,
        (None, None) => add_duration(now, &every)?,
    };
    Ok((due, Some(Cycle::Repeat { remaining, every, workdays: workdays.is_some() })))
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
        while let Some((due, following)) = next(&cycle, *fired.last().unwrap(), &WEEKDAYS).unwrap() {
            fired.push(due);
            cycle = following;
        }
        assert_eq!(fired, [NOW + 3_600_000, NOW + 7_200_000, NOW + 10_800_000]);

        let start = parse_date("2026-12-01T09:00").unwrap();
        let (due, cycle) = schedule(TimerKind::Cycle, "R/2026-12-01T09:00/P1D", NOW).unwrap();
        assert_eq!(due, start);
        assert_eq!(next(&cycle.unwrap(), due, &WEEKDAYS).unwrap().map(|(due, _)| due), Some(start + 86_400_000));
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
        let (after, _) = next(&cycle.unwrap(), due, &WEEKDAYS).unwrap().unwrap();
        assert_eq!(after, parse_date("2026-12-01T09:00:00+08:00").unwrap());
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// 2026's 国庆 (10-01 … 10-07 off, Sunday 09-20 and Saturday 10-10 worked).
    fn national_day() -> WorkCalendar {
        let holidays: Vec<_> = (1..=7).map(|d| day(&format!("2026-10-0{d}"))).collect();
        WorkCalendar::new(&[2026], &holidays, &[day("2026-09-20"), day("2026-10-10")]).unwrap()
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_count_make_up_days() {
        let calendar = national_day();
        // Friday 2026-09-18 10:00 + 3 working days: Sunday 09-20 is worked → Tuesday 09-22.
        let friday = parse_date("2026-09-18T10:00").unwrap();
        assert_eq!(calendar.add_workdays(friday, 3), Ok(parse_date("2026-09-22T10:00").unwrap()));
        // Wednesday 09-30 + 3: 10-01 … 10-07 off, 10-08 Thu, 10-09 Fri, 10-10 Sat (worked).
        let before = parse_date("2026-09-30T16:30").unwrap();
        assert_eq!(calendar.add_workdays(before, 3), Ok(parse_date("2026-10-10T16:30").unwrap()));
        // A start on a holiday counts from the next working day.
        let holiday = parse_date("2026-10-03T09:00").unwrap();
        assert_eq!(calendar.add_workdays(holiday, 1), Ok(parse_date("2026-10-08T09:00").unwrap()));
        // Without holidays, only weekends are off.
        assert_eq!(WEEKDAYS.add_workdays(before, 3), Ok(parse_date("2026-10-05T16:30").unwrap()));
        assert!(calendar.add_workdays(before, MAX_WORKDAYS + 1).is_err());
    }

    #[test]
    fn a_calendar_refuses_contradictions() {
        assert!(WorkCalendar::new(&[2026], &[day("2026-10-01")], &[day("2026-10-01")]).is_err());
        assert!(WorkCalendar::new(&[2026], &[day("2027-01-01")], &[]).is_err());
        assert!(WorkCalendar::new(&[2026], &[], &[day("2026-10-09")]).is_err(), "a Friday is no make-up day");
        assert!(national_day().covers(2026) && !national_day().covers(2027));
    }

    #[test]
    fn working_day_timers_take_whole_days_and_cycles_keep_counting_them() {
        let calendar = national_day();
        let now = parse_date("2026-09-30T16:30").unwrap();
        let (due, cycle) = schedule_on(TimerKind::Duration, "P3D", now, Some(&calendar)).unwrap();
        assert_eq!((due, cycle), (parse_date("2026-10-10T16:30").unwrap(), None));
        let (due, cycle) = schedule_on(TimerKind::Cycle, "R2/P1D", now, Some(&calendar)).unwrap();
        assert_eq!(due, parse_date("2026-10-08T16:30").unwrap());
        let cycle = cycle.unwrap();
        let (second, last) = next(&cycle, due, &calendar).unwrap().unwrap();
        assert_eq!(second, parse_date("2026-10-09T16:30").unwrap());
        assert_eq!(next(&last, second, &calendar), Ok(None));
        // The cycle remembers it counts working days: stored and read back, it still does.
        let stored: Cycle = serde_json::from_str(&serde_json::to_string(&cycle).unwrap()).unwrap();
        assert_eq!(stored, cycle);
        for bad in ["P1W", "PT4H", "P1DT2H", "P0D", "P1M"] {
            assert!(schedule_on(TimerKind::Duration, bad, now, Some(&calendar)).is_err(), "{bad} should be refused");
        }
        assert!(schedule_on(TimerKind::Date, "2026-10-10", now, Some(&calendar)).is_err());
        assert!(schedule_on(TimerKind::Cycle, "0 0 9 * * ?", now, Some(&calendar)).is_err());
    }
}
