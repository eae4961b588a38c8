//! `recdata slurm M --shards N`: a Slurm job array that builds the shards of a manifest
//! (`recdata build M --shard K/N`, K = `$SLURM_ARRAY_TASK_ID`) and a merge job that depends on
//! all of them (`afterok`), with resources from the manifest's `[slurm]` table.
//!
//! Shard tasks are `--requeue`-able: a task killed or preempted mid-run is started again and
//! redoes nothing it finished (see `stages::shard`). Every path in the scripts is absolute: the
//! tasks run on other nodes, from the submit directory of a shared filesystem.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;

/// `[slurm]` in a manifest: resources of the shard tasks, and of the merge job where set.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SlurmConfig {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Wall-time limit of a shard task (`--time`, e.g. "04:00:00").
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    /// Memory per task (`--mem`, e.g. "32G").
    pub mem: Option<String>,
    /// Generic resources per task (`--gres`, e.g. "gpu:1").
    pub gres: Option<String>,
    /// At most this many shard tasks at once (`--array=0-N%max`).
    pub max_parallel: Option<u32>,
    /// Further `sbatch` options for both jobs, e.g. ["--constraint=a100"].
    pub extra: Vec<String>,
    /// Shell lines run before recdata in both jobs, e.g. ["module load cuda/12"].
    pub setup: Vec<String>,
    pub merge_time: Option<String>,
    pub merge_cpus_per_task: Option<u32>,
    pub merge_mem: Option<String>,
    /// The merge job's partition (default: `partition`).
    pub merge_partition: Option<String>,
}

impl SlurmConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<SlurmConfig> {
        let s = |r: &mut TableReader<'_>, d: &mut Vec<Diagnostic>, k| r.str(d, k).map(|v| v.value);
        let c = SlurmConfig {
            partition: s(r, diags, "partition"),
            account: s(r, diags, "account"),
            qos: s(r, diags, "qos"),
            time: s(r, diags, "time"),
            cpus_per_task: r
                .int(diags, "cpus_per_task", 1, 4096)
                .map(|v| v.value as u32),
            mem: s(r, diags, "mem"),
            gres: s(r, diags, "gres"),
            max_parallel: r
                .int(diags, "max_parallel", 1, 100_000)
                .map(|v| v.value as u32),
            extra: r
                .str_array(diags, "extra")
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.value)
                .collect(),
            setup: r
                .str_array(diags, "setup")
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.value)
                .collect(),
            merge_time: s(r, diags, "merge_time"),
            merge_cpus_per_task: r
                .int(diags, "merge_cpus_per_task", 1, 4096)
                .map(|v| v.value as u32),
            merge_mem: s(r, diags, "merge_mem"),
            merge_partition: s(r, diags, "merge_partition"),
        };
        for (k, v) in c.extra.iter().map(|v| ("extra", v)) {
            if !v.starts_with('-') || v.contains('\n') {
                diags.push(
                    Diagnostic::error(
                        format!("`slurm.{k}`: `{v}` is not an sbatch option"),
                        Some(r.span),
                        "in this table",
                    )
                    .with_help(
                        "write options as on the sbatch command line, e.g. \"--constraint=a100\"",
                    ),
                );
            }
        }
        Some(c)
    }
}

/// What `recdata slurm` needs to write the scripts.
pub struct ScriptArgs<'a> {
    pub manifest: &'a Path,
    pub dataset: &'a str,
    pub shards: u32,
    pub config: &'a SlurmConfig,
    /// The recdata executable the tasks run.
    pub exe: &'a Path,
    pub data_dir: &'a Path,
    pub cache_dir: &'a Path,
    pub models: Option<&'a Path>,
    pub workdir: &'a Path,
    pub out: &'a Path,
}

/// The files written: the array script, the merge script and `submit.sh`.
pub struct Scripts {
    pub shards: PathBuf,
    pub merge: PathBuf,
    pub submit: PathBuf,
    pub logs: PathBuf,
}

/// Quotes a value for a POSIX shell.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn p(path: &Path) -> String {
    sh(&path.display().to_string())
}

pub fn write(a: &ScriptArgs<'_>) -> Result<Scripts> {
    let c = a.config;
    let logs = a.out.join("logs");
    fs_err::create_dir_all(&logs)?;
    let common = |lines: &mut Vec<String>, partition: &Option<String>| {
        if let Some(v) = partition {
            lines.push(format!("#SBATCH --partition={v}"));
        }
        if let Some(v) = &c.account {
            lines.push(format!("#SBATCH --account={v}"));
        }
        if let Some(v) = &c.qos {
            lines.push(format!("#SBATCH --qos={v}"));
        }
        for e in &c.extra {
            lines.push(format!("#SBATCH {e}"));
        }
    };
    let mut global = vec![
        format!("--data-dir {}", p(a.data_dir)),
        format!("--cache-dir {}", p(a.cache_dir)),
    ];
    if let Some(m) = a.models {
        global.push(format!("--models {}", p(m)));
    }
    let preamble = |lines: &mut Vec<String>| {
        lines.push("set -euo pipefail".into());
        lines.push(format!("cd {}", p(a.workdir)));
        lines.extend(c.setup.iter().cloned());
    };

    let last = a.shards - 1;
    let mut s = vec![
        "#!/bin/bash".to_owned(),
        format!(
            "# Generated by `recdata slurm` for {}.",
            a.manifest.display()
        ),
        format!(
            "# Task K builds shard K/{} (media, captions, embeddings of its items); re-queued tasks redo nothing they finished.",
            a.shards
        ),
        format!("#SBATCH --job-name=recdata-{}-shards", a.dataset),
        match c.max_parallel {
            Some(m) => format!("#SBATCH --array=0-{last}%{m}"),
            None => format!("#SBATCH --array=0-{last}"),
        },
        format!("#SBATCH --output={}", logs.join("shard-%a.out").display()),
        "#SBATCH --requeue".into(),
        "#SBATCH --open-mode=append".into(),
    ];
    if let Some(v) = &c.time {
        s.push(format!("#SBATCH --time={v}"));
    }
    if let Some(v) = c.cpus_per_task {
        s.push(format!("#SBATCH --cpus-per-task={v}"));
    }
    if let Some(v) = &c.mem {
        s.push(format!("#SBATCH --mem={v}"));
    }
    if let Some(v) = &c.gres {
        s.push(format!("#SBATCH --gres={v}"));
    }
    common(&mut s, &c.partition);
    preamble(&mut s);
    s.push(format!(
        "exec {} build {} --shard \"$SLURM_ARRAY_TASK_ID/{}\" {}",
        p(a.exe),
        p(a.manifest),
        a.shards,
        global.join(" ")
    ));

    let mut m = vec![
        "#!/bin/bash".to_owned(),
        format!("# Generated by `recdata slurm` for {}.", a.manifest.display()),
        "# Runs after every shard task succeeded: checks the shards, runs the global stages, publishes.".into(),
        format!("#SBATCH --job-name=recdata-{}-merge", a.dataset),
        format!("#SBATCH --output={}", logs.join("merge.out").display()),
        "#SBATCH --open-mode=append".into(),
    ];
    if let Some(v) = c.merge_time.as_ref().or(c.time.as_ref()) {
        m.push(format!("#SBATCH --time={v}"));
    }
    if let Some(v) = c.merge_cpus_per_task.or(c.cpus_per_task) {
        m.push(format!("#SBATCH --cpus-per-task={v}"));
    }
    if let Some(v) = c.merge_mem.as_ref().or(c.mem.as_ref()) {
        m.push(format!("#SBATCH --mem={v}"));
    }
    common(&mut m, &c.merge_partition.clone().or(c.partition.clone()));
    preamble(&mut m);
    m.push(format!(
        "exec {} merge {} --shards {} {}",
        p(a.exe),
        p(a.manifest),
        a.shards,
        global.join(" ")
    ));

    let shards_path = a.out.join("shards.sbatch");
    let merge_path = a.out.join("merge.sbatch");
    let submit_path = a.out.join("submit.sh");
    let submit = [
        "#!/bin/bash".to_owned(),
        "# Submits the shard array and the merge job that waits for all of it; prints both job ids.".into(),
        "set -euo pipefail".into(),
        format!("array=$(sbatch --parsable {})", p(&shards_path)),
        "array=${array%%;*}".into(),
        format!(
            "merge=$(sbatch --parsable --dependency=afterok:\"$array\" --kill-on-invalid-dep=yes {})",
            p(&merge_path)
        ),
        "merge=${merge%%;*}".into(),
        "echo \"$array $merge\"".into(),
    ];
    for (path, lines) in [
        (&shards_path, &s),
        (&merge_path, &m),
        (&submit_path, &submit.to_vec()),
    ] {
        fs_err::write(path, lines.join("\n") + "\n")?;
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(Scripts {
        shards: shards_path,
        merge: merge_path,
        submit: submit_path,
        logs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_the_shell_would_split() {
        assert_eq!(sh("/a/b.toml"), "/a/b.toml");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }
}
