//! On-disk formats: canonical schemas, parquet, the versioned store, the dataset card.

pub mod card;
pub mod croissant;
pub mod csv;
pub mod lines;
pub mod npy;
pub mod parquet;
pub mod schema;
pub mod store;

/// The split files of a version, in order (`splits/<name>.parquet`).
pub const SPLIT_NAMES: [&str; 3] = ["train", "valid", "test"];
