//! The diagnostics stage: `[stages.diagnostics]` runs `crate::diagnose` on the staged dataset
//! before it is published, so every version carries `diagnostics.json` and `report.html`, and
//! manifest thresholds turn findings into a failed build (exit 1, after publishing the dataset
//! with its report so the failure can be inspected).

use std::path::PathBuf;

use crate::diagnose::tgh::Params;
use crate::diagnose::{Options, Thresholds};
use crate::error::{Error, Result};
use crate::manifest::ManifestErrors;
use crate::manifest::diagnostic::{Diagnostic, Severity};
use crate::manifest::reader::TableReader;
use crate::manifest::tree::{self, Sources, Span};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiagnosticsConfig {
    pub options: Options,
    pub thresholds: Thresholds,
}

/// Most rings a hop list may name, and most items per ring or list.
const MAX_RINGS: usize = 8;
const MAX_K: usize = 1000;

/// An array of non-negative integers (read as numbers: the manifest reader has no integer
/// arrays) with `min_len..=max_len` entries, each `<= max`; `None` after reporting why.
fn counts(
    r: &mut TableReader<'_>,
    diags: &mut Vec<Diagnostic>,
    key: &'static str,
    min_len: usize,
    max: usize,
    what: &str,
) -> Option<(Vec<usize>, Span)> {
    let v = r.float_array(diags, key)?;
    let qualified = format!("{}.{key}", r.path);
    let ok_items = v
        .value
        .iter()
        .all(|x| x.fract() == 0.0 && (0.0..=max as f64).contains(x));
    if !ok_items || !(min_len..=MAX_RINGS).contains(&v.value.len()) {
        diags.push(
            Diagnostic::error(
                format!(
                    "`{qualified}` must be {min_len} to {MAX_RINGS} integers in 0 ..= {max} ({what})"
                ),
                Some(v.span),
                "invalid list",
            )
            .with_help(format!(
                "the default is `{key} = {}`",
                default_of(key)
            )),
        );
        return None;
    }
    Some((v.value.iter().map(|&x| x as usize).collect(), v.span))
}

fn default_of(key: &str) -> String {
    let d = Params::default();
    let list = |v: &[usize]| {
        format!(
            "[{}]",
            v.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match key {
        "tgh1_hops" => list(&d.tgh1_hops),
        "tgh2_src2_hops" => list(&d.tgh2_src2_hops),
        "tgh2_src3_hops" => list(&d.tgh2_src3_hops),
        "last_n" => list(&d.last_n),
        _ => String::new(),
    }
}

/// A hop list: per-ring budgets summing to at least 1.
fn hops(
    r: &mut TableReader<'_>,
    diags: &mut Vec<Diagnostic>,
    key: &'static str,
) -> Option<Vec<usize>> {
    let (v, span) = counts(r, diags, key, 1, MAX_K, "items taken from ring 1, 2, …")?;
    if v.iter().sum::<usize>() == 0 {
        diags.push(Diagnostic::error(
            format!("`{}.{key}` takes no item from any ring", r.path),
            Some(span),
            "all zero",
        ));
        return None;
    }
    Some(v)
}

impl DiagnosticsConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<DiagnosticsConfig> {
        let mut c = DiagnosticsConfig::default();
        if let Some(v) = r.str(diags, "embedding") {
            c.options.embedding = Some(v.value);
        }
        if let Some(v) = r.int(diags, "near_threshold", 0, 32) {
            c.options.near_threshold = Some(v.value as u32);
        }
        if let Some(v) = r.float(diags, "near_cosine", 0.5, 1.0) {
            c.options.near_cosine = Some(v.value as f32);
        }
        if let Some(v) = r.int(diags, "max_leakage", 0, i64::MAX) {
            c.thresholds.max_leakage = Some(v.value as u64);
        }
        if let Some(v) = r.float(diags, "fail_if_heuristic_ndcg10_above", 0.0, 1.0) {
            c.thresholds.fail_if_heuristic_ndcg10_above = Some(v.value);
        }
        if let Some(v) = r.bool(diags, "fail_if_shortcut_solvable") {
            c.thresholds.fail_if_shortcut_solvable = v.value;
        }
        // The transition-graph heuristic (spec B2, B10).
        let t = &mut c.options.tgh;
        if let Some(v) = r.float(diags, "alpha", 0.0, 100.0) {
            t.alpha = v.value;
        }
        if let Some(v) = r.int(diags, "total_k", 1, MAX_K as i64) {
            t.total_k = v.value as usize;
        }
        if let Some(v) = hops(r, diags, "tgh1_hops") {
            t.tgh1_hops = v;
        }
        if let Some(v) = hops(r, diags, "tgh2_src2_hops") {
            t.tgh2_src2_hops = v;
        }
        if let Some(v) = hops(r, diags, "tgh2_src3_hops") {
            t.tgh2_src3_hops = v;
        }
        if let Some(v) = r.int(diags, "seed", 0, i64::MAX) {
            t.seed = v.value as u64;
        }
        let before = diags.len();
        match counts(
            r,
            diags,
            "last_n",
            0,
            1_000_000,
            "history lengths of the D3 anchors, 0 for the full history",
        ) {
            Some((v, span)) => {
                let mut seen = v.clone();
                seen.sort_unstable();
                seen.dedup();
                if v.contains(&1) || seen.len() != v.len() {
                    diags.push(
                        Diagnostic::error(
                            format!(
                                "`{}.last_n` must list distinct lengths other than 1",
                                r.path
                            ),
                            Some(span),
                            "invalid list",
                        )
                        .with_help("last 1 is TGH-1 itself, always reported"),
                    );
                } else {
                    t.last_n = v;
                }
            }
            None if diags.len() > before && r.has("last_n") => {
                // A mixed array such as [3, 5, "all"]: say how to write the full history.
                if let Some(d) = diags.pop() {
                    diags.push(d.with_help("write the full history as 0: `last_n = [3, 5, 0]`"));
                }
            }
            None => {}
        }
        if let Some(v) = r.int(diags, "last_n_sample", 1, i64::MAX) {
            t.last_n_sample = v.value as usize;
        }
        Some(c)
    }

    /// `recdata diagnose --set KEY=VALUE …`: the same keys, values (TOML) and checks as
    /// `[stages.diagnostics]`, reported like manifest errors.
    pub fn from_overrides(sets: &[String]) -> Result<DiagnosticsConfig> {
        let text: String = sets.iter().map(|s| format!("{s}\n")).collect();
        let mut sources = Sources::default();
        let file = sources.add(PathBuf::from("--set"), text.clone());
        let mut diags = Vec::new();
        let c = match tree::parse(file, &text) {
            Ok(table) => {
                let span = Span {
                    file,
                    start: 0,
                    end: text.len(),
                };
                let mut r = TableReader::new(&table, "stages.diagnostics", span);
                let c = DiagnosticsConfig::read(&mut r, &mut diags);
                r.finish(&mut diags);
                c
            }
            Err(d) => {
                diags.push(d.with_help("write `--set KEY=VALUE` with a TOML value, e.g. `--set alpha=0.3 --set 'tgh1_hops=[5, 3, 2]'`"));
                None
            }
        };
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(Error::Manifest(Box::new(ManifestErrors {
                sources,
                diagnostics: diags,
                unreadable: false,
            })));
        }
        Ok(c.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(args: &[&str]) -> Result<DiagnosticsConfig> {
        DiagnosticsConfig::from_overrides(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn error(args: &[&str]) -> String {
        match set(args) {
            Err(e @ Error::Manifest(_)) => e.to_string(),
            other => panic!("expected a manifest error, got {other:?}"),
        }
    }

    #[test]
    fn diagnostics_tgh_defaults_are_the_specs() {
        let c = set(&[]).unwrap();
        let p = &c.options.tgh;
        assert_eq!(*p, Params::default());
        assert_eq!(
            (p.alpha, p.total_k, p.seed, p.last_n_sample),
            (0.5, 10, 42, 10_000)
        );
        assert_eq!(
            (
                &p.tgh1_hops[..],
                &p.tgh2_src2_hops[..],
                &p.tgh2_src3_hops[..]
            ),
            (&[7, 2, 1][..], &[5, 1][..], &[3, 1][..])
        );
        assert_eq!(p.last_n, vec![3, 5, 0]);
        assert_eq!(
            (p.budget2(), p.budget3(), p.ring_top(), p.depth()),
            (6, 4, 10, 3)
        );
        assert_eq!(p.json()["last_n"], serde_json::json!([3, 5, "all"]));
    }

    #[test]
    fn diagnostics_tgh_options_are_read() {
        let c = set(&[
            "alpha = 0.25",
            "total_k = 12",
            "tgh1_hops = [5, 4, 2, 1]",
            "tgh2_src2_hops = [6, 2]",
            "tgh2_src3_hops = [4]",
            "seed = 7",
            "last_n = [0, 10]",
            "last_n_sample = 500",
            "max_leakage = 0",
        ])
        .unwrap();
        let p = &c.options.tgh;
        assert_eq!(p.alpha, 0.25);
        assert_eq!(p.total_k, 12);
        assert_eq!(p.tgh1_hops, vec![5, 4, 2, 1]);
        assert_eq!(p.tgh2_src2_hops, vec![6, 2]);
        assert_eq!(p.tgh2_src3_hops, vec![4]);
        assert_eq!((p.seed, p.last_n_sample), (7, 500));
        assert_eq!(p.last_n, vec![0, 10]);
        assert_eq!((p.ring_top(), p.depth()), (12, 4));
        assert_eq!(c.thresholds.max_leakage, Some(0));
        assert!(set(&["last_n = []"]).unwrap().options.tgh.last_n.is_empty());
    }

    #[test]
    fn diagnostics_tgh_errors_name_the_key() {
        let e = error(&["alpha = -1"]);
        assert!(
            e.contains("`stages.diagnostics.alpha` = -1 is out of range"),
            "{e}"
        );
        let e = error(&["tgh1_hops = [7, 2.5, 1]"]);
        assert!(
            e.contains("`stages.diagnostics.tgh1_hops` must be 1 to 8 integers"),
            "{e}"
        );
        assert!(e.contains("[7, 2, 1]"), "{e}");
        let e = error(&["tgh2_src3_hops = []"]);
        assert!(e.contains("`stages.diagnostics.tgh2_src3_hops`"), "{e}");
        let e = error(&["tgh2_src2_hops = [0, 0]"]);
        assert!(
            e.contains("`stages.diagnostics.tgh2_src2_hops` takes no item"),
            "{e}"
        );
        let e = error(&["total_k = 0"]);
        assert!(
            e.contains("`stages.diagnostics.total_k` = 0 is out of range"),
            "{e}"
        );
        let e = error(&["seed = -3"]);
        assert!(e.contains("`stages.diagnostics.seed`"), "{e}");
        let e = error(&["last_n = [3, 5, \"all\"]"]);
        assert!(e.contains("`stages.diagnostics.last_n`"), "{e}");
        assert!(e.contains("write the full history as 0"), "{e}");
        let e = error(&["last_n = [1, 3]"]);
        assert!(e.contains("distinct lengths other than 1"), "{e}");
        let e = error(&["last_n_sample = 0"]);
        assert!(e.contains("`stages.diagnostics.last_n_sample`"), "{e}");
        let e = error(&["alpa = 0.3"]);
        assert!(
            e.contains("unknown key `alpa`") && e.contains("did you mean `alpha`?"),
            "{e}"
        );
        let e = error(&["alpha 0.3"]);
        assert!(e.contains("invalid TOML"), "{e}");
    }
}
