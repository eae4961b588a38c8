//! `recdata verify <version dir>`: is this copy of a dataset exactly what was published?
//!
//! Re-hashes every file `dataset.json` lists (size and sha256), reads each parquet footer
//! (row count, the `recdata.table` tag, the canonical schema's columns and types), checks every
//! media file against the sha256 `media.parquet` records, re-hashes `diagnostics.json`,
//! regenerates `README.md`, `croissant.json` and `report.html` from the metadata and compares
//! them, and lists files that should not be there or are missing. Every difference is a
//! finding; any finding makes the command exit 1.

use std::collections::BTreeSet;
use std::path::Path;

use arrow_array::{Array, StringArray};
use arrow_schema::{DataType, Schema};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::util::hash::sha256_file;

/// One difference between the directory and its `dataset.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// `missing`, `size`, `sha256`, `rows`, `table`, `schema`, `unreadable`, `media`,
    /// `regenerated`, `unexpected`, `outside`.
    pub kind: &'static str,
    pub path: String,
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub dir: String,
    pub dataset: String,
    pub version: String,
    /// Files whose bytes were hashed (tables, media, metadata).
    pub files_checked: u64,
    pub bytes_checked: u64,
    pub findings: Vec<Finding>,
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, kind: &'static str, path: &str, detail: String) {
        self.0.push(Finding {
            kind,
            path: path.to_owned(),
            detail,
        });
    }
}

/// Files a version holds besides those `files` lists.
const METADATA: [&str; 3] = ["dataset.json", "README.md", crate::io::croissant::FILE];

pub fn verify(dir: &Path, progress: &crate::progress::Reporter) -> Result<Report> {
    let doc_path = dir.join("dataset.json");
    let doc: Value = serde_json::from_slice(&fs_err::read(&doc_path)?).map_err(|e| {
        Error::Invalid(format!(
            "{}: not a recdata dataset.json ({e})",
            doc_path.display()
        ))
    })?;
    let files = doc["files"]
        .as_array()
        .ok_or_else(|| Error::Invalid(format!("{}: no `files` list", doc_path.display())))?;
    let corpus = doc["source"]["corpus"].as_str().unwrap_or("");
    let mut r = Report {
        dir: dir.display().to_string(),
        dataset: doc["dataset"]["name"].as_str().unwrap_or("").to_owned(),
        version: doc["dataset"]["version"].as_str().unwrap_or("").to_owned(),
        files_checked: 0,
        bytes_checked: 0,
        findings: Vec::new(),
    };
    let mut fs = Findings(Vec::new());
    let mut expected: BTreeSet<String> = METADATA.iter().map(|s| (*s).to_owned()).collect();
    let total: u64 = files.iter().filter_map(|f| f["bytes"].as_u64()).sum();
    let bar = progress.bytes_bar(total, "verifying");
    let (mut checked, mut bytes_checked) = (0u64, 0u64);

    for f in files {
        let rel = f["path"].as_str().unwrap_or_default();
        expected.insert(rel.to_owned());
        // A listed file must be inside the version: `..`, absolute paths and links out would
        // let a version "pass" with files that are not part of it.
        let inside = matches!(
            crate::fetch::archive::safe_relative("dataset.json", rel),
            Ok(Some(ref p)) if p.to_str() == Some(rel)
        );
        if !inside {
            fs.add(
                "outside",
                rel,
                "listed in dataset.json with a path that leaves the version folder".into(),
            );
            continue;
        }
        let path = dir.join(rel);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            fs.add(
                "outside",
                rel,
                "is a symbolic link; a published file is a file of the version".into(),
            );
            continue;
        }
        if !path.is_file() {
            fs.add(
                "missing",
                rel,
                "listed in dataset.json, not in the directory".into(),
            );
            continue;
        }
        let (sha, size) = sha256_file(&path)?;
        bar.inc(size);
        checked += 1;
        bytes_checked += size;
        if Some(size) != f["bytes"].as_u64() {
            fs.add(
                "size",
                rel,
                format!("{size} bytes, dataset.json says {}", f["bytes"]),
            );
        }
        if Some(sha.as_str()) != f["sha256"].as_str() {
            fs.add(
                "sha256",
                rel,
                format!("sha256 {sha}, dataset.json says {}", f["sha256"]),
            );
            // A damaged file's footer is not worth reading.
            continue;
        }
        if rel.ends_with(".parquet") {
            let table = f["table"].as_str().unwrap_or_default();
            for (kind, detail) in check_parquet(&path, table, corpus, f["rows"].as_u64()) {
                fs.add(kind, rel, detail);
            }
        }
    }
    bar.finish_and_clear();

    let mut tally = (checked, bytes_checked);
    check_media(dir, &mut expected, &mut fs, &mut tally)?;
    check_diagnostics(dir, &doc, &mut expected, &mut fs, &mut tally)?;
    let (checked, bytes_checked) = tally;

    // The card and the Croissant metadata are functions of dataset.json (and the tables).
    compare_regenerated(
        dir,
        "README.md",
        crate::io::card::render(&doc).as_bytes(),
        &mut fs,
    )?;
    if fs.0.iter().all(|f| !f.path.ends_with(".parquet")) {
        match crate::io::croissant::render(dir, &doc) {
            Ok(c) => compare_regenerated(dir, crate::io::croissant::FILE, &c, &mut fs)?,
            Err(e) => fs.add("unreadable", crate::io::croissant::FILE, e.to_string()),
        }
    }

    // Anything else in the directory was not published.
    for rel in walk(dir)? {
        if !expected.contains(&rel) {
            fs.add(
                "unexpected",
                &rel,
                "not part of the published version".into(),
            );
        }
    }
    r.findings = fs.0;
    r.files_checked = checked;
    r.bytes_checked = bytes_checked;
    r.findings
        .sort_by(|a, b| (&a.path, a.kind).cmp(&(&b.path, b.kind)));
    Ok(r)
}

/// Media files: each ok row of `media.parquet` names a file and its sha256. `tally` counts the
/// files and bytes checked.
fn check_media(
    dir: &Path,
    expected: &mut BTreeSet<String>,
    fs: &mut Findings,
    tally: &mut (u64, u64),
) -> Result<()> {
    // Media files: each ok row of media.parquet names a file and its sha256.
    if expected.contains("media.parquet") && dir.join("media.parquet").is_file() {
        match media_rows(&dir.join("media.parquet")) {
            Ok(rows) => {
                for (rel, want) in rows {
                    expected.insert(rel.clone());
                    let path = dir.join(&rel);
                    if !path.is_file() {
                        fs.add("missing", &rel, "a media file media.parquet lists".into());
                        continue;
                    }
                    let (sha, size) = sha256_file(&path)?;
                    tally.0 += 1;
                    tally.1 += size;
                    if sha != want {
                        fs.add(
                            "media",
                            &rel,
                            format!("sha256 {sha}, media.parquet says {want}"),
                        );
                    }
                }
            }
            Err(e) => fs.add("unreadable", "media.parquet", e.to_string()),
        }
    }
    Ok(())
}

/// Diagnostics: the JSON is hashed in `dataset.json`, the report is rendered from it.
fn check_diagnostics(
    dir: &Path,
    doc: &Value,
    expected: &mut BTreeSet<String>,
    fs: &mut Findings,
    tally: &mut (u64, u64),
) -> Result<()> {
    // Diagnostics: the JSON is hashed in dataset.json, the report is rendered from it.
    if let Some(d) = doc.get("diagnostics").filter(|d| !d.is_null()) {
        let json_rel = d["file"].as_str().unwrap_or(crate::diagnose::JSON);
        let html_rel = d["report"].as_str().unwrap_or(crate::diagnose::HTML);
        expected.insert(json_rel.to_owned());
        expected.insert(html_rel.to_owned());
        let path = dir.join(json_rel);
        if path.is_file() {
            let (sha, size) = sha256_file(&path)?;
            tally.0 += 1;
            tally.1 += size;
            if Some(sha.as_str()) != d["sha256"].as_str() {
                fs.add(
                    "sha256",
                    json_rel,
                    format!("sha256 {sha}, dataset.json says {}", d["sha256"]),
                );
            } else {
                let diag: Value = serde_json::from_slice(&fs_err::read(&path)?)?;
                compare_regenerated(
                    dir,
                    html_rel,
                    crate::diagnose::render_html(&diag).as_bytes(),
                    fs,
                )?;
            }
        } else {
            fs.add(
                "missing",
                json_rel,
                "dataset.json records diagnostics".into(),
            );
        }
    }
    Ok(())
}

fn compare_regenerated(dir: &Path, rel: &str, want: &[u8], fs: &mut Findings) -> Result<()> {
    let path = dir.join(rel);
    match fs_err::read(&path) {
        Ok(have) if have == want => {}
        Ok(have) => fs.add(
            "regenerated",
            rel,
            format!(
                "differs from what dataset.json describes (edited or damaged): {}",
                first_difference(&have, want)
            ),
        ),
        Err(_) => fs.add("missing", rel, "part of every published version".into()),
    }
    Ok(())
}

/// Where two texts first differ: the line and column, and both texts around that place.
fn first_difference(have: &[u8], want: &[u8]) -> String {
    let at = have
        .iter()
        .zip(want)
        .position(|(x, y)| x != y)
        .unwrap_or(have.len().min(want.len()));
    let line = 1 + have[..at].iter().filter(|&&c| c == b'\n').count();
    let col = at
        - have[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    let around = |t: &[u8]| {
        let lo = at.saturating_sub(40);
        let hi = (at + 40).min(t.len());
        String::from_utf8_lossy(&t[lo.min(hi)..hi]).replace('\n', "\\n")
    };
    format!(
        "at line {line}, column {col}: `…{}…`, expected `…{}…`",
        around(have),
        around(want)
    )
}

/// Row count, table tag and canonical columns of one parquet file.
fn check_parquet(
    path: &Path,
    table: &str,
    corpus: &str,
    rows: Option<u64>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let meta = match fs_err::File::open(path)
        .map(|f| f.into_parts().0)
        .map_err(Error::from)
        .and_then(|f| {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(Error::from)
        }) {
        Ok(b) => b,
        Err(e) => {
            out.push(("unreadable", format!("not a readable parquet file: {e}")));
            return out;
        }
    };
    let n = meta.metadata().file_metadata().num_rows() as u64;
    if let Some(want) = rows
        && n != want
    {
        out.push(("rows", format!("{n} rows, dataset.json says {want}")));
    }
    let tag = meta
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "recdata.table"))
        .and_then(|k| k.value.clone());
    if let Some(t) = &tag
        && t != table
    {
        out.push((
            "table",
            format!("holds table `{t}`, dataset.json says `{table}`"),
        ));
    }
    if let Ok(canon) = crate::io::schema::table(table)
        && let Ok(want) = canon.arrow(corpus)
    {
        out.extend(
            schema_differences(&want, meta.schema())
                .into_iter()
                .map(|d| ("schema", d)),
        );
    }
    out
}

/// Canonical columns that are missing or of another type. A fixed-size list of length 0 in
/// the canonical schema (`[*]`) takes any length and any float item (float16 embeddings).
pub fn schema_differences(want: &Schema, have: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for w in want.fields() {
        let Ok(h) = have.field_with_name(w.name()) else {
            out.push(format!(
                "column `{}` ({}) is missing",
                w.name(),
                w.data_type()
            ));
            continue;
        };
        let same = match (w.data_type(), h.data_type()) {
            (DataType::FixedSizeList(_, 0), DataType::FixedSizeList(item, _)) => {
                matches!(item.data_type(), DataType::Float32 | DataType::Float16)
            }
            (DataType::List(a), DataType::List(b)) => a.data_type() == b.data_type(),
            (DataType::FixedSizeList(a, n), DataType::FixedSizeList(b, m)) => {
                n == m && a.data_type() == b.data_type()
            }
            (a, b) => a == b,
        };
        if !same {
            out.push(format!(
                "column `{}` is {}, the canonical schema says {}",
                w.name(),
                h.data_type(),
                w.data_type()
            ));
        }
    }
    out
}

/// (path, sha256) of every media file `media.parquet` says was published.
fn media_rows(path: &Path) -> Result<Vec<(String, String)>> {
    let b = crate::io::parquet::read_batch(path)?;
    let paths: &StringArray = crate::io::parquet::column(&b, "path")?;
    let shas: &StringArray = crate::io::parquet::column(&b, "sha256")?;
    Ok((0..b.num_rows())
        .filter(|&i| !paths.is_null(i) && !shas.is_null(i))
        .map(|i| (paths.value(i).to_owned(), shas.value(i).to_owned()))
        .collect())
}

/// Every file under `dir`, as `/`-separated relative paths.
fn walk(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The human summary (stderr) and the findings (stdout).
pub fn print(r: &Report, json: bool) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            json!({ "type": "verify", "ok": r.findings.is_empty(), "report": r })
        )?;
    } else {
        for f in &r.findings {
            writeln!(out, "{}\t{}\t{}", f.kind, f.path, f.detail)?;
        }
    }
    Ok(())
}
