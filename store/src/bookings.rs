//! SVC-22's venue schedule (issue 14): bookings and the half-hour slots they hold, expanded per
//! backend by [`bookings_impl`], like `forms.rs`. A booking is made in one transaction that
//! inserts its slots: the slots' primary key refuses a second booking of a venue at a time
//! already taken, so no check-then-insert race can double-book (`BookOutcome::Taken`).

use crate::{DataScope, Result};

/// How long one slot of a venue's schedule is.
pub const SLOT_MILLIS: i64 = 30 * 60 * 1000;
/// The longest booking, in slots (a week).
pub const MAX_SLOTS: i64 = 7 * 48;

/// A booking of a venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueBooking {
    pub id: String,
    pub venue_id: String,
    pub venue_title: String,
    pub district: Option<String>,
    /// `venue` (场地预定), `parking` (停车预定) or `support` (活动保障).
    pub kind: String,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// The request (a form record) it was made for: one booking per request.
    pub request_id: String,
    pub booked_by: String,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
    pub cancelled_by: Option<String>,
}

/// What booking a time did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookOutcome {
    /// Booked (or booked before for the same request: the same booking).
    Booked(VenueBooking),
    /// Another booking holds part of the time: its title and times.
    Taken(VenueBooking),
    /// The request was booked before and that booking was cancelled since: never booked again
    /// under the same request (a new time is a new request).
    Cancelled(VenueBooking),
}

/// The half-hour slots from `starts_at` to `ends_at` (both on slot boundaries).
pub fn slots(starts_at: i64, ends_at: i64) -> Vec<i64> {
    let mut slots = Vec::new();
    let mut slot = starts_at - starts_at.rem_euclid(SLOT_MILLIS);
    while slot < ends_at && (slots.len() as i64) < MAX_SLOTS {
        slots.push(slot);
        slot += SLOT_MILLIS;
    }
    slots
}

/// The venue-schedule port. Implemented for both backends by [`bookings_impl`].
#[async_trait::async_trait]
pub trait BookingStore: Send + Sync {
    /// Books `booking`'s time in one transaction: its slots or nothing. A request booked before
    /// answers its booking again; a time another booking holds answers that booking.
    async fn book_venue(&self, booking: &VenueBooking) -> Result<BookOutcome>;
    /// The confirmed booking holding any of the time, if one does.
    async fn venue_conflict(&self, venue_id: &str, starts_at: i64, ends_at: i64) -> Result<Option<VenueBooking>>;
    /// Cancels a confirmed booking and frees its slots; `false` if it was not confirmed.
    async fn cancel_venue_booking(&self, id: &str, by: &str, at: i64) -> Result<bool>;
    async fn venue_booking(&self, id: &str, scope: &DataScope) -> Result<Option<VenueBooking>>;
    /// Bookings overlapping `[from, to)` in `scope` (a venue's or all), by start, cancelled ones
    /// only with `cancelled`.
    async fn venue_bookings(
        &self,
        venue_id: Option<&str>,
        from: i64,
        to: i64,
        cancelled: bool,
        scope: &DataScope,
    ) -> Result<Vec<VenueBooking>>;
}

pub(crate) const COLUMNS: &str = "id, venue_id, venue_title, district, kind, title, starts_at, ends_at, status, request_id, booked_by, created_at, cancelled_at, cancelled_by";
/// [`COLUMNS`] of the bookings aliased `b`.
pub(crate) const B_COLUMNS: &str = "b.id, b.venue_id, b.venue_title, b.district, b.kind, b.title, b.starts_at, b.ends_at, b.status, b.request_id, b.booked_by, b.created_at, b.cancelled_at, b.cancelled_by";

/// Expands [`BookingStore`] for one backend.
macro_rules! bookings_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row;

            use crate::bookings::*;
            use crate::{DataScope, Error, Result};

            type DbRow = <$db as sqlx::Database>::Row;

            fn booking_from(row: &DbRow) -> Result<VenueBooking> {
                Ok(VenueBooking {
                    id: row.try_get("id")?,
                    venue_id: row.try_get("venue_id")?,
                    venue_title: row.try_get("venue_title")?,
                    district: row.try_get("district")?,
                    kind: row.try_get("kind")?,
                    title: row.try_get("title")?,
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                    status: row.try_get("status")?,
                    request_id: row.try_get("request_id")?,
                    booked_by: row.try_get("booked_by")?,
                    created_at: row.try_get("created_at")?,
                    cancelled_at: row.try_get("cancelled_at")?,
                    cancelled_by: row.try_get("cancelled_by")?,
                })
            }

            /// `AND …` restricting bookings (`b`) to a data scope, with its parameter.
            fn scope_clause(scope: &DataScope) -> (&'static str, Option<String>) {
                match scope {
                    DataScope::All => ("", None),
                    DataScope::District(code) => (" AND b.district = ?", Some(code.clone())),
                    DataScope::Own(user) | DataScope::Started(user) => (" AND b.booked_by = ?", Some(user.clone())),
                    // Bookings carry no unit: a unit-scope reader sees none (the schedule is
                    // district staff's).
                    DataScope::Unit(_) | DataScope::Nothing => (" AND 1 = 0", None),
                }
            }

            #[async_trait::async_trait]
            impl BookingStore for $store {
                async fn book_venue(&self, booking: &VenueBooking) -> Result<BookOutcome> {
                    let slots = slots(booking.starts_at, booking.ends_at);
                    let (Some(first), Some(last)) = (slots.first().copied(), slots.last().copied()) else {
                        return Err(Error::Invalid("预定时间为空 (an empty booking)".into()));
                    };
                    if booking.ends_at - booking.starts_at > MAX_SLOTS * SLOT_MILLIS {
                        return Err(Error::Invalid("一次预定最长 7 天 (a booking is at most a week)".into()));
                    }
                    // The time it holds is the whole slots: stored so, shown so.
                    let mut booking = booking.clone();
                    booking.starts_at = first;
                    booking.ends_at = last + SLOT_MILLIS;
                    let mut tx = self.begin_write().await?;
                    let existing = sqlx::query(Self::dynamic(format!("SELECT {COLUMNS} FROM venue_bookings WHERE request_id = ?")))
                        .bind(&booking.request_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = existing {
                        let existing = booking_from(&row)?;
                        let same = existing.venue_id == booking.venue_id
                            && existing.starts_at == booking.starts_at
                            && existing.ends_at == booking.ends_at;
                        return match (existing.status.as_str(), same) {
                            (_, false) => Err(Error::Invalid(format!(
                                "申请 {} 已有另一场地或时段的排期 (the request is booked for another venue or time)",
                                booking.request_id
                            ))),
                            ("confirmed", true) => Ok(BookOutcome::Booked(existing)),
                            _ => Ok(BookOutcome::Cancelled(existing)),
                        };
                    }
                    sqlx::query(Self::dynamic(format!("INSERT INTO venue_bookings ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")))
                        .bind(&booking.id).bind(&booking.venue_id).bind(&booking.venue_title).bind(&booking.district)
                        .bind(&booking.kind).bind(&booking.title).bind(booking.starts_at).bind(booking.ends_at)
                        .bind("confirmed").bind(&booking.request_id).bind(&booking.booked_by).bind(booking.created_at)
                        .bind(None::<i64>).bind(None::<String>)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::map_error)?;
                    let statement = crate::backend::multi_insert("venue_slots", &["venue_id", "slot", "booking_id"], slots.len());
                    let mut insert = sqlx::query(Self::dynamic(statement));
                    for slot in &slots {
                        insert = insert.bind(&booking.venue_id).bind(*slot).bind(&booking.id);
                    }
                    match insert.execute(&mut *tx).await {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                            drop(tx);
                            let holder = self.venue_conflict(&booking.venue_id, booking.starts_at, booking.ends_at).await?;
                            return match holder {
                                Some(holder) => Ok(BookOutcome::Taken(holder)),
                                // Freed meanwhile: the caller may try again.
                                None => Err(Error::Conflict("场地刚刚被占用后又释放，请重试 (the time changed hands; retry)".into())),
                            };
                        }
                        Err(error) => return Err(Self::map_error(error)),
                    }
                    tx.commit().await.map_err(Self::map_error)?;
                    booking.status = "confirmed".into();
                    Ok(BookOutcome::Booked(booking))
                }

                async fn venue_conflict(&self, venue_id: &str, starts_at: i64, ends_at: i64) -> Result<Option<VenueBooking>> {
                    let slots = slots(starts_at, ends_at);
                    let (Some(first), Some(last)) = (slots.first(), slots.last()) else { return Ok(None) };
                    let select = format!("SELECT {B_COLUMNS} FROM venue_bookings b WHERE b.id = (SELECT s.booking_id FROM venue_slots s WHERE s.venue_id = ? AND s.slot >= ? AND s.slot <= ? ORDER BY s.slot LIMIT 1)");
                    let row = sqlx::query(Self::dynamic(select)).bind(venue_id).bind(*first).bind(*last).fetch_optional(&self.pool).await?;
                    row.map(|row| booking_from(&row)).transpose()
                }

                async fn cancel_venue_booking(&self, id: &str, by: &str, at: i64) -> Result<bool> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(Self::sql("UPDATE venue_bookings SET status = 'cancelled', cancelled_at = ?, cancelled_by = ? WHERE id = ? AND status = 'confirmed'"))
                        .bind(at).bind(by).bind(id)
                        .execute(&mut *tx).await.map_err(Self::map_error)?;
                    if done.rows_affected() == 1 {
                        sqlx::query(Self::sql("DELETE FROM venue_slots WHERE booking_id = ?")).bind(id).execute(&mut *tx).await.map_err(Self::map_error)?;
                    }
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn venue_booking(&self, id: &str, scope: &DataScope) -> Result<Option<VenueBooking>> {
                    let (clause, param) = scope_clause(scope);
                    let select = format!("SELECT {B_COLUMNS} FROM venue_bookings b WHERE b.id = ?{clause}");
                    let mut query = sqlx::query(Self::dynamic(select)).bind(id);
                    if let Some(param) = param {
                        query = query.bind(param);
                    }
                    query.fetch_optional(&self.pool).await?.map(|row| booking_from(&row)).transpose()
                }

                async fn venue_bookings(&self, venue_id: Option<&str>, from: i64, to: i64, cancelled: bool, scope: &DataScope) -> Result<Vec<VenueBooking>> {
                    let (clause, param) = scope_clause(scope);
                    let venue = if venue_id.is_some() { " AND b.venue_id = ?" } else { "" };
                    let status = if cancelled { "" } else { " AND b.status = 'confirmed'" };
                    let select = format!(
                        "SELECT {B_COLUMNS} FROM venue_bookings b WHERE b.starts_at < ? AND b.ends_at > ?{venue}{status}{clause} ORDER BY b.starts_at, b.id LIMIT 2000"
                    );
                    let mut query = sqlx::query(Self::dynamic(select)).bind(to).bind(from);
                    if let Some(venue_id) = venue_id {
                        query = query.bind(venue_id.to_string());
                    }
                    if let Some(param) = param {
                        query = query.bind(param);
                    }
                    query.fetch_all(&self.pool).await?.iter().map(booking_from).collect()
                }
            }
        };
    };
}
pub(crate) use bookings_impl;
