//! The semantic_ids stage: `[stages.semantic_ids]` turns one or more encoders' embeddings
//! (concatenated per item) into item semantic ids (`semantic_ids.parquet`,
//! `codebooks.parquet`), with the metrics in `dataset.json` and the card.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use crate::error::{Error, Result};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;
use crate::semantic::kmeans::Kernel;
use crate::semantic::standalone::read_vectors;
use crate::semantic::vectors::{VectorWriter, Vectors};
use crate::semantic::{Balance, BalanceLevels, Dedup, Normalize, SidOptions};

pub const REPORT: &str = "semantic_ids.json";

#[derive(Debug, Clone, serde::Serialize)]
pub struct SidConfig {
    /// Encoder names whose vectors are concatenated.
    pub embeddings: Vec<String>,
    pub options: SidOptions,
}

impl SidConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<SidConfig> {
        let embeddings = r.str_array(diags, "embeddings");
        if embeddings.is_none() && !r.has("embeddings") {
            r.missing(
                diags,
                "embeddings",
                "the [[stages.encode]] names whose vectors are used, e.g. [\"title\"]",
            );
        }
        let mut o = SidOptions::default();
        if let Some(cb) = r.float_array(diags, "codebooks") {
            if cb.value.is_empty()
                || cb
                    .value
                    .iter()
                    .any(|v| v.fract() != 0.0 || *v < 2.0 || *v > 65_536.0)
            {
                diags.push(Diagnostic::error(
                    "`codebooks` must list codebook sizes between 2 and 65,536, e.g. [256, 256, 256]",
                    Some(cb.span),
                    "not valid sizes",
                ));
                return None;
            }
            o.codebooks = cb.value.iter().map(|v| *v as usize).collect();
        }
        if let Some(v) = r.int(diags, "iters", 1, 1000) {
            o.max_iter = v.value as usize;
        }
        if let Some(v) = r.int(diags, "sample", 2, i64::MAX) {
            o.sample = Some(v.value as usize);
        }
        if let Some(v) = r.int(diags, "seed", 0, i64::MAX) {
            o.seed = v.value as u64;
        }
        if let Some(v) = r.choice(diags, "normalize", &["none", "l2"]) {
            o.normalize = if v.value == "l2" {
                Normalize::L2
            } else {
                Normalize::None
            };
        }
        if let Some(v) = r.bool(diags, "residual_norm") {
            o.residual_norm = v.value;
        }
        if let Some(v) = r.bool(diags, "center") {
            o.center = v.value;
        }
        if let Some(v) = r.int(diags, "pca", 1, 65_536) {
            o.pca = Some(v.value as usize);
        }
        if let Some(v) = r.bool(diags, "whiten") {
            o.whiten = v.value;
        }
        if let Some(v) = r.choice(diags, "balance", &["none", "sinkhorn"]) {
            o.balance = if v.value == "sinkhorn" {
                Balance::Sinkhorn
            } else {
                Balance::None
            };
        }
        if let Some(v) = r.choice(diags, "balance_levels", &["last", "all"]) {
            o.balance_levels = if v.value == "all" {
                BalanceLevels::All
            } else {
                BalanceLevels::Last
            };
        }
        if let Some(v) = r.choice(diags, "dedup", &["append", "reassign", "none"]) {
            o.dedup = match v.value {
                "append" => Dedup::Append,
                "reassign" => Dedup::Reassign,
                _ => Dedup::None,
            };
        }
        if let Some(v) = r.int(diags, "dedup_vocab", 1, 65_536) {
            o.dedup_vocab = v.value as usize;
        }
        if let Some(v) = r.choice(diags, "kernel", &["gemm", "portable"]) {
            o.kernel = if v.value == "portable" {
                Kernel::Portable
            } else {
                Kernel::Gemm
            };
        }
        Some(SidConfig {
            embeddings: embeddings?.into_iter().map(|s| s.value).collect(),
            options: o,
        })
    }
}

/// Builds semantic ids from the encode stage's embeddings into `dir`.
pub fn run(c: &SidConfig, encode_dir: &Path, dir: &Path, p: &Reporter) -> Result<()> {
    let stage_err = |e: Error| match e {
        Error::Invalid(m) => Error::Invalid(format!("[stages.semantic_ids]: {m}")),
        other => other,
    };
    fs_err::create_dir_all(dir)?;
    // Each encoder's vectors (spilled beside the output when over the memory budget).
    let mut per: Vec<(Vec<u32>, Vectors, String)> = Vec::new();
    for name in &c.embeddings {
        let path = encode_dir.join(format!("embeddings/{name}.parquet"));
        if !path.is_file() {
            return Err(Error::Invalid(format!(
                "[stages.semantic_ids] embeddings = [\"{name}\"]: no [[stages.encode]] entry is named `{name}`"
            )));
        }
        let (ids, x, sha) = read_vectors(&path, &["embedding".to_string()], dir)?;
        per.push((ids, x, sha));
    }
    let first_items = per[0].0.len();
    // The fingerprint is of the matrix quantised (the concatenation for several encoders).
    let (ids, x, input_sha) = if per.len() == 1 {
        per.pop().expect("one embedding")
    } else {
        // Items with every listed embedding, in item order, vectors concatenated.
        let index: Vec<HashMap<u32, usize>> = per
            .iter()
            .map(|(ids, _, _)| ids.iter().enumerate().map(|(i, id)| (*id, i)).collect())
            .collect();
        let mut ids: Vec<u32> = per[0]
            .0
            .iter()
            .copied()
            .filter(|id| index.iter().all(|m| m.contains_key(id)))
            .collect();
        ids.sort_unstable();
        let dim: usize = per.iter().map(|(_, v, _)| v.dim).sum();
        let mut w = VectorWriter::new(dim, dir, false, true);
        let mut row = vec![0f32; dim];
        for id in &ids {
            let mut at = 0;
            for ((_, v, _), m) in per.iter().zip(&index) {
                v.read_row(m[id], &mut row[at..at + v.dim])?;
                at += v.dim;
            }
            w.push(&row)?;
        }
        let (x, sha) = w.finish()?;
        (ids, x, sha)
    };
    let without = first_items.max(ids.len()) - ids.len();
    p.info(format!(
        "Building semantic ids for {} items ({} dims from {}), codebooks {:?}",
        ids.len(),
        x.dim,
        c.embeddings.join(" + "),
        c.options.codebooks
    ));
    let sids = crate::semantic::build_from(x, &c.options, dir).map_err(stage_err)?;
    crate::semantic::standalone::write(
        dir,
        &ids,
        &sids,
        &c.options,
        json!({ "embeddings": c.embeddings, "items_without_all_embeddings": without }),
        &input_sha,
    )?;
    Ok(())
}

pub fn load_report(dir: &Path) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&fs_err::read(dir.join(REPORT))?)?)
}
