//! The normalize stage: run the corpus adapter, and keep its output in the stage cache so a
//! re-run (or a resumed build) with the same inputs and options skips parsing.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array as _, ArrayRef, BinaryArray, Int32Array, Int32DictionaryArray, RecordBatch, StringArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::{Field, Schema};

use crate::error::Result;
use crate::io::parquet::{Level, column, read_batch, write_batch, write_table};
use crate::sources::{Entities, FileAccount, Normalized, RawInteractions, Reject, SideTable};

const INTERACTIONS: &str = "interactions.parquet";
const USERS: &str = "users.parquet";
const ITEMS: &str = "items.parquet";
pub const REJECTS: &str = "rejects.parquet";
const ACCOUNTS: &str = "accounts.json";

/// A side table's place in the cache: `table-<name>.parquet` plus its reference columns.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct SideTableMeta {
    pub name: String,
    pub rows: u64,
    pub user_col: Option<String>,
    pub item_cols: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Accounts {
    pub event: String,
    /// Interactions the adapter produced (the filter stage's input).
    #[serde(default)]
    pub interactions: u64,
    #[serde(default)]
    pub timeless: bool,
    #[serde(default)]
    pub tables: Vec<SideTableMeta>,
    pub files: Vec<FileAccount>,
    /// Rejected rows per reason code.
    pub by_reason: std::collections::BTreeMap<String, u64>,
}

/// Writes the rejects as the canonical `rejects` table (it is published as is).
pub fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<(u64, u64)> {
    let mut reasons: Vec<&str> = rejects.iter().map(|r| r.reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    let keys: Int32Array = rejects
        .iter()
        .map(|r| reasons.binary_search(&r.reason).ok().map(|i| i as i32))
        .collect();
    let dict = Int32DictionaryArray::try_new(keys, Arc::new(StringArray::from(reasons)))?;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|r| r.file.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rejects.iter().map(|r| r.line),
        )),
        Arc::new(dict),
        Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|r| r.detail.as_str()),
        )),
        Arc::new(BinaryArray::from_iter_values(
            rejects.iter().map(|r| r.raw.as_slice()),
        )),
    ];
    write_table(path, "rejects", "", cols, &[], Level::Publish)
}

fn entities_batch(e: &Entities) -> Result<RecordBatch> {
    let mut fields = vec![Field::new("raw_id", arrow_schema::DataType::Utf8, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(e.raw_id.iter()))];
    if let Some(t) = &e.title {
        fields.push(Field::new("title", arrow_schema::DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(t.clone())));
    }
    for (name, a) in &e.extras {
        fields.push(Field::new(name, a.data_type().clone(), true));
        cols.push(a.clone());
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn entities_from(batch: &RecordBatch) -> Result<Entities> {
    let raw: &StringArray = column(batch, "raw_id")?;
    let title = match batch.column_by_name("title") {
        Some(_) => {
            let t: &StringArray = column(batch, "title")?;
            Some(t.iter().map(|x| x.map(str::to_owned)).collect())
        }
        None => None,
    };
    let schema = batch.schema();
    let extras = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() != "raw_id" && f.name() != "title")
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    Ok(Entities {
        raw_id: raw
            .iter()
            .map(|x| x.unwrap_or_default().to_owned())
            .collect(),
        title,
        extras,
    })
}

/// A side table's cache file. Side tables are kept as Arrow IPC (zstd-1 buffers), not parquet:
/// they can be large (FINN.no's exposures: 37.6M slates, 375M list elements), and encoding a
/// list column as parquet costs about as much as parsing the corpus again, while IPC is a
/// copy of the buffers. The cache trades disk for speed here.
fn side_table_file(name: &str) -> String {
    format!("table-{name}.arrow")
}

fn write_ipc(path: &Path, batch: &RecordBatch) -> Result<()> {
    let f = fs_err::File::create(path)?;
    // zstd-1 buffers: FINN.no's exposures are 2.9 GB of item codes uncompressed and 1.4 GB so,
    // at no measurable cost in build time (this runs beside the filter).
    let options = arrow_ipc::writer::IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))?
        .try_with_compression_level(Some(1))?;
    let mut w = arrow_ipc::writer::FileWriter::try_new_with_options(
        std::io::BufWriter::with_capacity(1 << 20, f),
        &batch.schema(),
        options,
    )?;
    // In slices, so the writer never holds an encoded copy of the whole table.
    let step = 1 << 20;
    for start in (0..batch.num_rows()).step_by(step) {
        w.write(&batch.slice(start, step.min(batch.num_rows() - start)))?;
    }
    w.finish()?;
    Ok(())
}

fn read_ipc(path: &Path) -> Result<RecordBatch> {
    let f = fs_err::File::open(path)?;
    let r = arrow_ipc::reader::FileReader::try_new(
        std::io::BufReader::with_capacity(1 << 20, f.into_parts().0),
        None,
    )?;
    let schema = r.schema();
    let batches = r.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}

/// Saves the adapter's output into `dir` (a temporary directory the caller commits).
pub fn save(dir: &Path, n: &Normalized) -> Result<()> {
    use arrow_schema::DataType;
    let i = &n.interactions;
    let mut fields = vec![
        Field::new("user", DataType::UInt32, false),
        Field::new("item", DataType::UInt32, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("order", DataType::UInt64, false),
    ];
    if i.value.is_some() {
        fields.push(Field::new("value", DataType::Float32, false));
    }
    if i.session.is_some() {
        fields.push(Field::new("session", DataType::Int64, false));
    }
    let schema = Arc::new(Schema::new(fields));
    // One row group at a time: this runs beside the filter, and a whole-table copy of the
    // columns would add ~25 bytes per interaction to the build's peak memory.
    crate::io::parquet::write_in_row_groups(
        &dir.join(INTERACTIONS),
        schema.clone(),
        i.len(),
        Level::Cache,
        |r| {
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(UInt32Array::from(i.user[r.clone()].to_vec())),
                Arc::new(UInt32Array::from(i.item[r.clone()].to_vec())),
                Arc::new(arrow_array::Int64Array::from(i.ts[r.clone()].to_vec())),
                Arc::new(UInt64Array::from(i.order[r.clone()].to_vec())),
            ];
            if let Some(v) = &i.value {
                cols.push(Arc::new(arrow_array::Float32Array::from(
                    v[r.clone()].to_vec(),
                )));
            }
            if let Some(v) = &i.session {
                cols.push(Arc::new(arrow_array::Int64Array::from(
                    v[r.clone()].to_vec(),
                )));
            }
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        },
    )?;
    let mut tables = Vec::new();
    for t in &n.tables {
        write_ipc(&dir.join(side_table_file(&t.name)), &t.batch)?;
        tables.push(SideTableMeta {
            name: t.name.clone(),
            rows: t.batch.num_rows() as u64,
            user_col: t.user_col.clone(),
            item_cols: t.item_cols.clone(),
        });
    }
    write_batch(
        &dir.join(USERS),
        entities_batch(&n.users)?,
        Level::Cache,
        vec![],
    )?;
    write_batch(
        &dir.join(ITEMS),
        entities_batch(&n.items)?,
        Level::Cache,
        vec![],
    )?;
    write_rejects(&dir.join(REJECTS), &n.rejects)?;
    let mut by_reason = std::collections::BTreeMap::new();
    for r in &n.rejects {
        *by_reason.entry(r.reason.to_owned()).or_insert(0u64) += 1;
    }
    let acc = Accounts {
        event: n.event.clone(),
        interactions: i.len() as u64,
        timeless: n.timeless,
        tables,
        files: n.accounts.clone(),
        by_reason,
    };
    fs_err::write(dir.join(ACCOUNTS), serde_json::to_vec_pretty(&acc)?)?;
    Ok(())
}

/// The row accounting saved with a cached normalize output.
pub fn load_accounts(dir: &Path) -> Result<Accounts> {
    Ok(serde_json::from_slice(&fs_err::read(dir.join(ACCOUNTS))?)?)
}

/// Loads a cached normalize output (rejects stay on disk: publish copies the file).
pub fn load(dir: &Path) -> Result<Normalized> {
    let b = read_batch(&dir.join(INTERACTIONS))?;
    let user: &UInt32Array = column(&b, "user")?;
    let item: &UInt32Array = column(&b, "item")?;
    let ts: &arrow_array::Int64Array = column(&b, "ts")?;
    let order: &UInt64Array = column(&b, "order")?;
    let value = match b.column_by_name("value") {
        Some(_) => Some(
            column::<arrow_array::Float32Array>(&b, "value")?
                .values()
                .to_vec(),
        ),
        None => None,
    };
    let session = match b.column_by_name("session") {
        Some(_) => Some(
            column::<arrow_array::Int64Array>(&b, "session")?
                .values()
                .to_vec(),
        ),
        None => None,
    };
    let interactions = RawInteractions {
        user: user.values().to_vec(),
        item: item.values().to_vec(),
        ts: ts.values().to_vec(),
        order: order.values().to_vec(),
        value,
        session,
    };
    let acc = load_accounts(dir)?;
    let tables = acc
        .tables
        .iter()
        .map(|t| {
            Ok(SideTable {
                name: t.name.clone(),
                batch: read_ipc(&dir.join(side_table_file(&t.name)))?,
                user_col: t.user_col.clone(),
                item_cols: t.item_cols.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let n = Normalized {
        interactions,
        event: acc.event,
        users: entities_from(&read_batch(&dir.join(USERS))?)?,
        items: entities_from(&read_batch(&dir.join(ITEMS))?)?,
        rejects: vec![],
        accounts: acc.files,
        timeless: acc.timeless,
        tables,
    };
    check_codes(dir, &n)?;
    Ok(n)
}

/// Every user and item code in a loaded cache names a user or item of the cache. The record
/// of the stage's files catches damage before the load; this catches what gets past it (a
/// record rewritten to match, an older record without the file): an out-of-range code in the
/// filter would be a panic, or worse, a wrong row.
fn check_codes(dir: &Path, n: &Normalized) -> Result<()> {
    let damaged = |file: &str, what: &str, code: u32, count: usize| {
        crate::error::Error::Invalid(format!(
            "the cached normalize output {} is damaged: `{file}` holds {what} code {code}, but the \
             cache has {count} {what}s\n  hint: remove that directory and build again (the \
             inputs are parsed anew)",
            dir.display()
        ))
    };
    let (n_users, n_items) = (n.users.raw_id.len(), n.items.raw_id.len());
    let over = |codes: &[u32], count: usize| codes.iter().copied().find(|&c| c as usize >= count);
    if let Some(c) = over(&n.interactions.user, n_users) {
        return Err(damaged(INTERACTIONS, "user", c, n_users));
    }
    if let Some(c) = over(&n.interactions.item, n_items) {
        return Err(damaged(INTERACTIONS, "item", c, n_items));
    }
    // What the filter reads: every row's user code, every non-null item code.
    for t in &n.tables {
        let file = side_table_file(&t.name);
        if let Some(c) = &t.user_col
            && let Some(u) = over(t.u32_col(c)?.values(), n_users)
        {
            return Err(damaged(&file, "user", u, n_users));
        }
        for c in &t.item_cols {
            let refs = t.item_codes(c)?;
            let mut bad = None;
            for r in 0..t.batch.num_rows() {
                refs.each(r, |i| {
                    if i as usize >= n_items {
                        bad.get_or_insert(i);
                    }
                });
                if let Some(i) = bad {
                    return Err(damaged(&file, "item", i, n_items));
                }
            }
        }
    }
    Ok(())
}
