//! The SQLite and PostgreSQL migrations stay in step, and the migrated database matches the
//! `schema.rs` diesel generated.

use std::collections::BTreeMap;
use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::Text;
use sso_broker::db::DbConnection;

use crate::helpers::spawn_app;

type Tables = BTreeMap<String, Vec<String>>;

/// Tables and their columns, in order, from the `CREATE TABLE` statements of a migration.
fn tables_in_sql(sql: &str) -> Tables {
    let mut tables = Tables::new();
    let mut current: Option<String> = None;
    for line in sql.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            current = Some(rest.trim_end_matches('(').trim().to_string());
            continue;
        }
        if line.starts_with(");") {
            current = None;
            continue;
        }
        if let Some(table) = &current {
            let first = line.split_whitespace().next().unwrap_or_default();
            let constraint =
                ["PRIMARY", "UNIQUE", "FOREIGN", "CONSTRAINT", "CHECK", ""].contains(&first);
            if !constraint {
                tables
                    .entry(table.clone())
                    .or_default()
                    .push(first.to_string());
            }
        }
    }
    tables
}

fn migrations_of(backend: &str) -> BTreeMap<String, Tables> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let sql = std::fs::read_to_string(p.join("up.sql")).unwrap();
            (name, tables_in_sql(&sql))
        })
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_names_tables_and_columns() {
    let sqlite = migrations_of("sqlite");
    let postgres = migrations_of("postgres");
    assert!(
        sqlite.values().any(|tables| !tables.is_empty()),
        "the migrations create tables"
    );
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>()
    );
    for (name, tables) in &sqlite {
        assert_eq!(tables, &postgres[name], "migration {name}");
    }
}

/// Tables and columns declared in `src/db/schema.rs`.
fn tables_in_schema_rs() -> Tables {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db/schema.rs"))
            .unwrap();
    let mut tables = Tables::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.ends_with(") {") && !line.starts_with("diesel::") {
            current = line.split_whitespace().next().map(str::to_string);
        } else if line == "}" {
            current = None;
        } else if let (Some(table), Some((column, _))) = (&current, line.split_once(" -> ")) {
            tables
                .entry(table.clone())
                .or_default()
                .push(column.to_string());
        }
    }
    tables
}

#[derive(QueryableByName)]
struct ColumnName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[tokio::test]
async fn the_migrated_database_matches_schema_rs() {
    let app = spawn_app().await;
    let expected = tables_in_schema_rs();
    assert_eq!(expected.len(), 25, "{:?}", expected.keys());
    let mut conn = app.state.db.get().unwrap();
    for (table, columns) in &expected {
        let found: Vec<ColumnName> = match &mut *conn {
            DbConnection::Sqlite(c) => diesel::sql_query(format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")).load(c).unwrap(),
            DbConnection::Postgres(c) => diesel::sql_query(format!(
                "SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"
            ))
            .load(c)
            .unwrap(),
        };
        let found: Vec<String> = found.into_iter().map(|c| c.name).collect();
        assert_eq!(&found, columns, "table {table}");
    }
}
