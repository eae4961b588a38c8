//! Dataset statistics for `dataset.json` and the card, computed with polars over the files
//! just written — an independent reader double-checking what the writer produced.
//!
//! Polars' eager API (parquet reader, group-by, aggregates) is all this needs: its lazy query
//! engine cost minutes of every fresh build's compile time for these few questions.

use std::path::Path;

use polars::prelude::*;
use serde_json::json;

use crate::error::Result;

fn read(path: &Path, columns: &[&str]) -> Result<DataFrame> {
    let f = fs_err::File::open(path)?;
    Ok(ParquetReader::new(f.into_parts().0)
        .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .finish()?)
}

/// A number as JSON: integers exactly, others rounded so that floating-point summation order
/// can never change the bytes.
fn num(x: Option<f64>) -> serde_json::Value {
    match x {
        None => serde_json::Value::Null,
        Some(x) if x.fract() == 0.0 && x.abs() < 9e15 => json!(x as i64),
        Some(x) => json!((x * 1e4).round() / 1e4),
    }
}

/// Rows per id of a dense id column (ids are `id_base + rank`, so the counts fit a vector the
/// size of the largest id): the group sizes polars' `group_by` would give, in one linear pass
/// instead of a hash table per question. `None` when the ids are not dense (a column this
/// tool did not write); the callers then ask polars.
fn dense_counts(df: &DataFrame, key: &str) -> Result<Option<Vec<u32>>> {
    let col = df.column(key)?.cast(&DataType::UInt32)?;
    let ids = col.u32()?;
    let Some(max) = ids.max() else {
        return Ok(Some(Vec::new()));
    };
    if ids.null_count() > 0 || max as usize > 2 * ids.len() + 1024 {
        return Ok(None);
    }
    let mut bins = vec![0u32; max as usize + 1];
    for arr in ids.downcast_iter() {
        for &v in arr.values().iter() {
            bins[v as usize] += 1;
        }
    }
    bins.retain(|&c| c > 0);
    Ok(Some(bins))
}

/// The sizes of `key`'s groups, counted densely where the ids allow it.
fn group_sizes(df: &DataFrame, key: &str) -> Result<Vec<u32>> {
    if let Some(c) = dense_counts(df, key)? {
        return Ok(c);
    }
    let counts = df.group_by([key])?.get_groups().group_count();
    Ok(counts.iter().flatten().collect())
}

/// Distribution of a per-key count: min / median / mean / max (the median of an even number
/// of groups is the mean of the two middle sizes, as polars computes it).
fn distribution(mut counts: Vec<u32>) -> serde_json::Value {
    let n = counts.len();
    let (min, max) = (counts.iter().min().copied(), counts.iter().max().copied());
    let mean = (n > 0).then(|| counts.iter().map(|&c| f64::from(c)).sum::<f64>() / n as f64);
    let median = (n > 0).then(|| {
        let hi = *counts.select_nth_unstable(n / 2).1;
        if n % 2 == 1 {
            f64::from(hi)
        } else {
            let lo = *counts[..n / 2].iter().max().expect("n >= 2");
            (f64::from(lo) + f64::from(hi)) / 2.0
        }
    });
    json!({
        "min": num(min.map(f64::from)),
        "median": num(median),
        "mean": num(mean),
        "max": num(max.map(f64::from)),
    })
}

/// Rows, users, items and the time range of an interactions table, with the group sizes of its
/// users and items (counted once: the distinct counts are their lengths).
fn summary(df: &DataFrame) -> Result<(serde_json::Value, Vec<u32>, Vec<u32>)> {
    let ts = df.column("ts")?.cast(&DataType::Int64)?;
    let ts = ts.i64()?;
    let when = |x: Option<i64>| {
        x.map_or(serde_json::Value::Null, |ms| {
            json!(crate::util::time::format_ms(ms))
        })
    };
    let (per_user, per_item) = (group_sizes(df, "user_id")?, group_sizes(df, "item_id")?);
    let s = json!({
        "rows": df.height(),
        "users": per_user.len(),
        "items": per_item.len(),
        "first_event": when(ts.min()),
        "last_event": when(ts.max()),
    });
    Ok((s, per_user, per_item))
}

/// Statistics of a published (or staged) dataset directory.
pub fn compute(dir: &Path) -> Result<serde_json::Value> {
    let cols = ["user_id", "item_id", "ts"];
    let inter = read(&dir.join("interactions.parquet"), &cols)?;
    let (mut s, per_user, per_item) = summary(&inter)?;
    let (rows, users, items) = (
        s["rows"].as_f64().unwrap_or(0.0),
        s["users"].as_f64().unwrap_or(0.0),
        s["items"].as_f64().unwrap_or(0.0),
    );
    s["density"] = if users * items > 0.0 {
        json!((rows / (users * items) * 1e8).round() / 1e8)
    } else {
        json!(0)
    };
    s["interactions_per_user"] = distribution(per_user);
    s["interactions_per_item"] = distribution(per_item);
    let mut splits = serde_json::Map::new();
    for name in crate::io::SPLIT_NAMES {
        let p = dir.join("splits").join(format!("{name}.parquet"));
        if p.exists() {
            splits.insert(name.into(), summary(&read(&p, &cols)?)?.0);
        }
    }
    if !splits.is_empty() {
        s["splits"] = splits.into();
    }
    Ok(s)
}
