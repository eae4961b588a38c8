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
        account_line(
            display,
            line_no,
            line_no == 1,
            raw,
            long,
            acc,
            rejects,
            &mut f,
        )
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

/// One line through an adapter's `f`, into the accounting: an over-long line is rejected
/// without calling `f`; the trailing `\r` and, on the file's first line, a UTF-8 BOM are
/// stripped.
#[allow(clippy::too_many_arguments)]
#[inline]
fn account_line(
    display: &str,
    line_no: u64,
    first_of_file: bool,
    raw: &[u8],
    long: Option<u64>,
    acc: &mut FileAccount,
    rejects: &mut Vec<Reject>,
    f: &mut impl FnMut(u64, &[u8]) -> Line,
) {
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
    if first_of_file {
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
}

/// How many threads parse one large file (one per core, at most 8: beyond that the reads, not
/// the parse, are the bound).
pub fn parser_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// `parse(k, range)` for each line-aligned byte range of a file, each on its own thread, the
/// results in range order; a panicking parser is an internal error, not a crash.
pub fn in_parallel<T: Send>(
    ranges: &[(u64, u64)],
    parse: impl Fn(usize, (u64, u64)) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = ranges
            .iter()
            .enumerate()
            .map(|(k, &r)| {
                let parse = &parse;
                sc.spawn(move || parse(k, r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(crate::error::Error::Internal(
                        "parser thread panicked".into(),
                    ))
                })
            })
            .collect()
    })
}

/// What one chunk of a file made: the adapter's state for it, and how many lines of the file
/// come before it (the chunk's line numbers plus this are the file's).
pub struct Chunk<S> {
    pub state: S,
    pub line_offset: u64,
}

/// [`read_lines`] on `threads` threads: a plain file is cut into line-aligned byte ranges (at
/// least `min_chunk` bytes each), and each range is parsed into its own state `init(chunk)`.
/// `f(state, line_no, line)` sees line numbers counted from 1 within its chunk (the file's
/// header is line 1 of chunk 0); rejects are returned with the file's line numbers, in file
/// order, and the accounting is the whole file's. The adapter merges the states in order, which
/// makes the result independent of the split. A compressed file is read as one chunk.
#[allow(clippy::too_many_arguments)]
pub fn read_lines_chunked<S: Send>(
    path: &Path,
    display: &str,
    rejects: &mut Vec<Reject>,
    bar: &indicatif::ProgressBar,
    threads: usize,
    min_chunk: u64,
    init: impl Fn(usize) -> S + Sync,
    f: impl Fn(&mut S, u64, &[u8]) -> Line + Sync,
) -> Result<(Vec<Chunk<S>>, FileAccount)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".gz") || name.ends_with(".zst") || threads <= 1 {
        let mut state = init(0);
        let acc = read_lines(path, display, rejects, bar, |n, l| f(&mut state, n, l))?;
        return Ok((
            vec![Chunk {
                state,
                line_offset: 0,
            }],
            acc,
        ));
    }
    let ranges = crate::io::lines::split_at_lines(path, threads, min_chunk)?;
    let parse = |k: usize, (start, end): (u64, u64)| -> Result<(S, FileAccount, Vec<Reject>)> {
        let mut state = init(k);
        let mut acc = FileAccount::default();
        let mut own = Vec::new();
        let mut reader = LineReader::open_range(path, start, end)?;
        let mut reported = 0;
        let mut g = |n: u64, l: &[u8]| f(&mut state, n, l);
        while let Some((line_no, consumed, raw, long)) = reader.next_line()? {
            let first = k == 0 && line_no == 1;
            account_line(
                display, line_no, first, raw, long, &mut acc, &mut own, &mut g,
            );
            if line_no % 65_536 == 0 {
                bar.inc(consumed - reported);
                reported = consumed;
            }
        }
        bar.inc(reader.consumed - reported);
        Ok((state, acc, own))
    };
    let parsed = in_parallel(&ranges, parse)?;
    let mut total = FileAccount {
        file: display.to_owned(),
        ..Default::default()
    };
    let mut chunks = Vec::with_capacity(parsed.len());
    for (state, acc, own) in parsed {
        let line_offset = total.lines;
        rejects.extend(own.into_iter().map(|mut r| {
            r.line += line_offset;
            r
        }));
        total.lines += acc.lines;
        total.header += acc.header;
        total.skipped += acc.skipped;
        total.rows += acc.rows;
        total.repaired += acc.repaired;
        total.rejected += acc.rejected;
        chunks.push(Chunk { state, line_offset });
    }
    Ok((chunks, total))
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
