//! `recdata encode`: one column of any parquet table through a registry model, outside a
//! dataset build (for embeddings of a user's own catalogue, and for benchmarks). Every input
//! row gets an output row: the id, the vector (null when there is none), a status and a detail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float16Array, Float32Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::file::metadata::KeyValue;

use super::registry::{self, Registry};
use super::{Device, EncodeError, Input, Kind, Model, Overrides};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, read_batch, write_batch};
use crate::progress::Reporter;

pub struct Args<'a> {
    pub input: &'a Path,
    pub model: &'a str,
    pub column: &'a str,
    pub kind: Kind,
    pub id_column: &'a str,
    pub out: &'a Path,
    pub f16: bool,
    pub device: Device,
    pub batch_size: Option<usize>,
    pub models: Option<&'a Path>,
    pub cache_root: PathBuf,
    pub json: bool,
    pub progress: &'a Reporter,
}

pub fn run(a: &Args<'_>) -> Result<u8> {
    let dir = registry::locate(a.models, None).ok_or_else(|| {
        Error::Unsupported("no model registry (models/models.toml) found\n  hint: pass --models DIR or set RECDATA_MODELS".into())
    })?;
    let reg = Registry::load(&dir)?;
    let model = Model::load(&reg, a.model, &Overrides::default())?;
    if let Kind::Video { .. } = a.kind {
        super::video::check_ffmpeg()?;
    }
    let b = read_batch(a.input)?;
    let col = |name: &str| {
        b.column_by_name(name).cloned().ok_or_else(|| {
            Error::Invalid(format!(
                "{}: no column `{name}` (columns: {})",
                a.input.display(),
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    };
    let ids = col(a.id_column)?;
    let values = col(a.column)?;
    let base = a.input.parent().unwrap_or(Path::new("."));
    let inputs: Vec<Input> = (0..b.num_rows())
        .map(|i| {
            let v = crate::io::parquet::cell_text(values.as_ref(), i);
            match (a.kind, v) {
                (_, None) => Input::Missing(EncodeError::new("no_input", "null")),
                (Kind::Text, Some(t)) if t.trim().is_empty() => {
                    Input::Missing(EncodeError::new("empty_text", "the text is empty"))
                }
                (Kind::Text, Some(t)) => Input::Text(t),
                (_, Some(p)) => {
                    let path = base.join(p);
                    match crate::util::hash::sha256_file(&path) {
                        Ok((sha, _)) => Input::File { path, sha256: sha },
                        Err(e) => Input::Missing(EncodeError::new(
                            "no_media",
                            format!("{}: {e}", path.display()),
                        )),
                    }
                }
            }
        })
        .collect();
    let opts = super::RunOptions {
        models_dir: Some(&dir),
        device: a.device,
        batch_size: a.batch_size.unwrap_or(match a.kind {
            Kind::Text => 64,
            Kind::Video { .. } => 4,
            _ => 32,
        }),
        cache_root: a.cache_root.clone(),
        progress: a.progress,
        label: a.column.to_string(),
    };
    let (outcomes, stats) = super::encode(&model, a.kind, &inputs, &opts)?;
    let dim = model.spec.dim;
    let mut flat = Vec::with_capacity(outcomes.len() * dim);
    let mut valid = Vec::with_capacity(outcomes.len());
    let mut status = Vec::with_capacity(outcomes.len());
    let mut detail = Vec::with_capacity(outcomes.len());
    for o in &outcomes {
        match o {
            Ok(v) => {
                flat.extend_from_slice(v);
                valid.push(true);
                status.push("ok".to_string());
                detail.push(None);
            }
            Err(e) => {
                flat.extend(std::iter::repeat_n(0f32, dim));
                valid.push(false);
                status.push(e.status.clone());
                detail.push(Some(e.detail.clone()));
            }
        }
    }
    let (vals, ty): (ArrayRef, DataType) = if a.f16 {
        (
            Arc::new(Float16Array::from(
                flat.into_iter()
                    .map(half::f16::from_f32)
                    .collect::<Vec<_>>(),
            )),
            DataType::Float16,
        )
    } else {
        (Arc::new(Float32Array::from(flat)), DataType::Float32)
    };
    let item = Arc::new(Field::new("item", ty, false));
    let list = FixedSizeListArray::try_new(item, dim as i32, vals, Some(valid.into()))?;
    let schema = Schema::new(vec![
        Field::new(a.id_column, ids.data_type().clone(), true),
        Field::new("embedding", list.data_type().clone(), true),
        Field::new("status", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            ids,
            Arc::new(list),
            Arc::new(StringArray::from(status)),
            Arc::new(StringArray::from(detail)),
        ],
    )?;
    let kv = vec![
        KeyValue::new("recdata.model".into(), a.model.to_string()),
        KeyValue::new("recdata.model_sha256".into(), model.spec.sha256.clone()),
        KeyValue::new(
            "recdata.preprocessing".into(),
            super::preprocessing(&model, a.kind).to_string(),
        ),
    ];
    if let Some(p) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(p)?;
    }
    write_batch(a.out, batch, Level::Publish, kv)?;
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    let summary = serde_json::json!({
        "out": a.out, "rows": outcomes.len(), "ok": ok, "model": a.model, "device": a.device.name(), "stats": stats,
    });
    if a.json {
        println!("{summary}");
    } else {
        a.progress.info(format!(
            "Encoded {} row(s) ({} ok) with {}: {} cached, {} encoded in {} model call(s), {:.2}s",
            outcomes.len(),
            ok,
            a.model,
            stats.cached,
            stats.encoded,
            stats.model_calls,
            stats.seconds
        ));
        println!("{}", a.out.display());
    }
    Ok(0)
}
