//! SVC-22 场地预定 / 停车预定 / 活动保障 (issue 14): the `venue-booking` process's handlers. A
//! request (a `venue-booking` form record: the venue, the time, the purpose) is checked against
//! the venue's schedule when it is submitted (`sy-venue-check`: a taken time, a venue gone or not
//! bookable, or a time past ends the request at once, saying why), reviewed by operations, and
//! booked when approved (`sy-venue-confirm`): the schedule takes the time in one guarded
//! transaction, so two requests approved for one time cannot both be booked — the second is
//! told the time was taken. Both book what was submitted (the process variables), not the record
//! as it may have been edited since; the request record shows the outcome (已确认 / 时间冲突 /
//! 场地不可用 / 已取消), and the requester hears of it, once per outcome.

use chrono::{NaiveDate, NaiveTime, TimeZone};
use engine::{Value, Variables};
use serde_json::{Map, Value as Json, json};

use crate::domain::{Booked, BookingRequest, DomainHandler, Failure, Note, Ports, RecordView, Task};

pub const CHECK: &str = "sy-venue-check";
pub const CONFIRM: &str = "sy-venue-confirm";
/// The requests' form.
pub const FORM: &str = "venue-booking";
/// The BPMN errors the check throws (the model's boundary event catches either): the time is
/// taken; the venue cannot be booked (gone, not bookable) or the time has passed.
pub const TAKEN: &str = "venue-taken";
pub const UNAVAILABLE: &str = "venue-unavailable";
/// The venues' form.
const VENUES: &str = "venue";

fn text<'a>(values: &'a Map<String, Json>, key: &str) -> &'a str {
    values.get(key).and_then(Json::as_str).map(str::trim).unwrap_or_default()
}

/// The request as submitted — the venue and the time the reviewer saw, from the process
/// variables (an edit of the record since changes nothing) — with the live venue behind it (its
/// district and name; it must still exist and be bookable) and the request's record.
async fn request(task: &Task, ports: &Ports) -> Result<(BookingRequest, RecordView), Failure> {
    let id = task.text("recordId")?;
    let record = ports
        .records
        .record(FORM, id)
        .await?
        .ok_or_else(|| Failure::permanent("record-missing", format!("预定申请 {id} 不存在或已删除")))?;
    let submitted = |name: &str| task.variables.get(name).map(engine::Value::to_json).unwrap_or(Json::Null);
    let venue_id = submitted("venue").get("id").and_then(Json::as_str).unwrap_or_default().to_string();
    let slot = submitted("time");
    let part = |name: &str| slot.get(name).and_then(Json::as_str).unwrap_or_default().to_string();
    let (starts_at, ends_at) = times(&part("date"), &part("start"), &part("end"))
        .ok_or_else(|| Failure::permanent("invalid-input", "预定时间无效 (bad time)"))?;
    let venue = match ports.records.record(VENUES, &venue_id).await? {
        Some(venue) => venue,
        None => return Err(Failure::business(UNAVAILABLE, "所选场地已不存在")),
    };
    if venue.values.get("bookable").and_then(Json::as_bool) != Some(true) {
        return Err(Failure::business(UNAVAILABLE, "所选场地目前不可预定"));
    }
    let booking = BookingRequest {
        request_id: record.id.clone(),
        venue_id,
        venue_title: text(&venue.values, "name").to_string(),
        // The venue's district: its district's staff see and cancel its bookings.
        district: venue.district.clone(),
        kind: submitted("kind").as_str().unwrap_or_default().to_string(),
        title: submitted("purpose").as_str().unwrap_or_default().chars().take(60).collect(),
        starts_at,
        ends_at,
        // Who submitted it (the initiator, which nobody can change after the start).
        booked_by: task.text("starter")?.to_string(),
    };
    Ok((booking, record))
}

/// Marks the request with its outcome (as the system: the status is read-only), unless it
/// says so already.
async fn mark(ports: &Ports, record: &RecordView, status: &str, booking: Option<&str>) -> Result<(), Failure> {
    if text(&record.values, "status") == status {
        return Ok(());
    }
    let mut set = Map::new();
    set.insert("status".into(), json!(status));
    if let Some(booking) = booking {
        set.insert("booking".into(), json!(booking));
    }
    Ok(ports.records.set_fields(FORM, &record.id, record.version, set, "场地排期").await?)
}

/// Tells the requester, once per outcome.
async fn tell(
    task: &Task,
    ports: &Ports,
    booking: &BookingRequest,
    outcome: &str,
    title: &str,
    body: String,
) -> Result<(), Failure> {
    let note = Note { title: title.into(), body, link: Some(format!("/m/forms/{FORM}/{}", booking.request_id)) };
    Ok(ports.messages.message_to_account(&task.key(outcome), &booking.booked_by, &note).await?)
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
        let (booking, record) = match request(task, ports).await {
            Err(Failure::Business { code, message }) => {
                // The venue is gone or not bookable: the request says so and ends.
                let id = task.text("recordId")?;
                if let Some(record) = ports.records.record(FORM, id).await? {
                    mark(ports, &record, "unavailable", None).await?;
                    let note = Note {
                        title: "场地预定未成功".into(),
                        body: format!("{message}，请另选场地重新申请。"),
                        link: Some(format!("/m/forms/{FORM}/{id}")),
                    };
                    let starter = task.text("starter")?;
                    ports.messages.message_to_account(&task.key("unavailable"), starter, &note).await?;
                }
                return Err(Failure::Business { code, message });
            }
            other => other?,
        };
        if booking.starts_at < now() {
            mark(ports, &record, "unavailable", None).await?;
            tell(task, ports, &booking, "past", "场地预定未成功", "申请的时间已经过去，请重新选择时间。".into())
                .await?;
            return Err(Failure::business(UNAVAILABLE, "申请的时间已经过去"));
        }
        if let Some(holder) = ports.bookings.conflict(&booking).await? {
            let taken =
                format!("该时段已被“{}”预定（{}–{}）", holder.title, shown(holder.starts_at), shown(holder.ends_at));
            mark(ports, &record, "conflict", None).await?;
            let body = format!("“{}”{taken}，请另选时间重新申请。", booking.venue_title);
            tell(task, ports, &booking, "taken", "场地预定未成功", body).await?;
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
        let (booking, record) = request(task, ports).await?;
        let when = format!("{}–{}", shown(booking.starts_at), shown(booking.ends_at));
        // An outcome already on the request stands (a run again after it was written, or a
        // 取消 since): never booked twice, never flipped.
        let booked = match text(&record.values, "status") {
            "confirmed" => true,
            "conflict" | "cancelled" | "unavailable" => false,
            _ => match ports.bookings.book(&booking).await? {
                Booked::Booked(id) => {
                    mark(ports, &record, "confirmed", Some(&id)).await?;
                    true
                }
                Booked::Taken(holder) => {
                    mark(ports, &record, "conflict", None).await?;
                    let body = format!(
                        "“{}”的该时段已被“{}”预定（{}–{}），请另选时间重新申请。",
                        booking.venue_title,
                        holder.title,
                        shown(holder.starts_at),
                        shown(holder.ends_at)
                    );
                    tell(task, ports, &booking, "conflict", "场地预定未成功", body).await?;
                    false
                }
                Booked::Cancelled => {
                    mark(ports, &record, "cancelled", None).await?;
                    false
                }
            },
        };
        if booked {
            let body = format!("“{}”{when} 已为您预定，用途：{}。", booking.venue_title, booking.title);
            tell(task, ports, &booking, "confirmed", "场地预定已确认", body).await?;
        }
        let mut output = Variables::new();
        output.insert("booked".into(), Value::Boolean(booked));
        Ok(output)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
