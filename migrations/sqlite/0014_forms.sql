-- Issue 13: the records of every dynamic form, in one table. `data` is the record as a JSON
-- document, and `title`, `search` and the key columns `k1` … `k8` are derived from it by the form's
-- definition (its filter and sort fields, in order), so lists filter and sort on indexed
-- columns whatever the form. Key columns are never NULL ('' = empty), so a keyset cursor over
-- (key, id) works on both backends.
CREATE TABLE form_records (
    id TEXT PRIMARY KEY,
    form TEXT NOT NULL,
    version BIGINT NOT NULL,
    district TEXT,
    unit_id TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    deleted_by TEXT,
    title TEXT NOT NULL,
    search TEXT NOT NULL,
    data TEXT NOT NULL,
    k1 TEXT NOT NULL DEFAULT '',
    k2 TEXT NOT NULL DEFAULT '',
    k3 TEXT NOT NULL DEFAULT '',
    k4 TEXT NOT NULL DEFAULT '',
    k5 TEXT NOT NULL DEFAULT '',
    k6 TEXT NOT NULL DEFAULT '',
    k7 TEXT NOT NULL DEFAULT '',
    k8 TEXT NOT NULL DEFAULT ''
);
CREATE INDEX form_records_updated ON form_records (form, updated_at, id);
CREATE INDEX form_records_created ON form_records (form, created_at, id);
CREATE INDEX form_records_district ON form_records (form, district, updated_at, id);
CREATE INDEX form_records_k1 ON form_records (form, k1, id);
CREATE INDEX form_records_k2 ON form_records (form, k2, id);
CREATE INDEX form_records_k3 ON form_records (form, k3, id);
CREATE INDEX form_records_k4 ON form_records (form, k4, id);
CREATE INDEX form_records_k5 ON form_records (form, k5, id);
CREATE INDEX form_records_k6 ON form_records (form, k6, id);
CREATE INDEX form_records_k7 ON form_records (form, k7, id);
CREATE INDEX form_records_k8 ON form_records (form, k8, id);
-- Every change of a record: who, when, what (`changes`: a JSON list of {field, old, new}),
-- and the task it was made in, if any.
CREATE TABLE form_record_changes (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    form TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL,
    task_id TEXT
);
CREATE INDEX form_record_changes_record ON form_record_changes (record_id, at);
-- The values of unique fields of live records: the primary key makes a second record with the
-- same value impossible, also when two are saved at the same moment.
CREATE TABLE form_unique (
    form TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (form, field, value)
);
CREATE INDEX form_unique_record ON form_unique (record_id);
-- The layout (key columns, title, search fields) each form's rows were derived with: a node
-- whose definition differs derives them again at start.
CREATE TABLE form_layouts (
    form TEXT PRIMARY KEY,
    layout TEXT NOT NULL
);
