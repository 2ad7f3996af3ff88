-- Issue 13: imports of a form's records as jobs. An upload is read and every row validated
-- without writing (`validating`), the rows kept with their outcome (new, update, unchanged,
-- error), the prepared record of each valid row and the errors of each bad one, so the
-- preview, the error workbook and the commit all read the same rows. The commit writes the
-- valid rows and marks the job `done` in one transaction: a failure or a killed node leaves
-- nothing half-imported.
CREATE TABLE form_imports (
    id TEXT PRIMARY KEY,
    form TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    file_name TEXT NOT NULL,
    headers TEXT NOT NULL,
    total BIGINT NOT NULL,
    processed BIGINT NOT NULL,
    counts TEXT NOT NULL,
    error TEXT,
    committed_rows BIGINT
);
CREATE INDEX form_imports_status ON form_imports (status);
CREATE INDEX form_imports_creator ON form_imports (created_by, created_at);
-- One row of an upload: its cells as read (`raw`, a JSON list), the outcome, the cell errors
-- (a JSON list of {column, field, code, message, value}) and, for a new or changed record, the
-- write prepared from it (`prepared`, JSON) with the version it was read at.
CREATE TABLE form_import_rows (
    import_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    record_id TEXT,
    expected_version BIGINT,
    raw TEXT NOT NULL,
    errors TEXT NOT NULL,
    prepared TEXT,
    PRIMARY KEY (import_id, row_no)
);
CREATE INDEX form_import_rows_outcome ON form_import_rows (import_id, outcome, row_no);
