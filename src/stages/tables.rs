//! The columns of the published interaction and entity tables, shared by the stages that write
//! them (filter, split) and the readers that load them back.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float32Array, Int64Array, StringArray, TimestampMillisecondArray, UInt32Array,
};

use super::dict_array;
use crate::error::Result;
use crate::sources::Entities;

/// Interaction rows in published form (filtered, or one split's share).
#[derive(Debug, Clone, Default)]
pub struct InteractionRows {
    pub user: Vec<u32>,
    pub item: Vec<u32>,
    /// ms since the epoch; for a timeless corpus the step (published as null).
    pub ts: Vec<i64>,
    pub value: Option<Vec<f32>>,
    pub session: Option<Vec<i64>>,
}

impl InteractionRows {
    /// The rows at `idx`, in that order.
    pub fn take(&self, idx: &[u32]) -> InteractionRows {
        let at = |r: &u32| *r as usize;
        InteractionRows {
            user: idx.iter().map(|r| self.user[at(r)]).collect(),
            item: idx.iter().map(|r| self.item[at(r)]).collect(),
            ts: idx.iter().map(|r| self.ts[at(r)]).collect(),
            value: self
                .value
                .as_ref()
                .map(|v| idx.iter().map(|r| v[at(r)]).collect()),
            session: self
                .session
                .as_ref()
                .map(|v| idx.iter().map(|r| v[at(r)]).collect()),
        }
    }
}

pub(super) fn interaction_columns(
    r: InteractionRows,
    event: &str,
    timeless: bool,
) -> Result<Vec<ArrayRef>> {
    let n = r.user.len();
    let ts = if timeless {
        TimestampMillisecondArray::from(vec![None::<i64>; n])
    } else {
        TimestampMillisecondArray::from(r.ts)
    };
    Ok(vec![
        Arc::new(UInt32Array::from(r.user)),
        Arc::new(UInt32Array::from(r.item)),
        Arc::new(ts.with_timezone("UTC")),
        dict_array(event, n)?,
        // NaN is an adapter's "no value for this event" (the column is nullable, the adapter's
        // vector is not): published as null.
        Arc::new(match r.value {
            Some(v) => v.into_iter().map(|x| (!x.is_nan()).then_some(x)).collect(),
            None => Float32Array::from(vec![None::<f32>; n]),
        }),
        Arc::new(match r.session {
            Some(v) => Int64Array::from(v),
            None => Int64Array::from(vec![None::<i64>; n]),
        }),
    ])
}

/// Rows of `e` in the order of `codes`, as `[id, raw_id, (title), extras...]`.
/// `title`: the table has a title column (items do, users do not); a corpus without titles
/// gets an all-null one.
pub(super) fn entity_columns(
    e: &Entities,
    codes: &[u32],
    id_base: u32,
    title: bool,
) -> Result<Vec<ArrayRef>> {
    let idx = UInt32Array::from(codes.to_vec());
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(
            (0..codes.len() as u32).map(|i| i + id_base),
        )),
        Arc::new(StringArray::from_iter_values(
            codes.iter().map(|c| e.raw_id[*c as usize].as_str()),
        )),
    ];
    match &e.title {
        Some(t) => cols.push(Arc::new(StringArray::from_iter(
            codes.iter().map(|c| t[*c as usize].as_deref()),
        ))),
        None if title => cols.push(Arc::new(StringArray::from(vec![None::<&str>; codes.len()]))),
        None => {}
    }
    for (_, a) in &e.extras {
        cols.push(arrow_select::take::take(a.as_ref(), &idx, None)?);
    }
    Ok(cols)
}
