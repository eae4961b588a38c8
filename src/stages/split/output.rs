//! The split stage's output: `splits/{train,valid,test}.parquet` and the stage's statistics.

use std::path::Path;

use super::{Assignment, NAMES, STATS};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, write_table};
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
    // The three files are independent: encode and compress them on separate threads.
    let write_one = |code: usize, name: &str| -> Result<()> {
        let rows: Vec<usize> = a
            .order
            .iter()
            .zip(&a.split)
            .filter(|(_, s)| **s as usize == code)
            .map(|(r, _)| *r as usize)
            .collect();
        let cols = interaction_columns(rows_in.take(&rows), event, timeless)?;
        write_table(
            &dir.join("splits").join(format!("{name}.parquet")),
            "splits",
            corpus.name(),
            cols,
            meta,
            Level::Publish,
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
