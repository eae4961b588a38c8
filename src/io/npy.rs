//! NumPy `.npy` arrays and `.npz` archives: reading (streamed by rows) and the writing the
//! synthetic fixtures need.
//!
//! ## `.npy`
//! `\x93NUMPY`, a major/minor version byte pair, the header length (u16 little-endian for
//! version 1.0, u32 for 2.0 and 3.0), then the header: a Python dict literal
//! `{'descr': '<i4', 'fortran_order': False, 'shape': (20, 25), }` padded with spaces and a
//! newline (latin-1 in 1.x/2.x, UTF-8 in 3.0). The header is parsed as a Python literal, not
//! matched as text. Supported dtypes: `b1`, `i1`, `u1`, `i2`, `u2`, `i4`, `u4`, `i8`, `u8`,
//! `f4`, `f8`, little (`<`) and big (`>`) endian, `|` for one-byte types, `=` for native.
//!
//! [`NpyReader`] yields rows (the leading axis) in C order and converts each element to the
//! type asked for, checking it fits. A C-order array is streamed: only the rows asked for are
//! in memory. A Fortran-order array with more than one axis cannot be streamed by rows, so it
//! is loaded whole on the first read and transposed to C order (fine for the small arrays that
//! use it; `np.save` writes C order unless given a Fortran-contiguous array).
//!
//! ## `.npz`
//! A zip archive of `<key>.npy` members, STORED (`np.savez`) or DEFLATE
//! (`np.savez_compressed`), zip64 where sizes need it. [`Npz`] reads the central directory once;
//! each [`Npz::reader`] opens the file anew at that member's data, so several members can be
//! read in lockstep (or on several threads) without holding any of them whole. The CRC-32 and
//! size of a member are checked when its reader reaches the end ([`NpyReader::finish`]).
//!
//! Every error names the file, the member and what was expected.

use std::fmt::Display;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Where an array comes from, for error messages: a file, and the member inside a `.npz`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub path: PathBuf,
    pub member: Option<String>,
}

impl Origin {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Origin {
            path: path.into(),
            member: None,
        }
    }

    pub fn member(path: impl Into<PathBuf>, member: impl Into<String>) -> Self {
        Origin {
            path: path.into(),
            member: Some(member.into()),
        }
    }

    pub fn err(&self, msg: impl Display) -> Error {
        Error::BadInput {
            path: self.path.clone(),
            message: match &self.member {
                Some(m) => format!("member `{m}`: {msg}"),
                None => msg.to_string(),
            },
        }
    }
}

/// What an element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    UInt,
    Float,
}

/// An element type, from the header's `descr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    pub kind: Kind,
    /// Bytes per element.
    pub size: usize,
    pub big_endian: bool,
}

impl DType {
    pub const I4: DType = DType::new(Kind::Int, 4);
    pub const I8: DType = DType::new(Kind::Int, 8);
    pub const F8: DType = DType::new(Kind::Float, 8);

    /// A little-endian type.
    pub const fn new(kind: Kind, size: usize) -> Self {
        DType {
            kind,
            size,
            big_endian: false,
        }
    }

    pub const fn big_endian(self) -> Self {
        DType {
            big_endian: true,
            ..self
        }
    }

    /// Parses a `descr` such as `<i4`, `>f8`, `|u1`, `|b1`.
    pub fn parse(descr: &str) -> Option<DType> {
        let (order, rest) = match descr.as_bytes().first()? {
            b'<' | b'>' | b'|' | b'=' => (descr.as_bytes()[0], &descr[1..]),
            _ => (b'=', descr),
        };
        let kind = match rest.as_bytes().first()? {
            b'b' => Kind::Bool,
            b'i' => Kind::Int,
            b'u' => Kind::UInt,
            b'f' => Kind::Float,
            _ => return None,
        };
        let size: usize = rest[1..].parse().ok()?;
        let ok = match kind {
            Kind::Bool => size == 1,
            Kind::Int | Kind::UInt => matches!(size, 1 | 2 | 4 | 8),
            Kind::Float => matches!(size, 4 | 8),
        };
        if !ok || (order == b'|' && size != 1) {
            return None;
        }
        let big_endian = match order {
            b'>' => true,
            b'<' | b'|' => false,
            _ => cfg!(target_endian = "big"),
        };
        Some(DType {
            kind,
            size,
            big_endian: big_endian && size > 1,
        })
    }

    /// The `descr` numpy writes for this type.
    pub fn descr(&self) -> String {
        let c = match self.kind {
            Kind::Bool => 'b',
            Kind::Int => 'i',
            Kind::UInt => 'u',
            Kind::Float => 'f',
        };
        let order = if self.size == 1 {
            '|'
        } else if self.big_endian {
            '>'
        } else {
            '<'
        };
        format!("{order}{c}{}", self.size)
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: (u8, u8),
    pub dtype: DType,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Bytes before the data: magic, version, length field and header text.
    pub data_offset: usize,
}

impl Header {
    /// Elements in the array.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of array data.
    pub fn nbytes(&self) -> usize {
        self.len() * self.dtype.size
    }

    /// Rows: the length of the leading axis (1 for a 0-d array).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Elements per row: the product of the other axes.
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    pub fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }
}

/// `(20, 25)`, `(20,)`, `()` as Python writes tuples.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn parse_header_dict(text: &str) -> std::result::Result<(DType, bool, Vec<usize>), String> {
    use super::pylit::Val;
    let v = super::pylit::parse_text(text)?;
    let Val::Map(pairs) = v else {
        return Err(format!("the header is not a dict but {}", v.kind()));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "descr" => descr = Some(v),
            "fortran_order" => fortran = Some(v),
            "shape" => shape = Some(v),
            other => {
                return Err(format!(
                    "unexpected header key `{other}` (expected exactly `descr`, `fortran_order`, `shape`)"
                ));
            }
        }
    }
    let dtype = match descr {
        Some(Val::Str(d)) => DType::parse(&d).ok_or_else(|| {
            format!(
                "unsupported dtype `{d}` (expected one of b1 i1 u1 i2 u2 i4 u4 i8 u8 f4 f8, with byte order < > | =)"
            )
        })?,
        Some(Val::List(_)) => {
            return Err("structured dtypes (a list `descr`) are not supported".into());
        }
        Some(other) => return Err(format!("`descr` is not a string but {}", other.kind())),
        None => return Err("the header has no `descr`".into()),
    };
    let fortran = match fortran {
        Some(Val::Bool(b)) => b,
        Some(other) => {
            return Err(format!(
                "`fortran_order` is not True/False but {}",
                other.kind()
            ));
        }
        None => return Err("the header has no `fortran_order`".into()),
    };
    let shape = match shape {
        Some(Val::List(items)) => items
            .into_iter()
            .map(|d| match d {
                Val::Int(n) if n >= 0 => {
                    usize::try_from(n).map_err(|_| format!("`shape` entry {n} is too large"))
                }
                other => Err(format!(
                    "`shape` must hold non-negative integers, found {other:?}"
                )),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
        Some(other) => return Err(format!("`shape` is not a tuple but {}", other.kind())),
        None => return Err("the header has no `shape`".into()),
    };
    Ok((dtype, fortran, shape))
}

/// Reads and parses the header; the reader is left at the first data byte.
pub fn read_header(r: &mut impl Read, origin: &Origin) -> Result<Header> {
    let io = |e: std::io::Error, what: &str| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            origin.err(format!(
                "not a NumPy .npy array: the data ends inside the {what}"
            ))
        } else {
            origin.err(format!("cannot read the .npy {what}: {e}"))
        }
    };
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(|e| io(e, "magic"))?;
    if &pre[..6] != MAGIC {
        return Err(origin.err(format!(
            "not a NumPy .npy array: expected the magic bytes \\x93NUMPY, found {:?}",
            String::from_utf8_lossy(&pre[..6])
        )));
    }
    let version = (pre[6], pre[7]);
    let (len, len_bytes) = match version.0 {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(|e| io(e, "header length"))?;
            (u16::from_le_bytes(b) as usize, 2)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|e| io(e, "header length"))?;
            (u32::from_le_bytes(b) as usize, 4)
        }
        _ => {
            return Err(origin.err(format!(
                "unsupported .npy format version {}.{} (expected 1.0, 2.0 or 3.0)",
                version.0, version.1
            )));
        }
    };
    if len > 1 << 24 {
        return Err(origin.err(format!("the .npy header claims {len} bytes")));
    }
    let mut raw = vec![0u8; len];
    r.read_exact(&mut raw).map_err(|e| io(e, "header"))?;
    let text: String = if version.0 == 3 {
        String::from_utf8(raw)
            .map_err(|_| origin.err("the version 3.0 .npy header is not valid UTF-8"))?
    } else {
        raw.iter().map(|&b| b as char).collect()
    };
    let (dtype, fortran_order, shape) = parse_header_dict(text.trim_end())
        .map_err(|m| origin.err(format!("bad .npy header `{}`: {m}", text.trim_end())))?;
    let header = Header {
        version,
        dtype,
        fortran_order,
        shape,
        data_offset: 8 + len_bytes + len,
    };
    header
        .shape
        .iter()
        .try_fold(dtype.size, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| origin.err(format!("shape {} is too large", header.shape_text())))?;
    Ok(header)
}

/// A type elements can be read as; `None` when the value does not fit (or, for an integer
/// target, is not a whole number).
pub trait Element: Copy + Default + Send + 'static {
    const NAME: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
}

impl Element for i64 {
    const NAME: &'static str = "int64";
    #[inline(always)]
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    #[inline(always)]
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Option<Self> {
        (v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64).then_some(v as i64)
    }
}

impl Element for i32 {
    const NAME: &'static str = "int32";
    #[inline(always)]
    fn from_i64(v: i64) -> Option<Self> {
        i32::try_from(v).ok()
    }
    #[inline(always)]
    fn from_u64(v: u64) -> Option<Self> {
        i32::try_from(v).ok()
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Option<Self> {
        (v.fract() == 0.0 && v >= i32::MIN as f64 && v <= i32::MAX as f64).then_some(v as i32)
    }
}

impl Element for u64 {
    const NAME: &'static str = "uint64";
    #[inline(always)]
    fn from_i64(v: i64) -> Option<Self> {
        u64::try_from(v).ok()
    }
    #[inline(always)]
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Option<Self> {
        (v.fract() == 0.0 && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
    }
}

impl Element for f64 {
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    #[inline(always)]
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

/// Decodes `bytes` (whole elements of `dt`) onto `out`; on a value that does not fit `T`,
/// returns its index within `bytes` and its text.
fn decode<T: Element>(
    dt: DType,
    bytes: &[u8],
    out: &mut Vec<T>,
) -> std::result::Result<(), (usize, String)> {
    // One tight, branch-free pass (vectorized where the conversion cannot fail); a value that
    // does not fit is looked for only afterwards.
    macro_rules! run {
        ($t:ty, $n:literal, $conv:ident, $wide:ty) => {{
            let start = out.len();
            let mut ok = true;
            let read = |c: &[u8]| -> $t {
                let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                if dt.big_endian {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            };
            if dt.big_endian {
                out.extend(bytes.chunks_exact($n).map(|c| {
                    let x = T::$conv(read(c) as $wide);
                    ok &= x.is_some();
                    x.unwrap_or_default()
                }));
            } else {
                out.extend(bytes.chunks_exact($n).map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                    let x = T::$conv(<$t>::from_le_bytes(a) as $wide);
                    ok &= x.is_some();
                    x.unwrap_or_default()
                }));
            }
            if ok {
                return Ok(());
            }
            out.truncate(start);
            let (k, v) = bytes
                .chunks_exact($n)
                .map(read)
                .enumerate()
                .find(|(_, v)| T::$conv(*v as $wide).is_none())
                .unwrap_or((0, <$t>::default()));
            Err((k, v.to_string()))
        }};
    }
    match (dt.kind, dt.size) {
        (Kind::Bool, _) => {
            out.extend(
                bytes
                    .iter()
                    .map(|&b| T::from_u64(u64::from(b != 0)).unwrap_or_default()),
            );
            Ok(())
        }
        (Kind::Int, 1) => run!(i8, 1, from_i64, i64),
        (Kind::Int, 2) => run!(i16, 2, from_i64, i64),
        (Kind::Int, 4) => run!(i32, 4, from_i64, i64),
        (Kind::Int, _) => run!(i64, 8, from_i64, i64),
        (Kind::UInt, 1) => run!(u8, 1, from_u64, u64),
        (Kind::UInt, 2) => run!(u16, 2, from_u64, u64),
        (Kind::UInt, 4) => run!(u32, 4, from_u64, u64),
        (Kind::UInt, _) => run!(u64, 8, from_u64, u64),
        (Kind::Float, 4) => run!(f32, 4, from_f64, f64),
        (Kind::Float, _) => run!(f64, 8, from_f64, f64),
    }
}

/// `(a, b, c)`: the C-order multi-index of flat element `i`.
fn multi_index(shape: &[usize], mut i: usize) -> String {
    let mut idx = vec![0usize; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = i % d;
            i /= d;
        }
    }
    shape_text(&idx)
}

/// Reorders Fortran-order element bytes into C order.
fn fortran_to_c(shape: &[usize], size: usize, f: &[u8]) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = vec![0u8; n * size];
    if n == 0 {
        return out;
    }
    let nd = shape.len();
    let mut fstride = vec![1usize; nd];
    for k in 1..nd {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut idx = vec![0usize; nd];
    let mut off = 0usize;
    for c in 0..n {
        out[c * size..(c + 1) * size].copy_from_slice(&f[off * size..(off + 1) * size]);
        // Advance the C-order index (last axis fastest), keeping the Fortran offset in step.
        for k in (0..nd).rev() {
            idx[k] += 1;
            off += fstride[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= fstride[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

/// Reads an array's rows (its leading axis) in C order, converted to the caller's type.
pub struct NpyReader<R> {
    r: R,
    header: Header,
    origin: Origin,
    rows_read: usize,
    buf: Vec<u8>,
    /// A Fortran-order array, loaded whole and reordered to C order on the first read.
    loaded: Option<Vec<u8>>,
}

impl<R: Read> NpyReader<R> {
    /// Reads the header; the data is read as rows are asked for.
    pub fn new(mut r: R, origin: Origin) -> Result<Self> {
        let header = read_header(&mut r, &origin)?;
        Ok(NpyReader {
            r,
            header,
            origin,
            rows_read: 0,
            buf: Vec::new(),
            loaded: None,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn rows_left(&self) -> usize {
        self.header.rows() - self.rows_read
    }

    fn read_data(&mut self, bytes: usize) -> Result<()> {
        if self.buf.len() < bytes {
            self.buf.resize(bytes, 0);
        }
        let done = (self.rows_read * self.header.row_len()) * self.header.dtype.size;
        self.r.read_exact(&mut self.buf[..bytes]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.origin.err(format!(
                    "the array data ends early: shape {} of {} needs {} bytes, fewer than {} are there",
                    self.header.shape_text(),
                    self.header.dtype.descr(),
                    self.header.nbytes(),
                    done + bytes
                ))
            } else {
                self.origin.err(format!("cannot read the array data: {e}"))
            }
        })
    }

    /// Appends up to `rows` rows (all elements of each, C order) to `out`; returns how many
    /// rows were read (0 at the end).
    pub fn read_rows<T: Element>(&mut self, rows: usize, out: &mut Vec<T>) -> Result<usize> {
        let n = rows.min(self.rows_left());
        if n == 0 {
            return Ok(0);
        }
        let row_len = self.header.row_len();
        let size = self.header.dtype.size;
        let first = self.rows_read * row_len;
        let bytes = n * row_len * size;
        let result = if self.header.fortran_order && self.header.shape.len() > 1 {
            if self.loaded.is_none() {
                let total = self.header.nbytes();
                self.read_data(total)?;
                self.loaded = Some(fortran_to_c(&self.header.shape, size, &self.buf[..total]));
                self.buf = Vec::new();
            }
            let all = self.loaded.as_deref().unwrap_or_default();
            decode(
                self.header.dtype,
                &all[first * size..first * size + bytes],
                out,
            )
        } else {
            self.read_data(bytes)?;
            decode(self.header.dtype, &self.buf[..bytes], out)
        };
        result.map_err(|(k, v)| {
            self.origin.err(format!(
                "element {} is {v}, which is not a valid {} (dtype {})",
                multi_index(&self.header.shape, first + k),
                T::NAME,
                self.header.dtype.descr()
            ))
        })?;
        self.rows_read += n;
        Ok(n)
    }

    /// Reads every remaining element.
    pub fn read_all<T: Element>(&mut self) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(self.rows_left() * self.header.row_len());
        while self.read_rows(1 << 16, &mut out)? > 0 {}
        Ok(out)
    }

    /// Checks that nothing follows the array data (and, for an `.npz` member, its CRC-32).
    pub fn finish(mut self) -> Result<()> {
        if self.rows_left() > 0 && self.header.row_len() > 0 {
            return Err(self
                .origin
                .err(format!("{} rows were not read", self.rows_left())));
        }
        let mut b = [0u8; 64];
        match self.r.read(&mut b) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.origin.err(format!(
                "unexpected bytes after the array data (shape {} of {} is {} bytes)",
                self.header.shape_text(),
                self.header.dtype.descr(),
                self.header.nbytes()
            ))),
            Err(e) => Err(self.origin.err(format!("cannot read the array data: {e}"))),
        }
    }
}

/// Reads a whole `.npy` file: its header and its elements in C order.
pub fn load_npy<T: Element>(path: &Path) -> Result<(Header, Vec<T>)> {
    let f = fs_err::File::open(path)?;
    let mut r = NpyReader::new(BufReader::with_capacity(1 << 18, f), Origin::file(path))?;
    let v = r.read_all()?;
    let h = r.header().clone();
    r.finish()?;
    Ok((h, v))
}

/// How an `.npz` member is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflate,
}

/// One `.npz` member, from the central directory.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member's file name (`slate.npy`).
    pub name: String,
    pub method: Method,
    pub data_start: u64,
    pub compressed_size: u64,
    pub size: u64,
    pub crc32: u32,
}

/// An `.npz` archive.
#[derive(Debug, Clone)]
pub struct Npz {
    pub path: PathBuf,
    pub members: Vec<Member>,
}

/// Checks the CRC-32 and size of a member when its data ends.
struct CheckedReader<R> {
    r: R,
    crc: flate2::Crc,
    size: u64,
    expected_size: u64,
    expected_crc: u32,
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        if self.size > self.expected_size {
            return Err(invalid(format!(
                "the member holds more than the {} bytes its zip entry says",
                self.expected_size
            )));
        }
        if n == 0 && !buf.is_empty() {
            if self.size != self.expected_size {
                return Err(invalid(format!(
                    "the member holds {} bytes, its zip entry says {}",
                    self.size, self.expected_size
                )));
            }
            if self.crc.sum() != self.expected_crc {
                return Err(invalid(format!(
                    "CRC-32 mismatch (computed {:08x}, the zip entry says {:08x}): the archive is corrupt",
                    self.crc.sum(),
                    self.expected_crc
                )));
            }
        }
        Ok(n)
    }
}

/// The reader [`Npz::reader`] returns.
pub type MemberReader = NpyReader<Box<dyn Read + Send>>;

impl Npz {
    /// Reads the archive's central directory.
    pub fn open(path: &Path) -> Result<Npz> {
        let bad = |m: String| Error::BadInput {
            path: path.to_path_buf(),
            message: m,
        };
        let f = fs_err::File::open(path)?;
        let mut ar = zip::ZipArchive::new(BufReader::new(f.into_parts().0)).map_err(|e| {
            bad(format!(
                "not a readable .npz (zip) archive: {e}; expected the output of numpy.savez / savez_compressed"
            ))
        })?;
        let mut members = Vec::with_capacity(ar.len());
        for i in 0..ar.len() {
            let z = ar
                .by_index_raw(i)
                .map_err(|e| bad(format!("zip entry {i}: {e}")))?;
            let name = z
                .name()
                .map_err(|e| bad(format!("zip entry {i}: unreadable name: {e}")))?
                .into_owned();
            let method = match z.compression() {
                zip::CompressionMethod::Stored => Method::Stored,
                zip::CompressionMethod::Deflated => Method::Deflate,
                other => {
                    return Err(bad(format!(
                        "member `{name}`: compression {other} is not supported (expected STORED or DEFLATE, as numpy writes)"
                    )));
                }
            };
            if z.encrypted() {
                return Err(bad(format!("member `{name}` is encrypted")));
            }
            let data_start = z
                .data_start()
                .ok_or_else(|| bad(format!("member `{name}`: cannot locate its data")))?;
            members.push(Member {
                name,
                method,
                data_start,
                compressed_size: z.compressed_size(),
                size: z.size(),
                crc32: z.crc32(),
            });
        }
        Ok(Npz {
            path: path.to_path_buf(),
            members,
        })
    }

    /// The array names (member names without `.npy`).
    pub fn keys(&self) -> Vec<&str> {
        self.members
            .iter()
            .map(|m| m.name.strip_suffix(".npy").unwrap_or(&m.name))
            .collect()
    }

    /// The member holding array `key`.
    pub fn member(&self, key: &str) -> Result<&Member> {
        let name = format!("{key}.npy");
        self.members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::BadInput {
                path: self.path.clone(),
                message: format!(
                    "no member `{name}` (array `{key}`); the archive holds: {}",
                    if self.members.is_empty() {
                        "nothing".to_owned()
                    } else {
                        self.members
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            })
    }

    /// A row reader over array `key`, on its own file handle.
    pub fn reader(&self, key: &str) -> Result<MemberReader> {
        let m = self.member(key)?;
        let origin = Origin::member(&self.path, &m.name);
        let mut f = fs_err::File::open(&self.path)?.into_parts().0;
        f.seek(SeekFrom::Start(m.data_start))
            .map_err(|e| origin.err(format!("cannot seek to the member's data: {e}")))?;
        let raw = BufReader::with_capacity(1 << 18, f).take(m.compressed_size);
        let inner: Box<dyn Read + Send> = match m.method {
            Method::Stored => Box::new(raw),
            Method::Deflate => Box::new(flate2::bufread::DeflateDecoder::new(raw)),
        };
        let checked = CheckedReader {
            r: inner,
            crc: flate2::Crc::new(),
            size: 0,
            expected_size: m.size,
            expected_crc: m.crc32,
        };
        let r = NpyReader::new(Box::new(checked) as Box<dyn Read + Send>, origin.clone())?;
        let want = r.header().data_offset as u64 + r.header().nbytes() as u64;
        if want != m.size {
            return Err(origin.err(format!(
                "the header describes shape {} of {} ({} bytes with the header), but the member holds {} bytes",
                r.header().shape_text(),
                r.header().dtype.descr(),
                want,
                m.size
            )));
        }
        Ok(r)
    }

    /// Reads a whole array: its header and its elements in C order.
    pub fn load<T: Element>(&self, key: &str) -> Result<(Header, Vec<T>)> {
        let mut r = self.reader(key)?;
        let v = r.read_all()?;
        let h = r.header().clone();
        r.finish()?;
        Ok((h, v))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// numpy's `.npy` header for `dtype`/`shape`, byte for byte as `numpy.lib.format` writes it:
/// keys sorted, room for the leading axis to grow to 21 digits, padded with spaces to a
/// multiple of 64 bytes and ended by `\n`; version 1.0 unless the header needs 2.0.
pub fn npy_header(dtype: DType, fortran_order: bool, shape: &[usize]) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
        dtype.descr(),
        if fortran_order { "True" } else { "False" },
        shape_text(shape)
    );
    let grow = if fortran_order {
        shape.last()
    } else {
        shape.first()
    };
    if let Some(d) = grow {
        h.push_str(&" ".repeat(21usize.saturating_sub(d.to_string().len())));
    }
    let hlen = h.len() + 1;
    // numpy pads by 64 - (prefix + hlen) % 64: a full 64 when already aligned.
    let pad_for = |len_bytes: usize| 64 - ((6 + 2 + len_bytes + hlen) % 64);
    let (version, len_bytes) = if hlen + pad_for(2) <= 65535 {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let pad = pad_for(len_bytes);
    let mut out = Vec::with_capacity(6 + 2 + len_bytes + hlen + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    let total = (hlen + pad) as u32;
    if version == 1 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&total.to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

/// Values that can be written as `.npy` elements.
pub trait WriteElement: Copy {
    fn put(self, dt: DType, out: &mut Vec<u8>);
}

macro_rules! write_elem {
    ($($t:ty),*) => {$(
        impl WriteElement for $t {
            fn put(self, dt: DType, out: &mut Vec<u8>) {
                macro_rules! emit {
                    ($u:ty) => {{
                        let v = self as $u;
                        if dt.big_endian {
                            out.extend_from_slice(&v.to_be_bytes())
                        } else {
                            out.extend_from_slice(&v.to_le_bytes())
                        }
                    }};
                }
                match (dt.kind, dt.size) {
                    (Kind::Bool, _) => out.push(u8::from(self as f64 != 0.0)),
                    (Kind::Int, 1) => emit!(i8),
                    (Kind::Int, 2) => emit!(i16),
                    (Kind::Int, 4) => emit!(i32),
                    (Kind::Int, _) => emit!(i64),
                    (Kind::UInt, 1) => emit!(u8),
                    (Kind::UInt, 2) => emit!(u16),
                    (Kind::UInt, 4) => emit!(u32),
                    (Kind::UInt, _) => emit!(u64),
                    (Kind::Float, 4) => emit!(f32),
                    (Kind::Float, _) => emit!(f64),
                }
            }
        }
    )*};
}
write_elem!(i32, i64, u32, u64, f64);

/// A whole `.npy` file in memory (tests and small fixtures): `data` is in C order and written
/// in C or Fortran order as asked.
pub fn npy_bytes<T: WriteElement>(
    dtype: DType,
    fortran_order: bool,
    shape: &[usize],
    data: &[T],
) -> Vec<u8> {
    let mut out = npy_header(dtype, fortran_order, shape);
    let n: usize = shape.iter().product();
    assert_eq!(n, data.len(), "npy_bytes: data does not match the shape");
    if fortran_order && shape.len() > 1 {
        // The C-order index of each Fortran-order position.
        let nd = shape.len();
        let mut cstride = vec![1usize; nd];
        for k in (0..nd - 1).rev() {
            cstride[k] = cstride[k + 1] * shape[k + 1];
        }
        let mut idx = vec![0usize; nd];
        for _ in 0..n {
            let c: usize = idx.iter().zip(&cstride).map(|(i, s)| i * s).sum();
            data[c].put(dtype, &mut out);
            for k in 0..nd {
                idx[k] += 1;
                if idx[k] < shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
    } else {
        for v in data {
            v.put(dtype, &mut out);
        }
    }
    out
}

struct Entry {
    name: String,
    offset: u64,
    crc: u32,
    compressed: u64,
    size: u64,
    method: Method,
}

/// Writes `.npz` archives laid out as Python's `zipfile` does for `numpy.savez_compressed`
/// (every member opened with `force_zip64=True`): a local header with a zip64 extra field and
/// version 4.5, rewritten with the CRC and sizes once the member is done; a central directory
/// with zip64 fields only where a value exceeds 2^31-1 (Python's limit), zip64 end records only
/// where needed; Unix `-rw-------` attributes. One deliberate difference: the timestamp is
/// fixed (1980-01-01 00:00), so the same arrays always give the same bytes.
pub struct NpzWriter<W: Write + Seek> {
    w: W,
    pos: u64,
    entries: Vec<Entry>,
    level: u32,
}

const ZIP64_LIMIT: u64 = (1 << 31) - 1;
const DOS_DATE: u16 = 1 << 5 | 1; // 1980-01-01
const DOS_TIME: u16 = 0;

struct Counter<W> {
    w: W,
    n: u64,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.w.write(b)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

enum Sink<'a, W: Write> {
    Deflate(flate2::write::DeflateEncoder<Counter<&'a mut W>>),
    Stored(Counter<&'a mut W>),
}

/// One member being written; [`MemberWriter::finish`] completes it.
pub struct MemberWriter<'a, W: Write + Seek> {
    sink: Sink<'a, W>,
    crc: flate2::Crc,
    size: u64,
    entries: &'a mut Vec<Entry>,
    pos: &'a mut u64,
}

fn local_header(name: &str, method: Method, crc: u32, size: u64, compressed: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len() + 20);
    h.extend_from_slice(b"PK\x03\x04");
    h.extend_from_slice(&[45, 0]); // version needed: 4.5 (zip64)
    h.extend_from_slice(&0u16.to_le_bytes()); // flags
    h.extend_from_slice(&(if method == Method::Deflate { 8u16 } else { 0 }).to_le_bytes());
    h.extend_from_slice(&DOS_TIME.to_le_bytes());
    h.extend_from_slice(&DOS_DATE.to_le_bytes());
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&u32::MAX.to_le_bytes());
    h.extend_from_slice(&u32::MAX.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(&size.to_le_bytes());
    h.extend_from_slice(&compressed.to_le_bytes());
    h
}

impl<W: Write + Seek> NpzWriter<W> {
    /// `level`: the DEFLATE level (numpy: zlib's default, 6).
    pub fn new(w: W, level: u32) -> Self {
        NpzWriter {
            w,
            pos: 0,
            entries: Vec::new(),
            level,
        }
    }

    /// Starts member `<key>.npy`, DEFLATE-compressed (`savez_compressed`) or STORED (`savez`).
    pub fn member(&mut self, key: &str, method: Method) -> std::io::Result<MemberWriter<'_, W>> {
        let name = format!("{key}.npy");
        let h = local_header(&name, method, 0, 0, 0);
        self.w.write_all(&h)?;
        self.entries.push(Entry {
            name,
            offset: self.pos,
            crc: 0,
            compressed: 0,
            size: 0,
            method,
        });
        self.pos += h.len() as u64;
        let c = Counter {
            w: &mut self.w,
            n: 0,
        };
        let sink = match method {
            Method::Deflate => Sink::Deflate(flate2::write::DeflateEncoder::new(
                c,
                flate2::Compression::new(self.level),
            )),
            Method::Stored => Sink::Stored(c),
        };
        Ok(MemberWriter {
            sink,
            crc: flate2::Crc::new(),
            size: 0,
            entries: &mut self.entries,
            pos: &mut self.pos,
        })
    }

    /// Writes the central directory; returns the underlying writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let start = self.pos;
        let mut cd = Vec::new();
        for e in &self.entries {
            let mut extra: Vec<u64> = Vec::new();
            let (mut size, mut comp, mut off) = (e.size, e.compressed, e.offset);
            if e.size > ZIP64_LIMIT || e.compressed > ZIP64_LIMIT {
                extra.extend([e.size, e.compressed]);
                size = u64::from(u32::MAX);
                comp = u64::from(u32::MAX);
            }
            if e.offset > ZIP64_LIMIT {
                extra.push(e.offset);
                off = u64::from(u32::MAX);
            }
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[45, 3, 45, 0]); // made by 4.5 on Unix; needs 4.5
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(
                &(if e.method == Method::Deflate { 8u16 } else { 0 }).to_le_bytes(),
            );
            cd.extend_from_slice(&DOS_TIME.to_le_bytes());
            cd.extend_from_slice(&DOS_DATE.to_le_bytes());
            cd.extend_from_slice(&e.crc.to_le_bytes());
            cd.extend_from_slice(&(comp as u32).to_le_bytes());
            cd.extend_from_slice(&(size as u32).to_le_bytes());
            cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            let extra_len = if extra.is_empty() {
                0
            } else {
                4 + 8 * extra.len()
            };
            cd.extend_from_slice(&(extra_len as u16).to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes()); // comment
            cd.extend_from_slice(&0u16.to_le_bytes()); // disk
            cd.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            cd.extend_from_slice(&(0o600u32 << 16).to_le_bytes());
            cd.extend_from_slice(&(off as u32).to_le_bytes());
            cd.extend_from_slice(e.name.as_bytes());
            if !extra.is_empty() {
                cd.extend_from_slice(&1u16.to_le_bytes());
                cd.extend_from_slice(&((8 * extra.len()) as u16).to_le_bytes());
                for v in extra {
                    cd.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        self.w.write_all(&cd)?;
        let end = start + cd.len() as u64;
        let (count, cd_len) = (self.entries.len() as u64, cd.len() as u64);
        if count > 0xffff || start > ZIP64_LIMIT || cd_len > ZIP64_LIMIT {
            let mut z = Vec::new();
            z.extend_from_slice(b"PK\x06\x06");
            z.extend_from_slice(&44u64.to_le_bytes());
            z.extend_from_slice(&[45, 0, 45, 0]);
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&count.to_le_bytes());
            z.extend_from_slice(&count.to_le_bytes());
            z.extend_from_slice(&cd_len.to_le_bytes());
            z.extend_from_slice(&start.to_le_bytes());
            z.extend_from_slice(b"PK\x06\x07");
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&end.to_le_bytes());
            z.extend_from_slice(&1u32.to_le_bytes());
            self.w.write_all(&z)?;
        }
        let mut e = Vec::new();
        e.extend_from_slice(b"PK\x05\x06");
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(&(count.min(0xffff) as u16).to_le_bytes());
        e.extend_from_slice(&(count.min(0xffff) as u16).to_le_bytes());
        e.extend_from_slice(&(cd_len.min(0xffff_ffff) as u32).to_le_bytes());
        e.extend_from_slice(&(start.min(0xffff_ffff) as u32).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        self.w.write_all(&e)?;
        self.w.flush()?;
        Ok(self.w)
    }
}

impl<W: Write + Seek> Write for MemberWriter<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.sink {
            Sink::Deflate(d) => d.write(b)?,
            Sink::Stored(c) => c.write(b)?,
        };
        self.crc.update(&b[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Seek> MemberWriter<'_, W> {
    /// Ends the member: flushes the compressor and rewrites its local header.
    pub fn finish(self) -> std::io::Result<()> {
        let c = match self.sink {
            Sink::Deflate(d) => d.finish()?,
            Sink::Stored(c) => c,
        };
        let (compressed, w) = (c.n, c.w);
        let e = self
            .entries
            .last_mut()
            .ok_or_else(|| std::io::Error::other("no member started"))?;
        e.crc = self.crc.sum();
        e.size = self.size;
        e.compressed = compressed;
        w.seek(SeekFrom::Start(e.offset))?;
        w.write_all(&local_header(
            &e.name,
            e.method,
            e.crc,
            e.size,
            e.compressed,
        ))?;
        *self.pos += compressed;
        w.seek(SeekFrom::Start(*self.pos))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn origin() -> Origin {
        Origin::member("t.npz", "a.npy")
    }

    fn read<T: Element>(bytes: &[u8]) -> Result<(Header, Vec<T>)> {
        let mut r = NpyReader::new(Cursor::new(bytes.to_vec()), origin())?;
        let v = r.read_all()?;
        let h = r.header().clone();
        r.finish()?;
        Ok((h, v))
    }

    /// A 2x3x2 array 0..12 in C order.
    fn sample() -> (Vec<usize>, Vec<i64>) {
        (vec![2, 3, 2], (0..12).collect())
    }

    #[test]
    fn every_dtype_endianness_and_order_round_trips() {
        let (shape, data) = sample();
        let descrs = [
            "<i4", ">i4", "<i8", ">i8", "<u4", ">u4", "<u8", "<f4", ">f4", "<f8", ">f8", "|u1",
            "|i1", "<i2", ">i2", "<u2",
        ];
        for d in descrs {
            let dt = DType::parse(d).unwrap();
            assert_eq!(dt.descr(), d);
            for fortran in [false, true] {
                let bytes = npy_bytes(dt, fortran, &shape, &data);
                assert_eq!(bytes.len() % 64, (12 * dt.size) % 64, "{d}");
                let (h, got) = read::<i64>(&bytes).unwrap();
                assert_eq!(h.dtype, dt);
                assert_eq!(h.fortran_order, fortran);
                assert_eq!(h.shape, shape);
                assert_eq!(got, data, "{d} fortran={fortran}");
                let (_, f) = read::<f64>(&bytes).unwrap();
                assert_eq!(f, data.iter().map(|x| *x as f64).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn bool_arrays() {
        let bytes = npy_bytes(DType::new(Kind::Bool, 1), false, &[4], &[1i64, 0, 0, 1]);
        assert_eq!(read::<i64>(&bytes).unwrap().1, vec![1, 0, 0, 1]);
    }

    /// Hand-built bytes in each byte order, not through `npy_bytes`.
    #[test]
    fn hand_built_big_and_little_endian() {
        let mut le = npy_header(DType::I4, false, &[3]);
        for v in [1i32, -2, 300] {
            le.extend_from_slice(&v.to_le_bytes());
        }
        let mut be = npy_header(DType::I4.big_endian(), false, &[3]);
        for v in [1i32, -2, 300] {
            be.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(read::<i64>(&le).unwrap().1, vec![1, -2, 300]);
        assert_eq!(read::<i64>(&be).unwrap().1, vec![1, -2, 300]);
        // Fortran order by hand: shape (2, 3) holding [[0, 1, 2], [3, 4, 5]] is stored by
        // columns: 0 3 1 4 2 5.
        let mut f = npy_header(DType::new(Kind::Int, 2).big_endian(), true, &[2, 3]);
        for v in [0i16, 3, 1, 4, 2, 5] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(read::<i64>(&f).unwrap().1, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn header_matches_numpy_layout() {
        let h = npy_header(DType::I4, false, &[20, 25]);
        assert_eq!(h.len() % 64, 0);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        let text = String::from_utf8_lossy(&h[10..]);
        assert!(text.starts_with("{'descr': '<i4', 'fortran_order': False, 'shape': (20, 25), }"));
        assert!(text.ends_with(" \n"));
        assert_eq!(
            String::from_utf8_lossy(&npy_header(DType::F8, false, &[7])[10..]).trim_end(),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (7,), }"
        );
    }

    fn with_header(version: (u8, u8), text: &str, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[version.0, version.1]);
        if version.0 == 1 {
            b.extend_from_slice(&(text.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn versions_and_header_spellings() {
        let data: Vec<u8> = [5i32, 6].iter().flat_map(|v| v.to_le_bytes()).collect();
        for (v, text) in [
            (
                (1, 0),
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n",
            ),
            ((2, 0), "{'descr':'<i4','fortran_order':False,'shape':(2,)}"),
            (
                (3, 0),
                "{\"shape\": (2L,), 'fortran_order': False, 'descr': '<i4'}  \n",
            ),
            (
                (1, 0),
                "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2)}\n",
            ),
        ] {
            let (h, got) = read::<i32>(&with_header(v, text, &data)).unwrap();
            assert_eq!(h.version, v);
            assert_eq!(got, vec![5, 6], "{text}");
        }
        // A 0-d array holds one element.
        let (h, got) = read::<i64>(&with_header(
            (1, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (), }",
            &data[..4],
        ))
        .unwrap();
        assert_eq!((h.rows(), got), (1, vec![5]));
    }

    fn err_of(r: Result<(Header, Vec<i64>)>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn clear_errors() {
        let data = [0u8; 8];
        let e = err_of(read(b"PK\x03\x04garbage"));
        assert!(
            e.contains("t.npz") && e.contains("a.npy") && e.contains("magic"),
            "{e}"
        );
        let e = err_of(read(&with_header(
            (4, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            &data,
        )));
        assert!(e.contains("version 4.0"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }",
            &data,
        )));
        assert!(e.contains("unsupported dtype `<c16`"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,), }",
            &data,
        )));
        assert!(e.contains("structured"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': '<i4', 'shape': (2,), }",
            &data,
        )));
        assert!(e.contains("no `fortran_order`"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
            &data,
        )));
        assert!(e.contains("unexpected header key `x`"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
            &data,
        )));
        assert!(e.contains("ends early") && e.contains("12 bytes"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }",
            &data,
        )));
        assert!(e.contains("after the array data"), "{e}");
        let e = err_of(read(&with_header(
            (1, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2, -1), }",
            &data,
        )));
        assert!(e.contains("non-negative"), "{e}");
        // A value that does not fit the type asked for names its position.
        let b = npy_bytes(DType::F8, false, &[2, 2], &[1.0, 2.0, 3.0, 4.5]);
        let e = err_of(read(&b));
        assert!(e.contains("element (1, 1) is 4.5"), "{e}");
        let b = npy_bytes(DType::new(Kind::UInt, 8), false, &[1], &[u64::MAX]);
        assert!(err_of(read(&b)).contains("not a valid int64"));
    }

    #[test]
    fn streams_rows_in_blocks() {
        let shape = [5usize, 3];
        let data: Vec<i64> = (0..15).collect();
        for fortran in [false, true] {
            let b = npy_bytes(DType::I8.big_endian(), fortran, &shape, &data);
            let mut r = NpyReader::new(Cursor::new(b), origin()).unwrap();
            let mut out = Vec::new();
            assert_eq!(r.read_rows::<i64>(2, &mut out).unwrap(), 2);
            assert_eq!(out, (0..6).collect::<Vec<_>>());
            assert_eq!(r.rows_left(), 3);
            out.clear();
            assert_eq!(r.read_rows::<i64>(10, &mut out).unwrap(), 3);
            assert_eq!(out, (6..15).collect::<Vec<_>>());
            assert_eq!(r.read_rows::<i64>(10, &mut out).unwrap(), 0);
            r.finish().unwrap();
        }
    }

    fn npz(members: &[(&str, Vec<u8>, Method)]) -> Vec<u8> {
        let mut w = NpzWriter::new(Cursor::new(Vec::new()), 6);
        for (k, b, m) in members {
            let mut mw = w.member(k, *m).unwrap();
            mw.write_all(b).unwrap();
            mw.finish().unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn npz_stored_and_deflate_members() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npz");
        let a = npy_bytes(DType::I4, false, &[3, 2], &[1i64, 2, 3, 4, 5, 6]);
        let b = npy_bytes(DType::F8.big_endian(), true, &[2, 2], &[0.5, 1.5, 2.5, 3.5]);
        std::fs::write(
            &p,
            npz(&[("a", a, Method::Deflate), ("b", b, Method::Stored)]),
        )
        .unwrap();
        let z = Npz::open(&p).unwrap();
        assert_eq!(z.keys(), vec!["a", "b"]);
        assert_eq!(z.load::<i64>("a").unwrap().1, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(z.load::<f64>("b").unwrap().1, vec![0.5, 1.5, 2.5, 3.5]);
        // Two readers over one archive advance independently.
        let mut r1 = z.reader("a").unwrap();
        let mut r2 = z.reader("a").unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        r1.read_rows::<i64>(1, &mut x).unwrap();
        r2.read_rows::<i64>(2, &mut y).unwrap();
        r1.read_rows::<i64>(1, &mut x).unwrap();
        assert_eq!(x, y);
        let e = z.reader("nope").map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("no member `nope.npy`") && e.contains("a.npy, b.npy"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_member_names_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npz");
        let data: Vec<i64> = (0..4000).map(|i| (i * 7919) % 1000).collect();
        let a = npy_bytes(DType::I4, false, &[4000], &data);
        let mut bytes = npz(&[
            (
                "ok",
                npy_bytes(DType::I4, false, &[1], &[1i64]),
                Method::Deflate,
            ),
            ("a", a, Method::Deflate),
        ]);
        let z = Npz::open_bytes_for_test(&p, &bytes);
        let m = z.member("a").unwrap().clone();
        // Flip bytes in the middle of a's compressed data.
        let mid = (m.data_start + m.compressed_size / 2) as usize;
        for b in &mut bytes[mid..mid + 8] {
            *b ^= 0x5a;
        }
        std::fs::write(&p, &bytes).unwrap();
        let z = Npz::open(&p).unwrap();
        assert_eq!(z.load::<i64>("ok").unwrap().1, vec![1]);
        let e = z.load::<i64>("a").map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("x.npz") && e.contains("member `a.npy`"), "{e}");
        // Not a zip at all.
        std::fs::write(&p, b"<html>not found</html>").unwrap();
        let e = Npz::open(&p).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("x.npz") && e.contains("zip"), "{e}");
    }

    impl Npz {
        fn open_bytes_for_test(p: &Path, bytes: &[u8]) -> Npz {
            std::fs::write(p, bytes).unwrap();
            Npz::open(p).unwrap()
        }
    }

    /// Files written by real numpy (skipped where no Python with numpy is available; set
    /// RECDATA_PYTHON to the test venv's python, as `make test` does).
    #[test]
    fn reads_files_written_by_numpy() {
        let py = std::env::var("RECDATA_PYTHON").unwrap_or_else(|_| "python3".into());
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
import sys, numpy as np
d = sys.argv[1]
base = np.arange(24).reshape(2, 3, 4)
arrays = {}
for t in ['<i4', '>i4', '<i8', '>i8', '<u4', '<f4', '>f4', '<f8', '>f8', '|u1', '|i1', '|b1', '<i2']:
    a = (base % 2).astype(t) if t == '|b1' else base.astype(t)
    key = t.replace('<', 'le_').replace('>', 'be_').replace('|', 'na_')
    arrays[key] = a
    arrays[key + '_F'] = np.asfortranarray(a)
for k, a in arrays.items():
    np.save(f"{d}/{k}.npy", a)
np.savez_compressed(f"{d}/all_deflate.npz", **arrays)
np.savez(f"{d}/all_stored.npz", **arrays)
np.save(f"{d}/v2.npy", np.arange(5, dtype='<i8'), allow_pickle=False)
import numpy.lib.format as fmt
with open(f"{d}/v3.npy", "wb") as f:
    fmt.write_array(f, np.arange(5, dtype='>i4'), version=(3, 0))
with open(f"{d}/v2b.npy", "wb") as f:
    fmt.write_array(f, np.arange(5, dtype='<f8'), version=(2, 0))
print(len(arrays))
"#;
        let out = match std::process::Command::new(&py)
            .args(["-c", script, dir.path().to_str().unwrap()])
            .output()
        {
            Ok(o) if o.status.success() => o,
            other => {
                eprintln!("skipping: no python with numpy ({py}): {other:?}");
                return;
            }
        };
        let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(n, 26);
        let want: Vec<i64> = (0..24).collect();
        let want_bool: Vec<i64> = (0..24).map(|x| x % 2).collect();
        for t in [
            "<i4", ">i4", "<i8", ">i8", "<u4", "<f4", ">f4", "<f8", ">f8", "|u1", "|i1", "|b1",
            "<i2",
        ] {
            let key = t
                .replace('<', "le_")
                .replace('>', "be_")
                .replace('|', "na_");
            let w = if t == "|b1" { &want_bool } else { &want };
            for k in [key.clone(), format!("{key}_F")] {
                let (h, v) = load_npy::<i64>(&dir.path().join(format!("{k}.npy"))).unwrap();
                assert_eq!(h.shape, vec![2, 3, 4], "{k}");
                assert_eq!(h.fortran_order, k.ends_with("_F"), "{k}");
                assert_eq!(h.dtype, DType::parse(t).unwrap(), "{k}");
                assert_eq!(&v, w, "{k}");
                // Our header writer reproduces numpy's bytes exactly.
                let file = std::fs::read(dir.path().join(format!("{k}.npy"))).unwrap();
                assert_eq!(
                    npy_header(h.dtype, h.fortran_order, &h.shape),
                    file[..h.data_offset],
                    "{k}"
                );
                for z in ["all_deflate.npz", "all_stored.npz"] {
                    let npz = Npz::open(&dir.path().join(z)).unwrap();
                    assert_eq!(&npz.load::<i64>(&k).unwrap().1, w, "{z} {k}");
                }
            }
        }
        for (f, v) in [("v2.npy", (1, 0)), ("v3.npy", (3, 0)), ("v2b.npy", (2, 0))] {
            let (h, data) = load_npy::<i64>(&dir.path().join(f)).unwrap();
            assert_eq!(h.version, v, "{f}");
            assert_eq!(data, vec![0, 1, 2, 3, 4], "{f}");
        }
        let deflate = Npz::open(&dir.path().join("all_deflate.npz")).unwrap();
        assert!(deflate.members.iter().all(|m| m.method == Method::Deflate));
        let stored = Npz::open(&dir.path().join("all_stored.npz")).unwrap();
        assert!(stored.members.iter().all(|m| m.method == Method::Stored));
    }

    /// numpy reads what [`NpzWriter`] writes, and Python's zipfile sees numpy's layout.
    #[test]
    fn numpy_reads_our_npz() {
        let py = std::env::var("RECDATA_PYTHON").unwrap_or_else(|_| "python3".into());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ours.npz");
        let a = npy_bytes(DType::I4, false, &[2, 3], &[1i64, 2, 3, 4, 5, 6]);
        let b = npy_bytes(DType::F8, false, &[3], &[0.5, 1.5, 2.5]);
        std::fs::write(
            &p,
            npz(&[("a", a, Method::Deflate), ("b", b, Method::Stored)]),
        )
        .unwrap();
        let script = r#"
import sys, zipfile, numpy as np
z = np.load(sys.argv[1])
assert z["a"].tolist() == [[1, 2, 3], [4, 5, 6]] and z["a"].dtype == np.int32, z["a"]
assert z["b"].tolist() == [0.5, 1.5, 2.5]
zf = zipfile.ZipFile(sys.argv[1])
assert zf.testzip() is None
i = zf.getinfo("a.npy")
assert (i.compress_type, i.extract_version, i.create_system, i.external_attr) == (8, 45, 3, 0o600 << 16), i
print("ok")
"#;
        match std::process::Command::new(&py)
            .args(["-c", script, p.to_str().unwrap()])
            .output()
        {
            Ok(o) if o.status.success() => {
                assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok")
            }
            Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") => {
                eprintln!("skipping: no numpy at {py}")
            }
            Ok(o) => panic!("{}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("skipping: no python ({py}): {e}"),
        }
    }
}
