-- Issue 13: saved views of a form's list — a name, the list's query (filters, sort, columns,
-- page size) and whether colleagues see it too. A view is only a query: opening someone's
-- shared view still reads through the reader's own data scope.
CREATE TABLE form_views (
    id TEXT PRIMARY KEY,
    form TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    shared BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX form_views_form ON form_views (form, owner);
