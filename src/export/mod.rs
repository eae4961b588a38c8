//! Exports of a published version into other tools' native formats.

pub mod recbole;
