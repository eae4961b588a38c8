//! Dataset statistics for `dataset.json` and the card, computed with polars over the files
//! just written — an independent reader double-checking what the writer produced.

use std::path::Path;

use polars::prelude::*;
use serde_json::json;

use crate::error::{Error, Result};

fn scan(path: &Path) -> Result<LazyFrame> {
    let s = path
        .to_str()
        .ok_or_else(|| Error::Invalid(format!("{} is not a UTF-8 path", path.display())))?;
    Ok(LazyFrame::scan_parquet(
        PlRefPath::from(s),
        ScanArgsParquet::default(),
    )?)
}

fn num(df: &DataFrame, name: &str) -> Result<serde_json::Value> {
    let v = df.column(name)?.get(0)?;
    Ok(match v {
        AnyValue::Null => serde_json::Value::Null,
        v => {
            let x: f64 = v.extract().unwrap_or(f64::NAN);
            // Rounded so that floating-point summation order can never change the bytes.
            if x.fract() == 0.0 && x.abs() < 9e15 {
                json!(x as i64)
            } else {
                json!((x * 1e4).round() / 1e4)
            }
        }
    })
}

/// Distribution of a per-key count: min / median / mean / max.
fn distribution(lf: LazyFrame, key: &str) -> Result<serde_json::Value> {
    let df = lf
        .group_by([col(key)])
        .agg([len().alias("n")])
        .select([
            col("n").min().alias("min"),
            col("n").median().alias("median"),
            col("n").mean().alias("mean"),
            col("n").max().alias("max"),
        ])
        .collect()?;
    Ok(
        json!({ "min": num(&df, "min")?, "median": num(&df, "median")?, "mean": num(&df, "mean")?, "max": num(&df, "max")? }),
    )
}

fn summary(lf: LazyFrame) -> Result<serde_json::Value> {
    let df = lf
        .select([
            len().alias("rows"),
            col("user_id").n_unique().alias("users"),
            col("item_id").n_unique().alias("items"),
            col("ts").cast(DataType::Int64).min().alias("ts_min"),
            col("ts").cast(DataType::Int64).max().alias("ts_max"),
        ])
        .collect()?;
    let ts = |n: &str| -> Result<serde_json::Value> {
        Ok(match num(&df, n)? {
            serde_json::Value::Number(x) => {
                json!(crate::util::time::format_ms(x.as_i64().unwrap_or(0)))
            }
            other => other,
        })
    };
    Ok(json!({
        "rows": num(&df, "rows")?,
        "users": num(&df, "users")?,
        "items": num(&df, "items")?,
        "first_event": ts("ts_min")?,
        "last_event": ts("ts_max")?,
    }))
}

/// Statistics of a published (or staged) dataset directory.
pub fn compute(dir: &Path) -> Result<serde_json::Value> {
    let inter = scan(&dir.join("interactions.parquet"))?;
    let mut s = summary(inter.clone())?;
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
    s["interactions_per_user"] = distribution(inter.clone(), "user_id")?;
    s["interactions_per_item"] = distribution(inter, "item_id")?;
    let mut splits = serde_json::Map::new();
    for name in super::stages::split::NAMES {
        let p = dir.join("splits").join(format!("{name}.parquet"));
        if p.exists() {
            splits.insert(name.into(), summary(scan(&p)?)?);
        }
    }
    if !splits.is_empty() {
        s["splits"] = splits.into();
    }
    Ok(s)
}
