//! Reading cells: Arrow columns (real nested types or their text form) into values, and the
//! per-type conversions with the column named in every error.

use super::*;

/// A column of one record batch, downcast once.
pub(super) enum Col<'a> {
    Absent,
    Null,
    Bool(&'a BooleanArray),
    I(IntCol<'a>),
    F64(&'a arrow_array::Float64Array),
    F32(&'a arrow_array::Float32Array),
    Str(&'a StringArray),
    LStr(&'a arrow_array::LargeStringArray),
    VStr(&'a arrow_array::StringViewArray),
    /// Lists, structs and anything else: converted element by element.
    Nested(&'a dyn Array),
}

pub(super) enum IntCol<'a> {
    I8(&'a arrow_array::Int8Array),
    I16(&'a arrow_array::Int16Array),
    I32(&'a arrow_array::Int32Array),
    I64(&'a Int64Array),
    U8(&'a arrow_array::UInt8Array),
    U16(&'a arrow_array::UInt16Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
}

impl<'a> Col<'a> {
    pub(super) fn of(a: Option<&'a ArrayRef>) -> Col<'a> {
        let Some(a) = a else { return Col::Absent };
        let a: &'a dyn Array = a.as_ref();
        match a.data_type() {
            DataType::Null => Col::Null,
            DataType::Boolean => Col::Bool(a.as_boolean()),
            DataType::Int8 => Col::I(IntCol::I8(a.as_primitive::<Int8Type>())),
            DataType::Int16 => Col::I(IntCol::I16(a.as_primitive::<Int16Type>())),
            DataType::Int32 => Col::I(IntCol::I32(a.as_primitive::<Int32Type>())),
            DataType::Int64 => Col::I(IntCol::I64(a.as_primitive::<Int64Type>())),
            DataType::UInt8 => Col::I(IntCol::U8(a.as_primitive::<UInt8Type>())),
            DataType::UInt16 => Col::I(IntCol::U16(a.as_primitive::<UInt16Type>())),
            DataType::UInt32 => Col::I(IntCol::U32(a.as_primitive::<UInt32Type>())),
            DataType::UInt64 => Col::I(IntCol::U64(a.as_primitive::<UInt64Type>())),
            DataType::Float64 => Col::F64(a.as_primitive::<Float64Type>()),
            DataType::Float32 => Col::F32(a.as_primitive::<Float32Type>()),
            DataType::Utf8 => Col::Str(a.as_string::<i32>()),
            DataType::LargeUtf8 => Col::LStr(a.as_string::<i64>()),
            DataType::Utf8View => Col::VStr(a.as_string_view()),
            _ => Col::Nested(a),
        }
    }

    pub(super) fn text(&self, r: usize) -> Option<&'a str> {
        match self {
            Col::Str(a) => a.is_valid(r).then(|| a.value(r)),
            Col::LStr(a) => a.is_valid(r).then(|| a.value(r)),
            Col::VStr(a) => a.is_valid(r).then(|| a.value(r)),
            _ => None,
        }
    }

    pub(super) fn is_text(&self) -> bool {
        matches!(self, Col::Str(_) | Col::LStr(_) | Col::VStr(_))
    }

    /// The cell as a value; text stays text.
    pub(super) fn scalar(&self, r: usize) -> Val {
        match self {
            Col::Absent | Col::Null => Val::Null,
            Col::Str(_) | Col::LStr(_) | Col::VStr(_) => {
                self.text(r).map_or(Val::Null, |s| Val::Str(s.to_owned()))
            }
            Col::Bool(a) if a.is_valid(r) => Val::Bool(a.value(r)),
            Col::F64(a) if a.is_valid(r) => Val::Float(a.value(r)),
            Col::F32(a) if a.is_valid(r) => Val::Float(f64::from(a.value(r))),
            Col::Bool(_) | Col::F64(_) | Col::F32(_) => Val::Null,
            Col::I(c) => c.get(r).map_or(Val::Null, Val::Int),
            Col::Nested(a) => arrow_val(*a, r),
        }
    }

    /// The cell as a nested value: text is parsed (JSON or Python literal).
    pub(super) fn nested(&self, r: usize) -> std::result::Result<Val, String> {
        if self.is_text() {
            return self.text(r).map_or(Ok(Val::Null), parse_text);
        }
        // Text behind a dictionary is text too.
        match self.scalar(r) {
            Val::Str(s) => parse_text(&s),
            v => Ok(v),
        }
    }
}

impl IntCol<'_> {
    pub(super) fn get(&self, r: usize) -> Option<i64> {
        macro_rules! g {
            ($a:expr) => {
                $a.is_valid(r).then(|| $a.value(r) as i64)
            };
        }
        match self {
            IntCol::I8(a) => g!(a),
            IntCol::I16(a) => g!(a),
            IntCol::I32(a) => g!(a),
            IntCol::I64(a) => g!(a),
            IntCol::U8(a) => g!(a),
            IntCol::U16(a) => g!(a),
            IntCol::U32(a) => g!(a),
            IntCol::U64(a) => a
                .is_valid(r)
                .then(|| i64::try_from(a.value(r)).unwrap_or(i64::MAX)),
        }
    }
}

/// Element `r` of any Arrow array as a value (strings inside nested columns stay text).
pub(super) fn arrow_val(a: &dyn Array, r: usize) -> Val {
    if a.is_null(r) {
        return Val::Null;
    }
    match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let v = l.value(r);
            Val::List((0..v.len()).map(|i| arrow_val(v.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            let v = l.value(r);
            Val::List((0..v.len()).map(|i| arrow_val(v.as_ref(), i)).collect())
        }
        DataType::FixedSizeList(_, _) => {
            let l = a.as_fixed_size_list();
            let v = l.value(r);
            Val::List((0..v.len()).map(|i| arrow_val(v.as_ref(), i)).collect())
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            Val::Map(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), arrow_val(c.as_ref(), r)))
                    .collect(),
            )
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let k = d.normalized_keys()[r];
            arrow_val(d.values().as_ref(), k)
        }
        _ => {
            // Scalars: reuse the column view (a one-off downcast).
            let owned: ArrayRef = a.slice(r, 1);
            Col::of(Some(&owned)).scalar(0)
        }
    }
}

/// A whole row as JSON text, for `rejects.raw`.
pub(super) fn row_json(batch: &RecordBatch, r: usize) -> Vec<u8> {
    let schema = batch.schema();
    let mut m = Vec::with_capacity(batch.num_columns());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        m.push((f.name().clone(), Col::of(Some(c)).scalar(r)));
    }
    let mut out = String::new();
    Val::Map(m).write_json(&mut out);
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Reading parquet

pub(super) const BATCH_ROWS: usize = 8192;

pub(super) fn bad_input(path: &Path, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The rows of one input file as record batches: a parquet shard (real Arrow types), or a
/// pandas CSV (every column text: nested values in their Python/numpy text form, parsed by
/// [`parse_text`] like a CSV round trip of the parquet).
pub(super) enum Rows {
    Parquet(parquet::arrow::arrow_reader::ParquetRecordBatchReader),
    Csv(crate::io::csv::CsvReader),
}

impl Rows {
    /// A CSV's header is a record of the file: counted in the accounting as its header.
    pub(super) fn header_records(&self) -> u64 {
        match self {
            Rows::Parquet(_) => 0,
            Rows::Csv(_) => 1,
        }
    }
}

pub(super) fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "csv")
}

/// Opens an input file; returns its number of data rows (a CSV is read once to count them) and
/// its batches.
pub(super) fn open_parquet(path: &Path) -> Result<(u64, Rows)> {
    if is_csv(path) {
        let mut r = crate::io::csv::CsvReader::open(path)?;
        while r.next_batch(BATCH_ROWS)?.is_some() {}
        let rows = r.records;
        return Ok((rows, Rows::Csv(crate::io::csv::CsvReader::open(path)?)));
    }
    let f = fs_err::File::open(path)?;
    let b =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f.into_parts().0)
            .map_err(|e| bad_input(path, format!("not a readable parquet file: {e}")))?;
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let reader = b
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| bad_input(path, format!("cannot read parquet: {e}")))?;
    Ok((rows, Rows::Parquet(reader)))
}

pub(super) fn next_batch(path: &Path, reader: &mut Rows) -> Result<Option<RecordBatch>> {
    match reader {
        Rows::Csv(r) => r.next_batch(BATCH_ROWS),
        Rows::Parquet(reader) => match reader.next() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(bad_input(path, format!("cannot decode parquet: {e}"))),
        },
    }
}

pub(super) fn require(path: &Path, b: &RecordBatch, col: &str) -> Result<()> {
    if b.column_by_name(col).is_none() {
        let have: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        return Err(bad_input(
            path,
            format!(
                "has no column `{col}` (columns: {}); is this the Qilin release?",
                have.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A rejected row, before it knows its file.
pub(super) type Bad = (&'static str, String);

pub(super) fn bad_value(col: &str, e: String) -> Bad {
    ("bad_value", format!("`{col}`: {e}"))
}

pub(super) fn text_of(v: Val) -> Option<String> {
    match v {
        Val::Null => None,
        Val::Str(s) => Some(s),
        Val::Bool(b) => Some(b.to_string()),
        Val::Int(i) => Some(i.to_string()),
        Val::Float(f) if f.is_nan() => None,
        Val::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", f as i64)),
        Val::Float(f) => Some(f.to_string()),
        other => {
            let mut s = String::new();
            other.write_json(&mut s);
            Some(s)
        }
    }
}

/// A number with NaN as null; numeric text is accepted (CSV round trips).
pub(super) fn f64_of(col: &str, v: Val) -> std::result::Result<Option<f64>, Bad> {
    let x = match v {
        Val::Str(s) if s.trim().is_empty() => None,
        Val::Str(s) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| bad_value(col, format!("`{s}` is not a number")))?,
        ),
        v => v.num().map_err(|e| bad_value(col, e))?,
    };
    Ok(x.filter(|f| !f.is_nan()))
}

pub(super) fn int_of(col: &str, v: &Val) -> std::result::Result<Option<i64>, Bad> {
    match v {
        Val::Str(s) if s.trim().is_empty() => Ok(None),
        // Text: an integer, or a float holding a whole number (pandas writes an integer
        // column that has a missing value as floats: `2.0`, and `nan` for the missing one).
        Val::Str(s) => match s.trim().parse::<i64>() {
            Ok(i) => Ok(Some(i)),
            Err(_) => match s.trim().parse::<f64>() {
                Ok(f) => Val::Float(f).int().map_err(|e| bad_value(col, e)),
                Err(_) => Err(bad_value(col, format!("`{s}` is not a whole number"))),
            },
        },
        v => v.int().map_err(|e| bad_value(col, e)),
    }
}

pub(super) fn i32_of(col: &str, v: &Val) -> std::result::Result<Option<i32>, Bad> {
    int_of(col, v)?
        .map(|i| i32::try_from(i).map_err(|_| bad_value(col, format!("{i} is out of range"))))
        .transpose()
}

/// A required non-negative id.
pub(super) fn id_of(col: &str, v: &Val) -> std::result::Result<i64, Bad> {
    match int_of(col, v)? {
        Some(i) if i >= 0 => Ok(i),
        Some(i) => Err(("missing_id", format!("`{col}` is negative ({i})"))),
        None => Err(("missing_id", format!("`{col}` is null"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Users
