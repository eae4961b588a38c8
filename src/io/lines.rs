//! A fast, allocation-free line reader over large files: 8 MiB blocks, memchr for newlines,
//! byte offsets for progress. Lines are yielded without the `\n`; a trailing `\r` is left to
//! the caller (whose file format decides what it means).

use std::io::Read;
use std::path::Path;

pub struct LineReader {
    file: fs_err::File,
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
        Ok(LineReader {
            file: fs_err::File::open(path)?,
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
