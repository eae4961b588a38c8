//! Manifests: what users write to describe a dataset build.
//!
//! Loading goes wire → resolved in one pass over a spanned TOML tree ([`tree`]): every key is
//! read through a [`reader::TableReader`], which collects *all* problems (unknown keys with
//! suggestions, wrong types, bad values) as [`Diagnostic`]s with file:line:column, so a user
//! fixes a manifest in one round instead of one error per run. `include = [...]` merges pipeline
//! presets (`pipelines/*.toml`) under the manifest; the manifest's own keys win.

pub mod diagnostic;
pub mod reader;
pub mod tree;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Severity};
use reader::{Spanned, TableReader};
use tree::{Sources, Span, Table};

/// `[dataset]`: what the built dataset is called, and how it describes itself.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    pub name: String,
    pub version: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Overrides the corpus' default license text in the card.
    pub license: Option<String>,
}

/// Everything that went wrong while loading, with the sources needed to render it.
#[derive(Debug)]
pub struct ManifestErrors {
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
    /// The manifest file itself could not be read (missing, a directory, no permission): the
    /// run could not start (exit 2), as opposed to a manifest with errors in it (exit 1).
    pub unreadable: bool,
}

impl ManifestErrors {
    /// The diagnostics as text: the first [`Self::SHOWN`] in full, then a count of the rest
    /// (`--json` lists every one).
    pub fn render(&self, color: bool) -> String {
        let mut s: String = self
            .diagnostics
            .iter()
            .take(Self::SHOWN)
            .map(|d| d.render(&self.sources, color) + "\n")
            .collect();
        if self.diagnostics.len() > Self::SHOWN {
            s.push_str(&format!(
                "... and {} more (not shown; `--json` lists every one)\n\n",
                self.diagnostics.len() - Self::SHOWN
            ));
        }
        let n = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        s.push_str(&format!(
            "{n} error{} in manifest\n",
            if n == 1 { "" } else { "s" }
        ));
        s
    }

    /// How many diagnostics [`Self::render`] prints in full.
    pub const SHOWN: usize = 20;
}

impl crate::error::ManifestReport for ManifestErrors {
    fn render(&self, color: bool) -> String {
        ManifestErrors::render(self, color)
    }
    fn diagnostics_json(&self) -> Vec<serde_json::Value> {
        self.diagnostics
            .iter()
            .map(|d| d.to_json(&self.sources))
            .collect()
    }
    fn unreadable(&self) -> bool {
        self.unreadable
    }
}

impl From<ManifestErrors> for crate::error::Error {
    fn from(e: ManifestErrors) -> Self {
        crate::error::Error::Manifest(Box::new(e))
    }
}

impl std::fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Whether `s` is a valid dataset name or version: they become directory names, so they are
/// kept boring (ASCII letters, digits, `-`, `_`, `.`, not starting with `.`, at most 100
/// characters, not `latest`). Also the check for names read back from a `dataset.json`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s != "latest"
}

/// Dataset names and versions become directory names: keep them boring.
fn check_name(diags: &mut Vec<Diagnostic>, v: &Spanned<String>, what: &str) {
    let ok = valid_name(&v.value);
    if !ok {
        diags.push(
            Diagnostic::error(format!("invalid {what} `{}`", v.value), Some(v.span), "not a valid name")
                .with_help("use ASCII letters, digits, `-`, `_` and `.`, not starting with `.`; `latest` is reserved"),
        );
    }
}

/// The largest manifest or included file read (real ones are a few KB).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// A manifest file with its includes merged under it: the spanned tree its sections are read
/// from, and the problems found so far.
pub struct Document {
    pub sources: Sources,
    pub root: Option<Table>,
    pub diagnostics: Vec<Diagnostic>,
    /// The manifest itself could not be read (as opposed to read with errors in it).
    unreadable: bool,
}

impl Document {
    /// Reads `path` and everything it includes (`include = [...]`, in order, under its own keys).
    pub fn read(path: &Path) -> Document {
        let mut sources = Sources::default();
        let mut diagnostics = Vec::new();
        let root = load_with_includes(path, &mut sources, &mut diagnostics, &mut Vec::new(), None);
        let unreadable = root.is_none() && sources.is_empty();
        Document {
            sources,
            root,
            diagnostics,
            unreadable,
        }
    }

    /// The reader of the top-level table (`include`, read while loading, is a valid key).
    pub fn top_reader(root: &Table) -> TableReader<'_> {
        let whole = root.entries.first().map_or(
            Span {
                file: tree::FileId(0),
                start: 0,
                end: 0,
            },
            |e| e.key_span,
        );
        let mut top = TableReader::new(root, "", whole);
        top.allow(&["include"]);
        top
    }

    /// Resolves the tree with `read` (which reads every section and adds its problems): the
    /// value and the warnings, or every problem when any is an error.
    pub fn resolve<T>(
        self,
        read: impl FnOnce(&Table, &Sources, &mut Vec<Diagnostic>) -> Option<T>,
    ) -> Result<(T, Vec<Diagnostic>), ManifestErrors> {
        let mut diags = self.diagnostics;
        let value = self
            .root
            .as_ref()
            .and_then(|root| read(root, &self.sources, &mut diags));
        let errors = diags.iter().any(|d| d.severity == Severity::Error);
        match value {
            Some(v) if !errors => Ok((v, diags)),
            _ => Err(ManifestErrors {
                sources: self.sources,
                diagnostics: diags,
                unreadable: self.unreadable,
            }),
        }
    }
}

/// `[dataset]`, required: name and version (checked as directory names), title, description,
/// license.
pub fn read_dataset(top: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<DatasetInfo> {
    let Some(mut r) = top.table(diags, "dataset") else {
        if !top.has("dataset") {
            top.missing(diags, "dataset", "{ name = \"...\", version = \"...\" }");
        }
        return None;
    };
    let name = r.required_str(diags, "name", "\"my-dataset\"");
    let version = r.required_str(diags, "version", "\"1.0.0\"");
    if let Some(n) = &name {
        check_name(diags, n, "dataset name");
    }
    if let Some(v) = &version {
        check_name(diags, v, "dataset version");
    }
    let title = r.str(diags, "title").map(|s| s.value);
    let description = r.str(diags, "description").map(|s| s.value);
    let license = r.str(diags, "license").map(|s| s.value);
    r.finish(diags);
    name.zip(version).map(|(n, v)| DatasetInfo {
        name: n.value,
        version: v.value,
        title,
        description,
        license,
    })
}

fn load_with_includes(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    stack: &mut Vec<PathBuf>,
    included_at: Option<Span>,
) -> Option<Table> {
    // A manifest is a small regular file: a FIFO would hang, /dev/zero would fill memory.
    let what = if included_at.is_some() {
        "included file"
    } else {
        "manifest"
    };
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let msg = match crate::io::input::check_file(path) {
                Err(e) => format!("cannot read {what}: {e}"),
                Ok(_) => format!("cannot read {what}: not a regular file"),
            };
            diags.push(Diagnostic::error(msg, included_at, "included here"));
            return None;
        }
        Ok(meta) if meta.len() > MAX_MANIFEST_BYTES => {
            diags.push(Diagnostic::error(
                format!(
                    "cannot read {what} {}: {} bytes is more than a manifest can be ({} MiB at most)",
                    path.display(),
                    meta.len(),
                    MAX_MANIFEST_BYTES >> 20
                ),
                included_at,
                "included here",
            ));
            return None;
        }
        _ => {}
    }
    let bytes = match fs_err::read(path) {
        Ok(t) => t,
        Err(e) => {
            let msg = match included_at {
                Some(_) => format!("cannot read included file: {e}"),
                None => format!("cannot read manifest: {e}"),
            };
            diags.push(Diagnostic::error(msg, included_at, "included here"));
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Point at the first bad byte (line and column) in a lossy copy of the text.
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let id = sources.add(path.to_path_buf(), lossy);
            diags.push(
                Diagnostic::error(
                    "the manifest is not valid UTF-8",
                    Some(Span {
                        file: id,
                        start: at,
                        end: at + 1,
                    }),
                    format!("byte 0x{:02X} is not UTF-8 here", e.as_bytes()[at]),
                )
                .with_help("TOML files are UTF-8: re-save the file as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`)"),
            );
            return None;
        }
    };
    let canon = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canon) {
        diags.push(Diagnostic::error(
            format!("include cycle: `{}` includes itself", path.display()),
            included_at,
            "cycle",
        ));
        return None;
    }
    let file = sources.add(path.to_path_buf(), text);
    let mut table = match tree::parse(file, sources.text(file)) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    stack.push(canon);
    // Includes first, in order; then this file's own keys on top.
    let mut merged = Table::default();
    if let Some(pos) = table.entries.iter().position(|e| e.key == "include") {
        let inc = table.entries.remove(pos);
        let items = match &inc.node.val {
            tree::Val::Array(items) => items.clone(),
            tree::Val::Str(_) => vec![inc.node.clone()],
            other => {
                diags.push(Diagnostic::error(
                    format!(
                        "`include` must be an array of paths, found {}",
                        other.type_name()
                    ),
                    Some(inc.node.span),
                    "expected an array of strings",
                ));
                vec![]
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        for it in items {
            let tree::Val::Str(rel) = &it.val else {
                diags.push(Diagnostic::error(
                    "`include` entries must be strings",
                    Some(it.span),
                    "expected a path",
                ));
                continue;
            };
            if let Some(t) =
                load_with_includes(&base.join(rel), sources, diags, stack, Some(it.span))
            {
                merged.merge(t);
            }
        }
    }
    stack.pop();
    merged.merge(table);
    Some(merged)
}
