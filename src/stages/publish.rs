//! Writing canonical tables and publishing an immutable dataset version.
//!
//! Publishing assembles `.staging-<version>-<pid>/` from the stage cache (hard links: the
//! cached tables are already in their final form), adds `dataset.json` and the `README.md`
//! card, checks that the row accounting reconciles, and renames the directory to `<version>`.
//! If `<version>` exists, its `dataset.json` must be byte-identical to the new one (then the
//! build is a no-op); otherwise publishing fails — a published version is never modified.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float32Array, Int64Array, StringArray, TimestampMillisecondArray, UInt32Array,
};
use serde_json::json;

use super::filter::{FilterStats, Filtered};
use super::split::{Assignment, NAMES, SplitStats};
use super::{BuildOutcome, InputFile, PublishStatus, TOOL_VERSION, dict_array, normalize};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, WrittenFile, write_table};
use crate::io::store;
use crate::manifest::Manifest;
use crate::progress::Reporter;
use crate::sources::{CorpusConfig, Entities, Normalized};
use crate::util::hash::sha256_file;

pub const FILTER_STATS: &str = "filter_stats.json";
pub const SPLIT_STATS: &str = "split_stats.json";
pub const FORMAT_VERSION: u32 = 1;

/// Interaction rows in published form (filtered, or one split's share).
#[derive(Debug, Clone, Default)]
pub struct InteractionRows {
    pub user: Vec<u32>,
    pub item: Vec<u32>,
    /// ms since the epoch; for a timeless corpus the step (published as null).
    pub ts: Vec<i64>,
    pub value: Option<Vec<f32>>,
    pub session: Option<Vec<i64>>,
}

impl InteractionRows {
    /// The rows at `idx`, in that order.
    pub fn take(&self, idx: &[usize]) -> InteractionRows {
        InteractionRows {
            user: idx.iter().map(|r| self.user[*r]).collect(),
            item: idx.iter().map(|r| self.item[*r]).collect(),
            ts: idx.iter().map(|r| self.ts[*r]).collect(),
            value: self
                .value
                .as_ref()
                .map(|v| idx.iter().map(|r| v[*r]).collect()),
            session: self
                .session
                .as_ref()
                .map(|v| idx.iter().map(|r| v[*r]).collect()),
        }
    }
}

fn interaction_columns(r: InteractionRows, event: &str, timeless: bool) -> Result<Vec<ArrayRef>> {
    let n = r.user.len();
    let ts = if timeless {
        TimestampMillisecondArray::from(vec![None::<i64>; n])
    } else {
        TimestampMillisecondArray::from(r.ts)
    };
    Ok(vec![
        Arc::new(UInt32Array::from(r.user)),
        Arc::new(UInt32Array::from(r.item)),
        Arc::new(ts.with_timezone("UTC")),
        dict_array(event, n)?,
        // NaN is an adapter's "no value for this event" (the column is nullable, the adapter's
        // vector is not): published as null.
        Arc::new(match r.value {
            Some(v) => v.into_iter().map(|x| (!x.is_nan()).then_some(x)).collect(),
            None => Float32Array::from(vec![None::<f32>; n]),
        }),
        Arc::new(match r.session {
            Some(v) => Int64Array::from(v),
            None => Int64Array::from(vec![None::<i64>; n]),
        }),
    ])
}

/// Rows of `e` in the order of `codes`, as `[id, raw_id, (title), extras...]`.
/// `title`: the table has a title column (items do, users do not); a corpus without titles
/// gets an all-null one.
fn entity_columns(e: &Entities, codes: &[u32], id_base: u32, title: bool) -> Result<Vec<ArrayRef>> {
    let idx = UInt32Array::from(codes.to_vec());
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(
            (0..codes.len() as u32).map(|i| i + id_base),
        )),
        Arc::new(StringArray::from_iter_values(
            codes.iter().map(|c| e.raw_id[*c as usize].as_str()),
        )),
    ];
    match &e.title {
        Some(t) => cols.push(Arc::new(StringArray::from_iter(
            codes.iter().map(|c| t[*c as usize].as_deref()),
        ))),
        None if title => cols.push(Arc::new(StringArray::from(vec![None::<&str>; codes.len()]))),
        None => {}
    }
    for (_, a) in &e.extras {
        cols.push(arrow_select::take::take(a.as_ref(), &idx, None)?);
    }
    Ok(cols)
}

/// The filter stage's output in published form.
pub fn write_filtered(
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
        for (name, batch) in &f.tables {
            write_table(
                &dir.join(format!("{name}.parquet")),
                name,
                corpus,
                batch.columns().to_vec(),
                meta,
                Level::Publish,
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
    fs_err::write(dir.join(FILTER_STATS), serde_json::to_vec_pretty(&f.stats)?)?;
    Ok(())
}

/// The split stage's output: `splits/{train,valid,test}.parquet`.
pub fn write_splits(
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
    fs_err::write(dir.join(SPLIT_STATS), serde_json::to_vec_pretty(&a.stats)?)?;
    Ok(())
}

pub struct Parts<'a> {
    pub norm_dir: &'a Path,
    pub filter_dir: &'a Path,
    pub split_dir: Option<&'a Path>,
    pub inputs: &'a [InputFile],
    pub fingerprints: &'a [(&'a str, &'a str)],
    pub filter_stats: &'a FilterStats,
    pub split_stats: Option<&'a SplitStats>,
    /// Downloaded source files (None for a local `path`).
    pub remote: Option<&'a [super::source::SourceFile]>,
    /// The media stage's directory and the cache holding the media blobs.
    pub media: Option<(&'a Path, &'a crate::fetch::cache::Cache)>,
    /// The caption and encode stages' directories.
    pub caption_dir: Option<&'a Path>,
    pub encode_dir: Option<&'a Path>,
    pub sid_dir: Option<&'a Path>,
    /// The diagnostics stage's cache directory and fingerprint (with `[stages.diagnostics]`).
    pub diagnostics: Option<(&'a Path, &'a str)>,
    /// Where a sample corpus' image paths are relative to (the report's thumbnails).
    pub media_root: Option<std::path::PathBuf>,
}

/// Checks that every raw row is accounted for; a failure is a bug in recdata.
fn reconcile(
    acc: &normalize::Accounts,
    f: &FilterStats,
    s: Option<&SplitStats>,
    normalized_rows: u64,
) -> Result<()> {
    let mut problems = Vec::new();
    for a in &acc.files {
        if !a.balanced() {
            problems.push(format!(
                "{}: {} lines != {} header + {} skipped + {} rows + {} rejected",
                a.file, a.lines, a.header, a.skipped, a.rows, a.rejected
            ));
        }
    }
    let rejected: u64 = acc.files.iter().map(|a| a.rejected).sum();
    if rejected != acc.by_reason.values().sum::<u64>() {
        problems.push("rejected rows do not match the rejects table".into());
    }
    if f.input_rows != normalized_rows {
        problems.push(format!(
            "filter input {} != normalized interactions {normalized_rows}",
            f.input_rows
        ));
    }
    let removed = f.removed_time_window + f.removed_dedup + f.removed_max_user + f.removed_k_core;
    if f.input_rows != removed + f.output_rows {
        problems.push(format!(
            "filter: {} in != {removed} removed + {} out",
            f.input_rows, f.output_rows
        ));
    }
    let side: std::collections::BTreeMap<&str, u64> = acc
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.rows))
        .collect();
    for t in &f.side_tables {
        if side.get(t.table.as_str()) != Some(&t.input_rows)
            || t.input_rows != t.removed_user_filtered + t.output_rows
        {
            problems.push(format!(
                "{}: {} normalized rows, {} in != {} removed + {} out",
                t.table,
                side.get(t.table.as_str()).copied().unwrap_or(0),
                t.input_rows,
                t.removed_user_filtered,
                t.output_rows
            ));
        }
    }
    if side.len() != f.side_tables.len() {
        problems.push("side tables differ between normalize and filter".into());
    }
    // A sample corpus' split counts samples (every one of them), not interactions.
    let split_unit_rows = if s.is_some_and(|s| s.protocol["unit"] == "samples") {
        side.get("labels").copied().unwrap_or(0)
    } else {
        f.output_rows
    };
    if let Some(s) = s
        && s.train + s.valid + s.test != split_unit_rows
    {
        problems.push(format!(
            "splits {} + {} + {} != {} filtered rows",
            s.train, s.valid, s.test, split_unit_rows
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "row accounting does not reconcile: {}",
            problems.join("; ")
        )))
    }
}

/// What `recdata verify` finds wrong with a published version, one line per finding (at most
/// five, then a count).
fn published_damage(dir: &Path) -> Vec<String> {
    let findings = match crate::verify::verify(dir, &Reporter::silent()) {
        Ok(r) => r.findings,
        Err(e) => return vec![e.to_string()],
    };
    let mut out: Vec<String> = findings
        .iter()
        .take(5)
        .map(|f| format!("{} {}: {}", f.kind, f.path, f.detail))
        .collect();
    if findings.len() > 5 {
        out.push(format!("and {} more", findings.len() - 5));
    }
    out
}

fn parquet_rows(path: &Path) -> Result<u64> {
    let f = fs_err::File::open(path)?;
    let r = parquet::file::reader::SerializedFileReader::new(f.into_parts().0)?;
    Ok(parquet::file::reader::FileReader::metadata(&r)
        .file_metadata()
        .num_rows() as u64)
}

/// Links a stage's output table into the staging directory and records it.
fn extra_table(
    staging: &Path,
    from: &Path,
    rel: &str,
    table: &str,
    written: &mut Vec<WrittenFile>,
) -> Result<()> {
    let dst = staging.join(rel);
    store::link_or_copy(&from.join(rel), &dst)?;
    let (sha256, bytes) = sha256_file(&dst)?;
    written.push(WrittenFile {
        path: rel.to_string(),
        table: table.into(),
        rows: parquet_rows(&dst)?,
        bytes,
        sha256,
    });
    Ok(())
}

pub fn publish(
    m: &Manifest,
    ds_dir: &Path,
    parts: &Parts<'_>,
    p: &Reporter,
) -> Result<BuildOutcome> {
    use crate::fault::When;
    let version = &m.dataset.version;
    crate::fault::at("publish", When::Start)?;
    let staging = ds_dir.join(format!(".staging-{version}-{}", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;

    let mut files: Vec<(String, &str, &Path)> =
        vec![("rejects.parquet".into(), "rejects", parts.norm_dir)];
    for t in ["interactions", "users", "items", "user_map", "item_map"] {
        files.push((format!("{t}.parquet"), t, parts.filter_dir));
    }
    for t in &parts.filter_stats.side_tables {
        files.push((format!("{}.parquet", t.table), &t.table, parts.filter_dir));
    }
    if let Some(d) = parts.split_dir {
        if d.join(super::sample_split::SAMPLES).is_file() {
            // A sample corpus: the samples' split and, with an image table, the images'.
            files.push((super::sample_split::SAMPLES.into(), "sample_split", d));
            if d.join(super::sample_split::IMAGES).is_file() {
                files.push((super::sample_split::IMAGES.into(), "image_split", d));
            }
        } else {
            for n in NAMES {
                files.push((format!("splits/{n}.parquet"), "splits", d));
            }
        }
    }
    let mut written = Vec::new();
    for (rel, table, from) in &files {
        let dst = staging.join(rel);
        store::link_or_copy(&from.join(rel), &dst)?;
        let (sha256, bytes) = sha256_file(&dst)?;
        written.push(WrittenFile {
            path: rel.clone(),
            table: (*table).into(),
            rows: parquet_rows(&dst)?,
            bytes,
            sha256,
        });
    }
    let mut coverage = None;
    if let Some((mdir, mcache)) = parts.media {
        let dst = staging.join("media.parquet");
        store::link_or_copy(&mdir.join(super::media::TABLE), &dst)?;
        let (sha256, bytes) = sha256_file(&dst)?;
        written.push(WrittenFile {
            path: "media.parquet".into(),
            table: "media".into(),
            rows: parquet_rows(&dst)?,
            bytes,
            sha256,
        });
        // The media files themselves: hard links to verified cache blobs; their sha256 is in
        // media.parquet, so dataset.json lists only the table.
        for (rel, blob) in super::media::published_files(mdir, mcache)? {
            store::link_or_copy(&blob, &staging.join(rel))?;
        }
        coverage = Some(super::media::load_coverage(mdir)?);
    }
    let mut captions = None;
    if let Some(cdir) = parts.caption_dir {
        let reports = super::caption::load_reports(cdir)?;
        for r in &reports {
            extra_table(&staging, cdir, &r.file, "captions", &mut written)?;
        }
        captions = Some(reports);
    }
    let mut encoders = None;
    if let Some(edir) = parts.encode_dir {
        let reports = super::encode::load_reports(edir)?;
        for r in &reports {
            let schema = r
                .table
                .as_ref()
                .map_or_else(|| "embeddings".to_string(), |t| format!("{t}_embeddings"));
            extra_table(&staging, edir, &r.file, &schema, &mut written)?;
        }
        let mut tables: Vec<&String> = reports.iter().filter_map(|r| r.table.as_ref()).collect();
        tables.sort();
        tables.dedup();
        for t in tables {
            extra_table(
                &staging,
                edir,
                &super::encode::table_status_file(t),
                &format!("{t}_encode_status"),
                &mut written,
            )?;
        }
        extra_table(
            &staging,
            edir,
            super::encode::STATUS_TABLE,
            "encode_status",
            &mut written,
        )?;
        encoders = Some(reports);
    }
    let mut semantic = None;
    if let Some(sdir) = parts.sid_dir {
        extra_table(
            &staging,
            sdir,
            "semantic_ids.parquet",
            "semantic_ids",
            &mut written,
        )?;
        extra_table(
            &staging,
            sdir,
            "codebooks.parquet",
            "codebooks",
            &mut written,
        )?;
        semantic = Some(super::semantic_ids::load_report(sdir)?);
    }
    written.sort_by(|a, b| a.path.cmp(&b.path));

    let acc = normalize::load_accounts(parts.norm_dir)?;
    let normalized_rows = acc.interactions;
    reconcile(&acc, parts.filter_stats, parts.split_stats, normalized_rows)?;
    let statistics = crate::stats::compute(&staging)?;

    let mut by_file = BTreeMap::new();
    for a in &acc.files {
        by_file.insert(a.file.clone(), a.clone());
    }
    let doc = json!({
        "format_version": FORMAT_VERSION,
        "dataset": {
            "name": m.dataset.name,
            "version": version,
            "title": m.dataset.title,
            "description": m.dataset.description.clone().unwrap_or_else(|| m.source.corpus.description().to_owned()),
            "license": m.dataset.license.clone().unwrap_or_else(|| m.source.corpus.license().to_owned()),
            "homepage": m.source.corpus.homepage(),
            "citation": m.source.corpus.citation(),
        },
        "tool": { "name": "recdata", "version": TOOL_VERSION },
        "manifest": m.resolved,
        "source": { "corpus": m.source.corpus.name(), "files": parts.inputs, "downloaded": parts.remote },
        "stages": parts.fingerprints.iter().map(|(s, f)| json!({ "stage": s, "fingerprint": f })).collect::<Vec<_>>(),
        "accounting": {
            "raw": by_file,
            "rejected": acc.by_reason,
            "normalized_interactions": normalized_rows,
            "normalized_tables": acc.tables.iter().map(|t| (t.name.clone(), t.rows)).collect::<BTreeMap<_, _>>(),
            "filter": parts.filter_stats,
            "splits": parts.split_stats.map(|s| json!({ "train": s.train, "valid": s.valid, "test": s.test, "users_train_only": s.users_train_only })),
        },
        "split": parts.split_stats.map(|s| s.protocol.clone()),
        "statistics": statistics,
        "media_coverage": coverage,
        "captions": captions,
        "encoders": encoders,
        "semantic_ids": semantic,
        "files": written,
    });
    // Diagnostics run on the staged tables, with this document as the dataset's metadata: a
    // stage like the others, cached under its fingerprint (everything upstream, its options and
    // the manifest), so an unchanged dataset is not diagnosed again.
    let mut check_failures = Vec::new();
    let mut doc = doc;
    if let (Some(dc), Some((ddir, dfp))) = (&m.diagnostics, parts.diagnostics) {
        let clock = super::StageClock::start();
        let cached = super::reuse("diagnostics", ddir, Some(crate::diagnose::JSON), p)?;
        if !cached {
            super::run_stage("diagnostics", ddir, |tmp| {
                let mut options = dc.options.clone();
                options.media_root = parts.media_root.clone();
                let diag =
                    crate::diagnose::compute_with_meta(&staging, Some(doc.clone()), &options, p)?;
                crate::diagnose::write(tmp, &diag)
            })?;
        }
        super::stage_event(p, "diagnostics", dfp, cached, clock);
        // The publish stage's own peak starts again here.
        crate::util::rss::reset_peak();
        for f in [crate::diagnose::JSON, crate::diagnose::HTML] {
            store::link_or_copy(&ddir.join(f), &staging.join(f))?;
        }
        let diag: serde_json::Value =
            serde_json::from_slice(&fs_err::read(staging.join(crate::diagnose::JSON))?)?;
        check_failures = crate::diagnose::check(&diag, &dc.thresholds);
        let (sha256, bytes) = sha256_file(&staging.join(crate::diagnose::JSON))?;
        doc["diagnostics"] = json!({
            "file": crate::diagnose::JSON,
            "report": crate::diagnose::HTML,
            "sha256": sha256,
            "bytes": bytes,
            "verdict": diag["verdict"],

            "leakage": diag["leakage"].as_array().into_iter().flatten()
                .filter(|f| f["count"].as_u64().unwrap_or(0) > 0 && f["applicable"] == true)
                .map(|f| json!({ "id": f["id"], "severity": f["severity"], "count": f["count"] }))
                .collect::<Vec<_>>(),
            "thresholds": dc.thresholds,
            "failures": check_failures,
        });
        if diag["kind"] == "samples" {
            let extra = json!({
            "class_balance": diag["class_balance"]["totals"],
            "baselines": diag["baselines"],
            "media": (!diag["media"].is_null()).then(|| json!({
                "table": diag["media"]["table"],
                "images": diag["media"]["images"],
                "distinct_contents": diag["media"]["distinct_contents"],
                "exact": diag["media"]["exact"],
                "near": diag["media"]["near"],
                "near_threshold": diag["media"]["near_threshold"],
                "test_images": diag["media"]["test_images"],
                "test_images_with_train_copy": diag["media"]["test_images_with_train_copy"],
            })),
            });
            for (k, v) in extra.as_object().into_iter().flatten() {
                doc["diagnostics"][k] = v.clone();
            }
        }
    }
    let mut dataset_json = serde_json::to_vec_pretty(&doc)?;
    dataset_json.push(b'\n');
    fs_err::write(staging.join("dataset.json"), &dataset_json)?;
    fs_err::write(staging.join("README.md"), crate::io::card::render(&doc))?;
    fs_err::write(
        staging.join(crate::io::croissant::FILE),
        crate::io::croissant::render(&staging, &doc)?,
    )?;

    crate::fault::at("publish", When::Mid)?;
    let final_dir = ds_dir.join(version);
    let status = if final_dir.exists() {
        let existing = fs_err::read(final_dir.join("dataset.json")).unwrap_or_default();
        fs_err::remove_dir_all(&staging)?;
        // Damage first: a damaged published version is neither "unchanged" nor a reason to bump
        // the version, and it is never overwritten.
        let damage = published_damage(&final_dir);
        if !damage.is_empty() {
            return Err(Error::PublishedDamaged {
                dataset: m.dataset.name.clone(),
                version: version.clone(),
                path: final_dir,
                findings: damage,
            });
        }
        if existing != dataset_json {
            return Err(Error::VersionConflict {
                dataset: m.dataset.name.clone(),
                version: version.clone(),
                path: final_dir,
                published: crate::util::hash::sha256_hex(&existing),
                built: crate::util::hash::sha256_hex(&dataset_json),
            });
        }
        PublishStatus::Unchanged
    } else {
        fs_err::rename(&staging, &final_dir)?;
        PublishStatus::Published
    };
    crate::fault::at("publish", When::End)?;
    let latest = store::update_latest(ds_dir)?;
    match status {
        PublishStatus::Published => p.info(format!(
            "Published {} {version} at {}",
            m.dataset.name,
            final_dir.display()
        )),
        PublishStatus::Unchanged => p.info(format!(
            "Unchanged {} {version} is already published with identical content",
            m.dataset.name
        )),
        PublishStatus::ShardComplete => {}
    }
    p.event("published", json!({ "dataset": m.dataset.name, "version": version, "dir": final_dir, "status": status, "latest": latest }));
    Ok(BuildOutcome {
        dir: final_dir,
        status,
        dataset_json: doc,
        check_failures,
    })
}
