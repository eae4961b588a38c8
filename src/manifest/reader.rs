//! Typed reading of a spanned table that collects every problem instead of stopping at the
//! first: wrong types, unknown keys (with "did you mean"), values outside the allowed set.

use super::diagnostic::{Diagnostic, one_of, suggest};
use super::tree::{Entry, Node, Span, Table, Val};

/// A value with the span it was read from.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// Reads keys from one table; call [`TableReader::finish`] to report the keys nobody asked for.
pub struct TableReader<'a> {
    table: &'a Table,
    /// Dotted path for messages, e.g. `stages.filter`.
    pub path: String,
    pub span: Span,
    known: Vec<&'static str>,
    /// Every key is known (the table was read whole).
    all: bool,
}

impl<'a> TableReader<'a> {
    pub fn new(table: &'a Table, path: impl Into<String>, span: Span) -> Self {
        TableReader {
            table,
            path: path.into(),
            span,
            known: Vec::new(),
            all: false,
        }
    }

    fn entry(&mut self, key: &'static str) -> Option<&'a Entry> {
        self.known.push(key);
        self.table.get(key)
    }

    /// Every entry of the table, all marked as read (a table whose keys are names, like
    /// `[models]`).
    pub fn entries(&mut self) -> &'a [Entry] {
        self.all = true;
        &self.table.entries
    }

    /// Marks keys as known without reading them (read elsewhere).
    pub fn allow(&mut self, keys: &[&'static str]) {
        self.known.extend_from_slice(keys);
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn qualified(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn type_error(&self, diags: &mut Vec<Diagnostic>, key: &str, node: &Node, expected: &str) {
        diags.push(Diagnostic::error(
            format!(
                "`{}` must be {expected}, found {}",
                self.qualified(key),
                node.val.type_name()
            ),
            Some(node.span),
            format!("expected {expected}"),
        ));
    }

    pub fn missing(&self, diags: &mut Vec<Diagnostic>, key: &str, what: &str) {
        let table = if self.path.is_empty() {
            "the manifest".to_owned()
        } else {
            format!("`[{}]`", self.path)
        };
        diags.push(
            Diagnostic::error(
                format!("missing required key `{key}` in {table}"),
                Some(self.span),
                "in this table",
            )
            .with_help(format!("add `{key} = {what}`")),
        );
    }

    pub fn str(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Option<Spanned<String>> {
        let e = self.entry(key)?;
        match &e.node.val {
            Val::Str(s) => Some(Spanned {
                value: s.clone(),
                span: e.node.span,
            }),
            _ => {
                self.type_error(diags, key, &e.node, "a string");
                None
            }
        }
    }

    pub fn required_str(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
        what: &str,
    ) -> Option<Spanned<String>> {
        let v = self.str(diags, key);
        if v.is_none() && !self.has(key) {
            self.missing(diags, key, what);
        }
        v
    }

    /// A string or a TOML datetime (kept as its text).
    pub fn time_text(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Option<Spanned<String>> {
        let e = self.entry(key)?;
        match &e.node.val {
            Val::Str(s) | Val::Datetime(s) => Some(Spanned {
                value: s.clone(),
                span: e.node.span,
            }),
            Val::Int(i) => Some(Spanned {
                value: i.to_string(),
                span: e.node.span,
            }),
            _ => {
                self.type_error(diags, key, &e.node, "a date, datetime or epoch seconds");
                None
            }
        }
    }

    pub fn int(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
        min: i64,
        max: i64,
    ) -> Option<Spanned<i64>> {
        let e = self.entry(key)?;
        match &e.node.val {
            Val::Int(i) if (min..=max).contains(i) => Some(Spanned {
                value: *i,
                span: e.node.span,
            }),
            Val::Int(i) => {
                diags.push(Diagnostic::error(
                    format!("`{}` = {i} is out of range", self.qualified(key)),
                    Some(e.node.span),
                    format!("expected {min} ..= {max}"),
                ));
                None
            }
            _ => {
                self.type_error(diags, key, &e.node, "an integer");
                None
            }
        }
    }

    pub fn float(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
        min: f64,
        max: f64,
    ) -> Option<Spanned<f64>> {
        let e = self.entry(key)?;
        let v = match &e.node.val {
            Val::Float(f) => *f,
            Val::Int(i) => *i as f64,
            _ => {
                self.type_error(diags, key, &e.node, "a number");
                return None;
            }
        };
        if !(min..=max).contains(&v) {
            diags.push(Diagnostic::error(
                format!("`{}` = {v} is out of range", self.qualified(key)),
                Some(e.node.span),
                format!("expected {min} ..= {max}"),
            ));
            return None;
        }
        Some(Spanned {
            value: v,
            span: e.node.span,
        })
    }

    pub fn bool(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Option<Spanned<bool>> {
        let e = self.entry(key)?;
        match &e.node.val {
            Val::Bool(b) => Some(Spanned {
                value: *b,
                span: e.node.span,
            }),
            _ => {
                self.type_error(diags, key, &e.node, "a boolean");
                None
            }
        }
    }

    /// A string that must be one of `choices`.
    pub fn choice(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
        choices: &[&'static str],
    ) -> Option<Spanned<&'static str>> {
        let s = self.str(diags, key)?;
        if let Some(c) = choices.iter().find(|c| **c == s.value) {
            return Some(Spanned {
                value: c,
                span: s.span,
            });
        }
        let mut d = Diagnostic::error(
            format!("unknown value `{}` for `{}`", s.value, self.qualified(key)),
            Some(s.span),
            format!("expected {}", one_of(choices)),
        );
        if let Some(best) = suggest(&s.value, choices) {
            d = d.with_help(format!("did you mean `{best}`?"));
        }
        diags.push(d.with_help(format!("valid values: {}", one_of(choices))));
        None
    }

    pub fn str_array(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Option<Vec<Spanned<String>>> {
        let e = self.entry(key)?;
        let Val::Array(items) = &e.node.val else {
            self.type_error(diags, key, &e.node, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for it in items {
            match &it.val {
                Val::Str(s) => out.push(Spanned {
                    value: s.clone(),
                    span: it.span,
                }),
                _ => self.type_error(diags, key, it, "an array of strings"),
            }
        }
        Some(out)
    }

    pub fn float_array(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Option<Spanned<Vec<f64>>> {
        let e = self.entry(key)?;
        let Val::Array(items) = &e.node.val else {
            self.type_error(diags, key, &e.node, "an array of numbers");
            return None;
        };
        let mut out = Vec::new();
        for it in items {
            match &it.val {
                Val::Float(f) => out.push(*f),
                Val::Int(i) => out.push(*i as f64),
                _ => {
                    self.type_error(diags, key, it, "an array of numbers");
                    return None;
                }
            }
        }
        Some(Spanned {
            value: out,
            span: e.node.span,
        })
    }

    /// A sub-table (`[a.b]` or an inline table).
    pub fn table(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Option<TableReader<'a>> {
        let e = self.entry(key)?;
        match &e.node.val {
            Val::Table(t) => Some(TableReader::new(t, self.qualified(key), e.node.span)),
            _ => {
                self.type_error(diags, key, &e.node, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[a.b]]`).
    pub fn table_array(
        &mut self,
        diags: &mut Vec<Diagnostic>,
        key: &'static str,
    ) -> Vec<TableReader<'a>> {
        let Some(e) = self.entry(key) else {
            return vec![];
        };
        let Val::Array(items) = &e.node.val else {
            self.type_error(diags, key, &e.node, "an array of tables");
            return vec![];
        };
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            match &it.val {
                Val::Table(t) => out.push(TableReader::new(
                    t,
                    format!("{}[{i}]", self.qualified(key)),
                    it.span,
                )),
                _ => self.type_error(diags, key, it, "an array of tables"),
            }
        }
        out
    }

    /// Reports every key that was not read, with the closest valid key.
    pub fn finish(self, diags: &mut Vec<Diagnostic>) {
        if self.all {
            return;
        }
        for e in &self.table.entries {
            if self.known.contains(&e.key.as_str()) {
                continue;
            }
            let mut known = self.known.clone();
            known.sort_unstable();
            known.dedup();
            let place = if self.path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `[{}]`", self.path)
            };
            let mut d = Diagnostic::error(
                format!("unknown key `{}` {place}", e.key),
                Some(e.key_span),
                "unknown key",
            );
            if let Some(best) = suggest(&e.key, &known) {
                d = d.with_help(format!("did you mean `{best}`?"));
            }
            diags.push(d.with_help(format!("valid keys here: {}", one_of(&known))));
        }
    }
}
