//! One integration-test binary (every extra binary would link polars again).

mod server;
mod util;

mod build;
mod fetch;
mod finn_slates;
mod filter_props;
mod manifest_errors;
mod media;
mod pyarrow;
mod resume;
