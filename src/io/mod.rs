//! On-disk formats: canonical schemas, parquet, the versioned store, the dataset card.

pub mod card;
pub mod croissant;
pub mod csv;
pub mod input;
pub mod lines;
pub mod npy;
pub mod parquet;
pub mod pylit;
pub mod schema;
pub mod store;

/// The split files of a version, in order (`splits/<name>.parquet`).
pub const SPLIT_NAMES: [&str; 3] = ["train", "valid", "test"];

/// A labelled sample corpus' published splits (the split stage writes them, the diagnostics
/// read them): the samples' and the image table's.
pub const SAMPLE_SPLIT_FILE: &str = "splits/samples.parquet";
pub const IMAGE_SPLIT_FILE: &str = "splits/images.parquet";
/// The image table a sample corpus may have (AgroSense's soil photographs).
pub const SAMPLE_IMAGE_TABLE: &str = "soil_images";
