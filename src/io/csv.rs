//! RFC 4180 CSV as pandas writes it (`DataFrame.to_csv`): a header record, `,` between fields,
//! fields with a comma, quote or line break quoted with `"` (a quote inside doubled), records
//! that span several lines when a quoted field holds line breaks (numpy reprs of long arrays
//! wrap at 75 characters), `\n` or `\r\n` endings, an optional UTF-8 byte order mark, and an
//! empty field for a missing value.
//!
//! Records come as string columns of Arrow record batches, an empty unquoted field as null,
//! so a CSV export of a parquet table reads like the parquet table with its columns as text.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{Error, Result};

/// Reads a CSV file record by record.
pub struct CsvReader {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    /// The physical line the next record starts on (1-based).
    line: u64,
    pub header: Vec<String>,
    /// Records read after the header.
    pub records: u64,
}

/// One field as read: its text and whether it was quoted (an unquoted empty field is null).
type Fields = Vec<(String, bool)>;

impl CsvReader {
    pub fn open(path: &Path) -> Result<Self> {
        let f = fs_err::File::open(path)?;
        let mut r = CsvReader {
            path: path.to_owned(),
            input: Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            line: 1,
            header: Vec::new(),
            records: 0,
        };
        let Some((h, _)) = r.record()? else {
            return Err(Error::BadInput {
                path: path.to_owned(),
                message: "is empty: a CSV file needs a header line".into(),
            });
        };
        let mut h: Vec<String> = h.into_iter().map(|(s, _)| s).collect();
        if let Some(first) = h.first_mut()
            && let Some(rest) = first.strip_prefix('\u{feff}')
        {
            *first = rest.to_owned();
        }
        r.header = h;
        Ok(r)
    }

    fn bad(&self, line: u64, message: String) -> Error {
        Error::BadInput {
            path: self.path.clone(),
            message: format!("line {line}: {message}"),
        }
    }

    /// The next record and the line it starts on; `None` at the end of the file. Read a
    /// physical line at a time: a record goes on to the next line while a quote is open.
    fn record(&mut self) -> Result<Option<(Fields, u64)>> {
        let start = self.line;
        let mut fields: Fields = Vec::new();
        let mut field = Vec::<u8>::new();
        let mut quoted = false;
        let mut in_quotes = false;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = self.input.read_until(b'\n', &mut line).map_err(|e| {
                std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
            })?;
            if n == 0 {
                if in_quotes {
                    return Err(self.bad(
                        start,
                        "a quoted field is never closed (the file ends inside it)".into(),
                    ));
                }
                if self.line == start {
                    return Ok(None);
                }
                fields.push((self.text(field, start)?, quoted));
                return Ok(Some((fields, start)));
            }
            self.line += 1;
            let mut i = 0;
            while i < line.len() {
                let c = line[i];
                i += 1;
                if in_quotes {
                    match c {
                        // `""` is one quote; a lone `"` closes the field.
                        b'"' if line.get(i) == Some(&b'"') => {
                            field.push(b'"');
                            i += 1;
                        }
                        b'"' => in_quotes = false,
                        _ => field.push(c),
                    }
                    continue;
                }
                match c {
                    b'"' if field.is_empty() && !quoted => {
                        in_quotes = true;
                        quoted = true;
                    }
                    b',' => {
                        let f = std::mem::take(&mut field);
                        fields.push((self.text(f, start)?, quoted));
                        quoted = false;
                    }
                    b'\n' => {
                        if field.last() == Some(&b'\r') && !quoted {
                            field.pop();
                        }
                    }
                    b'\r' if quoted && line.get(i) == Some(&b'\n') => {}
                    _ => field.push(c),
                }
            }
            if !in_quotes {
                fields.push((self.text(field, start)?, quoted));
                return Ok(Some((fields, start)));
            }
        }
    }

    fn text(&self, bytes: Vec<u8>, line: u64) -> Result<String> {
        String::from_utf8(bytes).map_err(|_| self.bad(line, "a field is not valid UTF-8".into()))
    }

    /// Up to `rows` records as a batch of nullable string columns named by the header. A record
    /// with another number of fields than the header is an error naming its line: pandas never
    /// writes one, so the file was cut or edited.
    pub fn next_batch(&mut self, rows: usize) -> Result<Option<RecordBatch>> {
        let width = self.header.len();
        let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); width];
        let mut n = 0;
        while n < rows {
            let Some((fields, line)) = self.record()? else {
                break;
            };
            // A blank line between records is not a record.
            if fields.len() == 1 && fields[0].0.is_empty() && !fields[0].1 {
                continue;
            }
            if fields.len() != width {
                return Err(self.bad(
                    line,
                    format!(
                        "this record has {} fields, the header has {width} (was the file cut short?)",
                        fields.len()
                    ),
                ));
            }
            for (c, (text, quoted)) in cols.iter_mut().zip(fields) {
                c.push((quoted || !text.is_empty()).then_some(text));
            }
            n += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        self.records += n as u64;
        let schema = Arc::new(Schema::new(
            self.header
                .iter()
                .map(|h| Field::new(h, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = cols
            .into_iter()
            .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
            .collect();
        Ok(Some(RecordBatch::try_new(schema, arrays)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, batch: usize) -> (Vec<String>, Vec<Vec<Option<String>>>) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        let mut r = CsvReader::open(&p).unwrap();
        let mut rows = Vec::new();
        while let Some(b) = r.next_batch(batch).unwrap() {
            for i in 0..b.num_rows() {
                rows.push(
                    (0..b.num_columns())
                        .map(|c| {
                            let a = b.column(c).as_any().downcast_ref::<StringArray>().unwrap();
                            arrow_array::Array::is_valid(a, i).then(|| a.value(i).to_owned())
                        })
                        .collect(),
                );
            }
        }
        (r.header.clone(), rows)
    }

    #[test]
    fn reads_quoted_multiline_fields_as_pandas_writes_them() {
        let text = "\u{feff}a,b,c\r\n1,\"[1 2\n 3]\",\"say \"\"hi\"\", ok\"\n,,\"\"\n\n4,x,y";
        for batch in [1, 2, 10] {
            let (h, rows) = read(text, batch);
            assert_eq!(h, ["a", "b", "c"]);
            assert_eq!(
                rows,
                vec![
                    vec![
                        Some("1".into()),
                        Some("[1 2\n 3]".into()),
                        Some("say \"hi\", ok".into())
                    ],
                    vec![None, None, Some(String::new())],
                    vec![Some("4".into()), Some("x".into()), Some("y".into())],
                ]
            );
        }
    }

    #[test]
    fn a_short_record_names_its_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        std::fs::write(&p, "a,b\n1,\"x\ny\"\n2\n").unwrap();
        let mut r = CsvReader::open(&p).unwrap();
        let e = r.next_batch(10).unwrap_err().to_string();
        assert!(
            e.contains("line 4: this record has 1 fields, the header has 2"),
            "{e}"
        );
        std::fs::write(&p, "a,b\n1,\"never closed\n").unwrap();
        let mut r = CsvReader::open(&p).unwrap();
        let e = r.next_batch(10).unwrap_err().to_string();
        assert!(e.contains("line 2: a quoted field is never closed"), "{e}");
    }
}
