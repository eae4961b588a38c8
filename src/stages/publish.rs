//! Writing canonical tables and publishing an immutable dataset version.
//!
//! Publishing assembles `.staging-<version>-<pid>/` from the stage cache (hard links: the
//! cached tables are already in their final form), adds `dataset.json` and the `README.md`
//! card, checks that the row accounting reconciles, and renames the directory to `<version>`.
//! If `<version>` exists, its `dataset.json` must be byte-identical to the new one (then the
//! build is a no-op); otherwise publishing fails — a published version is never modified.

use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::filter::FilterStats;
use super::split::{NAMES, SplitStats};
use super::{BuildOutcome, InputFile, Manifest, PublishStatus, TOOL_VERSION, normalize};
use crate::error::{Error, Result};
use crate::io::parquet::WrittenFile;
use crate::io::store;
use crate::progress::Reporter;
use crate::util::hash::sha256_file;

pub const FORMAT_VERSION: u32 = 1;

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
    store::link_or_copy(&from.join(rel), &staging.join(rel))?;
    written.push(describe(staging, rel, table)?);
    Ok(())
}

/// A published table as `dataset.json` lists it: its sha256 read from the staged file itself.
fn describe(staging: &Path, rel: &str, table: &str) -> Result<WrittenFile> {
    let path = staging.join(rel);
    let (sha256, bytes) = sha256_file(&path)?;
    Ok(WrittenFile {
        path: rel.to_string(),
        table: table.into(),
        rows: parquet_rows(&path)?,
        bytes,
        sha256,
    })
}

/// A version assembled in its staging directory: the stage outputs linked in and described by
/// `doc` (the `dataset.json` to be), not yet published.
pub struct Staged {
    pub dir: PathBuf,
    pub doc: serde_json::Value,
}

/// Assembles the version: links every stage's output into `.staging-<version>-<pid>/`, checks
/// that the row accounting reconciles, and describes the result.
pub fn assemble(m: &Manifest, ds_dir: &Path, parts: &Parts<'_>) -> Result<Staged> {
    crate::fault::at("publish", crate::fault::When::Start)?;
    let version = &m.dataset.version;
    let staging = ds_dir.join(format!(".staging-{version}-{}", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;
    let acc = normalize::load_accounts(parts.norm_dir)?;
    let normalized_rows = acc.interactions;
    reconcile(&acc, parts.filter_stats, parts.split_stats, normalized_rows)?;

    let core = core_tables(parts);
    for (rel, _, from) in &core {
        store::link_or_copy(&from.join(rel), &staging.join(rel))?;
    }
    // The sha256 of the core tables (interactions and the train split are most of the bytes)
    // on every core while another thread reads the tables back for the statistics: one after
    // the other, they were most of the publish stage.
    let (written, statistics) = std::thread::scope(|sc| {
        let stats = sc.spawn(|| crate::stats::compute(&staging));
        let written = {
            use rayon::prelude::*;
            core.par_iter()
                .map(|(rel, table, _)| describe(&staging, rel, table))
                .collect::<Result<Vec<_>>>()
        };
        let stats = stats
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("statistics panicked".into())));
        (written, stats)
    });
    let (mut written, statistics) = (written?, statistics?);
    let extras = link_stage_outputs(&staging, parts, &mut written)?;
    written.sort_by(|a, b| a.path.cmp(&b.path));

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
        "media_coverage": extras.coverage,
        "captions": extras.captions,
        "encoders": extras.encoders,
        "semantic_ids": extras.semantic,
        "files": written,
    });
    Ok(Staged { dir: staging, doc })
}

/// The tables every version has (rejects, the filter stage's tables) and the split's.
fn core_tables<'a>(parts: &Parts<'a>) -> Vec<(String, &'a str, &'a Path)> {
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
    files
}

/// What the per-item stages add to `dataset.json`, besides their files.
#[derive(Default)]
struct StageReports {
    coverage: Option<serde_json::Value>,
    captions: Option<Vec<super::caption::CaptionReport>>,
    encoders: Option<Vec<super::encode::EncoderReport>>,
    semantic: Option<serde_json::Value>,
}

/// Links the media, caption, encode and semantic-id outputs into `staging`.
fn link_stage_outputs(
    staging: &Path,
    parts: &Parts<'_>,
    written: &mut Vec<WrittenFile>,
) -> Result<StageReports> {
    let mut r = StageReports::default();
    if let Some((mdir, mcache)) = parts.media {
        extra_table(staging, mdir, super::media::TABLE, "media", written)?;
        // The media files themselves: hard links to verified cache blobs; their sha256 is in
        // media.parquet, so dataset.json lists only the table.
        for (rel, blob) in super::media::published_files(mdir, mcache)? {
            store::link_or_copy(&blob, &staging.join(rel))?;
        }
        r.coverage = Some(serde_json::to_value(super::media::load_coverage(mdir)?)?);
    }
    if let Some(cdir) = parts.caption_dir {
        let reports = super::caption::load_reports(cdir)?;
        for c in &reports {
            extra_table(staging, cdir, &c.file, "captions", written)?;
        }
        r.captions = Some(reports);
    }
    if let Some(edir) = parts.encode_dir {
        let reports = super::encode::load_reports(edir)?;
        for e in &reports {
            let schema = e
                .table
                .as_ref()
                .map_or_else(|| "embeddings".to_string(), |t| format!("{t}_embeddings"));
            extra_table(staging, edir, &e.file, &schema, written)?;
        }
        let mut tables: Vec<&String> = reports.iter().filter_map(|e| e.table.as_ref()).collect();
        tables.sort();
        tables.dedup();
        for t in tables {
            let file = super::encode::table_status_file(t);
            extra_table(staging, edir, &file, &format!("{t}_encode_status"), written)?;
        }
        let status = super::encode::STATUS_TABLE;
        extra_table(staging, edir, status, "encode_status", written)?;
        r.encoders = Some(reports);
    }
    if let Some(sdir) = parts.sid_dir {
        extra_table(
            staging,
            sdir,
            "semantic_ids.parquet",
            "semantic_ids",
            written,
        )?;
        extra_table(staging, sdir, "codebooks.parquet", "codebooks", written)?;
        r.semantic = Some(serde_json::to_value(super::semantic_ids::load_report(
            sdir,
        )?)?);
    }
    Ok(r)
}

/// Links the diagnostics stage's output into the staged version and summarises it in `doc`;
/// returns the thresholds the dataset fails.
fn attach_diagnostics(
    staged: &mut Staged,
    dc: &super::diagnostics::DiagnosticsConfig,
    ddir: &Path,
) -> Result<Vec<String>> {
    let (staging, doc) = (&staged.dir, &mut staged.doc);
    for f in [crate::diagnose::JSON, crate::diagnose::HTML] {
        store::link_or_copy(&ddir.join(f), &staging.join(f))?;
    }
    let diag: serde_json::Value =
        serde_json::from_slice(&fs_err::read(staging.join(crate::diagnose::JSON))?)?;
    let check_failures = crate::diagnose::check(&diag, &dc.thresholds);
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
    Ok(check_failures)
}

/// Publishes the staged version: attaches the diagnostics (when configured), writes
/// `dataset.json`, the card and the Croissant file, and renames the staging directory into
/// place — or, when the version exists, checks it is intact and identical.
pub fn commit(
    m: &Manifest,
    ds_dir: &Path,
    mut staged: Staged,
    diagnostics: Option<(&super::diagnostics::DiagnosticsConfig, &Path)>,
    p: &Reporter,
) -> Result<BuildOutcome> {
    use crate::fault::When;
    let version = &m.dataset.version;
    let check_failures = match diagnostics {
        Some((dc, ddir)) => attach_diagnostics(&mut staged, dc, ddir)?,
        None => Vec::new(),
    };
    let Staged { dir: staging, doc } = staged;
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
