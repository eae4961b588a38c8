//! The split stage's output: `splits/{train,valid,test}.parquet` and the stage's statistics.

use std::path::Path;

use super::{Assignment, NAMES, STATS};
use crate::error::{Error, Result};
use crate::io::parquet::Level;
use crate::sources::CorpusConfig;
use crate::stages::tables::{InteractionRows, interaction_columns};

/// The split stage's output: `splits/{train,valid,test}.parquet`.
pub fn write(
    dir: &Path,
    rows_in: &InteractionRows,
    a: &Assignment,
    corpus: &CorpusConfig,
    event: &str,
    timeless: bool,
    meta: &[(&str, String)],
) -> Result<()> {
    fs_err::create_dir_all(dir.join("splits"))?;
    // The three files are independent: encode and compress them on separate threads. Each
    // file's rows are gathered one row group at a time inside the writer's parallel waves, not
    // copied whole first (Last.fm's train split is 17.7M rows: half a second of one core and
    // 280 MB before the first byte was written).
    let write_one = |code: usize, name: &str| -> Result<()> {
        let rows: Vec<u32> = a
            .order
            .iter()
            .zip(&a.split)
            .filter(|(_, s)| **s as usize == code)
            .map(|(r, _)| *r)
            .collect();
        crate::io::parquet::write_table_in_row_groups(
            &dir.join("splits").join(format!("{name}.parquet")),
            "splits",
            corpus.name(),
            rows.len(),
            meta,
            Level::Publish,
            |r| interaction_columns(rows_in.take(&rows[r]), event, timeless),
        )?;
        Ok(())
    };
    std::thread::scope(|sc| {
        let handles: Vec<_> = NAMES
            .iter()
            .enumerate()
            .map(|(code, name)| sc.spawn(move || write_one(code, name)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("split writer panicked".into())))
            })
            .collect::<Result<Vec<()>>>()
    })?;
    fs_err::write(dir.join(STATS), serde_json::to_vec_pretty(&a.stats)?)?;
    Ok(())
}
