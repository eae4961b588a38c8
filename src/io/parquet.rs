//! Parquet through arrow-rs: explicit schemas from `schemas/`, zstd, fixed writer settings and
//! no timestamps in the file, so the same rows always give the same bytes.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

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

/// zstd level: 3 for published tables (smaller), 1 for the stage cache (faster). Integer
/// columns and list elements are delta-packed first ([`props`] says how each is compressed).
#[derive(Clone, Copy, Debug)]
pub enum Level {
    Publish,
    Cache,
}

/// Rows per row group.
const ROW_GROUP_ROWS: usize = 1 << 20;

fn props(
    level: Level,
    kv: Vec<KeyValue>,
    schema: &arrow_schema::Schema,
    group_rows: usize,
) -> Result<WriterProperties> {
    let zl = match level {
        Level::Publish => 3,
        Level::Cache => 1,
    };
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zl)?))
        .set_created_by(format!("recdata {}", env!("CARGO_PKG_VERSION")))
        .set_max_row_group_row_count(Some(group_rows))
        .set_key_value_metadata(Some(kv));
    if let Level::Cache = level {
        // Nothing reads the stage cache selectively: min/max statistics would be work for no
        // reader.
        b = b.set_statistics_enabled(parquet::file::properties::EnabledStatistics::None);
    }
    // No dictionary for integer ids, times and list elements (slates of item ids): with
    // millions of distinct values, interning every value costs more time than the dictionary
    // saves space. Integers and times are delta-packed instead: ids and times come in runs and
    // near-runs (interactions sorted by user then time, entity tables by id, line numbers),
    // which packing shrinks before zstd sees them — smaller files for less CPU (MicroLens-1M's
    // interactions: 68.5 -> 63.5 MB, and a quarter less zstd time), and a standard parquet
    // encoding every reader in the tests (pyarrow, polars, DuckDB, HF datasets) decodes.
    for f in schema.fields() {
        match f.data_type() {
            DataType::UInt32 | DataType::UInt64 | DataType::Int64 | DataType::Timestamp(..) => {
                let col = ColumnPath::from(f.name().as_str());
                b = b
                    .set_column_dictionary_enabled(col.clone(), false)
                    .set_column_encoding(
                        col.clone(),
                        parquet::basic::Encoding::DELTA_BINARY_PACKED,
                    );
                if let Level::Cache = level {
                    // Delta-packed, the stage cache's columns are smaller than zstd-1 made
                    // them, for a fraction of its CPU, on the core the filter shares with this
                    // writer (Last.fm-1K: filter 3.0 -> 2.7 s; its interactions cache 123 ->
                    // 106 MB): no compression on top.
                    b = b.set_column_compression(col, Compression::UNCOMPRESSED);
                }
            }
            DataType::List(inner) if inner.data_type().is_primitive() => {
                let col =
                    ColumnPath::from(vec![f.name().clone(), "list".into(), inner.name().clone()]);
                b = b.set_column_dictionary_enabled(col.clone(), false);
                if inner.data_type().is_integer() {
                    // Lists of ids (FINN.no's slates: 375M item ids in no order) are packed
                    // to the ids' width by delta packing, which leaves zstd nothing its harder
                    // levels would find: level 1 on top gives the size of level 3 for about
                    // half its CPU. FINN.no's exposures file: plain + zstd-3 1,284 MB, delta +
                    // zstd-1 1,192 MB, and the filter stage that writes it 16.5 -> 14.1 s.
                    // Left uncompressed it would be 2.9 % larger and 1.4 CPU-seconds cheaper
                    // to write, but polars 2.1 reads it in twice the time (9-10 s instead of
                    // 5 s, measured): readers come first.
                    b = b
                        .set_column_encoding(
                            col.clone(),
                            parquet::basic::Encoding::DELTA_BINARY_PACKED,
                        )
                        .set_column_compression(
                            col,
                            match level {
                                // As for the cache's integer columns: packed, not compressed.
                                Level::Cache => Compression::UNCOMPRESSED,
                                Level::Publish => Compression::ZSTD(ZstdLevel::try_new(1)?),
                            },
                        );
                }
            }
            DataType::Dictionary(..) => {
                // Categorical columns (`event`, FINN.no's `context`, `split`, reject reasons)
                // get no min/max statistics: arrow-rs computes them by comparing every row's
                // string with the running min and max (the dictionary is not consulted): about
                // 0.5 CPU-seconds for FINN.no's 37.6M exposures and 28M clicks (alternating
                // runs; `perf` puts 0.7 s in memcmp), and a handful of labels present in every
                // row group lets a reader prune nothing with them. The dictionary page
                // still lists the values each column chunk holds.
                b = b.set_column_statistics_enabled(
                    ColumnPath::from(f.name().as_str()),
                    parquet::file::properties::EnabledStatistics::None,
                );
            }
            _ => {}
        }
    }
    Ok(b.build())
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
            // `*` vectors: any length; float vectors may be stored as half floats.
            (DataType::FixedSizeList(a, 0), DataType::FixedSizeList(b, _)) => {
                a.data_type() == b.data_type()
                    || (*a.data_type() == DataType::Float32 && *b.data_type() == DataType::Float16)
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
///
/// Row groups are encoded and compressed in parallel (in waves of one per thread) and
/// appended in order, which gives the same bytes as `ArrowWriter::write` of the whole batch.
pub fn write_batch(
    path: &Path,
    batch: RecordBatch,
    level: Level,
    kv: Vec<KeyValue>,
) -> Result<(u64, u64)> {
    write_batch_in_groups(path, batch, level, kv, ROW_GROUP_ROWS)
}

/// Writes `rows` rows of `schema` one row group at a time, each built by `make(start..end)`,
/// so a large table never exists in memory as one batch (the normalize cache of 9M rows).
pub fn write_in_row_groups(
    path: &Path,
    schema: arrow_schema::SchemaRef,
    rows: usize,
    level: Level,
    make: impl Fn(std::ops::Range<usize>) -> Result<RecordBatch> + Sync,
) -> Result<(u64, u64)> {
    write_groups(
        path,
        schema,
        rows,
        level,
        vec![],
        ROW_GROUP_ROWS,
        false,
        make,
    )
}

/// [`write_in_row_groups`] for a canonical table: `make` gives the columns of each row group.
pub fn write_table_in_row_groups(
    path: &Path,
    table: &str,
    corpus: &str,
    rows: usize,
    metadata: &[(&str, String)],
    level: Level,
    make: impl Fn(std::ops::Range<usize>) -> Result<Vec<ArrayRef>> + Sync,
) -> Result<(u64, u64)> {
    let schema = canonical_batch(table, corpus, make(0..rows.min(1))?)?.schema();
    let mut kv = vec![KeyValue::new("recdata.table".to_owned(), table.to_owned())];
    kv.extend(
        metadata
            .iter()
            .map(|(k, v)| KeyValue::new((*k).to_owned(), v.clone())),
    );
    // In parallel waves: the published interactions are written after the filter, when the
    // other core is idle (MicroLens-1M's 9M rows: 0.97 s on one thread).
    write_groups(
        path,
        schema.clone(),
        rows,
        level,
        kv,
        ROW_GROUP_ROWS,
        true,
        |r| Ok(RecordBatch::try_new(schema.clone(), make(r)?)?),
    )
}

/// Writes `rows` rows in row groups of `group_rows`, each built by `make(start..end)` and
/// encoded (in parallel waves of one group per thread when `parallel`), appended in order: the
/// same bytes as `ArrowWriter::write` of the whole table, with at most two waves in memory (one
/// being appended while the next is encoded).
/// The normalize cache goes one group at a time (`parallel = false`): it is written beside the
/// filter stage, which has the other core.
#[allow(clippy::too_many_arguments)]
fn write_groups(
    path: &Path,
    schema: arrow_schema::SchemaRef,
    rows: usize,
    level: Level,
    kv: Vec<KeyValue>,
    group_rows: usize,
    parallel: bool,
    make: impl Fn(std::ops::Range<usize>) -> Result<RecordBatch> + Sync,
) -> Result<(u64, u64)> {
    use parquet::arrow::arrow_writer::{ArrowColumnChunk, compute_leaves};
    use rayon::prelude::*;
    let file = fs_err::File::create(path)?;
    let w = ArrowWriter::try_new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        schema.clone(),
        Some(props(level, kv, &schema, group_rows)?),
    )?;
    let (mut file_writer, factory) = w.into_serialized_writer()?;
    let groups: Vec<usize> = (0..rows).step_by(group_rows).collect();
    let encode = |index: usize| -> Result<Vec<ArrowColumnChunk>> {
        let start = groups[index];
        let part = make(start..start + group_rows.min(rows - start))?;
        let mut writers = factory.create_column_writers(index)?;
        let mut next = writers.iter_mut();
        for (field, column) in part.schema().fields().iter().zip(part.columns()) {
            for leaf in compute_leaves(field, column)? {
                next.next()
                    .ok_or_else(|| Error::Internal("parquet: more leaves than writers".into()))?
                    .write(&leaf)?;
            }
        }
        writers
            .into_iter()
            .map(|w| w.close().map_err(Error::from))
            .collect()
    };
    let wave = if parallel {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    type Wave = Vec<Result<Vec<ArrowColumnChunk>>>;
    let append = |file_writer: &mut parquet::file::writer::SerializedFileWriter<_>,
                  encoded: Wave|
     -> Result<()> {
        for chunks in encoded {
            let mut rg = file_writer.next_row_group()?;
            for c in chunks? {
                c.append_to_row_group(&mut rg)?;
            }
            rg.close()?;
        }
        Ok(())
    };
    // Each wave is appended to the file while the next one is encoded: the append (copying
    // the compressed pages into the page cache) is otherwise a pause of every core per wave
    // (FINN.no's 1.3 GB of exposures: ≈ 1 s in all).
    let mut pending: Option<Wave> = None;
    for first in (0..groups.len()).step_by(wave) {
        let encode_wave = || -> Wave {
            (first..groups.len().min(first + wave))
                .into_par_iter()
                .map(encode)
                .collect()
        };
        let encoded = match pending.take() {
            Some(prev) => {
                let (encoded, appended) =
                    rayon::join(encode_wave, || append(&mut file_writer, prev));
                appended?;
                encoded
            }
            None => encode_wave(),
        };
        pending = Some(encoded);
    }
    if let Some(prev) = pending {
        append(&mut file_writer, prev)?;
    }
    file_writer.close()?;
    Ok((rows as u64, fs_err::metadata(path)?.len()))
}

fn write_batch_in_groups(
    path: &Path,
    batch: RecordBatch,
    level: Level,
    kv: Vec<KeyValue>,
    group_rows: usize,
) -> Result<(u64, u64)> {
    let rows = batch.num_rows();
    write_groups(
        path,
        batch.schema(),
        rows,
        level,
        kv,
        group_rows,
        true,
        |r| Ok(batch.slice(r.start, r.len())),
    )
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

/// One cell as text: strings, numbers, booleans, lists (joined with ", "), dictionaries.
pub fn cell_text(a: &dyn arrow_array::Array, i: usize) -> Option<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Float32 => a.as_primitive::<Float32Type>().value(i).to_string(),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::List(_) => {
            let l = a.as_list::<i32>().value(i);
            (0..l.len())
                .filter_map(|j| cell_text(l.as_ref(), j))
                .collect::<Vec<_>>()
                .join(", ")
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>().value(i);
            (0..l.len())
                .filter_map(|j| cell_text(l.as_ref(), j))
                .collect::<Vec<_>>()
                .join(", ")
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let k = d.normalized_keys()[i];
            return cell_text(d.values().as_ref(), k);
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ListArray, StringArray, UInt32Array, UInt64Array};

    /// Parallel row groups give exactly `ArrowWriter`'s bytes.
    #[test]
    fn parallel_row_groups_match_arrow_writer() {
        let n = 10_007usize;
        let list = ListArray::from_iter_primitive::<arrow_array::types::UInt32Type, _, _>(
            (0..n).map(|i| Some((0..i % 7).map(move |k| (k % 3 != 1).then_some((i * k) as u32)))),
        );
        let batch = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(UInt64Array::from_iter_values(0..n as u64)) as ArrayRef,
            ),
            (
                "u",
                Arc::new(UInt32Array::from_iter_values((0..n as u32).map(|i| i / 10))),
            ),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("k{}", i % 13)),
                )),
            ),
            ("l", Arc::new(list)),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for level in [Level::Cache, Level::Publish] {
            let ours = dir.path().join("ours.parquet");
            write_batch_in_groups(&ours, batch.clone(), level, vec![], 1000).unwrap();
            let theirs = dir.path().join("theirs.parquet");
            let mut w = ArrowWriter::try_new(
                fs_err::File::create(&theirs).unwrap(),
                batch.schema(),
                Some(props(level, vec![], &batch.schema(), 1000).unwrap()),
            )
            .unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            assert_eq!(
                std::fs::read(&ours).unwrap(),
                std::fs::read(&theirs).unwrap()
            );
            let back = read_batch(&ours).unwrap();
            assert_eq!(back, batch);
            let meta = ParquetRecordBatchReaderBuilder::try_new(
                fs_err::File::open(&ours).unwrap().into_parts().0,
            )
            .unwrap()
            .metadata()
            .clone();
            assert_eq!(meta.num_row_groups(), 11);
            let rg = meta.row_group(0);
            // No dictionary page for the u64 ids and the list elements; one for the strings.
            let dict = |c: usize| rg.column(c).dictionary_page_offset().is_some();
            assert_eq!(
                (dict(0), dict(1), dict(2), dict(3)),
                (false, false, true, false)
            );
        }
    }
}
