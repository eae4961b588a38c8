//! `recdata export`: a version in another tool's format.

use serde_json::json;

use super::*;
use crate::error::Result;
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Export {
        dir,
        format,
        out,
        embeddings,
        force,
    } = &cli.command
    else {
        unreachable!("dispatched on the variant")
    };
    let ExportFormat::Recbole = format;
    let e = crate::export::recbole::export(dir, out, embeddings, *force)?;
    if cli.json {
        println!(
            "{}",
            json!({ "type": "export", "format": "recbole", "export": e })
        );
    } else {
        for (f, rows) in &e.files {
            if f.ends_with(".yaml") {
                p.info(format!("Wrote {f} (config)"));
            } else {
                p.info(format!("Wrote {f} ({rows} rows)"));
            }
        }
        println!("{}", e.dir.display());
    }
    Ok(0)
}
