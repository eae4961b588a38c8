//! The command line: clap types, parsed once.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Encoders: `check` loads each model a manifest uses or defines (or every registry model),
    /// runs it on probe inputs and reports its inputs, outputs, dimension and speed; `list`
    /// shows the models a manifest can use.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
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
        /// AgroSense: also plant duplicate soil images the way the real snapshot has them (an
        /// exact copy across Train/test and within a class folder, a re-encoded JPEG across
        /// splits, a resized copy across splits, a near copy within a folder), for the media audit.
        #[arg(long)]
        duplicates: bool,
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
    pub fn root(&self) -> PathBuf {
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

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Run each model on probe inputs: I/O names and types, shapes, dimension, speed.
    /// Exit 1 when a model fails.
    Check {
        /// A manifest: check the models its encoders use and its own `[models.<id>]`.
        manifest: Option<PathBuf>,
        /// Check every model of the registry (and the manifest's own).
        #[arg(long)]
        all: bool,
        /// Timed runs per model (after one warm-up run).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// The models of the registry and of a manifest: id, task, dim, space, where defined.
    List {
        manifest: Option<PathBuf>,
        /// The model registry directory (models.toml) [default: $RECDATA_MODELS, else the nearest models/].
        #[arg(long)]
        models: Option<PathBuf>,
    },
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
