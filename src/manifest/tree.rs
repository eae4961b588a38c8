//! A spanned, source-aware view of TOML documents.
//!
//! toml_edit keeps byte spans for keys and values; we copy them into a small tree whose every
//! node also knows which file it came from, so that values merged from an included pipeline
//! preset still point at the preset when something is wrong with them.

use std::path::{Path, PathBuf};

use toml_edit::{Item, Value};

use super::diagnostic::Diagnostic;

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId(pub usize);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

/// The text of every file read while loading one manifest (the manifest and its includes).
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

#[derive(Debug)]
struct SourceFile {
    path: PathBuf,
    text: String,
    /// Byte offset of each line's start, built on first use: rendering N diagnostics costs
    /// O(N log lines), not O(N × file size).
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl Sources {
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile {
            path,
            text,
            line_starts: std::sync::OnceLock::new(),
        });
        FileId(self.files.len() - 1)
    }
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
    pub fn path(&self, id: FileId) -> &Path {
        &self.files[id.0].path
    }
    pub fn text(&self, id: FileId) -> &str {
        &self.files[id.0].text
    }

    fn line_starts(&self, id: FileId) -> &[usize] {
        let f = &self.files[id.0];
        f.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', f.text.as_bytes()).map(|i| i + 1))
                .collect()
        })
    }

    /// `(line, column, line text)` of a byte offset: line and column 1-based, the column in
    /// characters, the line without its newline.
    pub fn locate(&self, id: FileId, offset: usize) -> (usize, usize, &str) {
        let text = self.text(id);
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let starts = self.line_starts(id);
        let line = starts.partition_point(|s| *s <= offset).max(1);
        let start = starts[line - 1];
        let end = starts.get(line).map_or(text.len(), |e| e - 1);
        let line_text = text[start..end]
            .strip_suffix('\r')
            .unwrap_or(&text[start..end]);
        (line, text[start..offset].chars().count() + 1, line_text)
    }
}

#[derive(Clone, Debug)]
pub enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub val: Val,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub node: Node,
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub entries: Vec<Entry>,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Merges `over` into `self`: tables merge key by key, anything else is replaced. Keys are
    /// found through an index, so a manifest of 100k tables merges in linear time.
    pub fn merge(&mut self, over: Table) {
        let mut index: std::collections::HashMap<String, usize> = self
            .entries
            .iter()
            .enumerate()
            .map(|(k, e)| (e.key.clone(), k))
            .collect();
        for e in over.entries {
            match index.get(&e.key).map(|&k| &mut self.entries[k]) {
                Some(existing) => match (&mut existing.node.val, e.node.val) {
                    (Val::Table(a), Val::Table(b)) => a.merge(b),
                    (_, v) => {
                        existing.node = Node {
                            val: v,
                            span: e.node.span,
                        };
                        existing.key_span = e.key_span;
                    }
                },
                None => {
                    index.insert(e.key.clone(), self.entries.len());
                    self.entries.push(e);
                }
            }
        }
    }
}

impl Val {
    /// The TOML type name, as users know it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) => "integer",
            Val::Float(_) => "float",
            Val::Bool(_) => "boolean",
            Val::Datetime(_) => "datetime",
            Val::Array(_) => "array",
            Val::Table(_) => "table",
        }
    }
}

/// Parses `text` into a spanned tree; a syntax error becomes one diagnostic.
pub fn parse(file: FileId, text: &str) -> Result<Table, Diagnostic> {
    let doc = toml_edit::Document::parse(text.to_owned()).map_err(|e| {
        let span = e.span().map(|r| Span {
            file,
            start: r.start,
            end: r.end.max(r.start + 1),
        });
        let msg = e.message().trim().to_owned();
        Diagnostic::error(format!("invalid TOML: {msg}"), span, "here")
    })?;
    let whole = Span {
        file,
        start: 0,
        end: 0,
    };
    Ok(convert_table(file, doc.as_table(), whole))
}

fn span_of(file: FileId, r: Option<std::ops::Range<usize>>, fallback: Span) -> Span {
    r.map_or(fallback, |r| Span {
        file,
        start: r.start,
        end: r.end,
    })
}

fn convert_table(file: FileId, t: &toml_edit::Table, fallback: Span) -> Table {
    let here = span_of(file, t.span(), fallback);
    let mut entries = Vec::new();
    for (k, item) in t.iter() {
        let key_span = span_of(file, t.key(k).and_then(toml_edit::Key::span), here);
        if let Some(node) = convert_item(file, item, key_span) {
            entries.push(Entry {
                key: k.to_owned(),
                key_span,
                node,
            });
        }
    }
    Table { entries }
}

fn convert_item(file: FileId, item: &Item, fallback: Span) -> Option<Node> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(convert_value(file, v, fallback)),
        Item::Table(t) => {
            let span = span_of(file, t.span(), fallback);
            Some(Node {
                val: Val::Table(convert_table(file, t, span)),
                span,
            })
        }
        Item::ArrayOfTables(a) => {
            let span = span_of(file, a.span(), fallback);
            let nodes = a
                .iter()
                .map(|t| {
                    let s = span_of(file, t.span(), span);
                    Node {
                        val: Val::Table(convert_table(file, t, s)),
                        span: s,
                    }
                })
                .collect();
            Some(Node {
                val: Val::Array(nodes),
                span,
            })
        }
    }
}

fn convert_value(file: FileId, v: &Value, fallback: Span) -> Node {
    let span = span_of(file, v.span(), fallback);
    let val = match v {
        Value::String(s) => Val::Str(s.value().clone()),
        Value::Integer(i) => Val::Int(*i.value()),
        Value::Float(f) => Val::Float(*f.value()),
        Value::Boolean(b) => Val::Bool(*b.value()),
        Value::Datetime(d) => Val::Datetime(d.value().to_string()),
        Value::Array(a) => Val::Array(a.iter().map(|x| convert_value(file, x, span)).collect()),
        Value::InlineTable(t) => {
            let mut entries = Vec::new();
            for (k, item) in t.iter() {
                let key_span = span_of(file, t.key(k).and_then(toml_edit::Key::span), span);
                entries.push(Entry {
                    key: k.to_owned(),
                    key_span,
                    node: convert_value(file, item, key_span),
                });
            }
            Val::Table(Table { entries })
        }
    };
    Node { val, span }
}

/// The tree as JSON, for fingerprints and the dataset lock (spans dropped, key order kept).
pub fn to_json(t: &Table) -> serde_json::Value {
    fn node(n: &Node) -> serde_json::Value {
        match &n.val {
            Val::Str(s) | Val::Datetime(s) => serde_json::Value::String(s.clone()),
            Val::Int(i) => (*i).into(),
            Val::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Val::Bool(b) => (*b).into(),
            Val::Array(a) => a.iter().map(node).collect(),
            Val::Table(t) => to_json(t),
        }
    }
    serde_json::Value::Object(
        t.entries
            .iter()
            .map(|e| (e.key.clone(), node(&e.node)))
            .collect(),
    )
}
