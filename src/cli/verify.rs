//! `recdata verify`: a version against its dataset.json.

use super::*;
use crate::error::Result;
use crate::progress::Reporter;

pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Verify { dir } = &cli.command else {
        unreachable!("dispatched on the variant")
    };
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
