//! One integration-test binary (every extra binary would link polars again).

mod util;

mod build;
mod filter_props;
mod manifest_errors;
mod pyarrow;
mod resume;
