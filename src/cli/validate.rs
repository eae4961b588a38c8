//! `recdata validate`: every manifest error at once.

use serde_json::json;

use super::*;
use crate::error::Result;
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Validate { manifest } = &cli.command else {
        unreachable!("dispatched on the variant")
    };
    let m = crate::stages::manifest::load(manifest)?;
    if let Some(dir) = &m.source.path {
        m.source.corpus.input_files(dir)?;
    }
    if cli.json {
        println!(
            "{}",
            json!({ "type": "valid", "manifest": manifest, "resolved": m.resolved })
        );
    } else {
        p.info(format!(
            "Valid {} ({} {})",
            manifest.display(),
            m.dataset.name,
            m.dataset.version
        ));
    }
    Ok(0)
}
