-- SVC-22 场地预定 / 停车预定 / 活动保障 (issue 14): the schedule of each venue. A booking holds
-- its venue's half-hour slots as rows of `venue_slots`, whose primary key (venue, slot) makes
-- two bookings of one venue at one time impossible — the database refuses the second, however
-- many requests race — and cancelling frees them (the slots go, the booking stays, cancelled).
-- One booking per request (`request_id`): a confirmation run again finds its own booking.
CREATE TABLE venue_bookings (
    id TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL,
    venue_title TEXT NOT NULL,
    district TEXT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    request_id TEXT NOT NULL,
    booked_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    cancelled_at BIGINT,
    cancelled_by TEXT
);
CREATE UNIQUE INDEX venue_bookings_request ON venue_bookings (request_id);
CREATE INDEX venue_bookings_venue ON venue_bookings (venue_id, starts_at);
CREATE INDEX venue_bookings_time ON venue_bookings (district, starts_at);
CREATE TABLE venue_slots (
    venue_id TEXT NOT NULL,
    slot BIGINT NOT NULL,
    booking_id TEXT NOT NULL,
    PRIMARY KEY (venue_id, slot)
);
CREATE INDEX venue_slots_booking ON venue_slots (booking_id)
