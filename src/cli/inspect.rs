//! `recdata inspect`: a version's summary.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::error::{Error, Result};

/// `; missing: reason n, …` from a coverage entry's `missing_by_status` (empty when none).
fn missing_suffix(c: &serde_json::Value) -> String {
    let why: Vec<String> = c["missing_by_status"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if why.is_empty() {
        String::new()
    } else {
        format!("; missing: {}", why.join(", "))
    }
}

/// Prints a dataset summary; exit 1 if any file's checksum does not match `dataset.json`.
pub(super) fn inspect(dir: &Path, json_out: bool) -> Result<u8> {
    let path = dir.join("dataset.json");
    let bytes = fs_err::read(&path)?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadInput {
        path: path.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    let mut bad = Vec::new();
    for f in doc["files"].as_array().into_iter().flatten() {
        let rel = f["path"].as_str().unwrap_or_default();
        match crate::util::hash::sha256_file(&dir.join(rel)) {
            Ok((sha, _)) if Some(sha.as_str()) == f["sha256"].as_str() => {}
            Ok(_) => bad.push(format!("{rel}: checksum differs from dataset.json")),
            Err(e) => bad.push(format!("{rel}: {e}")),
        }
    }
    let mut out = std::io::stdout().lock();
    if json_out {
        writeln!(
            out,
            "{}",
            json!({ "type": "inspect", "dataset": doc, "problems": bad })
        )?;
    } else {
        write_summary(&mut out, dir, &doc, &bad)?;
    }
    Ok(if bad.is_empty() { 0 } else { 1 })
}

/// The human-readable summary of a version: what it is, its tables and stages' coverage, its
/// files, and the problems found.
fn write_summary(
    out: &mut impl Write,
    dir: &Path,
    doc: &serde_json::Value,
    bad: &[String],
) -> Result<()> {
    let ds = &doc["dataset"];
    let st = &doc["statistics"];
    writeln!(
        out,
        "{} {}  ({})",
        ds["name"].as_str().unwrap_or("?"),
        ds["version"].as_str().unwrap_or("?"),
        dir.display()
    )?;
    writeln!(
        out,
        "corpus      {}",
        doc["source"]["corpus"].as_str().unwrap_or("?")
    )?;
    writeln!(
        out,
        "built by    recdata {}",
        doc["tool"]["version"].as_str().unwrap_or("?")
    )?;
    if st["rows"].as_u64().unwrap_or(0) > 0 {
        writeln!(
            out,
            "interactions {}  users {}  items {}  density {}",
            st["rows"], st["users"], st["items"], st["density"]
        )?;
        if let (Some(a), Some(b)) = (st["first_event"].as_str(), st["last_event"].as_str()) {
            writeln!(out, "time range  {a} .. {b}")?;
        } else {
            writeln!(out, "time range  none (the corpus has no event times)")?;
        }
    } else {
        writeln!(
            out,
            "interactions none (this corpus has no user-item events)"
        )?;
    }
    // Every table that has rows (what a sample corpus such as AgroSense has instead).
    let mut tables: Vec<(String, u64)> = Vec::new();
    for f in doc["files"].as_array().into_iter().flatten() {
        let (Some(t), Some(r)) = (f["table"].as_str(), f["rows"].as_u64()) else {
            continue;
        };
        match tables.iter_mut().find(|(n, _)| n == t) {
            Some(e) => e.1 += r,
            None => tables.push((t.to_owned(), r)),
        }
    }
    let listed: Vec<String> = tables
        .iter()
        .filter(|(n, r)| n != "rejects" && *r > 0)
        .map(|(n, r)| format!("{n} {r}"))
        .collect();
    writeln!(out, "tables      {}", listed.join(", "))?;
    if let Some(sp) = doc["split"].as_object() {
        writeln!(
            out,
            "split       {}",
            sp.get("method").and_then(|v| v.as_str()).unwrap_or("?")
        )?;
    }
    let rejected: u64 = doc["accounting"]["rejected"].as_object().map_or(0, |r| {
        r.values().filter_map(serde_json::Value::as_u64).sum()
    });
    writeln!(out, "rejected    {rejected} raw rows (see rejects.parquet)")?;
    for c in doc["media_coverage"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "media       {}: {} of {} items ({:.1}%){}",
            c["modality"].as_str().unwrap_or("?"),
            c["ok"],
            c["items"],
            c["coverage"].as_f64().unwrap_or(0.0) * 100.0,
            missing_suffix(c)
        )?;
    }
    for (label, key, what) in [
        ("captions", "captions", "media"),
        ("embeddings", "encoders", "model"),
    ] {
        for c in doc[key].as_array().into_iter().flatten() {
            writeln!(
                out,
                "{label:<11} {}: {} of {} items ({:.1}%), {what} {}{}",
                c["name"].as_str().unwrap_or("?"),
                c["ok"],
                c["items"],
                c["coverage"].as_f64().unwrap_or(0.0) * 100.0,
                c[what].as_str().unwrap_or("?"),
                missing_suffix(c)
            )?;
        }
    }
    let sid = &doc["semantic_ids"];
    if !sid.is_null() {
        writeln!(
            out,
            "semantic ids {} items, codebooks {}, collisions {:.4} -> {:.4}, codes sha256 {}",
            sid["items"],
            sid["options"]["codebooks"],
            sid["metrics"]["collisions_before"]["rate"]
                .as_f64()
                .unwrap_or(0.0),
            sid["metrics"]["collision_rate_after"]
                .as_f64()
                .unwrap_or(0.0),
            sid["codes_sha256"]
                .as_str()
                .unwrap_or("?")
                .chars()
                .take(16)
                .collect::<String>()
        )?;
    }
    writeln!(out, "\n{:<28} {:>12} {:>14}", "file", "rows", "bytes")?;
    for f in doc["files"].as_array().into_iter().flatten() {
        // serde_json's Display ignores width: format the numbers as strings.
        writeln!(
            out,
            "{:<28} {:>12} {:>14}",
            f["path"].as_str().unwrap_or("?"),
            f["rows"].to_string(),
            f["bytes"].to_string()
        )?;
    }
    for b in bad {
        writeln!(out, "PROBLEM: {b}")?;
    }
    Ok(())
}
