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
    (20, "messages", include_str!("../../migrations/sqlite/0020_messages.sql")),
    (21, "venue_bookings", include_str!("../../migrations/sqlite/0021_venue_bookings.sql")),
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
    (20, "messages", include_str!("../../migrations/postgres/0020_messages.sql")),
    (21, "venue_bookings", include_str!("../../migrations/postgres/0021_venue_bookings.sql")),
];

/// Splits a migration file into statements at each `;` outside comment lines (our migrations
/// have no `;` inside literals or bodies; a `;` in a `--` comment line is prose, not the end of
/// a statement). Statements that are only comments are left out.
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = &str> {
    let mut cuts = Vec::new();
    let mut offset = 0;
    for line in sql.split_inclusive('\n') {
        if !line.trim_start().starts_with("--") {
            cuts.extend(line.match_indices(';').map(|(at, _)| offset + at));
        }
        offset += line.len();
    }
    let mut start = 0;
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    for cut in cuts {
        pieces.push(&sql[start..cut]);
        start = cut + 1;
    }
    pieces.push(&sql[start..]);
    pieces.into_iter().map(str::trim).filter(|statement| {
        statement.lines().any(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with("--")
        })
    })
}

#[cfg(test)]
mod split_tests {
    use super::statements;

    #[test]
    fn a_semicolon_in_a_comment_line_does_not_end_a_statement() {
        let sql = "-- first; with a semicolon in prose\nCREATE TABLE a (x INT);\n-- second; also prose\nCREATE INDEX a_x ON a (x)\n;\n-- only a comment; at the end\n";
        let found: Vec<&str> = statements(sql).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].ends_with("CREATE TABLE a (x INT)"), "{found:?}");
        assert!(found[1].ends_with("CREATE INDEX a_x ON a (x)"), "{found:?}");
    }

    #[test]
    fn every_shipped_migration_splits_into_statements_without_comment_fragments() {
        for (_, name, sql) in super::SQLITE.iter().chain(super::POSTGRES) {
            for statement in statements(sql) {
                let first = statement.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with("--"));
                let first = first.unwrap_or_default().to_ascii_uppercase();
                assert!(
                    ["CREATE", "ALTER", "INSERT", "UPDATE", "DELETE", "DROP", "PRAGMA", "WITH", "SELECT", "ANALYZE"]
                        .iter()
                        .any(|verb| first.starts_with(verb)),
                    "{name}: {statement}"
                );
            }
        }
    }
}
