//! The diagnostics stage: `[stages.diagnostics]` runs `crate::diagnose` on the staged dataset
//! before it is published, so every version carries `diagnostics.json` and `report.html`, and
//! manifest thresholds turn findings into a failed build (exit 1, after publishing the dataset
//! with its report so the failure can be inspected).

use crate::diagnose::{Options, Thresholds};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiagnosticsConfig {
    pub options: Options,
    pub thresholds: Thresholds,
}

impl DiagnosticsConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<DiagnosticsConfig> {
        let mut c = DiagnosticsConfig::default();
        if let Some(v) = r.str(diags, "embedding") {
            c.options.embedding = Some(v.value);
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
        Some(c)
    }
}
