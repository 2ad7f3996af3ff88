//! Embedded migrations, one list per backend. Applied in order at start; a migration that was
//! applied is never edited (add a new one instead).

/// (version, name, SQL) of the SQLite migrations.
pub(crate) const SQLITE: &[(i64, &str, &str)] = &[
    (1, "engine", include_str!("../../migrations/sqlite/0001_engine.sql")),
    (2, "jobs", include_str!("../../migrations/sqlite/0002_jobs.sql")),
    (3, "identity", include_str!("../../migrations/sqlite/0003_identity.sql")),
    (4, "approval", include_str!("../../migrations/sqlite/0004_approval.sql")),
    (5, "crypto", include_str!("../../migrations/sqlite/0005_crypto.sql")),
    (6, "inbox_done", include_str!("../../migrations/sqlite/0006_inbox_done.sql")),
    (7, "files", include_str!("../../migrations/sqlite/0007_files.sql")),
    (8, "totp_step", include_str!("../../migrations/sqlite/0008_totp_step.sql")),
    (9, "system_not_done", include_str!("../../migrations/sqlite/0009_system_not_done.sql")),
    (10, "keys_and_lockout", include_str!("../../migrations/sqlite/0010_keys_and_lockout.sql")),
    (11, "key_fingerprint", include_str!("../../migrations/sqlite/0011_key_fingerprint.sql")),
    (12, "outbox_once", include_str!("../../migrations/sqlite/0012_outbox_once.sql")),
    (13, "editor", include_str!("../../migrations/sqlite/0013_editor.sql")),
    (14, "forms", include_str!("../../migrations/sqlite/0014_forms.sql")),
    (15, "form_imports", include_str!("../../migrations/sqlite/0015_form_imports.sql")),
    (16, "form_views", include_str!("../../migrations/sqlite/0016_form_views.sql")),
    (17, "form_list_index", include_str!("../../migrations/sqlite/0017_form_list_index.sql")),
    (18, "record_files", include_str!("../../migrations/sqlite/0018_record_files.sql")),
    (19, "form_key_length", include_str!("../../migrations/sqlite/0019_form_key_length.sql")),
];

/// (version, name, SQL) of the PostgreSQL migrations.
pub(crate) const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "engine", include_str!("../../migrations/postgres/0001_engine.sql")),
    (2, "jobs", include_str!("../../migrations/postgres/0002_jobs.sql")),
    (3, "identity", include_str!("../../migrations/postgres/0003_identity.sql")),
    (4, "approval", include_str!("../../migrations/postgres/0004_approval.sql")),
    (5, "crypto", include_str!("../../migrations/postgres/0005_crypto.sql")),
    (6, "inbox_done", include_str!("../../migrations/postgres/0006_inbox_done.sql")),
    (7, "files", include_str!("../../migrations/postgres/0007_files.sql")),
    (8, "totp_step", include_str!("../../migrations/postgres/0008_totp_step.sql")),
    (9, "system_not_done", include_str!("../../migrations/postgres/0009_system_not_done.sql")),
    (10, "keys_and_lockout", include_str!("../../migrations/postgres/0010_keys_and_lockout.sql")),
    (11, "key_fingerprint", include_str!("../../migrations/postgres/0011_key_fingerprint.sql")),
    (12, "outbox_once", include_str!("../../migrations/postgres/0012_outbox_once.sql")),
    (13, "editor", include_str!("../../migrations/postgres/0013_editor.sql")),
    (14, "forms", include_str!("../../migrations/postgres/0014_forms.sql")),
    (15, "form_imports", include_str!("../../migrations/postgres/0015_form_imports.sql")),
    (16, "form_views", include_str!("../../migrations/postgres/0016_form_views.sql")),
    (17, "form_list_index", include_str!("../../migrations/postgres/0017_form_list_index.sql")),
    (18, "record_files", include_str!("../../migrations/postgres/0018_record_files.sql")),
    (19, "form_key_length", include_str!("../../migrations/postgres/0019_form_key_length.sql")),
];

/// Splits a migration file into statements (our migrations have no `;` inside literals or bodies).
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|statement| {
        statement.lines().any(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with("--")
        })
    })
}
