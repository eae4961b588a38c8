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
use crate::semantic::{Dedup, Normalize, SidOptions};

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
        if let Some(v) = r.choice(diags, "dedup", &["append", "none"]) {
            o.dedup = if v.value == "append" {
                Dedup::Append
            } else {
                Dedup::None
            };
        }
        if let Some(v) = r.int(diags, "dedup_vocab", 1, 65_536) {
            o.dedup_vocab = v.value as usize;
        }
        Some(SidConfig {
            embeddings: embeddings?.into_iter().map(|s| s.value).collect(),
            options: o,
        })
    }
}

/// Builds semantic ids from the encode stage's embeddings into `dir`.
pub fn run(c: &SidConfig, encode_dir: &Path, dir: &Path, p: &Reporter) -> Result<()> {
    // Items with every listed embedding, in item order, vectors concatenated.
    let mut per: Vec<(HashMap<u32, usize>, Vec<f32>, usize)> = Vec::new();
    for name in &c.embeddings {
        let path = encode_dir.join(format!("embeddings/{name}.parquet"));
        if !path.is_file() {
            return Err(Error::Invalid(format!(
                "[stages.semantic_ids] embeddings = [\"{name}\"]: no [[stages.encode]] entry is named `{name}`"
            )));
        }
        let (ids, x, dim) =
            crate::semantic::standalone::read_vectors(&path, &["embedding".to_string()])?;
        let index = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        per.push((index, x, dim));
    }
    let mut ids: Vec<u32> = per[0]
        .0
        .keys()
        .copied()
        .filter(|id| per.iter().all(|(m, _, _)| m.contains_key(id)))
        .collect();
    ids.sort_unstable();
    let dim: usize = per.iter().map(|p| p.2).sum();
    let mut x = Vec::with_capacity(ids.len() * dim);
    for id in &ids {
        for (m, v, d) in &per {
            let i = m[id];
            x.extend_from_slice(&v[i * d..(i + 1) * d]);
        }
    }
    p.info(format!(
        "Building semantic ids for {} items ({} dims from {}), codebooks {:?}",
        ids.len(),
        dim,
        c.embeddings.join(" + "),
        c.options.codebooks
    ));
    let input_sha = crate::semantic::standalone::matrix_sha256(&x);
    let sids = crate::semantic::build(x, dim, &c.options).map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!("[stages.semantic_ids]: {m}")),
        other => other,
    })?;
    let without = per[0].0.len().max(ids.len()) - ids.len();
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
