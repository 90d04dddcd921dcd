//! A SQLite file's schema and rows as text, for the tests that prove a
//! database upgraded step by step equals one created fresh (the client
//! store's and the server's): what they compare, written once.

use rusqlite::Connection;

/// Every object's definition (whitespace and `IF NOT EXISTS` aside), and
/// every column, index and index column of each table.
pub fn shape(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut out = Vec::new();
    let objects: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (kind, name, sql) in objects {
        let sql = sql
            .replace("IF NOT EXISTS ", "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        out.push(format!("{kind} {name}: {sql}"));
        if kind != "table" {
            continue;
        }
        let mut stmt = conn.prepare(
            "SELECT cid, name, type, \"notnull\", coalesce(dflt_value, ''), pk
             FROM pragma_table_xinfo(?1)",
        )?;
        let cols = stmt.query_map([&name], |r| {
            Ok(format!(
                "  column {}: {} {} notnull={} default={} pk={}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?
            ))
        })?;
        for c in cols {
            out.push(c?);
        }
        let mut stmt = conn.prepare(
            "SELECT i.name, i.\"unique\", i.origin, i.partial, group_concat(c.name, ',')
             FROM pragma_index_list(?1) i, pragma_index_info(i.name) c
             GROUP BY i.name ORDER BY i.origin, i.name",
        )?;
        let indexes = stmt.query_map([&name], |r| {
            // Automatic indexes are numbered in creation order; their
            // columns and origin say what they are.
            let iname: String = r.get(0)?;
            let iname = if iname.starts_with("sqlite_autoindex_") {
                "auto".to_owned()
            } else {
                iname
            };
            Ok(format!(
                "  index {iname}: unique={} origin={} partial={} ({})",
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?
            ))
        })?;
        for i in indexes {
            out.push(i?);
        }
    }
    Ok(out)
}

/// Every row of every table (generated columns included), as text, sorted
/// per table.
pub fn rows(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_xinfo(?1) ORDER BY cid")?
            .query_map([&t], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let select = format!(
            "SELECT {} FROM \"{t}\"",
            cols.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = conn.prepare(&select)?;
        let mut table: Vec<String> = stmt
            .query_map([], |r| {
                let mut row = format!("{t}:");
                for i in 0..cols.len() {
                    let v: rusqlite::types::Value = r.get(i)?;
                    row.push_str(&format!(" {v:?}"));
                }
                Ok(row)
            })?
            .collect::<Result<_, _>>()?;
        table.sort();
        out.extend(table);
    }
    Ok(out)
}
