//! `recdata encode`: one encoder outside a build.

use super::*;
use crate::error::Result;
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Encode {
        input,
        model,
        column,
        kind,
        id_column,
        out,
        frames,
        f16,
        enc,
        cache,
    } = &cli.command
    else {
        unreachable!("dispatched on the variant")
    };
    let kind = match kind {
        InputKind::Text => crate::encode::Kind::Text,
        InputKind::Image => crate::encode::Kind::Image,
        InputKind::Audio => crate::encode::Kind::Audio { max_seconds: 30 },
        InputKind::Video => crate::encode::Kind::Video { frames: *frames },
    };
    crate::encode::standalone::run(&crate::encode::standalone::Args {
        input,
        model,
        column,
        kind,
        id_column,
        out,
        f16: *f16,
        device: enc.device,
        batch_size: enc.batch_size,
        models: enc.models.as_deref(),
        cache_root: cache.root().join("embeddings"),
        json: cli.json,
        progress: p,
    })
}
