//! Manifests: what users write to describe a dataset build.
//!
//! Loading goes wire → resolved in one pass over a spanned TOML tree ([`tree`]): every key is
//! read through a [`reader::TableReader`], which collects *all* problems (unknown keys with
//! suggestions, wrong types, bad values) as [`Diagnostic`]s with file:line:column, so a user
//! fixes a manifest in one round instead of one error per run. `include = [...]` merges pipeline
//! presets (`pipelines/*.toml`) under the manifest; the manifest's own keys win.

pub mod diagnostic;
pub mod models;
pub mod reader;
pub mod tree;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Severity};
use reader::{Spanned, TableReader};
use tree::{Sources, Span, Table};

use crate::sources::{CorpusConfig, RemoteFile};
use crate::stages::filter::FilterConfig;
use crate::stages::split::SplitConfig;

/// A fully resolved manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file as given on the command line.
    pub path: PathBuf,
    pub dataset: DatasetInfo,
    pub source: SourceConfig,
    pub filter: FilterConfig,
    pub split: Option<SplitConfig>,
    /// `[[stages.media]]`: item media fetched by URL.
    pub media: Vec<crate::stages::media::MediaConfig>,
    /// `[[stages.caption]]`: MLLM captions of item images / video frames.
    pub caption: Vec<crate::stages::caption::CaptionConfig>,
    /// `[[stages.encode]]`: ONNX encoders over item fields, media and captions.
    pub encode: Vec<crate::stages::encode::EncodeConfig>,
    /// `[stages.semantic_ids]`: item semantic ids from the encoders' embeddings.
    pub semantic_ids: Option<crate::stages::semantic_ids::SidConfig>,
    /// `[stages.diagnostics]`: statistics, leakage audit, shortcut diagnostics and the report.
    pub diagnostics: Option<crate::stages::diagnostics::DiagnosticsConfig>,
    /// `[models.<id>]`: the user's own encoders (paths resolved against the defining file).
    pub models: Vec<(String, crate::encode::registry::ModelSpec)>,
    /// `[slurm]`: resources of the job array `recdata slurm` writes (no effect on the data).
    pub slurm: crate::slurm::SlurmConfig,
    /// The merged manifest (includes applied) as JSON: recorded in `dataset.json` and hashed into
    /// stage fingerprints. Paths are kept exactly as written, so it does not depend on the machine.
    pub resolved: serde_json::Value,
    /// Warnings found while loading (the build still runs).
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, Clone)]
pub struct DatasetInfo {
    pub name: String,
    pub version: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Overrides the corpus' default license text in the card.
    pub license: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// A local directory holding the raw files (resolved against the manifest's directory).
    pub path: Option<PathBuf>,
    /// Remote files with checksums (downloaded by `recdata fetch`).
    pub files: Vec<RemoteFile>,
    pub corpus: CorpusConfig,
    /// `[source.fetch]` / `[source.extract]`: how files are downloaded and unpacked.
    pub fetch: crate::fetch::FetchConfig,
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

/// Reads a manifest and everything it includes.
pub fn load(path: &Path) -> Result<Manifest, ManifestErrors> {
    let mut sources = Sources::default();
    let mut diags = Vec::new();
    let mut stack = Vec::new();
    let root = load_with_includes(path, &mut sources, &mut diags, &mut stack, None);
    let unreadable = root.is_none() && sources.is_empty();
    let manifest = root.and_then(|t| resolve(path, &t, &sources, &mut diags));
    let errors = diags.iter().any(|d| d.severity == Severity::Error);
    match manifest {
        Some(mut m) if !errors => {
            m.warnings = diags;
            Ok(m)
        }
        _ => Err(ManifestErrors {
            sources,
            diagnostics: diags,
            unreadable,
        }),
    }
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
            let msg = match crate::util::input::check_file(path) {
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

fn resolve(
    path: &Path,
    root: &Table,
    sources: &Sources,
    diags: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    let whole = root.entries.first().map_or(
        Span {
            file: tree::FileId(0),
            start: 0,
            end: 0,
        },
        |e| e.key_span,
    );
    let mut top = TableReader::new(root, "", whole);
    // Read (and removed) while loading; a valid key all the same.
    top.allow(&["include"]);

    let dataset = match top.table(diags, "dataset") {
        Some(mut r) => {
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
        None => {
            if !top.has("dataset") {
                top.missing(diags, "dataset", "{ name = \"...\", version = \"...\" }");
            }
            None
        }
    };

    let base = path.parent().unwrap_or(Path::new("."));
    let source = match top.table(diags, "source") {
        Some(mut r) => {
            let corpus = crate::sources::read_corpus_config(&mut r, diags);
            let local = r.str(diags, "path").map(|p| base.join(p.value));
            let files: Vec<RemoteFile> = r
                .table_array(diags, "files")
                .into_iter()
                .filter_map(|f| RemoteFile::read(f, diags))
                .collect();
            if local.is_none() && files.is_empty() {
                diags.push(
                    Diagnostic::error("`[source]` names no data", Some(r.span), "in this table")
                        .with_help("set `path = \"<directory with the raw files>\"` or list `[[source.files]]` with url and sha256"),
                );
            }
            if local.is_some() && !files.is_empty() {
                diags.push(
                    Diagnostic::error(
                        "`[source]` sets both `path` and `[[source.files]]`",
                        Some(r.span),
                        "in this table",
                    )
                    .with_help("use `path` for files you already have, or `[[source.files]]` to download them, not both"),
                );
            }
            let fetch = crate::fetch::FetchConfig::read(&mut r, diags);
            r.finish(diags);
            corpus.map(|corpus| SourceConfig {
                path: local,
                files,
                corpus,
                fetch,
            })
        }
        None => {
            if !top.has("source") {
                top.missing(
                    diags,
                    "source",
                    "{ corpus = \"lastfm-1k\", path = \"...\" }",
                );
            }
            None
        }
    };

    let mut media = Vec::new();
    let mut caption = Vec::new();
    let mut encode = Vec::new();
    let mut semantic_ids = None;
    let mut diagnostics = None;
    let (filter, split) = match top.table(diags, "stages") {
        Some(mut st) => {
            let filter = match st.table(diags, "filter") {
                Some(mut f) => {
                    let c = FilterConfig::read(&mut f, diags);
                    f.finish(diags);
                    c
                }
                None => Some(FilterConfig::default()),
            };
            let split = match st.table(diags, "split") {
                Some(mut s) => {
                    let c = SplitConfig::read(&mut s, diags);
                    s.finish(diags);
                    c.map(Some)
                }
                None => Some(None),
            };
            for mut t in st.table_array(diags, "media") {
                if let Some(c) = crate::stages::media::MediaConfig::read(&mut t, diags) {
                    media.push(c);
                }
                t.finish(diags);
            }
            for mut t in st.table_array(diags, "caption") {
                if let Some(c) = crate::stages::caption::CaptionConfig::read(&mut t, diags) {
                    caption.push(c);
                }
                t.finish(diags);
            }
            for mut t in st.table_array(diags, "encode") {
                if let Some(c) = crate::stages::encode::EncodeConfig::read(&mut t, diags) {
                    encode.push(c);
                }
                t.finish(diags);
            }
            if let Some(mut t) = st.table(diags, "diagnostics") {
                diagnostics = crate::stages::diagnostics::DiagnosticsConfig::read(&mut t, diags);
                let span = t.span;
                t.finish(diags);
                if !st.has("split") && diagnostics.is_some() {
                    diags.push(Diagnostic::error(
                        "[stages.diagnostics] evaluates on the dataset's splits: add [stages.split]",
                        Some(span),
                        "in this table",
                    ));
                }
            }
            if let Some(mut t) = st.table(diags, "semantic_ids") {
                semantic_ids = crate::stages::semantic_ids::SidConfig::read(&mut t, diags);
                let span = t.span;
                t.finish(diags);
                let names: Vec<&String> = encode
                    .iter()
                    .map(|e: &crate::stages::encode::EncodeConfig| &e.name)
                    .collect();
                for e in semantic_ids.iter().flat_map(|s| &s.embeddings) {
                    if !names.contains(&e) {
                        diags.push(Diagnostic::error(
                            format!("[stages.semantic_ids] uses embeddings `{e}`, but no [[stages.encode]] entry has that name"),
                            Some(span),
                            "in this table",
                        ));
                    }
                }
            }
            let media_names: Vec<String> = media
                .iter()
                .map(|m: &crate::stages::media::MediaConfig| m.options.modality.name().to_string())
                .collect();
            let mut cap_names: Vec<String> = Vec::new();
            for c in &caption {
                if cap_names.contains(&c.name) {
                    diags.push(Diagnostic::error(
                        format!("two [[stages.caption]] entries are named `{}`", c.name),
                        Some(st.span),
                        "in this table",
                    ));
                }
                if !media_names.contains(&c.media) {
                    diags.push(Diagnostic::error(
                        format!(
                            "[[stages.caption]] `{}` captions the items' {}, but no [[stages.media]] entry has modality = \"{}\"",
                            c.name, c.media, c.media
                        ),
                        Some(st.span),
                        "in this table",
                    ));
                }
                cap_names.push(c.name.clone());
            }
            for problem in crate::stages::encode::check(&encode, &cap_names, &media_names) {
                diags.push(Diagnostic::error(problem, Some(st.span), "in this table"));
            }
            st.finish(diags);
            (filter, split)
        }
        None => (Some(FilterConfig::default()), Some(None)),
    };
    let slurm = match top.table(diags, "slurm") {
        Some(mut t) => {
            let c = crate::slurm::SlurmConfig::read(&mut t, diags);
            t.finish(diags);
            c.unwrap_or_default()
        }
        None => Default::default(),
    };
    let models = match top.table(diags, "models") {
        Some(mut t) => models::read(&mut t, sources, diags),
        None => Vec::new(),
    };
    top.finish(diags);

    Some(Manifest {
        slurm,
        models,
        path: path.to_path_buf(),
        dataset: dataset?,
        source: source?,
        filter: filter?,
        split: split?,
        media,
        caption,
        encode,
        semantic_ids,
        diagnostics,
        resolved: {
            // `[slurm]` says where a build runs, not what it makes: not part of the record.
            let mut j = tree::to_json(root);
            if let Some(o) = j.as_object_mut() {
                o.remove("slurm");
            }
            j
        },
        warnings: Vec::new(),
    })
}
