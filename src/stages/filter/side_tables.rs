//! Side tables (exposures, requests, samples, labels, corpus tables) through the filter: rows
//! follow their user (a removed user's rows go too), every item a kept row shows stays in the
//! catalogue, and codes become dense ids.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, ListArray, RecordBatch, UInt32Array};

use super::SideTableStats;
use crate::error::Result;
use crate::sources::{ItemRefs, SideTable};

/// Decides which rows of each table stay, and marks the users and items they keep.
pub(super) fn plan(
    tables: &[SideTable],
    user_kept: &mut [bool],
    item_kept: &mut [bool],
    had_rows: &[bool],
) -> Vec<Vec<bool>> {
    let mut masks = Vec::with_capacity(tables.len());
    let mut new_users = Vec::new();
    for t in tables {
        let n = t.batch.num_rows();
        let keep: Vec<bool> = match t.user_col.as_deref().map(|c| t.u32_col(c)) {
            Some(Ok(users)) => (0..n)
                .map(|r| {
                    let u = users.value(r) as usize;
                    let k = user_kept[u] || !had_rows[u];
                    if k && !had_rows[u] {
                        new_users.push(u);
                    }
                    k
                })
                .collect(),
            // Reported by `remap`, which sees the same column.
            Some(Err(_)) | None => vec![true; n],
        };
        for c in &t.item_cols {
            if let Ok(refs) = t.item_codes(c) {
                for (r, k) in keep.iter().enumerate() {
                    if *k {
                        refs.each(r, |i| item_kept[i as usize] = true);
                    }
                }
            }
        }
        masks.push(keep);
    }
    for u in new_users {
        user_kept[u] = true;
    }
    masks
}

/// Replaces codes by dense ids (a null slot's value is not looked at: it may be anything).
fn map_flat(a: &UInt32Array, dense: &[u32]) -> UInt32Array {
    use rayon::prelude::*;
    let values: Vec<u32> = a
        .values()
        .par_iter()
        .map(|&c| dense.get(c as usize).copied().unwrap_or(u32::MAX))
        .collect();
    UInt32Array::new(values.into(), a.nulls().cloned())
}

/// The filtered tables (name, batch) and their row counts.
type Remapped = (Vec<(String, RecordBatch)>, Vec<SideTableStats>);

/// Filters each table by its mask and replaces codes by dense ids.
pub(super) fn remap(
    tables: &[SideTable],
    masks: &[Vec<bool>],
    user_dense: &[u32],
    item_dense: &[u32],
) -> Result<Remapped> {
    let mut out = Vec::with_capacity(tables.len());
    let mut stats = Vec::with_capacity(tables.len());
    for (t, keep) in tables.iter().zip(masks) {
        // Nothing to drop (the common case): no copy.
        let batch = if keep.iter().all(|k| *k) {
            t.batch.clone()
        } else {
            arrow_select::filter::filter_record_batch(&t.batch, &BooleanArray::from(keep.clone()))?
        };
        let filtered = SideTable {
            name: t.name.clone(),
            batch: batch.clone(),
            user_col: t.user_col.clone(),
            item_cols: t.item_cols.clone(),
        };
        let schema = batch.schema();
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        for (k, f) in schema.fields().iter().enumerate() {
            let name = f.name().as_str();
            if t.user_col.as_deref() == Some(name) {
                cols[k] = Arc::new(map_flat(filtered.u32_col(name)?, user_dense));
            } else if t.item_cols.iter().any(|c| c == name) {
                cols[k] = match filtered.item_codes(name)? {
                    ItemRefs::Flat(a) => Arc::new(map_flat(a, item_dense)),
                    ItemRefs::List(l, v) => {
                        let field = match f.data_type() {
                            arrow_schema::DataType::List(inner) => inner.clone(),
                            _ => unreachable!("item_codes checked the list type"),
                        };
                        Arc::new(ListArray::try_new(
                            field,
                            l.offsets().clone(),
                            Arc::new(map_flat(v, item_dense)),
                            l.nulls().cloned(),
                        )?)
                    }
                };
            }
        }
        let rows = batch.num_rows() as u64;
        out.push((t.name.clone(), RecordBatch::try_new(schema, cols)?));
        stats.push(SideTableStats {
            table: t.name.clone(),
            input_rows: t.batch.num_rows() as u64,
            removed_user_filtered: t.batch.num_rows() as u64 - rows,
            output_rows: rows,
        });
    }
    Ok((out, stats))
}
