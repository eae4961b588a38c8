//! `recdata models check|list`: the encoders a manifest can use, and whether they work.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::encode::registry::{self, Registry};
use crate::error::{Error, Result};
use crate::progress::Reporter;

/// The registry for a manifest (with its own models), or the plain registry.
fn registry_for(manifest: Option<&Path>, models: Option<&Path>) -> Result<(Registry, Vec<String>)> {
    match manifest {
        Some(path) => {
            let m = crate::stages::manifest::load(path)?;
            let reg = registry::for_manifest(models, &m.path, &m.models)?;
            let mut used: Vec<String> = m.models.iter().map(|(id, _)| id.clone()).collect();
            for e in &m.encode {
                if !used.contains(&e.model) {
                    used.push(e.model.clone());
                }
            }
            Ok((reg, used))
        }
        None => {
            let dir = registry::locate(models, None).ok_or_else(|| {
                Error::Unsupported(
                    "no model registry was found (models/models.toml)\n  hint: run `make models`, pass --models DIR or name a manifest".into(),
                )
            })?;
            Ok((Registry::load(&dir)?, Vec::new()))
        }
    }
}

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Models { action } = &cli.command else {
        unreachable!("dispatched on the variant")
    };
    match action {
        ModelsAction::List { manifest, models } => {
            let (reg, used) = registry_for(manifest.as_deref(), models.as_deref())?;
            for (id, m) in &reg.models {
                if cli.json {
                    println!(
                        "{}",
                        json!({"type": "model", "id": id, "task": m.task.name(), "dim": m.dim,
                               "space": m.space, "used": used.contains(id),
                               "defined_in": m.defined_in, "description": m.description})
                    );
                } else {
                    let space = if m.space.is_empty() {
                        String::new()
                    } else {
                        format!("  space {}", m.space)
                    };
                    let mark = if used.contains(id) { "*" } else { " " };
                    println!(
                        "{mark} {id:<32} {:<5} dim {:<5}{space}  ({})",
                        m.task.name(),
                        m.dim,
                        m.defined_in.display()
                    );
                }
            }
            if !cli.json && manifest.is_some() {
                p.info("* used or defined by the manifest");
            }
            Ok(0)
        }
        ModelsAction::Check {
            manifest,
            all,
            runs,
            enc,
        } => {
            let (reg, used) = registry_for(manifest.as_deref(), enc.models.as_deref())?;
            let ids: Vec<String> = if *all || manifest.is_none() {
                reg.models.keys().cloned().collect()
            } else {
                used
            };
            if ids.is_empty() {
                return Err(Error::Invalid(
                    "the manifest neither defines [models.<id>] nor has [[stages.encode]]: nothing to check (use --all for the registry)".into(),
                ));
            }
            let mut failed = 0;
            for id in &ids {
                p.info(format!("  Checking {id} on {}", enc.device));
                let c = crate::encode::check::check(&reg, id, enc.device, *runs)?;
                if !c.ok {
                    failed += 1;
                }
                if cli.json {
                    let mut v = serde_json::to_value(&c)?;
                    v["type"] = "model_check".into();
                    v["device"] = enc.device.name().into();
                    println!("{v}");
                    continue;
                }
                let status = if c.ok { "ok" } else { "FAILED" };
                println!("{id}: {status} ({} model, {})", c.task, c.defined_in);
                for i in &c.inputs {
                    println!("    in   {i}");
                }
                for o in &c.outputs {
                    println!("    out  {o}");
                }
                if let Some(d) = c.dim_found {
                    println!("    dim  {d} (registry: {})", c.dim);
                }
                if !c.space.is_empty() {
                    println!("    space {}", c.space);
                }
                if let Some(ms) = c.ms_per_item {
                    println!(
                        "    {ms:.2} ms per probe input on {} ({:.0}/s, median of {runs})",
                        enc.device,
                        1000.0 / ms.max(1e-9)
                    );
                }
                if let Some(d) = c.min_probe_distance {
                    println!("    probes apart: min 1 - cosine = {d:.4}");
                }
                for pr in &c.problems {
                    println!("    problem: {pr}");
                }
            }
            if failed > 0 {
                p.warn(format!("{failed} of {} model(s) failed", ids.len()));
                Ok(1)
            } else {
                p.info(format!("{} model(s) ok", ids.len()));
                Ok(0)
            }
        }
    }
}
