//! `recdata semantic-ids <embeddings.parquet>`: semantic ids for any parquet table of vectors
//! (an encoder's output or a user's own), written as `semantic_ids.parquet`,
//! `codebooks.parquet` and `semantic_ids.json` (options, metrics, fingerprints).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt16Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, UInt16Array, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::file::metadata::KeyValue;
use serde_json::json;

use super::kmeans::Kernel;
use super::vectors::{VectorWriter, Vectors};
use super::{SemanticIds, SidOptions};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, write_batch};
use crate::progress::Reporter;

/// The vectors of `columns` (fixed-size lists of f32 or f16), concatenated per row, the
/// `item_id`s (row numbers when there is no such column) and the sha256 of the values. Batches
/// are streamed into a [`Vectors`] that spills to `spill_dir` beyond the memory budget.
pub fn read_vectors(
    path: &Path,
    columns: &[String],
    spill_dir: &Path,
) -> Result<(Vec<u32>, Vectors, String)> {
    let file = fs_err::File::open(path)?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        file.into_parts().0,
    )?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut dims = Vec::new();
    for name in columns {
        let f = schema.field_with_name(name).map_err(|_| {
            Error::Invalid(format!(
                "{}: no column `{name}` (columns: {})",
                path.display(),
                names.join(", ")
            ))
        })?;
        match f.data_type() {
            DataType::FixedSizeList(inner, d)
                if matches!(inner.data_type(), DataType::Float32 | DataType::Float16) =>
            {
                dims.push(*d as usize)
            }
            t => {
                return Err(Error::Invalid(format!(
                    "{}: column `{name}` is {t}; semantic ids need a fixed-size list of floats (an embeddings column)",
                    path.display()
                )));
            }
        }
    }
    let dim: usize = dims.iter().sum();
    let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let mut x = VectorWriter::new(dim, spill_dir, false, true);
    let mut ids: Vec<u32> = Vec::with_capacity(rows);
    let has_ids = schema
        .field_with_name("item_id")
        .is_ok_and(|f| *f.data_type() == DataType::UInt32);
    for batch in builder.with_batch_size(65_536).build()? {
        let b: RecordBatch = batch?;
        let n = b.num_rows();
        if has_ids {
            let a: &UInt32Array = crate::io::parquet::column(&b, "item_id")?;
            ids.extend_from_slice(a.values());
        } else {
            ids.extend(ids.len() as u32..(ids.len() + n) as u32);
        }
        let mut cols: Vec<Vec<f32>> = Vec::new();
        for name in columns {
            let col = b
                .column_by_name(name)
                .ok_or_else(|| Error::Internal(format!("column {name} vanished")))?;
            let l: &FixedSizeListArray = col.as_fixed_size_list();
            if l.null_count() > 0 {
                return Err(Error::Invalid(format!(
                    "{}: column `{name}` has null vectors; keep only encoded items (status ok)",
                    path.display()
                )));
            }
            let v = l.values();
            cols.push(match v.data_type() {
                DataType::Float32 => v.as_primitive::<Float32Type>().values().to_vec(),
                _ => v
                    .as_primitive::<Float16Type>()
                    .values()
                    .iter()
                    .map(|h| h.to_f32())
                    .collect(),
            });
        }
        if cols.len() == 1 {
            x.push(&cols[0])?;
        } else {
            let mut joined = Vec::with_capacity(n * dim);
            for i in 0..n {
                for (v, d) in cols.iter().zip(&dims) {
                    joined.extend_from_slice(&v[i * d..(i + 1) * d]);
                }
            }
            x.push(&joined)?;
        }
    }
    let (x, sha) = x.finish()?;
    Ok((ids, x, sha))
}

/// The code table's sha256 (rows of little-endian u16 codes): the determinism fingerprint.
pub fn codes_sha256(codes: &[Vec<u16>]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for c in codes {
        h.update((c.len() as u16).to_le_bytes());
        for v in c {
            h.update(v.to_le_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// What the codes' bits depend on: the SIMD level the GEMM kernel dispatches on (results are
/// bitwise reproducible per level), or nothing CPU-specific with the portable kernel.
pub fn simd_label(kernel: Kernel) -> &'static str {
    match kernel {
        Kernel::Gemm => simd_level(),
        Kernel::Portable => "any",
    }
}

/// The SIMD level the GEMM kernel dispatches on.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "x86_64-avx2-fma";
        }
        if std::is_x86_feature_detected!("avx") {
            return "x86_64-avx";
        }
        "x86_64-sse2"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// Writes the three outputs into `dir`; returns the JSON report.
pub fn write(
    dir: &Path,
    ids: &[u32],
    sids: &SemanticIds,
    o: &SidOptions,
    input: serde_json::Value,
    input_sha256: &str,
) -> Result<serde_json::Value> {
    fs_err::create_dir_all(dir)?;
    let mut lb = ListBuilder::new(UInt16Builder::new());
    for c in &sids.codes {
        lb.values().append_slice(c);
        lb.append(true);
    }
    let codes_sha = codes_sha256(&sids.codes);
    let report = json!({
        "algorithm": "rq-kmeans",
        "options": o,
        "input": input,
        "input_sha256": input_sha256,
        "dim": sids.dim,
        "items": ids.len(),
        "codes_sha256": codes_sha,
        "kernel": o.kernel.name(),
        "simd": simd_label(o.kernel),
        "iterations": sids.iterations,
        "preprocessing": sids.projection.as_ref().map(|p| json!({
            "input_dim": p.in_dim,
            "output_dim": p.out_dim(),
            "centered": p.mean.is_some(),
            "pca": p.components.is_some(),
            "whiten": p.whiten,
            "explained_variance": p.explained_variance,
            "fit_rows": p.fit_rows,
            "file": "projection.parquet",
            "note": "codebooks and the reconstruction metrics live in the projected space",
        })),
        "metrics": sids.metrics,
        "tool": { "name": "recdata", "version": env!("CARGO_PKG_VERSION") },
    });
    crate::io::parquet::write_table(
        &dir.join("semantic_ids.parquet"),
        "semantic_ids",
        "",
        vec![
            Arc::new(UInt32Array::from(ids.to_vec())),
            Arc::new(lb.finish()),
        ],
        &[
            ("recdata.codes_sha256", codes_sha.clone()),
            ("recdata.semantic_ids", report.to_string()),
        ],
        Level::Publish,
    )?;
    let mut level = Vec::new();
    let mut code = Vec::new();
    let mut cen = Vec::new();
    for (l, cb) in sids.codebooks.iter().enumerate() {
        for (k, c) in cb.chunks(sids.dim).enumerate() {
            level.push(l as u16 + 1);
            code.push(k as u16);
            cen.extend_from_slice(c);
        }
    }
    let list = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        sids.dim as i32,
        Arc::new(Float32Array::from(cen)),
        None,
    )?;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt16Array::from(level)),
        Arc::new(UInt16Array::from(code)),
        Arc::new(list),
    ];
    let schema = Schema::new(vec![
        Field::new("level", DataType::UInt16, false),
        Field::new("code", DataType::UInt16, false),
        Field::new("centroid", cols[2].data_type().clone(), false),
    ]);
    write_batch(
        &dir.join("codebooks.parquet"),
        RecordBatch::try_new(Arc::new(schema), cols)?,
        Level::Publish,
        vec![KeyValue::new(
            "recdata.table".to_string(),
            "codebooks".to_string(),
        )],
    )?;
    if let Some(p) = &sids.projection {
        write_projection(&dir.join("projection.parquet"), p)?;
    }
    let mut text = serde_json::to_vec_pretty(&report)?;
    text.push(b'\n');
    fs_err::write(dir.join("semantic_ids.json"), text)?;
    Ok(report)
}

/// `projection.parquet`: the mean (row `kind = "mean"`) and the principal axes (`"axis"`, by
/// decreasing variance, with their eigenvalues): `y = (x − mean) · axesᵀ`, divided by
/// sqrt(eigenvalue) when `whiten` is recorded in the file's metadata.
fn write_projection(path: &Path, p: &super::pca::Projection) -> Result<()> {
    let mut kind = Vec::new();
    let mut index = Vec::new();
    let mut eig: Vec<Option<f64>> = Vec::new();
    let mut values = Vec::new();
    if let Some(m) = &p.mean {
        kind.push("mean");
        index.push(0u16);
        eig.push(None);
        values.extend_from_slice(m);
    }
    if let Some(c) = &p.components {
        for (j, axis) in c.chunks(p.in_dim).enumerate() {
            kind.push("axis");
            index.push(j as u16);
            eig.push(Some(p.eigenvalues[j]));
            values.extend_from_slice(axis);
        }
    }
    let list = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        p.in_dim as i32,
        Arc::new(Float32Array::from(values)),
        None,
    )?;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::StringArray::from(kind)),
        Arc::new(UInt16Array::from(index)),
        Arc::new(arrow_array::Float64Array::from(eig)),
        Arc::new(list),
    ];
    let schema = Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("index", DataType::UInt16, false),
        Field::new("eigenvalue", DataType::Float64, true),
        Field::new("vector", cols[3].data_type().clone(), false),
    ]);
    write_batch(
        path,
        RecordBatch::try_new(Arc::new(schema), cols)?,
        Level::Publish,
        vec![
            KeyValue::new("recdata.table".to_string(), "projection".to_string()),
            KeyValue::new("recdata.whiten".to_string(), p.whiten.to_string()),
        ],
    )?;
    Ok(())
}

pub struct Args<'a> {
    pub input: &'a Path,
    pub columns: &'a [String],
    pub out: &'a Path,
    pub options: SidOptions,
    pub json: bool,
    pub progress: &'a Reporter,
}

pub fn run(a: &Args<'_>) -> Result<u8> {
    let t = std::time::Instant::now();
    let (ids, x, input_sha) = read_vectors(a.input, a.columns, a.out)?;
    let dim = x.dim;
    a.progress.info(format!(
        "Building semantic ids for {} vectors of {dim} dimensions ({} levels of {:?} codes)",
        ids.len(),
        a.options.codebooks.len(),
        a.options.codebooks
    ));
    if x.is_spilled() {
        a.progress.info(format!(
            "The vectors are over RECDATA_SID_MEMORY_MB ({} MiB); streaming them from a spill file in {}",
            super::vectors::memory_budget_bytes() >> 20,
            a.out.display()
        ));
    }
    let sids = super::build_from(x, &a.options, a.out)?;
    let report = write(
        a.out,
        &ids,
        &sids,
        &a.options,
        json!({ "file": a.input, "columns": a.columns }),
        &input_sha,
    )?;
    let m = &sids.metrics;
    if a.json {
        println!(
            "{}",
            json!({ "out": a.out, "seconds": t.elapsed().as_secs_f64(), "report": report })
        );
    } else {
        a.progress.info(format!(
            "Semantic ids in {:.1}s: collision rate {:.4} before dedup, {:.4} after; reconstruction MSE {}; level usage {}",
            t.elapsed().as_secs_f64(),
            m.collisions_before.rate,
            m.collision_rate_after,
            m.reconstruction_mse.map_or("n/a".into(), |v| format!("{v:.3e}")),
            m.levels.iter().map(|l| format!("{:.0}%", l.utilization * 100.0)).collect::<Vec<_>>().join(" / ")
        ));
        println!("{}", a.out.display());
    }
    Ok(0)
}
