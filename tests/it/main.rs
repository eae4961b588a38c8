//! One integration-test binary (every extra binary would link polars again).

mod server;
mod util;

mod build;
mod fetch;
mod filter_props;
mod finn_slates;
mod manifest_errors;
mod media;
mod pyarrow;
mod resume;
