//! A fast, allocation-free line reader over large files: 8 MiB blocks, memchr for newlines,
//! byte offsets for progress. Lines are yielded without the `\n`; a trailing `\r` is left to
//! the caller (whose file format decides what it means).

use std::io::Read;
use std::path::Path;

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
        })
    }

    /// The next line, or `None` at the end of the file. A final line without `\n` is returned;
    /// the empty string after a final `\n` is not a line.
    /// Returns `(line number, bytes consumed so far, line)`.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, u64, &[u8])>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (s, e) = (self.start, self.start + pos);
                self.start = e + 1;
                self.line_no += 1;
                self.consumed += (pos + 1) as u64;
                return Ok(Some((self.line_no, self.consumed, &self.buf[s..e])));
            }
            if self.eof {
                if self.start < self.end {
                    let (s, e) = (self.start, self.end);
                    self.start = self.end;
                    self.line_no += 1;
                    self.consumed += (e - s) as u64;
                    return Ok(Some((self.line_no, self.consumed, &self.buf[s..e])));
                }
                return Ok(None);
            }
            // Move the partial line to the front; grow if one line fills the whole buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.file.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
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
                while let Some((_, _, l)) = lr.next_line().unwrap() {
                    lines.push(String::from_utf8(l.to_vec()).unwrap());
                }
            }
            assert_eq!(lines, text.lines().collect::<Vec<_>>(), "n = {n}");
        }
    }
}
