//! The filter stage's output in published form: interactions, users, items, their id maps and
//! the side tables, plus the stage's statistics.

use std::path::Path;

use super::{Filtered, STATS};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, write_table};
use crate::sources::Normalized;
use crate::stages::tables::{InteractionRows, entity_columns, interaction_columns};

/// The filter stage's output in published form.
pub fn write(
    dir: &Path,
    corpus: &str,
    n: &Normalized,
    f: &Filtered,
    meta: &[(&str, String)],
) -> Result<()> {
    // Interactions (the big table) on one thread, the entity tables on another.
    let interactions = || -> Result<()> {
        // One row group at a time: the filtered columns stay in memory for the split, and a
        // whole-table copy for the writer would add ~16 bytes per interaction to the peak.
        crate::io::parquet::write_table_in_row_groups(
            &dir.join("interactions.parquet"),
            "interactions",
            corpus,
            f.user.len(),
            meta,
            Level::Publish,
            |r| {
                let rows = InteractionRows {
                    user: f.user[r.clone()].to_vec(),
                    item: f.item[r.clone()].to_vec(),
                    ts: f.ts[r.clone()].to_vec(),
                    value: f.value.as_ref().map(|v| v[r.clone()].to_vec()),
                    session: f.session.as_ref().map(|v| v[r.clone()].to_vec()),
                };
                interaction_columns(rows, &n.event, n.timeless)
            },
        )?;
        Ok(())
    };
    let entities = || -> Result<()> {
        let users = entity_columns(&n.users, &f.user_codes, f.id_base, false)?;
        write_table(
            &dir.join("user_map.parquet"),
            "user_map",
            corpus,
            users[..2].to_vec(),
            meta,
            Level::Publish,
        )?;
        write_table(
            &dir.join("users.parquet"),
            "users",
            corpus,
            users,
            meta,
            Level::Publish,
        )?;
        let items = entity_columns(&n.items, &f.item_codes, f.id_base, true)?;
        write_table(
            &dir.join("item_map.parquet"),
            "item_map",
            corpus,
            items[..2].to_vec(),
            meta,
            Level::Publish,
        )?;
        write_table(
            &dir.join("items.parquet"),
            "items",
            corpus,
            items,
            meta,
            Level::Publish,
        )?;
        for t in &f.tables {
            crate::io::parquet::write_table_in_row_groups(
                &dir.join(format!("{}.parquet", t.name)),
                &t.name,
                corpus,
                t.rows(),
                meta,
                Level::Publish,
                |r| t.dense_columns(r, &f.user_dense, &f.item_dense),
            )?;
        }
        Ok(())
    };
    std::thread::scope(|sc| {
        let h = sc.spawn(interactions);
        let e = entities();
        h.join()
            .unwrap_or_else(|_| Err(Error::Internal("interactions writer panicked".into())))
            .and(e)
    })?;
    fs_err::write(dir.join(STATS), serde_json::to_vec_pretty(&f.stats)?)?;
    Ok(())
}
