//! `[models.<id>]` in a manifest (or a file it includes): the user's own encoders, with the
//! keys of `models/models.toml`. Paths are relative to the file that defines the entry, so a
//! shared `models.toml` of a lab can be included from anywhere.

use std::path::Path;

use super::registry::ModelSpec;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::manifest::tree::{Sources, Val, to_json};

/// The model entries of the `models` table, each checked like a registry entry.
pub fn read(
    r: &mut TableReader<'_>,
    sources: &Sources,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, ModelSpec)> {
    let mut out = Vec::new();
    for e in r.entries() {
        let id = &e.key;
        let Val::Table(t) = &e.node.val else {
            diags.push(Diagnostic::error(
                format!("`models.{id}` must be a table of model keys"),
                Some(e.node.span),
                format!("found {}", e.node.val.type_name()),
            ).with_help("e.g. [models.my-clip-image]\ntask = \"image\"\nonnx = \"clip/vision.onnx\"\nsha256 = \"…\"\ndim = 512\n…"));
            continue;
        };
        if !crate::manifest::valid_name(id) {
            diags.push(Diagnostic::error(
                format!("`{id}` is not a model id: use letters, digits, `-`, `_` and `.`"),
                Some(e.key_span),
                "this id",
            ));
            continue;
        }
        let mut spec: ModelSpec = match serde_json::from_value(to_json(t)) {
            Ok(s) => s,
            Err(err) => {
                diags.push(
                    Diagnostic::error(
                        format!("[models.{id}]: {err}"),
                        Some(e.node.span),
                        "in this model",
                    )
                    .with_help("the keys are those of models/models.toml; see the README's encoder section"),
                );
                continue;
            }
        };
        if let Err(message) = spec.check(id) {
            diags.push(Diagnostic::error(
                format!("[models.{id}]: {message}"),
                Some(e.node.span),
                "in this model",
            ));
            continue;
        }
        let file = sources.path(e.node.span.file);
        spec.base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        spec.defined_in = file.to_path_buf();
        out.push((id.clone(), spec));
    }
    out
}
