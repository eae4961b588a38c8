//! `recdata diagnose`: diagnostics of a published version, written beside it.

use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::error::Result;
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Diagnose {
        dir,
        out,
        embedding,
        max_leakage,
        fail_if_heuristic_ndcg10_above,
        fail_if_shortcut_solvable,
        set,
    } = &cli.command
    else {
        unreachable!("dispatched on the variant")
    };
    let cfg = crate::stages::diagnostics::DiagnosticsConfig::from_overrides(set)?;
    let mut options = cfg.options;
    options.embedding = embedding.clone().or(options.embedding);
    let doc = crate::diagnose::compute(dir, &options, p)?;
    let out = out.clone().unwrap_or_else(|| {
        // Names from a dataset.json become a folder name only when they are valid ones.
        let ok = |v: &serde_json::Value| {
            v.as_str()
                .filter(|s| crate::manifest::valid_name(s))
                .map(str::to_owned)
        };
        let name = ok(&doc["dataset"]["name"]).unwrap_or_else(|| "dataset".into());
        let version = ok(&doc["dataset"]["version"]).unwrap_or_default();
        PathBuf::from(format!("{name}-{version}-diagnostics"))
    });
    // `diagnose` reads a version; it never writes into one.
    crate::io::store::check_not_a_dataset(&out, "diagnostics")?;
    crate::diagnose::write(&out, &doc)?;
    let failures = crate::diagnose::check(
        &doc,
        &crate::diagnose::Thresholds {
            max_leakage: max_leakage.or(cfg.thresholds.max_leakage),
            fail_if_heuristic_ndcg10_above: fail_if_heuristic_ndcg10_above
                .or(cfg.thresholds.fail_if_heuristic_ndcg10_above),
            fail_if_shortcut_solvable: *fail_if_shortcut_solvable
                || cfg.thresholds.fail_if_shortcut_solvable,
        },
    );
    if cli.json {
        println!(
            "{}",
            json!({ "out": out, "verdict": doc["verdict"], "failures": failures })
        );
    } else {
        println!("{}", out.join(crate::diagnose::HTML).display());
    }
    for f in &failures {
        p.warn(format!("check failed: {f}"));
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}
