//! The encode stage: `[[stages.encode]]` entries, each mapping an item field (a text template,
//! `key: value` fields, the item's image / video / audio from the media stage, or a caption)
//! to `embeddings/<name>.parquet` through a registry model.
//!
//! Items without a vector are not in the embeddings file (it is dense, one row per encoded
//! item); they are in `encode_status.parquet` with the reason, and every encoder's coverage is
//! in `dataset.json` and the card.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float16Array, Float32Array, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field};
use serde_json::json;

use crate::encode::registry::Registry;
use crate::encode::{self, Device, EncodeError, Input, Kind, Model, Overrides, Pooling, Resize};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, column, read_batch, write_table};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const REPORT: &str = "encode.json";
pub const STATUS_TABLE: &str = "encode_status.parquet";

/// Where an encoder's input comes from.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A template over the items table's columns, e.g. `"{title} ({category})"`.
    Template(String),
    /// `key: value` pairs of these columns, nulls left out (Recformer-style flattening).
    Fields(Vec<String>),
    /// The item's file of this media modality (`image`, `video`, `audio`).
    Media(String),
    /// The captions of this `[[stages.caption]]` entry.
    Caption(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    Float32,
    Float16,
}

/// One `[[stages.encode]]` entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EncodeConfig {
    pub name: String,
    pub model: String,
    /// Encode the rows of this side table (e.g. `soil_images`, keyed by its first column)
    /// instead of the items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub source: Source,
    pub overrides: Overrides,
    pub frames: u32,
    pub max_seconds: u32,
    pub dtype: Dtype,
    /// Batch size; `--batch-size` overrides it. Not part of the fingerprint.
    #[serde(skip)]
    pub batch_size: Option<usize>,
}

impl EncodeConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<EncodeConfig> {
        let name = super::read_output_name(r, diags, "encoder", "embeddings/<name>.parquet");
        let model = r.required_str(
            diags,
            "model",
            "a model id from models/models.toml (see `recdata doctor`)",
        );
        let text = r.str(diags, "text");
        let fields = r.str_array(diags, "fields");
        let media = r.choice(diags, "media", &["image", "video", "audio"]);
        let caption = r.str(diags, "caption");
        let table = r.str(diags, "table").map(|t| t.value);
        if table.is_some() && caption.is_some() {
            diags.push(Diagnostic::error(
                "`caption` encodes the items' captions; it cannot be combined with `table`",
                Some(r.span),
                "captions exist for items only",
            ));
        }
        let set = usize::from(text.is_some())
            + usize::from(fields.is_some())
            + usize::from(media.is_some() || r.has("media"))
            + usize::from(caption.is_some());
        let source = if set != 1 {
            diags.push(
                Diagnostic::error(
                    "an encoder needs exactly one input: `text` (a template), `fields`, `media` or `caption`",
                    Some(r.span),
                    if set == 0 { "no input set" } else { "several inputs set" },
                )
                .with_help("e.g. text = \"{title}\", fields = [\"title\", \"tags\"], media = \"image\" or caption = \"cover\""),
            );
            None
        } else if let Some(t) = text {
            if !t.value.contains('{') {
                diags.push(Diagnostic::error(
                    "a `text` template must name at least one items column, e.g. \"{title}\"",
                    Some(t.span),
                    "every item would get the same text",
                ));
                None
            } else {
                Some(Source::Template(t.value))
            }
        } else if let Some(f) = fields {
            if f.is_empty() {
                diags.push(Diagnostic::error(
                    "`fields` is empty",
                    Some(r.span),
                    "in this table",
                ));
                None
            } else {
                Some(Source::Fields(f.into_iter().map(|s| s.value).collect()))
            }
        } else if let Some(m) = media {
            Some(Source::Media(m.value.to_string()))
        } else {
            caption.map(|c| Source::Caption(c.value))
        };
        let pooling = r
            .choice(diags, "pooling", Pooling::ALL)
            .and_then(|p| Pooling::parse(p.value));
        let resize = r
            .choice(diags, "resize", Resize::ALL)
            .and_then(|p| Resize::parse(p.value));
        let normalize = r.bool(diags, "normalize").map(|b| b.value);
        let max_length = r
            .int(diags, "max_length", 1, 8192)
            .map(|v| v.value as usize);
        let frames = r.int(diags, "frames", 1, 256).map_or(8, |v| v.value as u32);
        let max_seconds = r
            .int(diags, "max_seconds", 1, 3600)
            .map_or(30, |v| v.value as u32);
        let dtype = match r
            .choice(diags, "dtype", &["float32", "float16"])
            .map(|d| d.value)
        {
            Some("float16") => Dtype::Float16,
            _ => Dtype::Float32,
        };
        let batch_size = r
            .int(diags, "batch_size", 1, 65_536)
            .map(|v| v.value as usize);
        Some(EncodeConfig {
            name: name?.value,
            model: model?.value,
            table,
            source: source?,
            overrides: Overrides {
                pooling,
                normalize,
                resize,
                max_length,
            },
            frames,
            max_seconds,
            dtype,
            batch_size,
        })
    }

    fn kind(&self) -> Kind {
        match &self.source {
            Source::Media(m) if m == "image" => Kind::Image,
            Source::Media(m) if m == "video" => Kind::Video {
                frames: self.frames,
            },
            Source::Media(_) => Kind::Audio {
                max_seconds: self.max_seconds,
            },
            _ => Kind::Text,
        }
    }
}

/// Checks names across entries: unique encoder names, captions and media that exist. Each
/// problem comes with the index of the entry at fault.
pub fn check<'a>(
    cfgs: impl IntoIterator<Item = &'a EncodeConfig>,
    captions: &[String],
    media: &[String],
) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, c) in cfgs.into_iter().enumerate() {
        if !seen.insert(&c.name) {
            problems.push((
                k,
                format!("two [[stages.encode]] entries are named `{}`", c.name),
            ));
        }
        match &c.source {
            Source::Caption(n) if !captions.contains(n) => problems.push((k, format!(
                "[[stages.encode]] `{}` reads caption `{n}`, but no [[stages.caption]] has that name (captions: {})",
                c.name,
                if captions.is_empty() { "none".into() } else { captions.join(", ") }
            ))),
            Source::Media(m) if c.table.is_none() && !media.contains(m) => problems.push((k, format!(
                "[[stages.encode]] `{}` reads the items' {m}, but no [[stages.media]] entry has modality = \"{m}\"",
                c.name
            ))),
            _ => {}
        }
    }
    problems
}

/// The registry's models an encode config uses, with their files verified: their sha256s go
/// into the stage's fingerprint.
pub fn resolve_models(cfgs: &[EncodeConfig], reg: &Registry) -> Result<Vec<Model>> {
    cfgs.iter()
        .map(|c| Model::load(reg, &c.model, &c.overrides))
        .collect()
}

pub struct StageInputs<'a> {
    pub filter_dir: &'a Path,
    /// Where a side table's file paths are relative to (the source's data directory).
    pub table_root: Option<&'a Path>,
    pub media_dir: Option<&'a Path>,
    pub media_cache: Option<&'a crate::fetch::cache::Cache>,
    pub caption_dir: Option<&'a Path>,
}

pub struct StageOptions<'a> {
    pub models_dir: &'a Path,
    pub device: Device,
    pub batch_size: Option<usize>,
    pub cache_root: PathBuf,
    pub progress: &'a Reporter,
}

/// Per-encoder report (in `dataset.json` under `encoders`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EncoderReport {
    pub name: String,
    pub model: String,
    pub task: String,
    pub input: serde_json::Value,
    pub file: String,
    pub model_sha256: String,
    pub dim: usize,
    pub dtype: String,
    pub preprocessing: serde_json::Value,
    pub license: String,
    pub source: String,
    pub items: u64,
    pub ok: u64,
    pub coverage: f64,
    /// Vectors by the kind of device that computed them (`cpu`, `cuda`), also when this build
    /// took them from the embedding cache.
    #[serde(default)]
    pub computed_on: BTreeMap<String, u64>,
    pub missing_by_status: BTreeMap<String, u64>,
    pub examples: Vec<serde_json::Value>,
    /// The embedding space the model writes into (a CLIP image tower and its text tower share
    /// one: their vectors are comparable); absent for models without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub space: String,
    /// A side table's encoder: the table and its key column (the vectors' id column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// How one encoder runs: the stage's device and cache, and a batch size (`--batch-size`, the
/// entry's, or the default for its kind).
fn run_options<'a>(
    c: &EncodeConfig,
    kind: Kind,
    opts: &StageOptions<'a>,
) -> encode::RunOptions<'a> {
    encode::RunOptions {
        models_dir: Some(opts.models_dir),
        device: opts.device,
        batch_size: opts.batch_size.or(c.batch_size).unwrap_or(match kind {
            Kind::Text => 64,
            Kind::Video { .. } => 4,
            _ => 32,
        }),
        cache_root: opts.cache_root.clone(),
        progress: opts.progress,
        label: c.name.clone(),
    }
}

/// Runs every encoder into `dir`: `embeddings/<name>.parquet`, `encode_status.parquet`,
/// `encode.json`.
pub fn run(
    cfgs: &[EncodeConfig],
    models: &[Model],
    inputs: &StageInputs<'_>,
    dir: &Path,
    opts: &StageOptions<'_>,
) -> Result<()> {
    fs_err::create_dir_all(dir.join("embeddings"))?;
    let items = read_batch(&inputs.filter_dir.join("items.parquet"))?;
    let ids: &UInt32Array = column(&items, "item_id")?;
    let ids = ids.values().to_vec();
    let mut reports = Vec::new();
    // Rows without a vector, by the table they belong to (`None`: the items).
    let mut statuses: BTreeMap<Option<String>, Vec<StatusRow>> = BTreeMap::new();
    for (c, model) in cfgs.iter().zip(models) {
        let kind = c.kind();
        // The rows this encoder covers: the items, or a side table's rows.
        let (work, row_ids, key) = match &c.table {
            None => (
                gather(c, &items, &ids, inputs)?,
                ids.iter().map(|&i| u64::from(i)).collect::<Vec<u64>>(),
                "item_id".to_string(),
            ),
            Some(t) => gather_table(c, t, inputs)?,
        };
        // ffmpeg is needed only when there is a video to decode.
        if let Kind::Video { .. } = kind
            && work.iter().any(|w| matches!(w, Input::File { .. }))
        {
            encode::video::check_ffmpeg()?;
        }
        let (outcomes, stats) = encode::encode(model, kind, &work, &run_options(c, kind, opts))?;
        opts.progress.info(format!(
            "Encoded {}: {} item(s), {} from the cache, {} encoded in {} model call(s), {:.1}s",
            c.name, stats.inputs, stats.cached, stats.encoded, stats.model_calls, stats.seconds
        ));
        opts.progress.event(
            "encode",
            json!({ "encoder": c.name, "model": c.model, "device": opts.device.name(), "stats": stats }),
        );
        let mut ok_ids: Vec<u64> = Vec::new();
        let mut vectors: Vec<f32> = Vec::new();
        let mut missing: BTreeMap<String, u64> = BTreeMap::new();
        let mut examples = Vec::new();
        for (id, o) in row_ids.iter().zip(outcomes) {
            match o {
                Ok(v) => {
                    ok_ids.push(*id);
                    vectors.extend_from_slice(&v);
                }
                Err(e) => {
                    *missing.entry(e.status.clone()).or_default() += 1;
                    if examples.len() < 10 {
                        examples.push(
                            json!({ key.as_str(): id, "status": e.status, "detail": e.detail }),
                        );
                    }
                    statuses.entry(c.table.clone()).or_default().push((
                        c.name.clone(),
                        *id,
                        e.status,
                        e.detail,
                    ));
                }
            }
        }
        let prep = encode::preprocessing(model, kind);
        let file = format!("embeddings/{}.parquet", c.name);
        let report = EncoderReport {
            name: c.name.clone(),
            model: c.model.clone(),
            task: model.spec.task.name().into(),
            input: serde_json::to_value(&c.source)?,
            file: file.clone(),
            model_sha256: model.spec.sha256.clone(),
            dim: model.spec.dim,
            dtype: match c.dtype {
                Dtype::Float32 => "float32".into(),
                Dtype::Float16 => "float16".into(),
            },
            preprocessing: prep,
            license: model.spec.license.clone(),
            source: model.spec.source.clone(),
            space: model.spec.space.clone(),
            table: c.table.clone(),
            key: c.table.as_ref().map(|_| key.clone()),
            items: row_ids.len() as u64,
            ok: ok_ids.len() as u64,
            coverage: if row_ids.is_empty() {
                0.0
            } else {
                ok_ids.len() as f64 / row_ids.len() as f64
            },
            computed_on: stats.computed_on.clone(),
            missing_by_status: missing,
            examples,
        };
        let id_col: ArrayRef = match &c.table {
            None => Arc::new(UInt32Array::from_iter_values(
                ok_ids.iter().map(|&i| i as u32),
            )),
            Some(_) => Arc::new(arrow_array::UInt64Array::from(ok_ids)),
        };
        let schema = match &c.table {
            None => "embeddings".to_string(),
            Some(t) => format!("{t}_embeddings"),
        };
        write_embeddings(
            &dir.join(&file),
            &schema,
            id_col,
            vectors,
            model.spec.dim,
            c.dtype,
            &report,
        )?;
        reports.push(report);
    }
    let items_status = statuses.remove(&None).unwrap_or_default();
    write_status(
        &dir.join(STATUS_TABLE),
        "encode_status",
        &items_status,
        true,
    )?;
    // Every side table with an encoder gets its status table once (empty when all rows
    // encoded), holding the rows of all its encoders.
    let tables: std::collections::BTreeSet<&String> =
        cfgs.iter().filter_map(|c| c.table.as_ref()).collect();
    for t in tables {
        let rows = statuses.remove(&Some(t.clone())).unwrap_or_default();
        write_status(
            &dir.join(table_status_file(t)),
            &format!("{t}_encode_status"),
            &rows,
            false,
        )?;
    }
    fs_err::write(dir.join(REPORT), serde_json::to_vec_pretty(&reports)?)?;
    Ok(())
}

/// The input of every item for encoder `c`.
fn gather(
    c: &EncodeConfig,
    items: &arrow_array::RecordBatch,
    ids: &[u32],
    inputs: &StageInputs<'_>,
) -> Result<Vec<Input>> {
    match &c.source {
        Source::Template(t) => texts(items, Some(t), &[], &c.name),
        Source::Fields(f) => texts(items, None, f, &c.name),
        Source::Media(m) => {
            let (Some(mdir), Some(cache)) = (inputs.media_dir, inputs.media_cache) else {
                return Err(Error::Invalid(format!(
                    "[[stages.encode]] `{}` reads the items' {m}, but the manifest has no [[stages.media]]",
                    c.name
                )));
            };
            Ok(super::media::item_files(mdir, cache, m, ids)?
                .into_iter()
                .map(|f| match f {
                    Ok((path, sha256)) => Input::File { path, sha256 },
                    Err(e) => Input::Missing(e),
                })
                .collect())
        }
        Source::Caption(name) => {
            let Some(cdir) = inputs.caption_dir else {
                return Err(Error::Internal("caption stage output missing".into()));
            };
            let b = read_batch(&cdir.join(super::caption::table_path(name)))?;
            let cid: &UInt32Array = column(&b, "item_id")?;
            let cap: &StringArray = column(&b, "caption")?;
            let st = column_texts(&b, "status")?;
            let mut by_item = HashMap::new();
            for (i, status) in st.iter().enumerate() {
                let input = if cap.is_valid(i) && !cap.value(i).trim().is_empty() {
                    Input::Text(cap.value(i).to_string())
                } else {
                    Input::Missing(EncodeError::new(
                        "no_caption",
                        format!("caption `{name}`: {}", status.clone().unwrap_or_default()),
                    ))
                };
                by_item.insert(cid.value(i), input);
            }
            Ok(ids
                .iter()
                .map(|id| {
                    by_item.remove(id).unwrap_or_else(|| {
                        Input::Missing(EncodeError::new("no_caption", "no caption"))
                    })
                })
                .collect())
        }
    }
}

/// Every cell of column `name` as text (see [`cell_text`]).
pub fn column_texts(b: &arrow_array::RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let a = b
        .column_by_name(name)
        .ok_or_else(|| Error::Internal(format!("the table has no column `{name}`")))?;
    Ok((0..a.len()).map(|i| cell_text(a.as_ref(), i)).collect())
}

pub use crate::io::parquet::cell_text;

fn texts(
    items: &arrow_array::RecordBatch,
    template: Option<&str>,
    fields: &[String],
    name: &str,
) -> Result<Vec<Input>> {
    texts_of(items, "items", template, fields, name)
}

/// The text of every row of `table` (`items` or a side table) from a template or fields.
fn texts_of(
    items: &arrow_array::RecordBatch,
    table: &str,
    template: Option<&str>,
    fields: &[String],
    name: &str,
) -> Result<Vec<Input>> {
    // Every named column must exist: a typo would silently give empty texts.
    let mut names: Vec<String> = fields.to_vec();
    if let Some(t) = template {
        let mut rest = t;
        while let Some(o) = rest.find('{') {
            let after = &rest[o + 1..];
            let Some(c) = after.find('}') else {
                return Err(Error::Invalid(format!(
                    "[[stages.encode]] `{name}`: unclosed `{{` in the text template `{t}`"
                )));
            };
            names.push(after[..c].to_string());
            rest = &after[c + 1..];
        }
    }
    let schema = items.schema();
    for n in &names {
        if schema.column_with_name(n).is_none() {
            return Err(Error::Invalid(format!(
                "[[stages.encode]] `{name}`: the {table} table has no column `{n}` (columns: {})",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let cols: HashMap<&str, &ArrayRef> = names
        .iter()
        .filter_map(|n| items.column_by_name(n).map(|c| (n.as_str(), c)))
        .collect();
    (0..items.num_rows())
        .map(|i| {
            let value = |k: &str| cols.get(k).and_then(|c| cell_text(c.as_ref(), i));
            let t = encode::text::render(template, fields, &value)
                .map_err(|e| Error::Invalid(e.detail))?;
            Ok(if t.trim().is_empty() {
                Input::Missing(EncodeError::new(
                    "empty_text",
                    "the item's text fields are empty",
                ))
            } else {
                Input::Text(t)
            })
        })
        .collect()
}

/// A row without a vector: (encoder, item or side-table row id, status, detail).
type StatusRow = (String, u64, String, String);

/// The status table of a side table's encoders.
pub fn table_status_file(table: &str) -> String {
    format!("encode_status_{table}.parquet")
}

/// The inputs of a side table's rows for encoder `c`: (inputs, row ids, key column).
fn gather_table(
    c: &EncodeConfig,
    table: &str,
    inputs: &StageInputs<'_>,
) -> Result<(Vec<Input>, Vec<u64>, String)> {
    let path = inputs.filter_dir.join(format!("{table}.parquet"));
    if !path.is_file() || crate::io::schema::table(&format!("{table}_embeddings")).is_err() {
        return Err(Error::Invalid(format!(
            "[[stages.encode]] `{}`: `table = \"{table}\"`: this corpus has no table `{table}` that recdata can encode (side tables with their own embeddings schema: soil_images)",
            c.name
        )));
    }
    if let Source::Media(m) = &c.source
        && m != "image"
    {
        return Err(Error::Invalid(format!(
            "[[stages.encode]] `{}`: `table = \"{table}\"` holds images; `media = \"{m}\"` cannot read them (use media = \"image\" with an image model)",
            c.name
        )));
    }
    let b = read_batch(&path)?;
    let key = b.schema().field(0).name().clone();
    let ids: &arrow_array::UInt64Array = column(&b, &key)?;
    let ids = ids.values().to_vec();
    let work = match &c.source {
        Source::Template(t) => texts_of(&b, table, Some(t), &[], &c.name)?,
        Source::Fields(f) => texts_of(&b, table, None, f, &c.name)?,
        Source::Media(_) => {
            let root = inputs.table_root.ok_or_else(|| {
                Error::Internal("no source directory for the table's files".into())
            })?;
            let paths: &StringArray = column(&b, "path")?;
            let sha: &StringArray = column(&b, "sha256")?;
            (0..b.num_rows())
                .map(|i| Input::File {
                    path: root.join(paths.value(i)),
                    sha256: sha.value(i).to_owned(),
                })
                .collect()
        }
        Source::Caption(_) => {
            return Err(Error::Invalid(format!(
                "[[stages.encode]] `{}`: captions exist for items only",
                c.name
            )));
        }
    };
    Ok((work, ids, key))
}

fn write_embeddings(
    path: &Path,
    schema: &str,
    ids: ArrayRef,
    vectors: Vec<f32>,
    dim: usize,
    dtype: Dtype,
    report: &EncoderReport,
) -> Result<()> {
    let (values, item_type): (ArrayRef, DataType) = match dtype {
        Dtype::Float32 => (Arc::new(Float32Array::from(vectors)), DataType::Float32),
        Dtype::Float16 => (
            Arc::new(Float16Array::from(
                vectors
                    .into_iter()
                    .map(half::f16::from_f32)
                    .collect::<Vec<_>>(),
            )),
            DataType::Float16,
        ),
    };
    let list = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", item_type, false)),
        dim as i32,
        values,
        None,
    )?;
    let meta = [
        ("recdata.encoder", report.name.clone()),
        ("recdata.model", report.model.clone()),
        ("recdata.model_sha256", report.model_sha256.clone()),
        ("recdata.dim", report.dim.to_string()),
        ("recdata.dtype", report.dtype.clone()),
        ("recdata.preprocessing", report.preprocessing.to_string()),
        (
            "recdata.coverage",
            json!({ "items": report.items, "ok": report.ok, "coverage": report.coverage, "missing_by_status": report.missing_by_status }).to_string(),
        ),
    ];
    write_table(
        path,
        schema,
        "",
        vec![ids, Arc::new(list)],
        &meta,
        Level::Publish,
    )?;
    Ok(())
}

/// A status table (`schema`: `encode_status` keyed by the u32 `item_id`, or a side table's
/// `<table>_encode_status` keyed by its u64 id).
fn write_status(path: &Path, schema: &str, rows: &[StatusRow], item_ids: bool) -> Result<()> {
    let ids: ArrayRef = if item_ids {
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.1 as u32),
        ))
    } else {
        Arc::new(arrow_array::UInt64Array::from_iter_values(
            rows.iter().map(|r| r.1),
        ))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.as_str()),
        )),
        ids,
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.2.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.3.as_str()),
        )),
    ];
    write_table(path, schema, "", cols, &[], Level::Publish)?;
    Ok(())
}

pub fn load_reports(dir: &Path) -> Result<Vec<EncoderReport>> {
    Ok(serde_json::from_slice(&fs_err::read(dir.join(REPORT))?)?)
}

/// Rejects a model's task that does not fit the source (e.g. an image model on `text`).
pub fn check_tasks(cfgs: &[EncodeConfig], models: &[Model]) -> Result<()> {
    for (c, m) in cfgs.iter().zip(models) {
        if m.spec.task != c.kind().task() {
            return Err(Error::Invalid(format!(
                "[[stages.encode]] `{}`: model `{}` is a {} model, but the input is {}",
                c.name,
                c.model,
                m.spec.task.name(),
                c.kind().task().name()
            )));
        }
    }
    Ok(())
}
