//! SVC-22's venue schedule (issue 14): overlapping bookings of one venue are impossible, also
//! when many requests race, because the slots' primary key refuses the second (not a check
//! then an insert); adjacent times and other venues are free; a request booked again gets its
//! booking; cancelling frees the time; lists keep to the data scope.

use std::sync::Arc;

use store::DataScope;
use store::bookings::{BookOutcome, SLOT_MILLIS, VenueBooking, slots};
use tokio::sync::Barrier;

use crate::support::each_backend;

/// 2026-12-09T09:00+08:00.
const NINE: i64 = 1_796_778_000_000;
const HOUR: i64 = 3_600_000;

fn booking(request: &str, venue: &str, starts_at: i64, ends_at: i64, district: &str) -> VenueBooking {
    VenueBooking {
        id: store::new_id(),
        venue_id: venue.into(),
        venue_title: format!("场地 {venue}"),
        district: Some(district.into()),
        kind: "venue".into(),
        title: format!("活动 {request}"),
        starts_at,
        ends_at,
        status: "confirmed".into(),
        request_id: request.into(),
        booked_by: "hp1".into(),
        created_at: 0,
        cancelled_at: None,
        cancelled_by: None,
    }
}

#[test]
fn times_become_half_hour_slots() {
    assert_eq!(slots(NINE, NINE + HOUR), [NINE, NINE + SLOT_MILLIS]);
    assert_eq!(slots(NINE + 10 * 60_000, NINE + 40 * 60_000), [NINE, NINE + SLOT_MILLIS], "widened to whole slots");
    assert!(slots(NINE, NINE).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_racing_requests_for_one_time_exactly_one_is_booked() {
    each_backend(|cx| async move {
        const RACERS: usize = 24;
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut handles = Vec::new();
        for index in 0..RACERS {
            let (store, barrier) = (cx.store.clone(), barrier.clone());
            // 09:00–10:30, 09:30–11:00 or 10:00–11:30: every one holds 10:00–10:30.
            let start = NINE + (index as i64 % 3) * SLOT_MILLIS;
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let wanted = booking(&format!("r{index}"), "hall", start, start + 3 * SLOT_MILLIS, "310101");
                loop {
                    match store.book_venue(&wanted).await {
                        // SQLite's one writer may be busy: try again, as the handler's retry does.
                        Err(store::Error::Conflict(_)) => tokio::task::yield_now().await,
                        other => return other,
                    }
                }
            }));
        }
        let mut booked = 0;
        for handle in handles {
            match handle.await.expect("racer does not panic").expect("booking answers") {
                BookOutcome::Booked(_) => booked += 1,
                BookOutcome::Taken(holder) => assert_eq!(holder.venue_id, "hall"),
                other => panic!("{}: a new request is booked or taken: {other:?}", cx.backend),
            }
        }
        assert_eq!(booked, 1, "{}: exactly one of {RACERS} overlapping requests is booked", cx.backend);
        let all = cx.store.venue_bookings(Some("hall"), NINE - HOUR, NINE + 4 * HOUR, false, &DataScope::All).await;
        assert_eq!(all.expect("lists").len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adjacent_times_share_a_venue_and_cancelling_frees_the_time() {
    each_backend(|cx| async move {
        let store = &cx.store;
        let morning = booking("a", "hall", NINE, NINE + HOUR, "310101");
        let BookOutcome::Booked(first) = store.book_venue(&morning).await.expect("books") else { panic!("free") };
        // Right after it, and another venue at the same time: both free.
        let after = booking("b", "hall", NINE + HOUR, NINE + 2 * HOUR, "310101");
        assert!(matches!(store.book_venue(&after).await.expect("books"), BookOutcome::Booked(_)));
        let elsewhere = booking("c", "parking", NINE, NINE + HOUR, "310104");
        assert!(matches!(store.book_venue(&elsewhere).await.expect("books"), BookOutcome::Booked(_)));
        // The same request again (a handler run twice): its own booking, nothing more.
        let again = booking("a", "hall", NINE, NINE + HOUR, "310101");
        match store.book_venue(&again).await.expect("answers") {
            BookOutcome::Booked(same) => assert_eq!(same.id, first.id),
            other => panic!("{}: the same request is its booking: {other:?}", cx.backend),
        }
        // A half hour inside it is taken; the conflict names the holder.
        let inside = booking("d", "hall", NINE + SLOT_MILLIS, NINE + HOUR, "310101");
        match store.book_venue(&inside).await.expect("answers") {
            BookOutcome::Taken(holder) => assert_eq!(holder.request_id, "a"),
            other => panic!("{}: taken: {other:?}", cx.backend),
        }
        assert_eq!(
            store.venue_conflict("hall", NINE, NINE + HOUR).await.expect("reads").map(|b| b.id),
            Some(first.id.clone())
        );
        // Cancelled: the time is free again, the booking stays as cancelled; twice is refused.
        assert!(store.cancel_venue_booking(&first.id, "hp2", NINE).await.expect("cancels"));
        assert!(!store.cancel_venue_booking(&first.id, "hp2", NINE).await.expect("answers"), "once");
        assert!(store.venue_conflict("hall", NINE, NINE + HOUR).await.expect("reads").is_none());
        assert!(matches!(store.book_venue(&inside).await.expect("books"), BookOutcome::Booked(_)));
        let with_cancelled = store.venue_bookings(Some("hall"), NINE, NINE + 3 * HOUR, true, &DataScope::All).await;
        let with_cancelled = with_cancelled.expect("lists");
        assert_eq!(with_cancelled.iter().filter(|b| b.status == "cancelled").count(), 1);
        // The data scope: 徐汇区 sees its own bookings, not 黄浦区's, by list or by id.
        let xh = DataScope::District("310104".into());
        let seen = store.venue_bookings(None, NINE - HOUR, NINE + 3 * HOUR, false, &xh).await.expect("lists");
        assert!(seen.iter().all(|b| b.district.as_deref() == Some("310104")) && seen.len() == 1, "{seen:?}");
        assert!(store.venue_booking(&first.id, &xh).await.expect("reads").is_none());
        // A cancelled request is never booked again under itself (a confirmation run again
        // after 取消 does not bring the booking back).
        match store.book_venue(&again).await.expect("answers") {
            BookOutcome::Cancelled(old) => assert_eq!(old.id, first.id),
            other => panic!("{}: cancelled stays cancelled: {other:?}", cx.backend),
        }
        // The same request for another time is refused outright.
        assert!(store.book_venue(&booking("a", "hall", NINE + 5 * HOUR, NINE + 6 * HOUR, "310101")).await.is_err());
        // An empty time is refused.
        assert!(store.book_venue(&booking("e", "hall", NINE, NINE, "310101")).await.is_err());
    })
    .await;
}
