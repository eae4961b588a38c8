//! Parquet through arrow-rs: explicit schemas from `schemas/`, zstd, fixed writer settings and
//! no timestamps in the file, so the same rows always give the same bytes.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::io::schema;

/// What was written: enough for `dataset.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WrittenFile {
    /// Path relative to the dataset version directory.
    pub path: String,
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// zstd level: 3 for published tables (smaller), 1 for the stage cache (faster).
#[derive(Clone, Copy, Debug)]
pub enum Level {
    Publish,
    Cache,
}

fn props(level: Level, kv: Vec<KeyValue>) -> Result<WriterProperties> {
    let zl = match level {
        Level::Publish => 3,
        Level::Cache => 1,
    };
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zl)?))
        .set_created_by(format!("recdata {}", env!("CARGO_PKG_VERSION")))
        .set_max_row_group_row_count(Some(1 << 20))
        .set_key_value_metadata(Some(kv))
        .build())
}

/// `columns` as a batch of canonical table `table` (fields + `corpus` extras, in schema order).
/// A `fixed_size_list<...>[*]` field takes the length of the column given for it.
pub fn canonical_batch(table: &str, corpus: &str, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    use arrow_schema::{DataType, Field, Schema};
    let schema = schema::table(table)?.arrow(corpus)?;
    if schema.fields().len() != columns.len() {
        return Err(Error::Internal(format!(
            "table `{table}` has {} fields but {} columns were given",
            schema.fields().len(),
            columns.len()
        )));
    }
    let mut fields = Vec::with_capacity(columns.len());
    for (f, c) in schema.fields().iter().zip(&columns) {
        let fits = match (f.data_type(), c.data_type()) {
            (DataType::FixedSizeList(a, 0), DataType::FixedSizeList(b, _)) => {
                a.data_type() == b.data_type()
            }
            (a, b) => a == b,
        };
        if !fits {
            return Err(Error::Internal(format!(
                "column `{}` of `{table}` is {} but the schema says {}",
                f.name(),
                c.data_type(),
                f.data_type()
            )));
        }
        fields.push(Field::new(f.name(), c.data_type().clone(), f.is_nullable()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Writes `columns` as canonical table `table` (fields + `corpus` extras, in schema order).
pub fn write_table(
    path: &Path,
    table: &str,
    corpus: &str,
    columns: Vec<ArrayRef>,
    metadata: &[(&str, String)],
    level: Level,
) -> Result<(u64, u64)> {
    let batch = canonical_batch(table, corpus, columns)?;
    let mut kv = vec![KeyValue::new("recdata.table".to_owned(), table.to_owned())];
    kv.extend(
        metadata
            .iter()
            .map(|(k, v)| KeyValue::new((*k).to_owned(), v.clone())),
    );
    write_batch(path, batch, level, kv)
}

/// Writes a record batch of any schema (used for the stage cache's internal tables).
pub fn write_batch(
    path: &Path,
    batch: RecordBatch,
    level: Level,
    kv: Vec<KeyValue>,
) -> Result<(u64, u64)> {
    let file = fs_err::File::create(path)?;
    let rows = batch.num_rows() as u64;
    let mut w = ArrowWriter::try_new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        batch.schema(),
        Some(props(level, kv)?),
    )?;
    w.write(&batch)?;
    w.close()?;
    Ok((rows, fs_err::metadata(path)?.len()))
}

/// Reads a whole parquet file into one record batch.
pub fn read_batch(path: &Path) -> Result<RecordBatch> {
    let file = fs_err::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file.into_parts().0)?;
    let rows = builder.metadata().file_metadata().num_rows().max(1) as usize;
    let schema = builder.schema().clone();
    let mut batches: Vec<RecordBatch> = builder
        .with_batch_size(rows)
        .build()?
        .collect::<std::result::Result<_, _>>()?;
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches
            .pop()
            .unwrap_or_else(|| RecordBatch::new_empty(schema))),
        n => Err(Error::Internal(format!(
            "{}: expected one batch, got {n}",
            path.display()
        ))),
    }
}

/// A column of a batch, by name, downcast to a concrete array type.
pub fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            Error::Internal(format!(
                "cached table lacks column `{name}` of the expected type"
            ))
        })
}

pub fn arc<A: arrow_array::Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}
