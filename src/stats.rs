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

/// Distribution of a per-key count: min / median / mean / max.
fn distribution(df: &DataFrame, key: &str) -> Result<serde_json::Value> {
    let counts = df.group_by([key])?.get_groups().group_count();
    Ok(json!({
        "min": num(counts.min().map(f64::from)),
        "median": num(counts.median()),
        "mean": num(counts.mean()),
        "max": num(counts.max().map(f64::from)),
    }))
}

fn summary(df: &DataFrame) -> Result<serde_json::Value> {
    let ts = df.column("ts")?.cast(&DataType::Int64)?;
    let ts = ts.i64()?;
    let when = |x: Option<i64>| {
        x.map_or(serde_json::Value::Null, |ms| {
            json!(crate::util::time::format_ms(ms))
        })
    };
    Ok(json!({
        "rows": df.height(),
        "users": df.column("user_id")?.n_unique()?,
        "items": df.column("item_id")?.n_unique()?,
        "first_event": when(ts.min()),
        "last_event": when(ts.max()),
    }))
}

/// Statistics of a published (or staged) dataset directory.
pub fn compute(dir: &Path) -> Result<serde_json::Value> {
    let cols = ["user_id", "item_id", "ts"];
    let inter = read(&dir.join("interactions.parquet"), &cols)?;
    let mut s = summary(&inter)?;
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
    s["interactions_per_user"] = distribution(&inter, "user_id")?;
    s["interactions_per_item"] = distribution(&inter, "item_id")?;
    let mut splits = serde_json::Map::new();
    for name in crate::io::SPLIT_NAMES {
        let p = dir.join("splits").join(format!("{name}.parquet"));
        if p.exists() {
            splits.insert(name.into(), summary(&read(&p, &cols)?)?);
        }
    }
    if !splits.is_empty() {
        s["splits"] = splits.into();
    }
    Ok(s)
}
