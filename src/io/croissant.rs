//! `croissant.json`: the published version described in Croissant 1.1 (MLCommons' JSON-LD
//! vocabulary for ML datasets), so that dataset search engines, `mlcroissant` and the loaders
//! that read Croissant can use a recdata dataset without reading our docs.
//!
//! Rendered from `dataset.json` and the Arrow schemas of the published files, never from build
//! state, so it is as reproducible as the rest of the version: no build date (a `datePublished`
//! would make every rebuild differ; the version string is the identity).
//!
//! Shape: one `cr:FileObject` per published parquet file (relative `contentUrl`, sha256, size);
//! one `cr:RecordSet` per table, its fields typed from the parquet schema and described from
//! `schemas/`; the three split files form a `cr:FileSet` read as one record set whose `split`
//! field (from the file name) references a `cr:Split` record set, as Hugging Face's converter
//! does. The responsible-AI fields say what recdata knows: how the data was collected (the
//! corpus), how it was processed (filter and split protocol), its measured biases (popularity
//! concentration and the diagnostics verdict) and what is personal in it.

use std::path::Path;

use arrow_schema::DataType;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

pub const FILE: &str = "croissant.json";
pub const CONFORMS_TO: &str = "http://mlcommons.org/croissant/1.1";

/// The standard Croissant 1.1 `@context` (as in mlcommons/croissant's 1.1 examples) plus the
/// RAI namespace.
fn context() -> Value {
    let mut c = Map::new();
    c.insert("@language".into(), json!("en"));
    c.insert("@vocab".into(), json!("https://schema.org/"));
    for k in [
        "arrayShape",
        "citeAs",
        "column",
        "equivalentProperty",
        "extract",
        "field",
        "fileProperty",
        "fileObject",
        "fileSet",
        "format",
        "includes",
        "isArray",
        "isLiveDataset",
        "jsonPath",
        "key",
        "md5",
        "parentField",
        "path",
        "recordSet",
        "references",
        "regex",
        "repeated",
        "replace",
        "samplingRate",
        "separator",
        "source",
        "subField",
        "transform",
    ] {
        c.insert(k.into(), json!(format!("cr:{k}")));
    }
    c.insert("conformsTo".into(), json!("dct:conformsTo"));
    c.insert("cr".into(), json!("http://mlcommons.org/croissant/"));
    c.insert("rai".into(), json!("http://mlcommons.org/croissant/RAI/"));
    c.insert("dct".into(), json!("http://purl.org/dc/terms/"));
    c.insert("sc".into(), json!("https://schema.org/"));
    c.insert("data".into(), json!({ "@id": "cr:data", "@type": "@json" }));
    c.insert(
        "examples".into(),
        json!({ "@id": "cr:examples", "@type": "@json" }),
    );
    c.insert(
        "dataType".into(),
        json!({ "@id": "cr:dataType", "@type": "@vocab" }),
    );
    Value::Object(c)
}

/// Croissant's data type for an Arrow type, and the array shape for list columns
/// (`-1`: variable length).
fn croissant_type(t: &DataType) -> Option<(&'static str, Option<String>)> {
    let scalar = |t: &DataType| -> Option<&'static str> {
        Some(match t {
            DataType::Boolean => "sc:Boolean",
            DataType::Int8 => "cr:Int8",
            DataType::Int16 => "cr:Int16",
            DataType::Int32 => "cr:Int32",
            DataType::Int64 => "cr:Int64",
            DataType::UInt8 => "cr:UInt8",
            DataType::UInt16 => "cr:UInt16",
            DataType::UInt32 => "cr:UInt32",
            DataType::UInt64 => "cr:UInt64",
            DataType::Float16 => "cr:Float16",
            DataType::Float32 => "cr:Float32",
            DataType::Float64 => "cr:Float64",
            // Croissant has no bytes type: binary columns (rejects' raw lines) read as text.
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary => {
                "sc:Text"
            }
            DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => {
                "sc:Text"
            }
            DataType::Timestamp(..) => "sc:DateTime",
            DataType::Date32 | DataType::Date64 => "sc:Date",
            _ => return None,
        })
    };
    match t {
        DataType::List(f) | DataType::LargeList(f) => {
            scalar(f.data_type()).map(|s| (s, Some("-1".to_owned())))
        }
        DataType::FixedSizeList(f, n) => scalar(f.data_type()).map(|s| (s, Some(n.to_string()))),
        other => scalar(other).map(|s| (s, None)),
    }
}

/// A record set's id: the table name, or the file's path without extension when a table has
/// several files (one embeddings file per encoder).
fn record_set_id(path: &str) -> String {
    path.trim_end_matches(".parquet").replace('/', "_")
}

fn column_description(table: &str, corpus: &str, column: &str) -> String {
    crate::io::schema::table(table)
        .ok()
        .and_then(|s| {
            s.fields_for(corpus)
                .into_iter()
                .find(|f| f.name == column)
                .map(|f| f.description)
        })
        .unwrap_or_else(|| format!("Column `{column}` of the `{table}` table."))
}

fn table_description(table: &str, path: &str) -> String {
    crate::io::schema::table(table)
        .map(|s| s.description)
        .unwrap_or_else(|_| format!("The `{table}` table ({path})."))
}

fn arrow_schema(path: &Path) -> Result<arrow_schema::SchemaRef> {
    let f = fs_err::File::open(path)?;
    let b =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f.into_parts().0)
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
    Ok(b.schema().clone())
}

/// Fields of one record set read from `source` (`{"fileObject": ..}` or `{"fileSet": ..}`).
fn fields(
    dir: &Path,
    file: &str,
    table: &str,
    corpus: &str,
    rs: &str,
    source: &Value,
) -> Result<Vec<Value>> {
    let schema = arrow_schema(&dir.join(file))?;
    let mut out = Vec::new();
    for f in schema.fields() {
        let Some((dtype, shape)) = croissant_type(f.data_type()) else {
            return Err(Error::Internal(format!(
                "{file}: column `{}` has type {} that croissant.json cannot describe",
                f.name(),
                f.data_type()
            )));
        };
        let mut src = source.clone();
        src["extract"] = json!({ "column": f.name() });
        let mut field = json!({
            "@type": "cr:Field",
            "@id": format!("{rs}/{}", f.name()),
            "name": f.name(),
            "description": column_description(table, corpus, f.name()),
            "dataType": dtype,
            "source": src,
        });
        if let Some(shape) = shape {
            field["isArray"] = json!(true);
            field["arrayShape"] = json!(shape);
        }
        out.push(field);
    }
    Ok(out)
}

fn s<'a>(v: &'a Value, default: &'a str) -> &'a str {
    v.as_str().unwrap_or(default)
}

/// What recdata did to the raw rows, in one paragraph (rai:dataPreprocessingProtocol).
fn preprocessing(doc: &Value) -> String {
    let f = &doc["accounting"]["filter"];
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let rejected: u64 = doc["accounting"]["rejected"]
        .as_object()
        .map_or(0, |m| m.values().map(n).sum());
    let mut p = format!(
        "Built by recdata {} from the raw {} files (sha256-verified, listed in dataset.json). \
         {rejected} malformed raw rows are kept in rejects.parquet with a reason. \
         Filter: {} normalized interactions; {} removed outside the time window, {} duplicates, \
         {} by the per-user cap, {} by the k-core; {} remain.",
        s(&doc["tool"]["version"], "?"),
        s(&doc["source"]["corpus"], "?"),
        n(&f["input_rows"]),
        n(&f["removed_time_window"]),
        n(&f["removed_dedup"]),
        n(&f["removed_max_user"]),
        n(&f["removed_k_core"]),
        n(&f["output_rows"]),
    );
    if let Some(split) = doc["split"].as_object() {
        let kv: Vec<String> = split.iter().map(|(k, v)| format!("{k}={v}")).collect();
        p.push_str(&format!(" Split protocol: {}.", kv.join(", ")));
    }
    if let Some(enc) = doc["encoders"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<String> = enc
            .iter()
            .map(|e| {
                format!(
                    "{} sha256 {} ({})",
                    s(&e["model"], "?"),
                    s(&e["model_sha256"], "?"),
                    s(&e["file"], "?")
                )
            })
            .collect();
        p.push_str(&format!(" Item embeddings: {}.", names.join(", ")));
    }
    p
}

/// Measured biases (rai:dataBiases): popularity concentration and the shortcut verdict.
fn biases(doc: &Value) -> Option<String> {
    let mut b = Vec::new();
    let per_item = &doc["statistics"]["interactions_per_item"];
    if per_item.is_object() {
        b.push(format!(
            "Interactions per item: median {}, mean {}, max {} (popularity is long-tailed).",
            per_item["median"], per_item["mean"], per_item["max"]
        ));
    }
    if let Some(v) = doc["diagnostics"]["verdict"]["summary"].as_str() {
        b.push(format!(
            "Shortcut diagnostics: {v} (diagnostics.json, report.html)."
        ));
    }
    if let Some(l) = doc["diagnostics"]["leakage"]
        .as_array()
        .filter(|l| !l.is_empty())
    {
        let kv: Vec<String> = l
            .iter()
            .map(|f| format!("{} ({})", s(&f["id"], "?"), f["count"]))
            .collect();
        b.push(format!("Leakage findings: {}.", kv.join(", ")));
    }
    (!b.is_empty()).then(|| b.join(" "))
}

/// Renders `croissant.json` for the version in `dir` (whose `dataset.json` is `doc`).
pub fn render(dir: &Path, doc: &Value) -> Result<Vec<u8>> {
    let ds = &doc["dataset"];
    let corpus = s(&doc["source"]["corpus"], "");
    let name = s(&ds["name"], "dataset");
    let files: Vec<&Value> = doc["files"].as_array().into_iter().flatten().collect();

    let mut distribution = Vec::new();
    for f in &files {
        let path = s(&f["path"], "");
        distribution.push(json!({
            "@type": "cr:FileObject",
            "@id": path,
            "name": path,
            "contentUrl": path,
            "contentSize": format!("{} B", f["bytes"]),
            "encodingFormat": "application/x-parquet",
            "sha256": f["sha256"],
        }));
    }
    let split_files: Vec<&Value> = files
        .iter()
        .copied()
        .filter(|f| f["table"] == "splits")
        .collect();
    if !split_files.is_empty() {
        distribution.push(json!({
            "@type": "cr:FileSet",
            "@id": "split-files",
            "name": "split-files",
            "description": "The train, valid and test files of the split stage.",
            "encodingFormat": "application/x-parquet",
            "includes": "splits/*.parquet",
        }));
    }

    let mut record_sets = Vec::new();
    if let Some(first) = split_files.first() {
        let names: Vec<&str> = split_files
            .iter()
            .map(|f| {
                s(&f["path"], "")
                    .trim_start_matches("splits/")
                    .trim_end_matches(".parquet")
            })
            .collect();
        record_sets.push(json!({
            "@type": "cr:RecordSet",
            "dataType": "cr:Split",
            "@id": "split_names",
            "name": "split_names",
            "description": "The splits of this version.",
            "key": { "@id": "split_names/name" },
            "field": [{
                "@type": "cr:Field",
                "@id": "split_names/name",
                "name": "name",
                "description": "The split's name.",
                "dataType": "sc:Text",
            }],
            "data": names.iter().map(|n| json!({ "split_names/name": n })).collect::<Vec<_>>(),
        }));
        let source = json!({ "fileSet": { "@id": "split-files" } });
        let mut fs = vec![json!({
            "@type": "cr:Field",
            "@id": "splits/split",
            "name": "split",
            "description": "The split the interaction belongs to (from its file name).",
            "dataType": "sc:Text",
            // mlcroissant reports the file's stem or its path depending on version: match both.
            "source": {
                "fileSet": { "@id": "split-files" },
                "extract": { "fileProperty": "fullpath" },
                "transform": { "regex": format!("^(?:.*/)?({})(?:\\.parquet)?$", names.join("|")) },
            },
            "references": { "field": { "@id": "split_names/name" } },
        })];
        fs.extend(fields(
            dir,
            s(&first["path"], ""),
            "splits",
            corpus,
            "splits",
            &source,
        )?);
        record_sets.push(json!({
            "@type": "cr:RecordSet",
            "@id": "splits",
            "name": "splits",
            "description": table_description("splits", "splits/*.parquet"),
            "field": fs,
        }));
    }
    for f in files.iter().filter(|f| f["table"] != "splits") {
        let path = s(&f["path"], "");
        let table = s(&f["table"], "");
        let multi = files.iter().filter(|g| g["table"] == f["table"]).count() > 1;
        let rs = if multi {
            record_set_id(path)
        } else {
            table.to_owned()
        };
        let source = json!({ "fileObject": { "@id": path } });
        record_sets.push(json!({
            "@type": "cr:RecordSet",
            "@id": rs,
            "name": rs,
            "description": format!("{} ({} rows, {path})", table_description(table, path), f["rows"]),
            "field": fields(dir, path, table, corpus, &rs, &source)?,
        }));
    }

    let mut out = json!({
        "@context": context(),
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": name,
        "alternateName": ds["title"].as_str().unwrap_or(name),
        "description": s(&ds["description"], ""),
        "version": s(&ds["version"], ""),
        "license": s(&ds["license"], ""),
        "url": s(&ds["homepage"], ""),
        "citeAs": s(&ds["citation"], ""),
        "creator": { "@type": "sc:Organization", "name": format!("{} corpus authors (see citeAs)", corpus) },
        "keywords": ["recommender systems", corpus, "recdata"],
        "isLiveDataset": false,
        "rai:dataCollection": s(&ds["description"], ""),
        "rai:dataPreprocessingProtocol": preprocessing(doc),
        "rai:personalSensitiveInformation": "User identifiers are the corpus' own pseudonymous ids, remapped to dense integers (user_map.parquet keeps the raw id). The data may reveal personal preferences; see the corpus license for permitted use.",
        "distribution": distribution,
        "recordSet": record_sets,
    });
    if let Some(b) = biases(doc) {
        out["rai:dataBiases"] = json!(b);
    }
    let mut bytes = serde_json::to_vec_pretty(&out)?;
    bytes.push(b'\n');
    Ok(bytes)
}
