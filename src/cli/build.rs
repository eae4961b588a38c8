//! `recdata build`, `merge`, `plan` and `slurm`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;
use crate::error::{Error, Result};
use crate::progress::Reporter;

/// `build`, `build --shard K/N` and `merge`.
#[allow(clippy::too_many_arguments)]
pub(super) fn build_cmd(
    cli: &Cli,
    p: &Reporter,
    manifest: &Path,
    data_dir: &Path,
    cache: &CacheArg,
    retry_failed: bool,
    enc: &EncodeArgs,
    sharding: crate::stages::Sharding,
) -> Result<u8> {
    let m = crate::stages::manifest::load(manifest)?;
    for w in &m.warnings {
        p.warn(w.message.clone());
    }
    let out = crate::stages::build(
        &m,
        &crate::stages::BuildOptions {
            data_dir: data_dir.to_path_buf(),
            cache_dir: cache.root(),
            retry_failed,
            progress: p.clone(),
            device: enc.device,
            batch_size: enc.batch_size,
            models_dir: enc.models.clone(),
            sharding,
        },
    )?;
    if cli.json {
        if matches!(out.status, crate::stages::PublishStatus::ShardComplete) {
            println!(
                "{}",
                json!({ "type": "shard", "dir": out.dir, "done": out.dataset_json })
            );
        }
    } else {
        println!("{}", out.dir.display());
    }
    if !out.check_failures.is_empty() {
        for f in &out.check_failures {
            p.warn(format!("check failed: {f}"));
        }
        p.event("checks_failed", json!({ "failures": out.check_failures }));
        return Ok(1);
    }
    Ok(0)
}

/// `recdata plan` / `build --dry-run`: the plan, as a table or (`--json`) one JSON line.
pub(super) fn plan_cmd(
    cli: &Cli,
    p: &Reporter,
    manifest: &Path,
    data_dir: &Path,
    cache: &CacheArg,
    models: Option<&Path>,
    verbose: bool,
) -> Result<u8> {
    let m = crate::stages::manifest::load(manifest)?;
    for w in &m.warnings {
        p.warn(w.message.clone());
    }
    let stages = crate::stages::dry_run(
        &m,
        &crate::stages::BuildOptions {
            data_dir: data_dir.to_path_buf(),
            cache_dir: cache.root(),
            retry_failed: false,
            progress: p.clone(),
            device: crate::encode::Device::Cpu,
            batch_size: None,
            models_dir: models.map(Path::to_path_buf),
            sharding: crate::stages::Sharding::Whole,
        },
    )?;
    if cli.json {
        println!(
            "{}",
            crate::stages::plan::to_json(&m.dataset.name, &m.dataset.version, &stages)
        );
    } else {
        print!("{}", crate::stages::plan::render(&stages, verbose));
    }
    Ok(0)
}

/// `recdata slurm`: writes the job scripts (and submits them with `--submit`).
#[allow(clippy::too_many_arguments)]
pub(super) fn slurm_cmd(
    cli: &Cli,
    p: &Reporter,
    manifest: &Path,
    shards: u32,
    out: Option<&Path>,
    exe: Option<&Path>,
    data_dir: &Path,
    cache: &CacheArg,
    models: Option<&Path>,
    submit: bool,
) -> Result<u8> {
    if shards == 0 {
        return Err(Error::Invalid("--shards must be at least 1".into()));
    }
    let m = crate::stages::manifest::load(manifest)?;
    let abs = |p: &Path| -> Result<PathBuf> {
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()?.join(p)
        })
    };
    let data_dir = abs(data_dir)?;
    let models = match models {
        Some(d) => Some(abs(d)?),
        None => crate::encode::registry::locate(None, m.path.parent())
            .map(|d| abs(&d))
            .transpose()?,
    };
    let out = match out {
        Some(o) => abs(o)?,
        None => data_dir.join(&m.dataset.name).join(".slurm"),
    };
    let scripts = crate::slurm::write(&crate::slurm::ScriptArgs {
        manifest: &fs_err::canonicalize(manifest)?,
        dataset: &m.dataset.name,
        shards,
        config: &m.slurm,
        exe: &match exe {
            Some(e) => abs(e)?,
            None => std::env::current_exe()?,
        },
        data_dir: &data_dir,
        cache_dir: &abs(&cache.root())?,
        models: models.as_deref(),
        workdir: &std::env::current_dir()?,
        out: &out,
    })?;
    p.info(format!(
        "Wrote {} ({shards} array task(s)) and {}",
        scripts.shards.display(),
        scripts.merge.display()
    ));
    let mut ids = None;
    if submit {
        let o = std::process::Command::new("bash")
            .arg(&scripts.submit)
            .output()
            .map_err(|e| {
                Error::Unsupported(format!(
                    "running {}: {e} (is Slurm's sbatch on PATH?)",
                    scripts.submit.display()
                ))
            })?;
        if !o.status.success() {
            return Err(Error::Unsupported(format!(
                "sbatch failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        let (array, merge) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        p.info(format!(
            "Submitted job array {array} and merge job {merge}; logs in {}",
            scripts.logs.display()
        ));
        ids = Some((array.to_owned(), merge.to_owned()));
    }
    if cli.json {
        println!(
            "{}",
            json!({
                "type": "slurm",
                "shards_script": scripts.shards,
                "merge_script": scripts.merge,
                "submit_script": scripts.submit,
                "logs": scripts.logs,
                "array_job": ids.as_ref().map(|i| &i.0),
                "merge_job": ids.as_ref().map(|i| &i.1),
            })
        );
    } else {
        match &ids {
            Some((a, mj)) => println!("{a} {mj}"),
            None => println!("{}", scripts.submit.display()),
        }
    }
    Ok(0)
}
