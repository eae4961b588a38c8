//! One integration-test binary (every extra binary would link polars again).

mod mllm;
mod server;
mod util;

mod accounting;
mod agrosense;
mod agrosense_audit;
mod amazon;
mod bench_gpu;
mod build;
mod contact;
mod deezer_sessions;
mod diagnose;
pub(crate) mod encode;
mod faults;
mod fetch;
mod filter_props;
mod finn_slates;
mod fuzz;
mod golden;
mod interop;
mod layers;
mod manifest_errors;
mod media;
mod microlens;
mod models;
mod movielens;
mod multilingual;
mod plan;
mod pyarrow;
mod qilin;
mod resume;
mod semantic;
mod shard;
