//! 场地排期 (SVC-22 排期 / 调度, issue 14): `/admin/venues/schedule`, the bookings of a week —
//! by venue and day (the board), or for one venue by half hour and day (its calendar) — in the
//! caller's data scope, with 上一周 / 本周 / 下一周 and 取消 for those who may (`forms:write`).
//! Cancelling frees the booking's slots in the same transaction as its status
//! (`BookingStore::cancel_venue_booking`), marks the request 已取消 and tells the requester.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};
use store::bookings::{SLOT_MILLIS, VenueBooking};

use super::{screen, see_other};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp};
use crate::templates::Context;

/// The requests' form and the venues' form.
const REQUESTS: &str = services::venue::FORM;
const VENUES: &str = "venue";
/// The hours the calendar shows (every booking of the week is also listed under it).
const FIRST_HOUR: u32 = 8;
const LAST_HOUR: u32 = 22;

fn shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"))
}

fn millis(date: NaiveDate, hour: u32, minute: u32) -> i64 {
    date.and_hms_opt(hour, minute, 0)
        .and_then(|time| shanghai().from_local_datetime(&time).single())
        .map(|time| time.timestamp_millis())
        .unwrap_or_default()
}

fn clock(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.with_timezone(&shanghai()).format("%H:%M").to_string())
        .unwrap_or_default()
}

fn day_of(millis: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_millis(millis).map(|time| time.with_timezone(&shanghai()).date_naive())
}

#[derive(Deserialize, Default)]
pub(crate) struct ScheduleQuery {
    /// Any day of the week to show (`YYYY-MM-DD`); this week by default.
    #[serde(default)]
    week: Option<String>,
    /// One venue's calendar instead of the board.
    #[serde(default)]
    venue: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Serialize)]
struct Entry {
    id: String,
    time: String,
    title: String,
    kind: String,
    request: String,
    /// In a venue's calendar: the booking starts in this slot.
    starts: bool,
}

#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    /// Per day of the week: its bookings.
    days: Vec<Vec<Entry>>,
}

fn entry(booking: &VenueBooking) -> Entry {
    let kind = match booking.kind.as_str() {
        "parking" => "停车",
        "support" => "保障",
        _ => "场地",
    };
    Entry {
        id: booking.id.clone(),
        time: format!("{}–{}", clock(booking.starts_at), clock(booking.ends_at)),
        title: booking.title.clone(),
        kind: kind.into(),
        request: booking.request_id.clone(),
        starts: false,
    }
}

/// `GET /admin/venues/schedule`.
pub(crate) async fn schedule(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<ScheduleQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let today = chrono::Utc::now().with_timezone(&shanghai()).date_naive();
    let chosen = match query.week.as_deref().filter(|week| !week.is_empty()) {
        Some(week) => NaiveDate::parse_from_str(week, "%Y-%m-%d")
            .ok()
            .filter(|day| (2000..=2100).contains(&day.year()))
            .ok_or_else(|| ApiError::invalid("日期格式应为 2026-12-07，年份在 2000 至 2100 之间 (bad date)"))?,
        None => today,
    };
    let monday = chosen - Duration::days(i64::from(chosen.weekday().num_days_from_monday()));
    let days: Vec<NaiveDate> = (0..7).map(|offset| monday + Duration::days(offset)).collect();
    let (from, to) = (millis(monday, 0, 0), millis(monday + Duration::days(7), 0, 0));
    let scope = crate::identity::scope();
    // The venues the caller sees (their district's, or all).
    let catalog = crate::forms::catalog(&state);
    let venues_form = catalog.form(VENUES).ok_or_else(|| ApiError::Internal("no venue form".into()))?;
    let request = forms::records::ListRequest { page: 1, page_size: 200, ..Default::default() };
    let crypto = state.security.crypto.as_ref();
    let actor = crate::forms::actor(&auth);
    let (venues, _) = forms::records::list(state.store().as_ref(), crypto, venues_form, &actor, &request)
        .await
        .map_err(crate::forms::refused)?;
    let venue = query.venue.as_deref().filter(|venue| !venue.is_empty());
    let bookings = state.store().venue_bookings(venue, from, to, false, &scope).await?;
    let day_index =
        |booking: &VenueBooking| day_of(booking.starts_at).and_then(|day| days.iter().position(|d| *d == day));
    let mut context = Context::new();
    match venue {
        None => {
            let rows: Vec<Row> = venues
                .iter()
                .map(|record| {
                    let mut days_of: Vec<Vec<Entry>> = (0..7).map(|_| Vec::new()).collect();
                    for booking in bookings.iter().filter(|booking| booking.venue_id == record.id) {
                        if let Some(index) = day_index(booking) {
                            days_of[index].push(entry(booking));
                        }
                    }
                    Row { id: record.id.clone(), name: record.title.clone(), days: days_of }
                })
                .collect();
            context.insert("rows", &rows);
            context.insert("venue", &Option::<String>::None);
            context.insert("venue_name", "");
            context.insert("slots", &Vec::<(String, Vec<Option<Entry>>)>::new());
        }
        Some(venue) => {
            let name = venues.iter().find(|record| record.id == venue).map(|record| record.title.clone());
            let name = name.ok_or_else(|| ApiError::not_found("场地不存在或无权查看 (no such venue)"))?;
            // Half hours × days: the booking holding each slot (its title shown where it starts).
            let mut slots: Vec<(String, Vec<Option<Entry>>)> = Vec::new();
            for half in (FIRST_HOUR * 2)..(LAST_HOUR * 2) {
                let (hour, minute) = (half / 2, (half % 2) * 30);
                let cells = days
                    .iter()
                    .map(|day| {
                        let at = millis(*day, hour, minute);
                        bookings.iter().find(|booking| booking.starts_at <= at && at < booking.ends_at).map(|booking| {
                            let mut shown = entry(booking);
                            shown.starts = booking.starts_at + SLOT_MILLIS > at;
                            shown
                        })
                    })
                    .collect();
                slots.push((format!("{hour:02}:{minute:02}"), cells));
            }
            context.insert("slots", &slots);
            context.insert("rows", &Vec::<Row>::new());
            context.insert("venue", &Some(venue.to_string()));
            context.insert("venue_name", &name);
        }
    }
    let labels = ["一", "二", "三", "四", "五", "六", "日"];
    let heads: Vec<(String, String, bool)> = days
        .iter()
        .zip(labels)
        .map(|(day, label)| (format!("周{label}"), day.format("%m-%d").to_string(), *day == today))
        .collect();
    let list: Vec<(String, Entry)> = bookings
        .iter()
        .map(|booking| {
            (day_of(booking.starts_at).map(|d| d.format("%m-%d").to_string()).unwrap_or_default(), entry(booking))
        })
        .collect();
    context.insert("heads", &heads);
    context.insert("list", &list);
    context
        .insert("venues", &venues.iter().map(|record| (record.id.clone(), record.title.clone())).collect::<Vec<_>>());
    context.insert("week", &monday.format("%Y-%m-%d").to_string());
    context.insert("previous", &(monday - Duration::days(7)).format("%Y-%m-%d").to_string());
    context.insert("next", &(monday + Duration::days(7)).format("%Y-%m-%d").to_string());
    context
        .insert("range", &format!("{} – {}", monday.format("%Y-%m-%d"), (monday + Duration::days(6)).format("%m-%d")));
    context.insert("may_cancel", &auth.principal.can("forms:write"));
    context.insert("notice", &query.notice.filter(|notice| notice == "cancelled"));
    screen(&state, &auth, "venues", "venue_schedule.html", context).await
}

/// `POST /admin/venues/bookings/{id}/cancel` (`forms:write`): frees the booking's time, marks its
/// request 已取消 and tells the requester. A booking outside the caller's scope is 404.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let scope = crate::identity::scope();
    let user = auth.principal.account.id.clone();
    let booking = state
        .store()
        .venue_booking(&id, &scope)
        .await?
        .ok_or_else(|| ApiError::not_found("排期不存在或无权查看 (no such booking)"))?;
    let cancelled = state.store().cancel_venue_booking(&id, &user, store::now_millis()).await?;
    // The request says so (as the system: its status is read-only), and its requester hears —
    // also when the booking was cancelled before and these steps did not all happen then (each
    // is done once: the status set is a no-op the second time, the message has its key).
    let catalog = crate::forms::catalog(&state);
    if let Some(form) = catalog.form(REQUESTS) {
        let system =
            forms::records::Actor { user: store::SYSTEM_ACTOR.into(), unit: None, scope: store::DataScope::All };
        let crypto = state.security.crypto.as_ref();
        if let Ok(record) =
            forms::records::get(state.store().as_ref(), crypto, form, &system, &booking.request_id).await
        {
            let mut set = serde_json::Map::new();
            set.insert("status".into(), serde_json::json!("cancelled"));
            let store = state.store().as_ref();
            let saved = forms::records::set_by_system(
                store,
                crypto,
                catalog,
                form,
                &system,
                &record.id,
                record.version,
                &set,
                "取消排期",
            );
            if let Err(error) = saved.await {
                tracing::warn!(%error, booking = %id, "the cancelled booking's request was not marked");
            }
        }
    }
    let message = store::identity::NewMessage {
        account_id: booking.booked_by.clone(),
        title: "场地预定已取消".into(),
        body: format!(
            "“{}”{} {}–{} 的预定（{}）已由工作人员取消。",
            booking.venue_title,
            day_of(booking.starts_at).map(|d| d.format("%m-%d").to_string()).unwrap_or_default(),
            clock(booking.starts_at),
            clock(booking.ends_at),
            booking.title
        ),
        link: Some(format!("/m/forms/{REQUESTS}/{}", booking.request_id)),
        dedup_key: Some(format!("{id}:cancelled")),
        created_at: store::now_millis(),
    };
    state.store().push_message(&message).await?;
    if !cancelled {
        return Err(ApiError::coded(axum::http::StatusCode::CONFLICT, "invalid-state", "该排期已取消"));
    }
    crate::identity::audit(&state, crate::identity::entry(Some(&user), &ip, "venue.cancel", Some(&id), "success"))
        .await?;
    let week = day_of(booking.starts_at).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    see_other(&format!("/admin/venues/schedule?week={week}&notice=cancelled"))
}
