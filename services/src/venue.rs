//! SVC-22 场地预定 / 停车预定 / 活动保障 (issue 14): the `venue-booking` process's handlers. A
//! request (a `venue-booking` form record: the venue, the time, the purpose) is checked against
//! the venue's schedule when it is submitted (`sy-venue-check`: a taken time ends the request at
//! once, with whose booking holds it), reviewed by operations, and booked when approved
//! (`sy-venue-confirm`): the schedule takes the time in one guarded transaction, so two requests
//! approved for one time cannot both be booked — the second is told the time was taken. The
//! request record shows the outcome (已确认 / 时间冲突), and the requester hears of it.

use chrono::{NaiveDate, NaiveTime, TimeZone};
use engine::{Value, Variables};
use serde_json::{Map, Value as Json, json};

use crate::domain::{Booked, BookingRequest, DomainHandler, Failure, Note, Ports, Task};

pub const CHECK: &str = "sy-venue-check";
pub const CONFIRM: &str = "sy-venue-confirm";
/// The requests' form.
pub const FORM: &str = "venue-booking";
/// The BPMN error a taken time throws (a boundary event of the model catches it).
pub const TAKEN: &str = "venue-taken";

fn text<'a>(values: &'a Map<String, Json>, key: &str) -> &'a str {
    values.get(key).and_then(Json::as_str).map(str::trim).unwrap_or_default()
}

/// The request's venue, times and title, read from its record.
async fn request(task: &Task, ports: &Ports) -> Result<(BookingRequest, i64, Map<String, Json>), Failure> {
    let id = task.text("recordId")?;
    let record = ports
        .records
        .record(FORM, id)
        .await?
        .ok_or_else(|| Failure::permanent("record-missing", format!("预定申请 {id} 不存在或已删除")))?;
    let values = record.values.clone();
    let venue = values.get("venue").cloned().unwrap_or(Json::Null);
    let venue_id = venue.get("id").and_then(Json::as_str).unwrap_or_default().to_string();
    let venue_title = venue.get("title").and_then(Json::as_str).unwrap_or_default().to_string();
    if venue_id.is_empty() {
        return Err(Failure::permanent("invalid-input", "预定申请未选择场地 (no venue)"));
    }
    let slot = values.get("time").cloned().unwrap_or(Json::Null);
    let part = |name: &str| slot.get(name).and_then(Json::as_str).unwrap_or_default().to_string();
    let (starts_at, ends_at) = times(&part("date"), &part("start"), &part("end"))
        .ok_or_else(|| Failure::permanent("invalid-input", "预定时间无效 (bad time)"))?;
    let booking = BookingRequest {
        request_id: record.id.clone(),
        venue_id,
        venue_title,
        district: record.district.clone(),
        kind: text(&values, "kind").to_string(),
        title: text(&values, "purpose").chars().take(60).collect(),
        starts_at,
        ends_at,
        booked_by: record.created_by.clone(),
    };
    Ok((booking, record.version, values))
}

/// Shanghai time of a date and two clock times, widened to whole half hours.
pub fn times(date: &str, start: &str, end: &str) -> Option<(i64, i64)> {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600)?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let at = |time: &str| {
        let time = NaiveTime::parse_from_str(time, "%H:%M").ok()?;
        shanghai.from_local_datetime(&date.and_time(time)).single().map(|time| time.timestamp_millis())
    };
    let (from, to) = (at(start)?, at(end)?);
    let half_hour = 30 * 60 * 1000;
    let from = from - from.rem_euclid(half_hour);
    let to = to + (half_hour - to.rem_euclid(half_hour)) % half_hour;
    (to > from).then_some((from, to))
}

/// The Shanghai time of `millis` as people read it.
fn shown(millis: i64) -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"));
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.with_timezone(&shanghai).format("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub struct Check;

#[async_trait::async_trait]
impl DomainHandler for Check {
    fn topic(&self) -> &'static str {
        CHECK
    }

    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure> {
        let (booking, _, _) = request(task, ports).await?;
        if let Some(holder) = ports.bookings.conflict(&booking).await? {
            let taken =
                format!("该时段已被“{}”预定（{}–{}）", holder.title, shown(holder.starts_at), shown(holder.ends_at));
            let note = Note {
                title: "场地预定未成功".into(),
                body: format!("“{}”{taken}，请另选时间重新申请。", booking.venue_title),
                link: Some(format!("/m/forms/{FORM}/{}", booking.request_id)),
            };
            ports.messages.message_to_account(&task.key("taken"), &booking.booked_by, &note).await?;
            return Err(Failure::business(TAKEN, taken));
        }
        Ok(Variables::new())
    }
}

pub struct Confirm;

#[async_trait::async_trait]
impl DomainHandler for Confirm {
    fn topic(&self) -> &'static str {
        CONFIRM
    }

    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure> {
        let (booking, version, values) = request(task, ports).await?;
        let requester = booking.booked_by.clone();
        let (status, note) = match ports.bookings.book(&booking).await? {
            Booked::Booked(id) => {
                let when = format!("{}–{}", shown(booking.starts_at), shown(booking.ends_at));
                let note = Note {
                    title: "场地预定已确认".into(),
                    body: format!("“{}”{when} 已为您预定，用途：{}。", booking.venue_title, booking.title),
                    link: Some(format!("/m/forms/{FORM}/{}", booking.request_id)),
                };
                (("confirmed", Some(id)), note)
            }
            Booked::Taken(holder) => {
                let note = Note {
                    title: "场地预定未成功".into(),
                    body: format!(
                        "“{}”的该时段已被“{}”预定（{}–{}），请另选时间重新申请。",
                        booking.venue_title,
                        holder.title,
                        shown(holder.starts_at),
                        shown(holder.ends_at)
                    ),
                    link: Some(format!("/m/forms/{FORM}/{}", booking.request_id)),
                };
                (("conflict", None), note)
            }
        };
        let mut set = Map::new();
        set.insert("status".into(), json!(status.0));
        if let Some(id) = &status.1 {
            set.insert("booking".into(), json!(id));
        }
        if text(&values, "status") != status.0 {
            ports.records.set_fields(FORM, &booking.request_id, version, set, "场地排期").await?;
        }
        ports.messages.message_to_account(&task.key("outcome"), &requester, &note).await?;
        let mut output = Variables::new();
        output.insert("booked".into(), Value::Boolean(status.1.is_some()));
        Ok(output)
    }
}
