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

/// A side table after the filter: its kept rows, still holding normalize codes, and which
/// columns hold user and item codes. The dense ids are made a row group at a time as the table
/// is written ([`Self::dense_columns`]): FINN.no's exposures hold 375M item codes, and a
/// remapped copy of the whole table was 1.5 GB more peak memory, written page by page before
/// any of it was encoded.
#[derive(Debug, Clone)]
pub struct SideOut {
    pub name: String,
    batch: RecordBatch,
    user_col: Option<usize>,
    item_cols: Vec<usize>,
}

impl SideOut {
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Rows `r` with dense ids, in schema column order.
    pub fn dense_columns(
        &self,
        r: std::ops::Range<usize>,
        user_dense: &[u32],
        item_dense: &[u32],
    ) -> Result<Vec<ArrayRef>> {
        let part = self.batch.slice(r.start, r.len());
        // `remap` checked these columns' types on the whole table.
        let not_codes = || {
            crate::error::Error::Internal(format!(
                "side table `{}`: a code column changed type",
                self.name
            ))
        };
        let mut cols = part.columns().to_vec();
        if let Some(k) = self.user_col {
            let users = cols[k]
                .as_any()
                .downcast_ref::<UInt32Array>()
                .ok_or_else(not_codes)?;
            cols[k] = Arc::new(map_flat(users, user_dense));
        }
        for &k in &self.item_cols {
            cols[k] = match ItemRefs::of(cols[k].as_ref()).ok_or_else(not_codes)? {
                ItemRefs::Flat(a) => Arc::new(map_flat(a, item_dense)),
                ItemRefs::List(l, v) => Arc::new(dense_list(l, v, item_dense)?),
            };
        }
        Ok(cols)
    }
}

/// A (sliced) list `l` of item codes `v` as a list of dense ids: only the slice's own elements
/// are mapped, and its offsets start again at 0.
fn dense_list(l: &ListArray, v: &UInt32Array, dense: &[u32]) -> Result<ListArray> {
    let field = match l.data_type() {
        arrow_schema::DataType::List(inner) => inner.clone(),
        _ => unreachable!("a ListArray has a list type"),
    };
    let offsets = l.value_offsets();
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    let mapped = map_flat(&v.slice(first as usize, (last - first) as usize), dense);
    let mut rebased = arrow_array::builder::OffsetBufferBuilder::new(l.len());
    for w in offsets.windows(2) {
        rebased.push_length((w[1] - w[0]) as usize);
    }
    Ok(ListArray::try_new(
        field,
        rebased.finish(),
        Arc::new(mapped),
        l.nulls().cloned(),
    )?)
}

/// Filters each table by its mask (its columns checked to hold codes where it says they do);
/// dense ids are left to the writer.
pub(super) fn remap(
    tables: &[SideTable],
    masks: &[Vec<bool>],
) -> Result<(Vec<SideOut>, Vec<SideTableStats>)> {
    let mut out = Vec::with_capacity(tables.len());
    let mut stats = Vec::with_capacity(tables.len());
    for (t, keep) in tables.iter().zip(masks) {
        // Nothing to drop (the common case): no copy.
        let batch = if keep.iter().all(|k| *k) {
            t.batch.clone()
        } else {
            arrow_select::filter::filter_record_batch(&t.batch, &BooleanArray::from(keep.clone()))?
        };
        let schema = batch.schema();
        let mut user_col = None;
        let mut item_cols = Vec::new();
        for (k, f) in schema.fields().iter().enumerate() {
            let name = f.name().as_str();
            if t.user_col.as_deref() == Some(name) {
                t.u32_col(name)?;
                user_col = Some(k);
            } else if t.item_cols.iter().any(|c| c == name) {
                t.item_codes(name)?;
                item_cols.push(k);
            }
        }
        let rows = batch.num_rows() as u64;
        stats.push(SideTableStats {
            table: t.name.clone(),
            input_rows: t.batch.num_rows() as u64,
            removed_user_filtered: t.batch.num_rows() as u64 - rows,
            output_rows: rows,
        });
        out.push(SideOut {
            name: t.name.clone(),
            batch,
            user_col,
            item_cols,
        });
    }
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, UInt32Builder};
    use arrow_schema::{DataType, Field, Schema};

    /// Written a row group at a time, a table gets the dense ids it would get whole: each
    /// slice of a list column maps its own elements (nulls kept) and its offsets start at 0.
    #[test]
    fn dense_columns_of_slices_equal_the_whole_table() {
        let mut lists = ListBuilder::new(UInt32Builder::new());
        // The third row is a null list: the list's own nulls must follow each slice.
        for (row, valid) in [
            (vec![Some(2), None, Some(0)], true),
            (vec![], true),
            (vec![], false),
            (vec![Some(1)], true),
            (vec![Some(2), Some(2)], true),
        ] {
            lists.values().extend(row);
            lists.append(valid);
        }
        let lists = lists.finish();
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::UInt32, false),
            Field::new("items", lists.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt32Array::from(vec![1, 0, 0, 1, 0])),
                Arc::new(lists),
            ],
        )
        .unwrap();
        let t = SideOut {
            name: "exposures".into(),
            batch,
            user_col: Some(0),
            item_cols: vec![1],
        };
        let (user_dense, item_dense) = ([7, 9], [10, 11, 12]);
        let whole = t.dense_columns(0..5, &user_dense, &item_dense).unwrap();
        let items = |c: &ArrayRef| -> Vec<Option<Vec<Option<u32>>>> {
            let l = c.as_any().downcast_ref::<ListArray>().unwrap();
            (0..l.len())
                .map(|r| {
                    let v = l.value(r);
                    let v = v.as_any().downcast_ref::<UInt32Array>().unwrap();
                    l.is_valid(r).then(|| v.iter().collect())
                })
                .collect()
        };
        assert_eq!(
            items(&whole[1]),
            vec![
                Some(vec![Some(12), None, Some(10)]),
                Some(vec![]),
                None,
                Some(vec![Some(11)]),
                Some(vec![Some(12), Some(12)]),
            ]
        );
        let (a, b) = (
            t.dense_columns(0..1, &user_dense, &item_dense).unwrap(),
            t.dense_columns(1..5, &user_dense, &item_dense).unwrap(),
        );
        let tail = b[1].as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(tail.value_offsets(), &[0, 0, 0, 1, 3]);
        assert!(tail.is_valid(0) && tail.is_null(1));
        assert_eq!(tail.values().len(), 3, "only the slice's own elements");
        let mut joined = items(&a[1]);
        joined.extend(items(&b[1]));
        assert_eq!(joined, items(&whole[1]));
        let users = |c: &ArrayRef| -> Vec<u32> {
            c.as_any()
                .downcast_ref::<UInt32Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        assert_eq!(users(&whole[0]), vec![9, 7, 7, 9, 7]);
        assert_eq!([users(&a[0]), users(&b[0])].concat(), users(&whole[0]));
    }
}
