-- Issue 13: lists of a form with a million records. A district's list filters by district and
-- key columns and sorts by a key column. Without an index holding all of them, each page and
-- each total looked up tens of thousands of rows (p99 1 s with 1,000,000 records). With every
-- column a list's WHERE and ORDER BY name in one index (and the id, so the page's ids come
-- from the index alone), a district's page and its total read only index entries.
CREATE INDEX form_records_lists ON form_records (form, district, deleted_at, k1, k2, k3, k4, k5, k6, k7, k8, id)
