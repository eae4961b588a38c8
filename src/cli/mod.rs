//! Command-line interface: the arguments (`args`, clap derive), one module per command, and the
//! dispatch between them. Data goes to stdout, logs and progress to stderr; `--json` makes
//! stdout JSON lines; exit codes 0 ok, 1 checks failed or bad input, 2 could not run.

use std::io::IsTerminal;

use serde_json::json;

use crate::error::{Error, Result};
use crate::progress::Reporter;

mod args;
mod build;
mod diagnose;
mod encode;
mod export;
mod fetch;
mod fuzz;
mod inspect;
mod models;
mod semantic;
mod synth;
mod validate;
mod verify;

pub use args::*;
use build::{build_cmd, plan_cmd, slurm_cmd};
use fetch::{cache_cmd, media_cmd};
use fuzz::fuzz_cmd;
use inspect::inspect;

fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

pub fn run(cli: Cli) -> u8 {
    let color = color_enabled(cli.color);
    let reporter = Reporter::new(cli.json, cli.quiet, color);
    match dispatch(&cli, &reporter) {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            if cli.json {
                let body = match &e {
                    Error::Manifest(m) => json!({
                        "message": "invalid manifest",
                        "diagnostics": m.diagnostics_json(),
                    }),
                    other => json!({ "message": other.to_string() }),
                };
                let mut b = body;
                b["type"] = "error".into();
                b["exit_code"] = code.into();
                println!("{b}");
            } else {
                match &e {
                    Error::Manifest(m) => eprint!("{}", m.render(color)),
                    other => {
                        let (r, x) = if color {
                            ("\x1b[1;31m", "\x1b[0m")
                        } else {
                            ("", "")
                        };
                        eprintln!("{r}error{x}: {other}");
                    }
                }
            }
            code
        }
    }
}

fn dispatch(cli: &Cli, p: &Reporter) -> Result<u8> {
    match &cli.command {
        Command::SemanticIds { .. } => semantic::run(cli, p),
        Command::Doctor { enc, probe } => match probe {
            Some(lib) => crate::encode::doctor::probe_main(lib),
            None => crate::encode::doctor::run(enc.device, enc.models.as_deref(), cli.json),
        },
        Command::Encode { .. } => encode::run(cli, p),
        Command::Models { .. } => models::run(cli, p),
        Command::Build {
            dry_run: true,
            manifest,
            data_dir,
            cache,
            enc,
            ..
        } => plan_cmd(
            cli,
            p,
            manifest,
            data_dir,
            cache,
            enc.models.as_deref(),
            false,
        ),
        Command::Plan {
            manifest,
            data_dir,
            cache,
            verbose,
            models,
        } => plan_cmd(
            cli,
            p,
            manifest,
            data_dir,
            cache,
            models.as_deref(),
            *verbose,
        ),
        Command::Build {
            manifest,
            data_dir,
            cache,
            retry_failed,
            shard,
            enc,
            ..
        } => {
            let sharding = match shard {
                Some(s) => crate::stages::Sharding::Shard(*s),
                None => crate::stages::Sharding::Whole,
            };
            build_cmd(
                cli,
                p,
                manifest,
                data_dir,
                cache,
                *retry_failed,
                enc,
                sharding,
            )
        }
        Command::Merge {
            manifest,
            shards,
            data_dir,
            cache,
            retry_failed,
            enc,
        } => build_cmd(
            cli,
            p,
            manifest,
            data_dir,
            cache,
            *retry_failed,
            enc,
            crate::stages::Sharding::Merge { shards: *shards },
        ),
        Command::Slurm {
            manifest,
            shards,
            out,
            data_dir,
            cache,
            models,
            submit,
            exe,
        } => slurm_cmd(
            cli,
            p,
            manifest,
            *shards,
            out.as_deref(),
            exe.as_deref(),
            data_dir,
            cache,
            models.as_deref(),
            *submit,
        ),
        Command::Diagnose { .. } => diagnose::run(cli, p),
        Command::Validate { .. } => validate::run(cli, p),
        Command::Inspect { dir } => inspect(dir, cli.json),
        Command::Fuzz { action } => fuzz_cmd(action.clone(), p),
        Command::Verify { .. } => verify::run(cli, p),
        Command::Export { .. } => export::run(cli, p),
        Command::Fetch { .. } => fetch::run(cli, p),
        Command::Media {
            urls,
            out,
            modality,
            retry_failed,
            concurrency,
            per_host,
            rate_per_host,
            max_bytes,
            timeout,
            retries,
            cache,
        } => media_cmd(
            urls,
            out,
            *modality,
            *retry_failed,
            (
                *concurrency,
                *per_host,
                *rate_per_host,
                *max_bytes,
                *timeout,
                *retries,
            ),
            &cache.root(),
            cli.json,
            p,
        ),
        Command::Cache { action, cache } => cache_cmd(action, &cache.root(), cli.json, p),
        Command::Synth { .. } => synth::run(cli, p),
    }
}
