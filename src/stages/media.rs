//! The media stage: fetch each surviving item's cover / audio preview / video by URL
//! (`[[stages.media]]`), write the per-item status table and the modality coverage report.
//!
//! URLs come from a template over the item's raw id (`url = "https://host/covers/{raw_id}.jpg"`)
//! or from a string column of the items table (`column = "cover_url"`). Media shipped with the
//! corpus are local files: `path = "MicroLens-100k_covers/{raw_id}.jpg"` (relative to the
//! source directory), or `paths = [...]` to try several names in order (MicroLens has both
//! `<id>.mp4` and `<id>.1.mp4`). Local files are checked like downloads and copied into the
//! content-addressed cache, so a published version never shares an inode with raw files. The work journal lives
//! in the dataset's stage cache, keyed by the configuration and the filtered item set, so a
//! killed build resumes and a re-run fetches nothing; `--retry-failed` redoes the failures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int32Array, Int32DictionaryArray, StringArray, UInt32Array};
use serde_json::json;

use crate::error::{Error, Result};
use crate::fetch::cache::Cache;
use crate::fetch::media::{MediaFetcher, MediaItem, MediaOptions, MediaResult, Modality};
use crate::io::parquet::{Level, column, read_batch, write_table};
use crate::manifest::diagnostic::{Diagnostic, one_of};
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;
use crate::util::hash::Fingerprint;

mod local;

pub const TABLE: &str = "media.parquet";
pub const COVERAGE: &str = "coverage.json";

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSource {
    /// `{raw_id}` and `{item_id}` are replaced.
    Template(String),
    /// A string column of the items table.
    Column(String),
    /// Local file templates relative to the source directory, tried in order.
    Path(Vec<String>),
}

/// One `[[stages.media]]` entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MediaConfig {
    pub urls: UrlSource,
    pub options: MediaOptions,
}

impl MediaConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<MediaConfig> {
        let modality = r.choice(diags, "modality", Modality::ALL);
        if modality.is_none() && !r.has("modality") {
            r.missing(diags, "modality", &one_of(Modality::ALL));
        }
        let url = r.str(diags, "url");
        let col = r.str(diags, "column");
        let mut paths: Vec<_> = r.str(diags, "path").into_iter().collect();
        paths.extend(r.str_array(diags, "paths").unwrap_or_default());
        let example =
            "e.g. url = \"https://host/covers/{raw_id}.jpg\" or path = \"covers/{raw_id}.jpg\"";
        let set = usize::from(url.is_some())
            + usize::from(col.is_some())
            + usize::from(!paths.is_empty());
        let urls = if set > 1 {
            diags.push(Diagnostic::error(
                "set exactly one of `url` (a template), `column` or `path`/`paths` (local files)",
                Some(r.span),
                "in this table",
            ));
            None
        } else if let Some(u) = url {
            if !u.value.contains("{raw_id}") && !u.value.contains("{item_id}") {
                diags.push(
                    Diagnostic::error(
                        "a media `url` template must contain `{raw_id}` or `{item_id}`",
                        Some(u.span),
                        "every item would get the same URL",
                    )
                    .with_help(example),
                );
                None
            } else {
                Some(UrlSource::Template(u.value))
            }
        } else if let Some(c) = col {
            Some(UrlSource::Column(c.value))
        } else if !paths.is_empty() {
            let mut ok = true;
            for p in &paths {
                if !p.value.contains("{raw_id}") && !p.value.contains("{item_id}") {
                    diags.push(
                        Diagnostic::error(
                            "a media `path` template must contain `{raw_id}` or `{item_id}`",
                            Some(p.span),
                            "every item would get the same file",
                        )
                        .with_help(example),
                    );
                    ok = false;
                } else if p.value.starts_with('/') || p.value.split('/').any(|c| c == "..") {
                    diags.push(Diagnostic::error(
                        "a media `path` must be relative to the source directory, without `..`",
                        Some(p.span),
                        "outside the source",
                    ));
                    ok = false;
                }
            }
            ok.then(|| UrlSource::Path(paths.into_iter().map(|p| p.value).collect()))
        } else {
            diags.push(
                Diagnostic::error(
                    "a media entry needs `url` (a template), `column` (an items column of URLs) or `path` (local files)",
                    Some(r.span),
                    "in this table",
                )
                .with_help(example),
            );
            None
        };
        let modality = Modality::parse(modality?.value)?;
        let mut o = MediaOptions::new(modality);
        crate::fetch::read_http(r, diags, &mut o.http);
        if let Some(v) = r.int(diags, "max_bytes", 1, i64::MAX) {
            o.max_bytes = v.value as u64;
        }
        if let Some(v) = r.float(diags, "rate_per_host", 0.0, 1e6) {
            o.rate_per_host = v.value;
        }
        if let Some(v) = r.int(diags, "burst", 1, 1_000_000) {
            o.burst = v.value as u32;
        }
        Some(MediaConfig {
            urls: urls?,
            options: o,
        })
    }
}

/// Per-modality coverage: how many items have it, and why the others do not.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    pub modality: String,
    pub items: u64,
    pub ok: u64,
    pub coverage: f64,
    pub missing_by_status: BTreeMap<String, u64>,
    /// Up to 10 items without the modality, with the reason.
    pub examples: Vec<serde_json::Value>,
}

impl Coverage {
    fn add(&mut self, id: u32, r: &MediaResult) {
        if r.ok() {
            self.ok += 1;
        } else {
            *self.missing_by_status.entry(r.status.clone()).or_default() += 1;
            if self.examples.len() < 10 {
                self.examples.push(json!({"item_id": id, "status": r.status, "http_status": r.http_status, "url": r.url, "error": r.error}));
            }
        }
    }

    fn finish(&mut self) {
        self.coverage = if self.items == 0 {
            0.0
        } else {
            self.ok as f64 / self.items as f64
        };
    }
}

/// The stage's fingerprint: configuration (minus timeouts and rates, which do not change
/// content) and the filtered items it runs over.
pub fn fingerprint(cfgs: &[MediaConfig], filter_fp: &str) -> String {
    let mut f = Fingerprint::new("media");
    f.part("input", filter_fp.as_bytes());
    for c in cfgs {
        f.part("modality", c.options.modality.name().as_bytes())
            .part(
                "urls",
                serde_json::to_string(&c.urls)
                    .unwrap_or_default()
                    .as_bytes(),
            )
            .part("max_bytes", &c.options.max_bytes.to_le_bytes());
    }
    f.finish()
}

fn ext_for(format: &str) -> &str {
    match format {
        "jpeg" => "jpg",
        other => other,
    }
}

/// Runs every `[[stages.media]]` entry; writes `media.parquet` and `coverage.json` into `dir`.
pub fn run(
    cfgs: &[MediaConfig],
    src: &Path,
    filter_dir: &Path,
    dir: &Path,
    cache: &Cache,
    retry_failed: bool,
    p: &Reporter,
) -> Result<()> {
    crate::fault::at("media", crate::fault::When::Start)?;
    fs_err::create_dir_all(dir)?;
    let items = read_batch(&filter_dir.join("items.parquet"))?;
    let ids: &UInt32Array = column(&items, "item_id")?;
    let raw: &StringArray = column(&items, "raw_id")?;
    let mut rows: Vec<(u32, Modality, MediaResult)> = Vec::new();
    let mut coverage = Vec::new();
    for (n, c) in cfgs.iter().enumerate() {
        let m = c.options.modality;
        let mut list = Vec::new();
        let mut no_url = Vec::new();
        let urls_col: Option<&StringArray> = match &c.urls {
            UrlSource::Column(name) => Some(
                items
                    .column_by_name(name)
                    .and_then(|a| a.as_any().downcast_ref::<StringArray>())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "[[stages.media]] column `{name}`: the items table has no string column of that name \
                             (columns: {})",
                            items
                                .schema()
                                .fields()
                                .iter()
                                .map(|f| f.name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?,
            ),
            UrlSource::Template(_) | UrlSource::Path(_) => None,
        };
        if let UrlSource::Path(templates) = &c.urls {
            let results =
                local::check_all(src, templates, ids.values(), raw, &c.options, cache, p)?;
            let mut cov = Coverage {
                modality: m.name().into(),
                items: items.num_rows() as u64,
                ..Default::default()
            };
            for (id, r) in ids.values().iter().zip(results) {
                cov.add(*id, &r);
                rows.push((*id, m, r));
            }
            cov.finish();
            coverage.push(cov);
            continue;
        }
        for i in 0..items.num_rows() {
            let url = match (&c.urls, urls_col) {
                (UrlSource::Template(t), _) => Some(
                    t.replace("{raw_id}", &percent_encode(raw.value(i)))
                        .replace("{item_id}", &ids.value(i).to_string()),
                ),
                (_, Some(col)) => (!col.is_null(i) && !col.value(i).trim().is_empty())
                    .then(|| col.value(i).trim().to_string()),
                _ => None,
            };
            match url {
                Some(u) => list.push((
                    ids.value(i),
                    MediaItem {
                        key: ids.value(i).to_string(),
                        url: u,
                        sha256: None,
                    },
                )),
                None => no_url.push(ids.value(i)),
            }
        }
        p.info(format!(
            "Fetching {} {} file(s){}",
            list.len(),
            m.name(),
            if no_url.is_empty() {
                String::new()
            } else {
                format!(" ({} item(s) have no URL)", no_url.len())
            }
        ));
        let journal = dir.join(format!("{n}-{}.journal.jsonl", m.name()));
        let fetcher = MediaFetcher::new(cache.clone(), c.options.clone())?;
        let (results, summary) = fetcher.run(
            list.iter().map(|(_, it)| it.clone()).collect(),
            &journal,
            retry_failed,
            p,
        )?;
        p.info(format!(
            "Fetched {} {}: {}",
            summary.items,
            m.name(),
            summary
                .by_status
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut cov = Coverage {
            modality: m.name().into(),
            items: items.num_rows() as u64,
            ..Default::default()
        };
        for id in &no_url {
            *cov.missing_by_status.entry("no_url".into()).or_default() += 1;
            if cov.examples.len() < 10 {
                cov.examples
                    .push(json!({"item_id": id, "status": "no_url"}));
            }
        }
        for ((id, _), r) in list.iter().zip(results) {
            cov.add(*id, &r);
            rows.push((*id, m, r));
        }
        cov.finish();
        coverage.push(cov);
    }
    rows.sort_by_key(|r| (r.1, r.0));
    let tmp = crate::io::store::temp_path_for(&dir.join(TABLE));
    write_status(&tmp, &rows)?;
    fs_err::rename(&tmp, dir.join(TABLE))?;
    let tmp = crate::io::store::temp_path_for(&dir.join(COVERAGE));
    fs_err::write(&tmp, serde_json::to_vec_pretty(&coverage)?)?;
    fs_err::rename(&tmp, dir.join(COVERAGE))?;
    crate::io::store::record_some_files(dir, &[TABLE, COVERAGE])?;
    crate::fault::at("media", crate::fault::When::End)
}

/// Whether the finished media table in `dir` can be used: it exists and it and the coverage
/// report still have the sha256 recorded when they were written. Damaged ones are removed with
/// a warning (the journal stays, so the re-run fetches nothing it already has).
pub fn reuse(dir: &Path, cache: &Cache, p: &Reporter) -> Result<bool> {
    if !dir.join(TABLE).is_file() {
        return Ok(false);
    }
    let mut damage = crate::io::store::check_files(dir)?;
    if damage.is_none() {
        damage = damaged_blobs(dir, cache)?;
    }
    match damage {
        None => Ok(true),
        Some(why) => {
            p.warn(format!(
                "the cached media table in {} is damaged ({why}): rebuilding it from the journal",
                dir.display()
            ));
            for f in [TABLE, COVERAGE, crate::io::store::FILES_RECORD] {
                let _ = fs_err::remove_file(dir.join(f));
            }
            Ok(false)
        }
    }
}

/// The media blobs the table names whose content no longer hashes to their name (published
/// media are hard links to them, so damage done through a published file shows here): removed
/// from the cache, so the re-run fetches them again; `None` when all are intact.
fn damaged_blobs(dir: &Path, cache: &Cache) -> Result<Option<String>> {
    let b = read_batch(&dir.join(TABLE))?;
    let shas: &StringArray = column(&b, "sha256")?;
    let mut bad = Vec::new();
    for i in 0..b.num_rows() {
        if shas.is_null(i) {
            continue;
        }
        let sha = shas.value(i);
        if let Some(blob) = cache.blob(sha) {
            let (actual, _) = crate::util::hash::sha256_file(&blob)?;
            if actual != sha {
                fs_err::remove_file(&blob)?;
                bad.push(sha.to_owned());
            }
        }
    }
    Ok((!bad.is_empty()).then(|| {
        format!(
            "{} media file(s) no longer match their sha256, e.g. {}; they are fetched again",
            bad.len(),
            bad[0]
        )
    }))
}

/// Percent-encodes what cannot appear raw in a URL path segment.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dict(values: Vec<&str>) -> Result<ArrayRef> {
    let mut uniq: Vec<&str> = values.clone();
    uniq.sort_unstable();
    uniq.dedup();
    let keys: Int32Array = values
        .iter()
        .map(|v| uniq.binary_search(v).ok().map(|i| i as i32))
        .collect();
    Ok(Arc::new(Int32DictionaryArray::try_new(
        keys,
        Arc::new(StringArray::from(uniq)),
    )?))
}

/// The path of an ok item's file inside a published version.
pub fn media_path(m: &str, item_id: u32, format: &str) -> String {
    format!("media/{m}/{item_id}.{}", ext_for(format))
}

fn write_status(path: &Path, rows: &[(u32, Modality, MediaResult)]) -> Result<()> {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
        dict(rows.iter().map(|r| r.1.name()).collect())?,
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.2.url.as_str()),
        )),
        dict(rows.iter().map(|r| r.2.status.as_str()).collect())?,
    ];
    cols.extend(crate::fetch::media::detail_columns(
        rows.iter().map(|r| &r.2),
    ));
    cols.push(Arc::new(StringArray::from(
        rows.iter()
            .map(|(id, m, r)| {
                r.ok()
                    .then(|| media_path(m.name(), *id, r.format.as_deref().unwrap_or("bin")))
            })
            .collect::<Vec<_>>(),
    )));
    write_table(path, "media", "", cols, &[], Level::Publish)?;
    Ok(())
}

/// Files to link into a published version: (path inside the version, blob in the cache).
pub fn published_files(dir: &Path, cache: &Cache) -> Result<Vec<(String, PathBuf)>> {
    let b = read_batch(&dir.join(TABLE))?;
    let paths: &StringArray = column(&b, "path")?;
    let shas: &StringArray = column(&b, "sha256")?;
    let mut out = Vec::new();
    for i in 0..b.num_rows() {
        if paths.is_null(i) {
            continue;
        }
        let sha = shas.value(i);
        let blob = cache.blob(sha).ok_or_else(|| {
            Error::Invalid(format!(
                "media file {} (sha256 {sha}) is no longer in the cache at {}; \
                 it was removed by `recdata cache gc` — run the build with --retry-failed after removing {}",
                paths.value(i),
                cache.root.display(),
                dir.display()
            ))
        })?;
        // Published media are hard links to these blobs: one damaged through a published copy
        // must not be published again.
        let (actual, _) = crate::util::hash::sha256_file(&blob)?;
        if actual != sha {
            fs_err::remove_file(&blob)?;
            let _ = fs_err::remove_file(dir.join(TABLE));
            return Err(Error::Invalid(format!(
                "the cached media file {} (sha256 {sha}) is damaged: its bytes now hash to {actual}; \
                 it was removed from the cache, with the media table in {}\n  hint: build again: \
                 the file is fetched anew",
                paths.value(i),
                dir.display()
            )));
        }
        out.push((paths.value(i).to_string(), blob));
    }
    Ok(out)
}

pub fn load_coverage(dir: &Path) -> Result<Vec<Coverage>> {
    Ok(serde_json::from_slice(&fs_err::read(dir.join(COVERAGE))?)?)
}

/// Each item's verified file of `modality` (its blob in the cache and its sha256), or why
/// there is none: what the caption and encode stages read.
pub fn item_files(
    dir: &Path,
    cache: &Cache,
    modality: &str,
    ids: &[u32],
) -> Result<Vec<std::result::Result<(PathBuf, String), crate::encode::EncodeError>>> {
    use crate::encode::EncodeError;
    let b = read_batch(&dir.join(TABLE))?;
    let mid: &UInt32Array = column(&b, "item_id")?;
    let modalities = super::encode::column_texts(&b, "modality")?;
    let statuses = super::encode::column_texts(&b, "status")?;
    let shas: &StringArray = column(&b, "sha256")?;
    let mut by_item = std::collections::HashMap::new();
    for i in 0..b.num_rows() {
        if modalities[i].as_deref() != Some(modality) {
            continue;
        }
        let st = statuses[i].clone().unwrap_or_default();
        let file = if st == "ok" && shas.is_valid(i) {
            let sha = shas.value(i).to_string();
            match cache.blob(&sha) {
                Some(p) => Ok((p, sha)),
                None => Err(EncodeError::new(
                    "no_media",
                    format!("media blob {sha} is no longer in the cache"),
                )),
            }
        } else {
            Err(EncodeError::new(
                "no_media",
                format!("the media stage found no {modality}: {st}"),
            ))
        };
        by_item.insert(mid.value(i), file);
    }
    Ok(ids
        .iter()
        .map(|id| {
            by_item.remove(id).unwrap_or_else(|| {
                Err(EncodeError::new(
                    "no_media",
                    format!("the item has no {modality} URL or file"),
                ))
            })
        })
        .collect())
}
