//! The build as a plan: every stage of the chain with its fingerprint (and the labelled parts
//! that make it), its cache directory, what it reads and writes, and whether its output is
//! cached or it will run — and why. [`super::build`] executes a plan; `recdata plan` (and
//! `build --dry-run`) prints one without running anything, the way `terraform plan` or
//! `EXPLAIN` does before a long GPU job.
//!
//! "Why" compares each stage's parts with those recorded by the last build of the dataset
//! (`.cache/last-plan.json`): a changed manifest key (down to the JSON path inside a config),
//! a changed input file, a new tool version, or an upstream stage that runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::TOOL_VERSION;
use crate::error::Result;
use crate::util::hash::Fingerprint;

/// The stages, in the order a build runs them: the one place that knows the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageId {
    Normalize,
    Filter,
    Split,
    Media,
    Caption,
    Encode,
    SemanticIds,
    Diagnostics,
    Publish,
}

impl StageId {
    pub const ALL: [StageId; 9] = [
        StageId::Normalize,
        StageId::Filter,
        StageId::Split,
        StageId::Media,
        StageId::Caption,
        StageId::Encode,
        StageId::SemanticIds,
        StageId::Diagnostics,
        StageId::Publish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StageId::Normalize => "normalize",
            StageId::Filter => "filter",
            StageId::Split => "split",
            StageId::Media => "media",
            StageId::Caption => "caption",
            StageId::Encode => "encode",
            StageId::SemanticIds => "semantic_ids",
            StageId::Diagnostics => "diagnostics",
            StageId::Publish => "publish",
        }
    }
}

/// One labelled part of a fingerprint, with the value that was hashed (kept to explain a change).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Part {
    pub label: String,
    pub value: String,
}

/// A fingerprint built from labelled parts: the same bytes as `Fingerprint::new(kind)` followed
/// by `.part(label, value)` for each part, so caches made before plans existed stay valid.
#[derive(Clone, Debug)]
pub struct Fp {
    pub kind: &'static str,
    pub parts: Vec<Part>,
    /// Parts hashed as raw bytes (index into `parts`, bytes).
    raw: Vec<(usize, Vec<u8>)>,
}

impl Fp {
    pub fn new(kind: &'static str) -> Self {
        Fp {
            kind,
            parts: Vec::new(),
            raw: Vec::new(),
        }
    }

    pub fn part(mut self, label: &str, value: impl Into<String>) -> Self {
        self.parts.push(Part {
            label: label.to_owned(),
            value: value.into(),
        });
        self
    }

    /// A part whose bytes are not text (shown as hex in explanations).
    pub fn part_bytes(mut self, label: &str, bytes: &[u8]) -> Self {
        self.parts.push(Part {
            label: label.to_owned(),
            value: format!("0x{}", hex::encode(bytes)),
        });
        self.raw.push((self.parts.len() - 1, bytes.to_vec()));
        self
    }

    pub fn finish(&self) -> String {
        let mut f = Fingerprint::new(self.kind);
        for (k, p) in self.parts.iter().enumerate() {
            match self.raw.iter().find(|(i, _)| *i == k) {
                Some((_, b)) => f.part(&p.label, b),
                None => f.part(&p.label, p.value.as_bytes()),
            };
        }
        f.finish()
    }
}

/// Whether a stage's output can be used as it is.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CacheState {
    /// Complete in the stage cache (its files' sha256 are checked when the build uses it).
    Cached,
    /// Will run; `why` says what changed since the last build.
    Run { why: Vec<String> },
}

/// One stage of a plan.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StagePlan {
    pub stage: StageId,
    pub fingerprint: String,
    /// The stage cache directory (none for publish).
    pub dir: Option<PathBuf>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    #[serde(flatten)]
    pub state: CacheState,
    #[serde(skip)]
    pub parts: Vec<Part>,
}

/// The record of the last build's plan: per stage, its fingerprint and parts.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct LastPlan {
    pub stages: BTreeMap<String, (String, Vec<Part>)>,
}

pub const LAST_PLAN: &str = "last-plan.json";

impl LastPlan {
    pub fn load(cache: &Path) -> LastPlan {
        fs_err::read(cache.join(LAST_PLAN))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Records the stages of `plan` (kept: stages the plan does not have, so switching a stage
    /// off and on again still explains itself).
    pub fn record(cache: &Path, plan: &[StagePlan]) -> Result<()> {
        let mut last = LastPlan::load(cache);
        for s in plan {
            last.stages.insert(
                s.stage.name().to_owned(),
                (s.fingerprint.clone(), s.parts.clone()),
            );
        }
        fs_err::create_dir_all(cache)?;
        let path = cache.join(LAST_PLAN);
        let tmp = crate::io::store::temp_path_for(&path);
        fs_err::write(&tmp, serde_json::to_vec_pretty(&last)?)?;
        fs_err::rename(&tmp, &path)?;
        Ok(())
    }
}

/// What changed between two JSON values, as `path: old → new` lines (at most `max`).
fn json_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>, max: usize) {
    if out.len() >= max || a == b {
        return;
    }
    let short = |v: &Value| {
        let s = v.to_string();
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                json_diff(
                    &p,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                    max,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(&format!("{path}[{i}]"), p, q, out, max);
            }
        }
        _ => out.push(format!("{path}: {} → {}", short(a), short(b))),
    }
}

/// Why a stage with these parts differs from its last recorded run (never empty).
pub fn why(
    last: &LastPlan,
    stage: StageId,
    parts: &[Part],
    upstream_runs: &[StageId],
) -> Vec<String> {
    let mut out = Vec::new();
    let Some((_, old)) = last.stages.get(stage.name()) else {
        out.push("not built before".to_owned());
        return out;
    };
    for p in parts {
        let Some(o) = old.iter().find(|o| o.label == p.label) else {
            out.push(format!("{}: new", p.label));
            continue;
        };
        if o.value == p.value {
            continue;
        }
        // An upstream stage's fingerprint: say which stage, not its hash.
        let is_fp = |v: &str| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit());
        if is_fp(&p.value) && is_fp(&o.value) {
            let up = StageId::ALL
                .iter()
                .find(|s| s.name() == p.label)
                .or_else(|| upstream_runs.last().filter(|_| p.label == "input"));
            out.push(match up {
                Some(s) => format!("upstream {} changed", s.name()),
                None => format!("upstream {} changed", p.label),
            });
            continue;
        }
        match (
            serde_json::from_str::<Value>(&o.value),
            serde_json::from_str::<Value>(&p.value),
        ) {
            (Ok(a), Ok(b)) if a.is_object() || a.is_array() => {
                let mut d = Vec::new();
                json_diff("", &a, &b, &mut d, 8);
                for line in d {
                    out.push(format!("{}: {line}", p.label));
                }
            }
            _ if p.value.len() <= 80 && o.value.len() <= 80 => {
                out.push(format!("{}: {} → {}", p.label, o.value, p.value));
            }
            _ => out.push(format!("{} changed", p.label)),
        }
    }
    for o in old {
        if !parts.iter().any(|p| p.label == o.label) {
            out.push(format!("{}: removed", o.label));
        }
    }
    if out.is_empty() {
        out.push("its cached output is missing or damaged".to_owned());
    }
    out
}

/// The plan as a table for people: stage, state, fingerprint, reasons.
pub fn render(stages: &[StagePlan], verbose: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<13} {:<7} {:<13} why",
        "stage", "state", "fingerprint"
    );
    for s in stages {
        let (state, why) = match &s.state {
            CacheState::Cached => ("cached", Vec::new()),
            CacheState::Run { why } => ("run", why.clone()),
        };
        let fp = if s.fingerprint.is_empty() {
            "—".to_owned()
        } else {
            s.fingerprint[..12].to_owned()
        };
        let first = why.first().cloned().unwrap_or_default();
        let _ = writeln!(o, "{:<13} {:<7} {:<13} {first}", s.stage.name(), state, fp);
        for w in why.iter().skip(1) {
            let _ = writeln!(o, "{:<35} {w}", "");
        }
        if verbose {
            if !s.inputs.is_empty() {
                let _ = writeln!(o, "{:<21}reads  {}", "", s.inputs.join(", "));
            }
            if !s.outputs.is_empty() {
                let _ = writeln!(o, "{:<21}writes {}", "", s.outputs.join(", "));
            }
        }
    }
    let runs = stages
        .iter()
        .filter(|s| matches!(s.state, CacheState::Run { .. }))
        .count();
    let _ = writeln!(
        o,
        "\n{runs} of {} stage(s) will run; nothing was run to make this plan",
        stages.len()
    );
    o
}

/// The tool part every stage fingerprint starts with.
pub fn tool() -> String {
    TOOL_VERSION.to_owned()
}

/// The JSON of a plan for machines (`--json`).
pub fn to_json(dataset: &str, version: &str, stages: &[StagePlan]) -> Value {
    json!({ "type": "plan", "dataset": dataset, "version": version, "stages": stages })
}

// ---------------------------------------------------------------------------------------------
// Making the plan of a manifest

/// A plan and what executing it needs besides the fingerprints.
pub struct Planned {
    pub stages: Vec<StagePlan>,
    /// The encoders' resolved models and the registry they came from (when there are encoders).
    pub models: Vec<crate::encode::Model>,
    pub models_dir: Option<PathBuf>,
    /// The item set the per-item stages run over (filter config + normalize output).
    pub fp_items: String,
    /// The shard plan's key (the per-item stages together).
    pub fp_shards: String,
}

impl Planned {
    pub fn get(&self, id: StageId) -> Option<&StagePlan> {
        self.stages.iter().find(|s| s.stage == id)
    }

    pub fn fp(&self, id: StageId) -> Option<&str> {
        self.get(id).map(|s| s.fingerprint.as_str())
    }

    pub fn dir(&self, id: StageId) -> Option<&Path> {
        self.get(id).and_then(|s| s.dir.as_deref())
    }
}

/// The file a stage writes last into its cache directory (its output is complete when it is
/// there), or `None` when the directory appears whole by rename.
pub fn done_file(id: StageId) -> Option<&'static str> {
    match id {
        StageId::Media => Some(super::media::TABLE),
        StageId::Caption => Some(super::caption::REPORT),
        StageId::Encode => Some(super::encode::REPORT),
        StageId::SemanticIds => Some(super::semantic_ids::REPORT),
        StageId::Diagnostics => Some(crate::diagnose::JSON),
        _ => None,
    }
}

/// Whether `dir` holds a complete, intact output (read-only: nothing is removed).
fn intact(id: StageId, dir: &Path) -> Result<bool> {
    if !dir.is_dir() || done_file(id).is_some_and(|f| !dir.join(f).is_file()) {
        return Ok(false);
    }
    Ok(super::check_stage_files(id, dir)?.is_none())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}

/// Every stage's fingerprint, directory, inputs and outputs for manifest `m` over `inputs`.
/// With `inspect`, each stage's cache state is read (its files hashed) and explained against
/// `last`; otherwise every stage is marked to run (the executor checks the cache itself).
pub fn make(
    m: &super::Manifest,
    cache: &Path,
    inputs: &[super::InputFile],
    models_dir: Option<&Path>,
    last: &LastPlan,
    inspect: bool,
) -> Result<Planned> {
    let mut p = Planner {
        cache,
        stages: Vec::new(),
    };
    let fp_norm = p.push(
        StageId::Normalize,
        Fp::new("normalize")
            .part("tool", tool())
            .part("corpus", json(&m.source.corpus)?)
            .part("inputs", json(&inputs)?),
        inputs.iter().map(|f| f.file.clone()).collect(),
        vec!["rejects.parquet".into(), "normalized tables".into()],
    );
    let fp_filter = p.push(
        StageId::Filter,
        Fp::new("filter")
            .part("tool", tool())
            .part("input", fp_norm.clone())
            .part("config", json(&m.filter)?)
            .part(
                "meta",
                format!("{}\u{1f}{}", m.dataset.name, m.dataset.version),
            ),
        vec!["normalize".into()],
        ["interactions", "users", "items", "user_map", "item_map"]
            .iter()
            .map(|t| format!("{t}.parquet"))
            .collect(),
    );
    let fp_split = match &m.split {
        Some(s) => Some(
            p.push(
                StageId::Split,
                Fp::new("split")
                    .part("tool", tool())
                    .part("input", fp_filter.clone())
                    .part("config", json(s)?),
                vec!["filter".into()],
                super::split::NAMES
                    .iter()
                    .map(|n| format!("splits/{n}.parquet"))
                    .collect(),
            ),
        ),
        None => None,
    };
    // The per-item stages are keyed on the item set (normalize output + filter config), not on
    // the dataset version: a new version of the same data reuses fetched media and vectors.
    let fp_items = Fp::new("items")
        .part("tool", tool())
        .part("input", fp_norm.clone())
        .part("config", json(&m.filter)?)
        .finish();
    let fp_media = p.media(m, &fp_items);
    let fp_caption = p.caption(m, &fp_items, &fp_media);
    let encoders = p.encode(m, models_dir, &fp_items, &fp_media, &fp_caption)?;
    let fp_encode = encoders.as_ref().map(|e| e.fp.clone());
    let up = |f: &Option<String>| f.clone().unwrap_or_default();
    let fp_shards = Fp::new("shard-plan")
        .part("tool", tool())
        .part("items", fp_items.clone())
        .part("media", up(&fp_media))
        .part("caption", up(&fp_caption))
        .part("encode", up(&fp_encode))
        .finish();
    let fp_sid = match (&m.semantic_ids, &fp_encode) {
        (Some(c), Some(fe)) => Some(
            p.push(
                StageId::SemanticIds,
                Fp::new("semantic_ids")
                    .part("tool", tool())
                    .part("encode", fe.clone())
                    .part("config", json(c)?),
                vec!["encode".into()],
                vec!["semantic_ids.parquet".into(), "codebooks.parquet".into()],
            ),
        ),
        (Some(_), None) => {
            return Err(crate::error::Error::Invalid(
                "[stages.semantic_ids] needs embeddings: add [[stages.encode]] entries".into(),
            ));
        }
        _ => None,
    };
    // diagnostics read the published tables and dataset.json: keyed on everything upstream and
    // on the whole manifest (dataset.json records it).
    if let Some(dc) = &m.diagnostics {
        p.push(
            StageId::Diagnostics,
            Fp::new("diagnostics")
                .part("tool", tool())
                .part("filter", fp_filter.clone())
                .part("split", up(&fp_split))
                .part("media", up(&fp_media))
                .part("caption", up(&fp_caption))
                .part("encode", up(&fp_encode))
                .part("semantic_ids", up(&fp_sid))
                .part("config", json(dc)?)
                .part("manifest", json(&m.resolved)?),
            vec!["split".into(), "encode".into(), "dataset.json".into()],
            vec![crate::diagnose::JSON.into(), crate::diagnose::HTML.into()],
        );
    }
    let publish = Fp::new("publish").part("version", m.dataset.version.clone());
    p.push(
        StageId::Publish,
        publish,
        vec!["every stage above".into()],
        vec![format!("{}/{}/", m.dataset.name, m.dataset.version)],
    );
    let mut stages = p.stages;
    if inspect {
        explain(&mut stages, last, &m.dataset.version)?;
    }
    let (models, models_dir) = encoders.map_or((Vec::new(), None), |e| (e.models, Some(e.dir)));
    Ok(Planned {
        stages,
        models,
        models_dir,
        fp_items,
        fp_shards,
    })
}

/// The plan being made: the stages so far, in chain order.
struct Planner<'a> {
    cache: &'a Path,
    stages: Vec<StagePlan>,
}

/// The encode stage's plan: its fingerprint, the resolved models and their registry.
struct Encoders {
    fp: String,
    models: Vec<crate::encode::Model>,
    dir: PathBuf,
}

impl Planner<'_> {
    /// Adds a stage (with its cache directory, except publish) and returns its fingerprint.
    fn push(&mut self, id: StageId, fp: Fp, inputs: Vec<String>, outputs: Vec<String>) -> String {
        let fingerprint = fp.finish();
        let dir = (id != StageId::Publish).then(|| {
            self.cache
                .join(format!("{}-{}", id.name(), &fingerprint[..16]))
        });
        self.stages.push(StagePlan {
            stage: id,
            dir,
            fingerprint: fingerprint.clone(),
            inputs,
            outputs,
            state: CacheState::Run { why: Vec::new() },
            parts: fp.parts,
        });
        fingerprint
    }

    /// media: the item set and each fetch's modality, URL template and size cap.
    fn media(&mut self, m: &super::Manifest, fp_items: &str) -> Option<String> {
        if m.media.is_empty() {
            return None;
        }
        let mut fp = Fp::new("media").part("input", fp_items);
        for c in &m.media {
            fp = fp
                .part("modality", c.options.modality.name())
                .part("urls", serde_json::to_string(&c.urls).unwrap_or_default())
                .part_bytes("max_bytes", &c.options.max_bytes.to_le_bytes());
        }
        debug_assert_eq!(fp.finish(), super::media::fingerprint(&m.media, fp_items));
        let inputs = m
            .media
            .iter()
            .map(|c| format!("{} of every item", c.options.modality.name()))
            .collect();
        let outputs = vec![
            "media.parquet".into(),
            "media/<modality>/<item_id>.<ext>".into(),
        ];
        Some(self.push(StageId::Media, fp, inputs, outputs))
    }

    /// caption: the item set, the media and each captioner's identity (model, prompt, generation
    /// settings); the endpoint is where answers come from, not what they are.
    fn caption(
        &mut self,
        m: &super::Manifest,
        fp_items: &str,
        fp_media: &Option<String>,
    ) -> Option<String> {
        if m.caption.is_empty() {
            return None;
        }
        let mut fp = Fp::new("caption")
            .part("tool", tool())
            .part("items", fp_items)
            .part("media", fp_media.clone().unwrap_or_default());
        for c in &m.caption {
            fp = fp
                .part("name", c.name.clone())
                .part("identity", c.identity());
        }
        let outputs = m
            .caption
            .iter()
            .map(|c| super::caption::table_path(&c.name))
            .collect();
        Some(self.push(StageId::Caption, fp, vec!["media".into()], outputs))
    }

    /// encode: the items, their media and captions, each encoder's configuration and the
    /// sha256 of every model file it uses.
    fn encode(
        &mut self,
        m: &super::Manifest,
        models_dir: Option<&Path>,
        fp_items: &str,
        fp_media: &Option<String>,
        fp_caption: &Option<String>,
    ) -> Result<Option<Encoders>> {
        use super::encode;
        if m.encode.is_empty() {
            return Ok(None);
        }
        let reg = crate::encode::registry::for_manifest(models_dir, &m.path, &m.models)?;
        let models = encode::resolve_models(&m.encode, &reg)?;
        encode::check_tasks(&m.encode, &models)?;
        let mut fp = Fp::new("encode")
            .part("tool", tool())
            .part("items", fp_items)
            .part("media", fp_media.clone().unwrap_or_default())
            .part("caption", fp_caption.clone().unwrap_or_default())
            .part("config", json(&m.encode)?);
        for md in &models {
            fp = fp.part("model", md.spec.sha256.clone()).part(
                "preprocessing",
                json(&json!([md.spec.tokenizer_sha256, md.spec.frontend_sha256]))?,
            );
            // What the entry says about preparing inputs and reading outputs (mean and std, a
            // prefix, a pooling, a front end), for a model the manifest defines (its user may
            // edit it between builds) or one that sets a key newer than the first registry;
            // the fingerprints of builds that use neither stay what they were.
            let own = md.spec.defined_in != reg.dir.join(crate::encode::registry::REGISTRY_FILE);
            if own || !md.spec.prefix.is_empty() || !md.spec.space.is_empty() || md.spec.standardize
            {
                fp = fp.part("spec", json(&md.spec)?);
            }
        }
        let mut outputs: Vec<String> = m
            .encode
            .iter()
            .map(|c| format!("embeddings/{}.parquet", c.name))
            .collect();
        outputs.push(encode::STATUS_TABLE.into());
        let inputs = vec!["items, media, captions".into()];
        Ok(Some(Encoders {
            fp: self.push(StageId::Encode, fp, inputs, outputs),
            models,
            dir: reg.dir.clone(),
        }))
    }
}

/// Reads each stage's cache state and, for those that will run, why: what changed since the
/// `last` build, or an upstream stage that runs.
fn explain(stages: &mut [StagePlan], last: &LastPlan, version: &str) -> Result<()> {
    let mut running: Vec<StageId> = Vec::new();
    for s in stages.iter_mut() {
        let cached = match &s.dir {
            Some(d) => intact(s.stage, d)?,
            None => false,
        };
        s.state = if cached {
            CacheState::Cached
        } else {
            let why = if s.stage == StageId::Publish {
                vec![format!("version {version} is new")]
            } else {
                why(last, s.stage, &s.parts, &running)
            };
            running.push(s.stage);
            CacheState::Run { why }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp_equals_the_incremental_fingerprint() {
        let fp = Fp::new("filter")
            .part("tool", "0.1.0")
            .part("input", "abc")
            .part("config", "{\"a\":1}");
        let mut f = Fingerprint::new("filter");
        f.part("tool", b"0.1.0")
            .part("input", b"abc")
            .part("config", b"{\"a\":1}");
        assert_eq!(fp.finish(), f.finish());
    }

    #[test]
    fn why_names_the_changed_key() {
        let mut last = LastPlan::default();
        let old = vec![
            Part {
                label: "tool".into(),
                value: "0.1.0".into(),
            },
            Part {
                label: "config".into(),
                value: r#"[{"name":"title","model":"a","batch_size":8}]"#.into(),
            },
        ];
        last.stages.insert("encode".into(), ("x".into(), old));
        let new = vec![
            Part {
                label: "tool".into(),
                value: "0.1.0".into(),
            },
            Part {
                label: "config".into(),
                value: r#"[{"name":"title","model":"b","batch_size":8}]"#.into(),
            },
        ];
        assert_eq!(
            why(&last, StageId::Encode, &new, &[]),
            vec![r#"config: [0].model: "a" → "b""#.to_owned()]
        );
        assert_eq!(
            why(&last, StageId::Split, &new, &[]),
            vec!["not built before".to_owned()]
        );
    }
}
