//! The whole manifest: the `[dataset]` header and the spanned-TOML reading of
//! [`crate::manifest`], then each section read by the module that owns it — `[source]` by the
//! corpus adapters and fetch, `[stages.*]` by each stage, `[slurm]` by slurm, `[models.*]` by
//! the encoders' registry — and the checks that span sections (a caption's media, an encoder's
//! inputs, semantic ids' embeddings). It lives with the stages because it is what ties them into
//! one build; the toolkit below it knows none of them.

use std::path::{Path, PathBuf};

use crate::manifest::reader::TableReader;
use crate::manifest::tree::{self, Sources, Span, Table};
use crate::manifest::{DatasetInfo, Diagnostic, Document, ManifestErrors};
use crate::sources::{CorpusConfig, RemoteFile};

use super::caption::CaptionConfig;
use super::diagnostics::DiagnosticsConfig;
use super::encode::EncodeConfig;
use super::filter::FilterConfig;
use super::media::MediaConfig;
use super::semantic_ids::SidConfig;
use super::split::SplitConfig;

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
    pub media: Vec<MediaConfig>,
    /// `[[stages.caption]]`: MLLM captions of item images / video frames.
    pub caption: Vec<CaptionConfig>,
    /// `[[stages.encode]]`: ONNX encoders over item fields, media and captions.
    pub encode: Vec<EncodeConfig>,
    /// `[stages.semantic_ids]`: item semantic ids from the encoders' embeddings.
    pub semantic_ids: Option<SidConfig>,
    /// `[stages.diagnostics]`: statistics, leakage audit, shortcut diagnostics and the report.
    pub diagnostics: Option<DiagnosticsConfig>,
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
pub struct SourceConfig {
    /// A local directory holding the raw files (resolved against the manifest's directory).
    pub path: Option<PathBuf>,
    /// Remote files with checksums (downloaded by `recdata fetch`).
    pub files: Vec<RemoteFile>,
    pub corpus: CorpusConfig,
    /// `[source.fetch]` / `[source.extract]`: how files are downloaded and unpacked.
    pub fetch: crate::fetch::FetchConfig,
}

/// The `[stages]` sections.
struct Stages {
    filter: Option<FilterConfig>,
    split: Option<Option<SplitConfig>>,
    /// Where `[stages.filter]` and `[stages.split]` are, for problems found with other sections.
    filter_span: Option<Span>,
    split_span: Option<Span>,
    media: Vec<MediaConfig>,
    caption: Vec<CaptionConfig>,
    encode: Vec<EncodeConfig>,
    semantic_ids: Option<SidConfig>,
    diagnostics: Option<DiagnosticsConfig>,
}

/// Reads a manifest and everything it includes, collecting every problem at once.
pub fn load(path: &Path) -> Result<Manifest, ManifestErrors> {
    let doc = Document::read(path);
    doc.resolve(|root, sources, diags| resolve(path, root, sources, diags))
        .map(|(mut m, warnings)| {
            m.warnings = warnings;
            m
        })
}

fn resolve(
    path: &Path,
    root: &Table,
    sources: &Sources,
    diags: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    let mut top = Document::top_reader(root);
    let dataset = crate::manifest::read_dataset(&mut top, diags);
    let source = read_source(&mut top, path.parent().unwrap_or(Path::new(".")), diags);
    let stages = match top.table(diags, "stages") {
        Some(mut st) => {
            let s = read_stages(&mut st, diags);
            st.finish(diags);
            s
        }
        None => Stages {
            filter: Some(FilterConfig::default()),
            split: Some(None),
            filter_span: None,
            split_span: None,
            media: Vec::new(),
            caption: Vec::new(),
            encode: Vec::new(),
            semantic_ids: None,
            diagnostics: None,
        },
    };
    if let Some(src) = &source {
        check_time_options(&src.corpus, &stages, diags);
    }
    let slurm = match top.table(diags, "slurm") {
        Some(mut t) => {
            let c = crate::slurm::SlurmConfig::read(&mut t, diags);
            t.finish(diags);
            c.unwrap_or_default()
        }
        None => Default::default(),
    };
    let models = match top.table(diags, "models") {
        Some(mut t) => crate::encode::user_models::read(&mut t, sources, diags),
        None => Vec::new(),
    };
    top.finish(diags);

    Some(Manifest {
        slurm,
        models,
        path: path.to_path_buf(),
        dataset: dataset?,
        source: source?,
        filter: stages.filter?,
        split: stages.split?,
        media: stages.media,
        caption: stages.caption,
        encode: stages.encode,
        semantic_ids: stages.semantic_ids,
        diagnostics: stages.diagnostics,
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

/// `[source]`: the corpus (its adapter reads its own keys), where the raw files are, and how
/// they are fetched.
fn read_source(
    top: &mut TableReader<'_>,
    base: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<SourceConfig> {
    let Some(mut r) = top.table(diags, "source") else {
        if !top.has("source") {
            top.missing(
                diags,
                "source",
                "{ corpus = \"lastfm-1k\", path = \"...\" }",
            );
        }
        return None;
    };
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

/// `[stages]`: each stage's section read by its stage, then the references between them.
fn read_stages(st: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Stages {
    let (mut filter_span, mut split_span) = (None, None);
    let filter = match st.table(diags, "filter") {
        Some(mut f) => {
            let c = FilterConfig::read(&mut f, diags);
            filter_span = Some(f.span);
            f.finish(diags);
            c
        }
        None => Some(FilterConfig::default()),
    };
    let split = match st.table(diags, "split") {
        Some(mut s) => {
            let c = SplitConfig::read(&mut s, diags);
            split_span = Some(s.span);
            s.finish(diags);
            c.map(Some)
        }
        None => Some(None),
    };
    // Each entry with the span of its table, so a problem found across sections points at the
    // entry at fault (not at the first `stages` key, which may be in an included preset).
    let (mut media, mut caption, mut encode) = (Vec::new(), Vec::new(), Vec::new());
    for mut t in st.table_array(diags, "media") {
        media.extend(MediaConfig::read(&mut t, diags).map(|c| (c, t.span)));
        t.finish(diags);
    }
    for mut t in st.table_array(diags, "caption") {
        caption.extend(CaptionConfig::read(&mut t, diags).map(|c| (c, t.span)));
        t.finish(diags);
    }
    for mut t in st.table_array(diags, "encode") {
        encode.extend(EncodeConfig::read(&mut t, diags).map(|c| (c, t.span)));
        t.finish(diags);
    }
    let encoder_named = |n: &str| {
        encode
            .iter()
            .any(|(c, _): &(EncodeConfig, Span)| c.name == n)
    };
    let mut diagnostics = None;
    if let Some(mut t) = st.table(diags, "diagnostics") {
        diagnostics = DiagnosticsConfig::read(&mut t, diags);
        let span = t.span;
        t.finish(diags);
        if !st.has("split") && diagnostics.is_some() {
            diags.push(Diagnostic::error(
                "[stages.diagnostics] evaluates on the dataset's splits: add [stages.split]",
                Some(span),
                "in this table",
            ));
        }
        if let Some(e) = diagnostics
            .as_ref()
            .and_then(|d| d.options.embedding.as_ref())
            && !encoder_named(e)
        {
            diags.push(
                Diagnostic::error(
                    format!("[stages.diagnostics] uses embedding `{e}`, but no [[stages.encode]] entry has that name"),
                    Some(span),
                    "in this table",
                )
                .with_help("name the [[stages.encode]] entry whose vectors the embedding nearest-neighbour baseline reads, or remove `embedding`"),
            );
        }
    }
    let mut semantic_ids = None;
    if let Some(mut t) = st.table(diags, "semantic_ids") {
        semantic_ids = SidConfig::read(&mut t, diags);
        let span = t.span;
        t.finish(diags);
        let mut seen = Vec::new();
        for e in semantic_ids.iter().flat_map(|s| &s.embeddings) {
            if !encoder_named(e) {
                diags.push(Diagnostic::error(
                    format!("[stages.semantic_ids] uses embeddings `{e}`, but no [[stages.encode]] entry has that name"),
                    Some(span),
                    "in this table",
                ));
            }
            if seen.contains(&e) {
                diags.push(Diagnostic::error(
                    format!("[stages.semantic_ids] lists embeddings `{e}` twice (its vectors would be concatenated with themselves)"),
                    Some(span),
                    "in this table",
                ));
            }
            seen.push(e);
        }
    }
    check_item_stage_references(&media, &caption, &encode, diags);
    Stages {
        filter,
        split,
        filter_span,
        split_span,
        media: media.into_iter().map(|(c, _)| c).collect(),
        caption: caption.into_iter().map(|(c, _)| c).collect(),
        encode: encode.into_iter().map(|(c, _)| c).collect(),
        semantic_ids,
        diagnostics,
    }
}

/// Media are one entry per modality; captions need the media they caption; encoders need the
/// fields, media and captions they encode; names are unique. Each problem points at its entry.
fn check_item_stage_references(
    media: &[(MediaConfig, Span)],
    caption: &[(CaptionConfig, Span)],
    encode: &[(EncodeConfig, Span)],
    diags: &mut Vec<Diagnostic>,
) {
    let mut media_names: Vec<String> = Vec::new();
    for (m, span) in media {
        let name = m.options.modality.name().to_string();
        if media_names.contains(&name) {
            diags.push(
                Diagnostic::error(
                    format!("two [[stages.media]] entries have modality = \"{name}\""),
                    Some(*span),
                    "the second one",
                )
                .with_help("media are one table per modality: put every URL or path template of a modality in one entry's `urls`"),
            );
        }
        media_names.push(name);
    }
    let mut cap_names: Vec<String> = Vec::new();
    for (c, span) in caption {
        if cap_names.contains(&c.name) {
            diags.push(Diagnostic::error(
                format!("two [[stages.caption]] entries are named `{}`", c.name),
                Some(*span),
                "the second one",
            ));
        }
        if !media_names.contains(&c.media) {
            diags.push(Diagnostic::error(
                format!(
                    "[[stages.caption]] `{}` captions the items' {}, but no [[stages.media]] entry has modality = \"{}\"",
                    c.name, c.media, c.media
                ),
                Some(*span),
                "in this entry",
            ));
        }
        cap_names.push(c.name.clone());
    }
    let cfgs = encode.iter().map(|(c, _)| c);
    for (k, problem) in super::encode::check(cfgs, &cap_names, &media_names) {
        diags.push(Diagnostic::error(
            problem,
            Some(encode[k].1),
            "in this entry",
        ));
    }
}

/// A corpus without event times has no time window and no temporal split: said at `validate`,
/// before a build parses gigabytes to find out.
fn check_time_options(corpus: &CorpusConfig, stages: &Stages, diags: &mut Vec<Diagnostic>) {
    if !corpus.timeless() {
        return;
    }
    let name = corpus.name();
    if let Some(f) = &stages.filter
        && (f.start.is_some() || f.end.is_some())
    {
        diags.push(
            Diagnostic::error(
                format!("`stages.filter.start`/`end`: {name} as configured has no event times (only interaction steps), so it has no time window"),
                stages.filter_span,
                "in this table",
            )
            .with_help("remove `start` and `end`"),
        );
    }
    if let Some(Some(s)) = &stages.split
        && matches!(s.method, super::split::Method::Temporal { .. })
    {
        diags.push(
            Diagnostic::error(
                format!("`stages.split`: {name} as configured has no event times (only interaction steps), so it cannot be split by time"),
                stages.split_span,
                "in this table",
            )
            .with_help("use `method = \"leave_one_out\"`, `\"leave_last_n\"`, `\"user_ratio\"` or `\"random\"`"),
        );
    }
}
