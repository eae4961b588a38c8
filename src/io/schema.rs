//! Canonical table schemas. The JSON files in `schemas/` are the source of truth: they are
//! embedded here at compile time, turned into Arrow schemas for writing, and compared by the
//! tests against what pyarrow reads back from every written file. Type names are exactly
//! pyarrow's `str(field.type)`, so that comparison needs no translation table.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub nullable: bool,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub description: String,
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub corpus_extras: std::collections::BTreeMap<String, Vec<FieldSpec>>,
}

macro_rules! schemas {
    ($($name:literal),* $(,)?) => {
        /// `(table name, schema JSON)` for every canonical table.
        pub const SCHEMA_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../schemas/", $name, ".json")))),*
        ];
    };
}
schemas!(
    "interactions",
    "splits",
    "items",
    "users",
    "user_map",
    "item_map",
    "rejects",
    "exposures",
    "requests",
    "samples",
    "labels",
    "embeddings",
    "encode_status",
    "captions",
    "semantic_ids",
    "media",
    "microlens_comments",
    "amazon_reviews",
    "soil_images",
    "sample_soil",
    "sample_split",
    "image_split",
    "soil_images_embeddings",
    "soil_images_encode_status",
    "svd_embeddings",
    "qilin_dqa",
    "qilin_qrels",
);

/// The canonical schema of `table`.
pub fn table(table: &str) -> Result<TableSchema> {
    let (_, text) = SCHEMA_FILES
        .iter()
        .find(|(n, _)| *n == table)
        .ok_or_else(|| Error::Internal(format!("no canonical schema `{table}`")))?;
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("schemas/{table}.json: {e}")))
}

impl TableSchema {
    /// The fields written for `corpus`: the canonical ones, then the corpus' extras.
    pub fn fields_for(&self, corpus: &str) -> Vec<FieldSpec> {
        let mut f = self.fields.clone();
        f.extend(self.corpus_extras.get(corpus).cloned().unwrap_or_default());
        f
    }

    pub fn arrow(&self, corpus: &str) -> Result<SchemaRef> {
        let fields: Result<Vec<Field>> = self
            .fields_for(corpus)
            .iter()
            .map(|f| Ok(Field::new(&f.name, parse_type(&f.type_)?, f.nullable)))
            .collect();
        Ok(Arc::new(Schema::new(fields?)))
    }
}

/// Parses the pyarrow type names used in `schemas/`.
pub fn parse_type(s: &str) -> Result<DataType> {
    let prim = |s: &str| -> Option<DataType> {
        Some(match s {
            "bool" => DataType::Boolean,
            "uint8" => DataType::UInt8,
            "uint16" => DataType::UInt16,
            "uint32" => DataType::UInt32,
            "uint64" => DataType::UInt64,
            "int8" => DataType::Int8,
            "int16" => DataType::Int16,
            "int32" => DataType::Int32,
            "int64" => DataType::Int64,
            "halffloat" => DataType::Float16,
            "float" => DataType::Float32,
            "double" => DataType::Float64,
            "string" => DataType::Utf8,
            "large_string" => DataType::LargeUtf8,
            "binary" => DataType::Binary,
            "date32[day]" => DataType::Date32,
            "timestamp[ms, tz=UTC]" => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
            "dictionary<values=string, indices=int32, ordered=0>" => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            _ => return None,
        })
    };
    if let Some(t) = prim(s) {
        return Ok(t);
    }
    if let Some(inner) = s
        .strip_prefix("list<item: ")
        .and_then(|r| r.strip_suffix('>'))
        && let Some(t) = prim(inner)
    {
        return Ok(DataType::List(Arc::new(Field::new("item", t, true))));
    }
    if let Some(rest) = s.strip_prefix("fixed_size_list<item: ")
        && let Some((inner, n)) = rest.split_once(">[")
    {
        let n = n.trim_end_matches(']');
        // `*`: the length is chosen at write time (the encoder's dimension).
        let n: i32 = if n == "*" {
            0
        } else {
            n.parse()
                .map_err(|_| Error::Internal(format!("bad length in `{s}`")))?
        };
        if let Some(t) = prim(inner) {
            return Ok(DataType::FixedSizeList(
                Arc::new(Field::new("item", t, true)),
                n,
            ));
        }
    }
    Err(Error::Internal(format!(
        "unsupported type `{s}` in schemas/"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses() {
        for (name, _) in SCHEMA_FILES {
            let t = table(name).unwrap();
            assert_eq!(&t.name, name);
            t.arrow("").unwrap();
            for corpus in t.corpus_extras.keys() {
                t.arrow(corpus).unwrap();
            }
        }
    }
}
