//! A fast, allocation-free line reader over large files: 8 MiB blocks, memchr for newlines,
//! byte offsets for progress. Lines are yielded without the `\n`; a trailing `\r` is left to
//! the caller (whose file format decides what it means).
//!
//! Memory is bounded: a line longer than [`MAX_LINE`] is not buffered whole. Its first
//! [`PREVIEW`] bytes are returned with its length, the rest is skipped up to the
//! next newline, and the caller rejects it (`line_too_long`). Without the cap, a 50 MB file
//! without a newline cost several times its size (the doubling buffer, then the reject's copy).

use std::io::Read;
use std::path::Path;

/// The longest line read whole: far beyond any real record of the corpora (a Qilin CSV note with
/// its embedding is ~20 KB, an Amazon metadata line rarely 1 MB).
pub const MAX_LINE: usize = 16 << 20;
/// How much of an over-long line is kept (for the reject's `raw`).
pub const PREVIEW: usize = 4096;

/// `(line number, bytes consumed so far, line, over-long)`: see [`LineReader::next_line`].
pub type Line<'a> = (u64, u64, &'a [u8], Option<u64>);

pub struct LineReader {
    file: std::io::Take<fs_err::File>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// 1-based number of the line most recently returned.
    pub line_no: u64,
    /// Bytes consumed so far (for progress bars).
    pub consumed: u64,
    /// The length of the over-long line being skipped.
    long_len: u64,
    max_line: usize,
}

impl LineReader {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_range(path, 0, u64::MAX)
    }

    /// Reads only bytes `start..end` of the file (for parallel parsing of a large file split
    /// at line boundaries); line numbers count from 1 within the range.
    pub fn open_range(path: &Path, start: u64, end: u64) -> std::io::Result<Self> {
        use std::io::Seek;
        let mut f = fs_err::File::open(path)?;
        f.seek(std::io::SeekFrom::Start(start))?;
        Ok(LineReader {
            file: f.take(end.saturating_sub(start)),
            buf: vec![0; 8 << 20],
            start: 0,
            end: 0,
            eof: false,
            line_no: 0,
            consumed: 0,
            long_len: 0,
            max_line: MAX_LINE,
        })
    }

    /// The same reader with another line cap (tests).
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line.max(PREVIEW);
        self
    }

    /// The next line, or `None` at the end of the file. A final line without `\n` is returned;
    /// the empty string after a final `\n` is not a line.
    /// Returns `(line number, bytes consumed so far, line, over-long)`: for a line longer than
    /// the cap, `line` is its first [`PREVIEW`] bytes and `over-long` its full length.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (s, e) = (self.start, self.start + pos);
                self.start = e + 1;
                self.line_no += 1;
                self.consumed += (pos + 1) as u64;
                let (line, long) = self.cut(s, e);
                return Ok(Some((self.line_no, self.consumed, line, long)));
            }
            if self.eof {
                if self.start < self.end {
                    let (s, e) = (self.start, self.end);
                    self.start = self.end;
                    self.line_no += 1;
                    self.consumed += (e - s) as u64;
                    let (line, long) = self.cut(s, e);
                    return Ok(Some((self.line_no, self.consumed, line, long)));
                }
                return Ok(None);
            }
            // Move the partial line to the front; grow if one line fills the whole buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end > self.max_line {
                self.skip_long_line()?;
                return Ok(Some((
                    self.line_no,
                    self.consumed,
                    &self.buf[..PREVIEW],
                    Some(self.long_len),
                )));
            }
            if self.end == self.buf.len() {
                self.buf
                    .resize((self.buf.len() * 2).min(self.max_line + 2), 0);
            }
            let n = self.file.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
    }

    /// The line `buf[s..e]`, or its preview when it is longer than the cap.
    fn cut(&self, s: usize, e: usize) -> (&[u8], Option<u64>) {
        if e - s > self.max_line {
            (&self.buf[s..s + PREVIEW], Some((e - s) as u64))
        } else {
            (&self.buf[s..e], None)
        }
    }
}

impl LineReader {
    /// The buffer holds `max_line` bytes of one line: keep its preview at the front and read on,
    /// discarding, to the end of the line.
    fn skip_long_line(&mut self) -> std::io::Result<()> {
        let mut len = self.end as u64;
        let mut scratch = vec![0u8; 1 << 16];
        loop {
            let n = self.file.read(&mut scratch)?;
            if n == 0 {
                self.eof = true;
                self.start = PREVIEW;
                self.end = PREVIEW;
                break;
            }
            if let Some(pos) = memchr::memchr(b'\n', &scratch[..n]) {
                len += pos as u64;
                // Keep what follows the newline after the preview, for the next lines.
                let rest = &scratch[pos + 1..n];
                self.buf.truncate(PREVIEW);
                self.buf.extend_from_slice(rest);
                let want = (8 << 20).max(self.buf.len());
                self.buf.resize(want, 0);
                self.start = PREVIEW;
                self.end = PREVIEW + rest.len();
                self.consumed += 1;
                break;
            }
            len += n as u64;
        }
        self.consumed += len;
        self.line_no += 1;
        self.long_len = len;
        Ok(())
    }
}

/// Splits `path` into at most `n` byte ranges of about equal size, each starting at a line
/// start, each at least `min_bytes` long (so small files stay one range).
pub fn split_at_lines(path: &Path, n: usize, min_bytes: u64) -> std::io::Result<Vec<(u64, u64)>> {
    use std::io::{Seek, SeekFrom};
    let size = fs_err::metadata(path)?.len();
    let n = (n as u64).clamp(1, (size / min_bytes.max(1)).max(1));
    let mut f = fs_err::File::open(path)?;
    let mut cuts = vec![0u64];
    let mut buf = vec![0u8; 1 << 16];
    for k in 1..n {
        let mut pos = (size * k / n).max(*cuts.last().expect("non-empty"));
        f.seek(SeekFrom::Start(pos))?;
        // The cut goes right after the next newline.
        loop {
            let got = f.read(&mut buf)?;
            if got == 0 {
                pos = size;
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..got]) {
                pos += i as u64 + 1;
                break;
            }
            pos += got as u64;
        }
        if pos < size && pos > *cuts.last().expect("non-empty") {
            cuts.push(pos);
        }
    }
    cuts.push(size);
    Ok(cuts.windows(2).map(|w| (w[0], w[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_longer_than_the_cap_is_cut_to_a_preview_and_the_next_lines_follow() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let long = "y".repeat(200_000);
        std::fs::write(&p, format!("a\n{long}\nb\n{long}")).unwrap();
        let mut r = LineReader::open(&p).unwrap().with_max_line(50_000);
        let mut got = Vec::new();
        while let Some((no, consumed, l, long)) = r.next_line().unwrap() {
            got.push((no, consumed, l.len(), long));
        }
        assert_eq!(
            got,
            vec![
                (1, 2, 1, None),
                (2, 200_003, PREVIEW, Some(200_000)),
                (3, 200_005, 1, None),
                (4, 400_005, PREVIEW, Some(200_000)),
            ]
        );
        // Memory stays bounded by the cap, not the line.
        assert!(r.buf.len() <= 8 << 20);
    }

    #[test]
    fn ranges_cover_the_file_at_line_starts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let text: String = (0..1000)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 37)))
            .collect();
        std::fs::write(&p, &text).unwrap();
        for n in 1..6 {
            let r = split_at_lines(&p, n, 1).unwrap();
            assert_eq!(r.first().unwrap().0, 0);
            assert_eq!(r.last().unwrap().1, text.len() as u64);
            let mut lines = Vec::new();
            for (a, b) in &r {
                assert!(*a == 0 || text.as_bytes()[*a as usize - 1] == b'\n');
                let mut lr = LineReader::open_range(&p, *a, *b).unwrap();
                while let Some((_, _, l, _)) = lr.next_line().unwrap() {
                    lines.push(String::from_utf8(l.to_vec()).unwrap());
                }
            }
            assert_eq!(lines, text.lines().collect::<Vec<_>>(), "n = {n}");
        }
    }
}
