//! Line-oriented raw files (CSV without quoting, TSV, `::`-separated, JSON lines): one place
//! that reads lines, strips a UTF-8 BOM and a CR, and keeps the row accounting, so an adapter
//! only says what each line is.

use std::path::Path;

use super::{FileAccount, Reject};
use crate::error::Result;
use crate::io::lines::{LineReader, MAX_LINE, PREVIEW};

/// What an adapter made of one line.
pub enum Line {
    /// A header line (counted, not data).
    Header,
    /// A line that carries no data by the format's own convention (a blank line).
    Skip,
    /// A data row that landed in a table.
    Row,
    /// A data row repaired on the way in (e.g. invalid UTF-8 replaced); counted in `rows`.
    Repaired,
    /// A row that could not be used: reason code and a human-readable detail.
    Reject(&'static str, String),
}

/// Reads `path` line by line, calling `f(line_no, line)` with the line's bytes (no `\n`, no
/// trailing `\r`, no UTF-8 BOM on line 1); `display` names the file in the accounting and in
/// rejects. Transparently decompresses `.gz` and `.zst` files. `bar` counts bytes read (of
/// the decompressed text for compressed files).
pub fn read_lines(
    path: &Path,
    display: &str,
    rejects: &mut Vec<Reject>,
    bar: &indicatif::ProgressBar,
    mut f: impl FnMut(u64, &[u8]) -> Line,
) -> Result<FileAccount> {
    let mut acc = FileAccount {
        file: display.to_owned(),
        ..Default::default()
    };
    let mut handle = |line_no: u64, raw: &[u8], long: Option<u64>, acc: &mut FileAccount| {
        acc.lines += 1;
        if let Some(n) = long {
            acc.rejected += 1;
            rejects.push(Reject {
                file: display.to_owned(),
                line: line_no,
                reason: "line_too_long",
                detail: format!(
                    "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                    MAX_LINE >> 20
                ),
                raw: raw.to_vec(),
            });
            return;
        }
        let mut line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line_no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        match f(line_no, line) {
            Line::Header => acc.header += 1,
            Line::Skip => acc.skipped += 1,
            Line::Row => acc.rows += 1,
            Line::Repaired => {
                acc.rows += 1;
                acc.repaired += 1;
            }
            Line::Reject(reason, detail) => {
                acc.rejected += 1;
                rejects.push(Reject {
                    file: display.to_owned(),
                    line: line_no,
                    reason,
                    detail,
                    raw: raw.to_vec(),
                });
            }
        }
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".gz") || name.ends_with(".zst") {
        use std::io::{BufRead, Read};
        let file = fs_err::File::open(path)?;
        let reader: Box<dyn std::io::Read> = if name.ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                file,
            )))
        } else {
            Box::new(zstd::stream::read::Decoder::new(file)?)
        };
        let mut r = std::io::BufReader::with_capacity(1 << 20, reader);
        let mut buf = Vec::new();
        let mut line_no = 0;
        loop {
            buf.clear();
            // At most MAX_LINE + 1 bytes of a line are buffered; the rest is counted, not kept.
            let n = (&mut r)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let mut long = None;
            let mut total = n as u64;
            if n > MAX_LINE && buf.last() != Some(&b'\n') {
                loop {
                    let chunk = r.fill_buf().map_err(|e| {
                        std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?;
                    if chunk.is_empty() {
                        break;
                    }
                    match memchr::memchr(b'\n', chunk) {
                        Some(i) => {
                            r.consume(i + 1);
                            total += i as u64 + 1;
                            break;
                        }
                        None => {
                            let k = chunk.len();
                            r.consume(k);
                            total += k as u64;
                        }
                    }
                }
                buf.truncate(PREVIEW);
                long = Some(total);
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            handle(line_no, line, long, &mut acc);
            bar.inc(total);
        }
    } else {
        let mut reader = LineReader::open(path)?;
        while let Some((line_no, consumed, raw, long)) = reader.next_line()? {
            handle(line_no, raw, long, &mut acc);
            if line_no % 65_536 == 0 {
                bar.set_position(consumed);
            }
        }
        bar.set_position(reader.consumed);
    }
    Ok(acc)
}

/// Parses a decimal integer that must be all ASCII digits (no sign, no spaces; leading zeros
/// allowed).
#[inline]
pub fn parse_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// Decodes UTF-8, replacing invalid sequences; the flag says whether anything was replaced.
pub fn lossy(b: &[u8]) -> (String, bool) {
    match std::str::from_utf8(b) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(b).into_owned(), true),
    }
}
