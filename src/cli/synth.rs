//! `recdata synth`: a corpus in its exact upstream layout.

use serde_json::json;

use super::*;
use crate::error::Result;
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Synth {
        corpus,
        out,
        users,
        seed,
        events_per_user,
        duplicates,
    } = &cli.command
    else {
        unreachable!("dispatched on the variant")
    };
    let s = crate::synth::write(
        corpus,
        out,
        &crate::synth::SynthArgs {
            seed: *seed,
            users: *users,
            events_per_user: *events_per_user,
            duplicates: *duplicates,
        },
    )?;
    if cli.json {
        println!(
            "{}",
            json!({ "type": "synth", "corpus": corpus, "out": out, "summary": s })
        );
    } else {
        p.info(format!(
            "Wrote synthetic {corpus} to {}: {s}",
            out.display()
        ));
    }
    Ok(0)
}
