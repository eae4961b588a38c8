//! Command-line interface: argument parsing (clap derive) and the four commands.
//! Data goes to stdout, logs and progress to stderr; `--json` makes stdout JSON lines.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::error::{Error, Result};
use crate::progress::Reporter;

#[derive(Parser, Debug)]
#[command(
    name = "recdata",
    version,
    about = "Turn raw recommender-system corpora into versioned, documented parquet datasets",
    after_help = "Exit codes: 0 ok, 1 checks failed (invalid manifest or input, version conflict), 2 could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Machine-readable JSON lines on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour: auto (default; honours NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build and publish the dataset a manifest describes (fetching what is missing).
    Build {
        manifest: PathBuf,
        /// Root of the dataset store.
        #[arg(long, env = "RECDATA_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[command(flatten)]
        cache: CacheArg,
        /// Media fetch and captions: redo the items whose earlier attempt failed (ok items are kept).
        #[arg(long)]
        retry_failed: bool,
        /// Build only shard K of N (K from 0): the media, captions and embeddings of the items
        /// whose raw id hashes to K; `recdata merge` publishes once every shard is done.
        #[arg(long, value_name = "K/N")]
        shard: Option<crate::stages::shard::Shard>,
        /// Print the plan (`recdata plan`) instead of building.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Show what a build would do without running anything: every stage, whether its cached
    /// output is used or it runs and why (which manifest key, input file or upstream stage
    /// changed), what it reads and writes.
    Plan {
        manifest: PathBuf,
        #[arg(long, env = "RECDATA_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[command(flatten)]
        cache: CacheArg,
        /// Also list each stage's inputs and outputs.
        #[arg(long, short)]
        verbose: bool,
        /// The model registry directory (for encoder fingerprints).
        #[arg(long, env = "RECDATA_MODELS")]
        models: Option<PathBuf>,
    },
    /// Check that every shard of a sharded build finished, assemble them, run the global stages
    /// and publish (the same dataset, byte for byte, as a single-process build).
    Merge {
        manifest: PathBuf,
        /// N, when the manifest was sharded several ways [default: the one split on disk].
        #[arg(long)]
        shards: Option<u32>,
        #[arg(long, env = "RECDATA_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[command(flatten)]
        cache: CacheArg,
        #[arg(long)]
        retry_failed: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Write a Slurm job array (one task per shard) and the merge job that depends on it, with
    /// resources from the manifest's [slurm] table; `--submit` also submits them.
    Slurm {
        manifest: PathBuf,
        /// Number of shards (array tasks).
        #[arg(long)]
        shards: u32,
        /// Where the scripts and logs go [default: <data-dir>/<dataset>/.slurm].
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, env = "RECDATA_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[command(flatten)]
        cache: CacheArg,
        /// The model registry the tasks use [default: $RECDATA_MODELS, else the nearest models/].
        #[arg(long)]
        models: Option<PathBuf>,
        /// Submit with sbatch (prints the array and merge job ids).
        #[arg(long)]
        submit: bool,
        /// The recdata the tasks run, when the compute nodes see it elsewhere (a shared
        /// install, a module path, a wrapper) [default: this executable].
        #[arg(long)]
        exe: Option<PathBuf>,
    },
    /// Check a dataset version against its dataset.json: every file's size and sha256, row
    /// counts and schemas, media files, the regenerated card; exits 1 with the differences.
    Verify {
        /// A published dataset version directory (or a copy of one).
        dir: PathBuf,
    },
    /// Developers: write the fuzz targets' seed inputs, or replay inputs (a crash libFuzzer
    /// saved, a regression) through a target without the fuzzing toolchain. See fuzz/README.md.
    #[command(hide = true)]
    Fuzz {
        #[command(subcommand)]
        action: FuzzAction,
    },
    /// Report the ONNX Runtime, the execution providers that really work, the models and
    /// ffmpeg; says what is missing and the command that fixes it.
    Doctor {
        #[command(flatten)]
        enc: EncodeArgs,
        /// Internal: load this runtime library and report on it as JSON.
        #[arg(long, hide = true)]
        probe: Option<PathBuf>,
    },
    /// Encode one column of a parquet table with a registry model (text, image, audio or video
    /// files) into an embeddings parquet, outside any dataset build.
    Encode {
        /// A parquet table with an id column and the input column.
        input: PathBuf,
        /// Model id from models/models.toml.
        #[arg(long)]
        model: String,
        /// The input column: text, or file paths for image/audio/video.
        #[arg(long)]
        column: String,
        /// What the column holds.
        #[arg(long, value_enum, default_value_t = InputKind::Text)]
        kind: InputKind,
        /// The id column (any integer or string type).
        #[arg(long, default_value = "item_id")]
        id_column: String,
        /// Output parquet: the id column and `embedding`.
        #[arg(long)]
        out: PathBuf,
        /// Video: frames sampled per clip.
        #[arg(long, default_value_t = 8)]
        frames: u32,
        /// Store float16 vectors.
        #[arg(long)]
        f16: bool,
        #[command(flatten)]
        enc: EncodeArgs,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Statistics, split-leakage audit, shortcut diagnostics (the transition-graph heuristic
    /// against baselines, full ranking) and an HTML report for a published dataset.
    Diagnose {
        /// A published dataset version directory (with splits/).
        dir: PathBuf,
        /// Output directory for diagnostics.json and report.html [default: ./<name>-<version>-diagnostics].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Encoder whose embeddings score items (default: the first embeddings/*.parquet).
        #[arg(long)]
        embedding: Option<String>,
        /// Exit 1 when error-level leakage findings count more than this.
        #[arg(long)]
        max_leakage: Option<u64>,
        /// Exit 1 when the heuristic's NDCG@10 is above this.
        #[arg(long)]
        fail_if_heuristic_ndcg10_above: Option<f64>,
        /// Exit 1 when the dataset is shortcut-solvable.
        #[arg(long)]
        fail_if_shortcut_solvable: bool,
        /// A `[stages.diagnostics]` key with a TOML value, e.g. `--set alpha=0.3 --set
        /// 'tgh1_hops=[5, 3, 2]'` (repeatable; docs/manifest.md lists the keys).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Item semantic ids (residual k-means) from a parquet table of vectors, with collision
    /// handling and quality metrics.
    SemanticIds {
        /// A parquet table with `item_id` and fixed-size-list vector columns.
        input: PathBuf,
        /// Vector column(s); several are concatenated per item.
        #[arg(long = "column", default_value = "embedding")]
        columns: Vec<String>,
        /// Levels (used with --codebook-size when --codebooks is not given).
        #[arg(long, default_value_t = 3)]
        levels: usize,
        #[arg(long, default_value_t = 256)]
        codebook_size: usize,
        /// Codebook size per level, e.g. 256,256,256 (overrides --levels/--codebook-size).
        #[arg(long, value_delimiter = ',')]
        codebooks: Option<Vec<usize>>,
        #[arg(long, default_value_t = 25)]
        iters: usize,
        /// Training rows per level [default: min(N, 256 x codebook size)].
        #[arg(long)]
        sample: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// L2-normalise the vectors first.
        #[arg(long)]
        l2: bool,
        /// Subtract the mean (estimated on a seeded sample of up to 262,144 rows).
        #[arg(long)]
        center: bool,
        /// Project onto the top D principal axes first (written to projection.parquet).
        #[arg(long, value_name = "D")]
        pca: Option<usize>,
        /// Scale the principal axes to unit variance (PCA to the full dimension without --pca).
        #[arg(long)]
        whiten: bool,
        /// Balanced codebooks: sinkhorn (entropic OT with equal capacities, greedy rounding).
        #[arg(long, default_value = "none", value_parser = ["none", "sinkhorn"])]
        balance: String,
        /// Which levels --balance applies to.
        #[arg(long, default_value = "last", value_parser = ["last", "all"])]
        balance_levels: String,
        /// GRID mode: L2-normalise the residual before each level.
        #[arg(long)]
        residual_norm: bool,
        /// Collision handling: append (TIGER extra level), reassign (nearest free last-level
        /// code, then append for what is left) or none.
        #[arg(long, default_value = "append")]
        dedup: String,
        /// Largest collision group the extra level may number.
        #[arg(long, default_value_t = 256)]
        dedup_vocab: usize,
        /// Dot-product kernel: gemm (fastest; the codes' last-bit ties depend on the CPU's SIMD
        /// level) or portable (a fixed summation order: the same codes on every CPU, slower).
        #[arg(long, default_value = "gemm", value_parser = ["gemm", "portable"])]
        kernel: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Download and verify a manifest's remote files into the cache, without building.
    Fetch {
        manifest: PathBuf,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Fetch media for a list of URLs (TSV: key, url[, sha256]) and write the status table.
    Media {
        /// Tab-separated: key, url and optionally the expected sha256; a header line is allowed.
        urls: PathBuf,
        /// The status table to write (parquet); the work journal goes next to it.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = ModalityArg::Image)]
        modality: ModalityArg,
        #[arg(long)]
        retry_failed: bool,
        /// Simultaneous requests overall.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Simultaneous requests per host.
        #[arg(long, default_value_t = 32)]
        per_host: usize,
        /// Requests per second per host (0 = unlimited).
        #[arg(long, default_value_t = 0.0)]
        rate_per_host: f64,
        /// Largest file accepted, in bytes.
        #[arg(long)]
        max_bytes: Option<u64>,
        /// Seconds to wait for a response or for the next bytes.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        #[arg(long, default_value_t = 3)]
        retries: u32,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Inspect or clean the download cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Write a published version in another tool's native format (RecBole atomic files).
    Export {
        /// A published dataset version directory.
        dir: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Output directory; RecBole files go to <out>/<dataset name>/ (RecBole's data_path layout).
        #[arg(long, default_value = "recbole")]
        out: PathBuf,
        /// Also export these encoders' vectors as pre-trained item embeddings (RecBole's
        /// `preload_weight`), e.g. `--embeddings title` or `--embeddings all`.
        #[arg(long, value_delimiter = ',')]
        embeddings: Vec<String>,
        /// Replace an earlier export in <out>/<dataset name>/ (without it, an existing one is
        /// an error: nothing is overwritten by surprise).
        #[arg(long)]
        force: bool,
    },
    /// Check a manifest (and that its local inputs exist) without running anything.
    Validate { manifest: PathBuf },
    /// Summarize a published dataset version and verify its files' checksums.
    Inspect { dir: PathBuf },
    /// Write a small (or full-size) synthetic corpus in the exact upstream format.
    Synth {
        corpus: String,
        #[arg(long)]
        out: PathBuf,
        /// Users (or the corpus' main entity); default: a small fixture.
        #[arg(long)]
        users: Option<u32>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Mean events per user (Last.fm-1K: 19305 reproduces the real size).
        #[arg(long)]
        events_per_user: Option<u32>,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct EncodeArgs {
    /// Where encoders run: cpu, cuda or cuda:N (no silent fall-back to CPU).
    #[arg(long, env = "RECDATA_DEVICE", default_value = "cpu", value_parser = crate::encode::Device::parse)]
    pub device: crate::encode::Device,
    /// Batch size for every encoder (overrides the manifest's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The model registry directory (models.toml) [default: $RECDATA_MODELS, else the nearest models/].
    #[arg(long)]
    pub models: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// RecBole atomic files (.inter, .item, .user) and a config.
    Recbole,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum InputKind {
    Text,
    Image,
    Audio,
    Video,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CacheArg {
    /// The content-addressed download cache [default: $RECDATA_CACHE, else ~/.cache/recdata].
    #[arg(long = "cache-dir", global = true)]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArg {
    fn root(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(crate::fetch::cache::Cache::default_root)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModalityArg {
    Image,
    Audio,
    Video,
}

#[derive(Subcommand, Debug)]
pub enum CacheAction {
    /// List blobs, extracted archives and partial downloads.
    Ls,
    /// Remove entries unused for a while (never one a running build holds).
    Gc {
        /// Remove entries not used for this many days (0 = everything unlocked).
        #[arg(long, default_value_t = 30.0)]
        older_than_days: f64,
        /// Keep the files these manifests need (their pinned and locked sha256s).
        #[arg(long)]
        keep: Vec<PathBuf>,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

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

/// Runs the CLI; returns the process exit code.
#[derive(Debug, Clone, Subcommand)]
pub enum FuzzAction {
    /// Write each target's seed inputs to <DIR>/<target>/seed-<n>.
    Seeds { dir: PathBuf },
    /// Run <TARGET>'s body on each file (or every file in each directory); a bug panics.
    Run {
        target: String,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

fn fuzz_cmd(action: FuzzAction, p: &Reporter) -> Result<u8> {
    use crate::fuzzing;
    match action {
        FuzzAction::Seeds { dir } => {
            for t in fuzzing::TARGETS {
                let n = fuzzing::write_seeds_to(&dir, t.name)?;
                p.info(format!(
                    "{}: {n} seed(s) in {}",
                    t.name,
                    dir.join(t.name).display()
                ));
            }
            Ok(0)
        }
        FuzzAction::Run { target, inputs } => {
            let t = fuzzing::target(&target).ok_or_else(|| {
                Error::Unsupported(format!(
                    "no fuzz target `{target}`; the targets: {}",
                    fuzzing::TARGETS
                        .iter()
                        .map(|t| t.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let mut files = Vec::new();
            for i in inputs {
                if i.is_dir() {
                    let mut v: Vec<PathBuf> = fs_err::read_dir(&i)?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file())
                        .collect();
                    v.sort();
                    files.extend(v);
                } else {
                    files.push(i);
                }
            }
            for f in &files {
                (t.run)(&fs_err::read(f)?);
            }
            p.info(format!("{target}: {} input(s), no failure", files.len()));
            Ok(0)
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

/// `; missing: reason n, …` from a coverage entry's `missing_by_status` (empty when none).
fn missing_suffix(c: &serde_json::Value) -> String {
    let why: Vec<String> = c["missing_by_status"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if why.is_empty() {
        String::new()
    } else {
        format!("; missing: {}", why.join(", "))
    }
}

fn dispatch(cli: &Cli, p: &Reporter) -> Result<u8> {
    match &cli.command {
        Command::SemanticIds {
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
        } => {
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
        Command::Doctor { enc, probe } => match probe {
            Some(lib) => crate::encode::doctor::probe_main(lib),
            None => crate::encode::doctor::run(enc.device, enc.models.as_deref(), cli.json),
        },
        Command::Encode {
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
        } => {
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
        Command::Diagnose {
            dir,
            out,
            embedding,
            max_leakage,
            fail_if_heuristic_ndcg10_above,
            fail_if_shortcut_solvable,
            set,
        } => {
            let cfg = crate::stages::diagnostics::DiagnosticsConfig::from_overrides(set)?;
            let mut options = cfg.options;
            options.embedding = embedding.clone().or(options.embedding);
            let doc = crate::diagnose::compute(dir, &options, p)?;
            let out = out.clone().unwrap_or_else(|| {
                // Names from a dataset.json become a folder name only when they are valid ones.
                let ok = |v: &serde_json::Value| {
                    v.as_str()
                        .filter(|s| crate::manifest::valid_name(s))
                        .map(str::to_owned)
                };
                let name = ok(&doc["dataset"]["name"]).unwrap_or_else(|| "dataset".into());
                let version = ok(&doc["dataset"]["version"]).unwrap_or_default();
                PathBuf::from(format!("{name}-{version}-diagnostics"))
            });
            // `diagnose` reads a version; it never writes into one.
            crate::io::store::check_not_a_dataset(&out, "diagnostics")?;
            crate::diagnose::write(&out, &doc)?;
            let failures = crate::diagnose::check(
                &doc,
                &crate::diagnose::Thresholds {
                    max_leakage: max_leakage.or(cfg.thresholds.max_leakage),
                    fail_if_heuristic_ndcg10_above: fail_if_heuristic_ndcg10_above
                        .or(cfg.thresholds.fail_if_heuristic_ndcg10_above),
                    fail_if_shortcut_solvable: *fail_if_shortcut_solvable
                        || cfg.thresholds.fail_if_shortcut_solvable,
                },
            );
            if cli.json {
                println!(
                    "{}",
                    json!({ "out": out, "verdict": doc["verdict"], "failures": failures })
                );
            } else {
                println!("{}", out.join(crate::diagnose::HTML).display());
            }
            for f in &failures {
                p.warn(format!("check failed: {f}"));
            }
            Ok(if failures.is_empty() { 0 } else { 1 })
        }
        Command::Validate { manifest } => {
            let m = crate::manifest::load(manifest)?;
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
        Command::Inspect { dir } => inspect(dir, cli.json),
        Command::Fuzz { action } => fuzz_cmd(action.clone(), p),
        Command::Verify { dir } => {
            let r = crate::verify::verify(dir, p)?;
            crate::verify::print(&r, cli.json)?;
            if r.findings.is_empty() {
                p.info(format!(
                    "OK {} {}: {} file(s), {} verified",
                    r.dataset,
                    r.version,
                    r.files_checked,
                    crate::fetch::http::human_bytes(r.bytes_checked)
                ));
                Ok(0)
            } else {
                p.warn(format!(
                    "{} {}: {} difference(s) from dataset.json",
                    r.dataset,
                    r.version,
                    r.findings.len()
                ));
                Ok(1)
            }
        }
        Command::Export {
            dir,
            format,
            out,
            embeddings,
            force,
        } => {
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
        Command::Fetch { manifest, cache } => {
            let m = crate::manifest::load(manifest)?;
            if m.source.files.is_empty() {
                p.info(format!(
                    "Nothing {} reads local files only (source.path)",
                    manifest.display()
                ));
                return Ok(0);
            }
            let c = crate::fetch::cache::Cache::open(cache.root())?;
            let got = crate::stages::source::fetch(&m, &c, p)?;
            let mut out = std::io::stdout().lock();
            for (f, g) in &got {
                if cli.json {
                    writeln!(
                        out,
                        "{}",
                        json!({"type": "fetched", "file": f.name, "sha256": g.sha256, "bytes": g.bytes,
                               "served_by": g.served_by, "path": c.blob_path(&g.sha256), "attempts": g.attempts})
                    )?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        f.name,
                        g.sha256,
                        g.bytes,
                        g.served_by.as_deref().unwrap_or("cache")
                    )?;
                }
            }
            Ok(0)
        }
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
        Command::Synth {
            corpus,
            out,
            users,
            seed,
            events_per_user,
        } => {
            let s = crate::synth::write(
                corpus,
                out,
                &crate::synth::SynthArgs {
                    seed: *seed,
                    users: *users,
                    events_per_user: *events_per_user,
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
    }
}

/// Prints a dataset summary; exit 1 if any file's checksum does not match `dataset.json`.
fn inspect(dir: &Path, json_out: bool) -> Result<u8> {
    let path = dir.join("dataset.json");
    let bytes = fs_err::read(&path)?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadInput {
        path: path.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    let mut bad = Vec::new();
    for f in doc["files"].as_array().into_iter().flatten() {
        let rel = f["path"].as_str().unwrap_or_default();
        match crate::util::hash::sha256_file(&dir.join(rel)) {
            Ok((sha, _)) if Some(sha.as_str()) == f["sha256"].as_str() => {}
            Ok(_) => bad.push(format!("{rel}: checksum differs from dataset.json")),
            Err(e) => bad.push(format!("{rel}: {e}")),
        }
    }
    let mut out = std::io::stdout().lock();
    if json_out {
        writeln!(
            out,
            "{}",
            json!({ "type": "inspect", "dataset": doc, "problems": bad })
        )?;
    } else {
        let ds = &doc["dataset"];
        let st = &doc["statistics"];
        writeln!(
            out,
            "{} {}  ({})",
            ds["name"].as_str().unwrap_or("?"),
            ds["version"].as_str().unwrap_or("?"),
            dir.display()
        )?;
        writeln!(
            out,
            "corpus      {}",
            doc["source"]["corpus"].as_str().unwrap_or("?")
        )?;
        writeln!(
            out,
            "built by    recdata {}",
            doc["tool"]["version"].as_str().unwrap_or("?")
        )?;
        if st["rows"].as_u64().unwrap_or(0) > 0 {
            writeln!(
                out,
                "interactions {}  users {}  items {}  density {}",
                st["rows"], st["users"], st["items"], st["density"]
            )?;
            if let (Some(a), Some(b)) = (st["first_event"].as_str(), st["last_event"].as_str()) {
                writeln!(out, "time range  {a} .. {b}")?;
            } else {
                writeln!(out, "time range  none (the corpus has no event times)")?;
            }
        } else {
            writeln!(
                out,
                "interactions none (this corpus has no user-item events)"
            )?;
        }
        // Every table that has rows (what a sample corpus such as AgroSense has instead).
        let mut tables: Vec<(String, u64)> = Vec::new();
        for f in doc["files"].as_array().into_iter().flatten() {
            let (Some(t), Some(r)) = (f["table"].as_str(), f["rows"].as_u64()) else {
                continue;
            };
            match tables.iter_mut().find(|(n, _)| n == t) {
                Some(e) => e.1 += r,
                None => tables.push((t.to_owned(), r)),
            }
        }
        let listed: Vec<String> = tables
            .iter()
            .filter(|(n, r)| n != "rejects" && *r > 0)
            .map(|(n, r)| format!("{n} {r}"))
            .collect();
        writeln!(out, "tables      {}", listed.join(", "))?;
        if let Some(sp) = doc["split"].as_object() {
            writeln!(
                out,
                "split       {}",
                sp.get("method").and_then(|v| v.as_str()).unwrap_or("?")
            )?;
        }
        let rejected: u64 = doc["accounting"]["rejected"].as_object().map_or(0, |r| {
            r.values().filter_map(serde_json::Value::as_u64).sum()
        });
        writeln!(out, "rejected    {rejected} raw rows (see rejects.parquet)")?;
        for c in doc["media_coverage"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "media       {}: {} of {} items ({:.1}%){}",
                c["modality"].as_str().unwrap_or("?"),
                c["ok"],
                c["items"],
                c["coverage"].as_f64().unwrap_or(0.0) * 100.0,
                missing_suffix(c)
            )?;
        }
        for (label, key, what) in [
            ("captions", "captions", "media"),
            ("embeddings", "encoders", "model"),
        ] {
            for c in doc[key].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{label:<11} {}: {} of {} items ({:.1}%), {what} {}{}",
                    c["name"].as_str().unwrap_or("?"),
                    c["ok"],
                    c["items"],
                    c["coverage"].as_f64().unwrap_or(0.0) * 100.0,
                    c[what].as_str().unwrap_or("?"),
                    missing_suffix(c)
                )?;
            }
        }
        let sid = &doc["semantic_ids"];
        if !sid.is_null() {
            writeln!(
                out,
                "semantic ids {} items, codebooks {}, collisions {:.4} -> {:.4}, codes sha256 {}",
                sid["items"],
                sid["options"]["codebooks"],
                sid["metrics"]["collisions_before"]["rate"]
                    .as_f64()
                    .unwrap_or(0.0),
                sid["metrics"]["collision_rate_after"]
                    .as_f64()
                    .unwrap_or(0.0),
                sid["codes_sha256"]
                    .as_str()
                    .unwrap_or("?")
                    .chars()
                    .take(16)
                    .collect::<String>()
            )?;
        }
        writeln!(out, "\n{:<28} {:>12} {:>14}", "file", "rows", "bytes")?;
        for f in doc["files"].as_array().into_iter().flatten() {
            // serde_json's Display ignores width: format the numbers as strings.
            writeln!(
                out,
                "{:<28} {:>12} {:>14}",
                f["path"].as_str().unwrap_or("?"),
                f["rows"].to_string(),
                f["bytes"].to_string()
            )?;
        }
        for b in &bad {
            writeln!(out, "PROBLEM: {b}")?;
        }
    }
    Ok(if bad.is_empty() { 0 } else { 1 })
}

#[allow(clippy::too_many_arguments)]
fn media_cmd(
    urls: &Path,
    out: &Path,
    modality: ModalityArg,
    retry_failed: bool,
    (concurrency, per_host, rate, max_bytes, timeout, retries): (
        usize,
        usize,
        f64,
        Option<u64>,
        f64,
        u32,
    ),
    cache_root: &Path,
    json_out: bool,
    p: &Reporter,
) -> Result<u8> {
    use crate::fetch::media::{MediaFetcher, MediaItem, MediaOptions, Modality};
    let m = match modality {
        ModalityArg::Image => Modality::Image,
        ModalityArg::Audio => Modality::Audio,
        ModalityArg::Video => Modality::Video,
    };
    let text = fs_err::read_to_string(urls)?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if i == 0 && f.get(1).is_some_and(|u| !u.contains("://")) {
            continue; // header
        }
        if f.len() < 2 || f.len() > 3 || !f[1].contains("://") {
            return Err(Error::BadInput {
                path: urls.to_path_buf(),
                message: format!(
                    "line {}: expected `key<TAB>url[<TAB>sha256]`, got {:?}",
                    i + 1,
                    line
                ),
            });
        }
        items.push(MediaItem {
            key: f[0].to_string(),
            url: f[1].to_string(),
            sha256: f
                .get(2)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase()),
        });
    }
    let mut o = MediaOptions::new(m);
    o.http.concurrency = concurrency.max(1);
    o.http.per_host = per_host.max(1);
    o.http.retries = retries.max(1);
    o.http.read_timeout = std::time::Duration::from_secs_f64(timeout.max(0.001));
    o.rate_per_host = rate;
    if let Some(b) = max_bytes {
        o.max_bytes = b;
    }
    let cache = crate::fetch::cache::Cache::open(cache_root.to_path_buf())?;
    let mut journal = out.as_os_str().to_os_string();
    journal.push(".journal.jsonl");
    let fetcher = MediaFetcher::new(cache, o)?;
    let (results, summary) = fetcher.run(items, Path::new(&journal), retry_failed, p)?;
    crate::fetch::media::write_results(out, &results)?;
    if json_out {
        println!(
            "{}",
            json!({"type": "media_summary", "summary": summary, "out": out})
        );
    } else {
        let mut o = std::io::stdout().lock();
        for (k, v) in &summary.by_status {
            writeln!(o, "{k}\t{v}")?;
        }
        p.info(format!(
            "Fetched {} of {} item(s) in {:.1}s ({:.0}/s); status table {}",
            summary.fetched,
            summary.items,
            summary.seconds,
            summary.items_per_second,
            out.display()
        ));
    }
    Ok(0)
}

fn cache_cmd(action: &CacheAction, root: &Path, json_out: bool, p: &Reporter) -> Result<u8> {
    let c = crate::fetch::cache::Cache::open(root.to_path_buf())?;
    let mut out = std::io::stdout().lock();
    match action {
        CacheAction::Ls => {
            let entries = c.ls()?;
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            for e in &entries {
                if json_out {
                    writeln!(out, "{}", json!({"type": "cache_entry", "entry": e}))?;
                } else {
                    writeln!(
                        out,
                        "{:<9} {}  {:>10}  {}",
                        e.kind,
                        e.key,
                        crate::fetch::http::human_bytes(e.bytes),
                        e.origin
                    )?;
                }
            }
            p.info(format!(
                "Cache {}: {} entries, {}",
                root.display(),
                entries.len(),
                crate::fetch::http::human_bytes(total)
            ));
        }
        CacheAction::Gc {
            older_than_days,
            keep,
            dry_run,
        } => {
            let mut keys = Vec::new();
            for mf in keep {
                let m = crate::manifest::load(mf)?;
                let lock = crate::fetch::lockfile::LockFile::load(mf)?;
                for f in &m.source.files {
                    if let Some(s) = f
                        .sha256
                        .clone()
                        .or_else(|| lock.get(&f.url).map(|l| l.sha256.clone()))
                    {
                        keys.push(s);
                    }
                }
            }
            let rep = c.gc((older_than_days * 86400.0) as u64, &keys, *dry_run)?;
            if json_out {
                writeln!(
                    out,
                    "{}",
                    json!({"type": "cache_gc", "dry_run": dry_run, "report": rep})
                )?;
            } else {
                for r in &rep.removed {
                    writeln!(
                        out,
                        "{}{r}",
                        if *dry_run {
                            "would remove "
                        } else {
                            "removed "
                        }
                    )?;
                }
                p.info(format!(
                    "{} {} entries, {} ({} kept)",
                    if *dry_run { "Would-free" } else { "Freed" },
                    rep.removed.len(),
                    crate::fetch::http::human_bytes(rep.freed_bytes),
                    rep.kept
                ));
            }
        }
    }
    Ok(0)
}

/// `build`, `build --shard K/N` and `merge`.
#[allow(clippy::too_many_arguments)]
fn build_cmd(
    cli: &Cli,
    p: &Reporter,
    manifest: &Path,
    data_dir: &Path,
    cache: &CacheArg,
    retry_failed: bool,
    enc: &EncodeArgs,
    sharding: crate::stages::Sharding,
) -> Result<u8> {
    let m = crate::manifest::load(manifest)?;
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
fn plan_cmd(
    cli: &Cli,
    p: &Reporter,
    manifest: &Path,
    data_dir: &Path,
    cache: &CacheArg,
    models: Option<&Path>,
    verbose: bool,
) -> Result<u8> {
    let m = crate::manifest::load(manifest)?;
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
fn slurm_cmd(
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
    let m = crate::manifest::load(manifest)?;
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
