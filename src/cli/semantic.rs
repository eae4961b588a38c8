//! `recdata semantic-ids`: item semantic ids outside a build.

use super::*;
use crate::error::{Error, Result};
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::SemanticIds {
        input,
        columns,
        levels,
        codebook_size,
        codebooks,
        iters,
        sample,
        seed,
        l2,
        center,
        pca,
        whiten,
        balance,
        balance_levels,
        residual_norm,
        dedup,
        dedup_vocab,
        kernel,
        out,
    } = &cli.command
    else {
        unreachable!("dispatched on the variant")
    };
    let dedup = match dedup.as_str() {
        "append" => crate::semantic::Dedup::Append,
        "reassign" => crate::semantic::Dedup::Reassign,
        "none" => crate::semantic::Dedup::None,
        other => {
            return Err(Error::Invalid(format!(
                "--dedup {other}: use `append` (TIGER extra level), `reassign` (nearest free last-level code) or `none`"
            )));
        }
    };
    let options = crate::semantic::SidOptions {
        codebooks: codebooks
            .clone()
            .unwrap_or_else(|| vec![*codebook_size; *levels]),
        max_iter: *iters,
        sample: *sample,
        seed: *seed,
        normalize: if *l2 {
            crate::semantic::Normalize::L2
        } else {
            crate::semantic::Normalize::None
        },
        center: *center,
        pca: *pca,
        whiten: *whiten,
        balance: if balance == "sinkhorn" {
            crate::semantic::Balance::Sinkhorn
        } else {
            crate::semantic::Balance::None
        },
        balance_levels: if balance_levels == "all" {
            crate::semantic::BalanceLevels::All
        } else {
            crate::semantic::BalanceLevels::Last
        },
        residual_norm: *residual_norm,
        dedup,
        dedup_vocab: *dedup_vocab,
        kernel: if kernel == "portable" {
            crate::semantic::kmeans::Kernel::Portable
        } else {
            crate::semantic::kmeans::Kernel::Gemm
        },
        ..Default::default()
    };
    crate::semantic::standalone::run(&crate::semantic::standalone::Args {
        input,
        columns,
        out,
        options,
        json: cli.json,
        progress: p,
    })
}
