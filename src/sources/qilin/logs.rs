//! The search, recommendation and DQA logs: requests, exposures and interactions.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Search,
    Rec,
    Dqa,
}

pub(super) struct LogSpec {
    pub(super) config: &'static str,
    pub(super) kind: Kind,
    pub(super) split: &'static str,
}

pub(super) const LOGS: [LogSpec; 5] = [
    LogSpec {
        config: SEARCH_TRAIN,
        kind: Kind::Search,
        split: "train",
    },
    LogSpec {
        config: SEARCH_TEST,
        kind: Kind::Search,
        split: "test",
    },
    LogSpec {
        config: DQA,
        kind: Kind::Dqa,
        split: "dqa",
    },
    LogSpec {
        config: REC_TRAIN,
        kind: Kind::Rec,
        split: "train",
    },
    LogSpec {
        config: REC_TEST,
        kind: Kind::Rec,
        split: "test",
    },
];

pub(super) const SEARCH_CANDIDATES: [&str; 3] = ["bm25_results", "dpr_results", "search_results"];
pub(super) const REC_CANDIDATES: [&str; 1] = ["rec_results"];
pub(super) const DQA_CLICKS: [&str; 4] = [
    "is_like_clk",
    "is_onebox_trace_clk",
    "is_content_clk",
    "is_experience_clk",
];
pub(super) const TS_FIELDS: [&str; 3] = ["search_timestamp", "request_timestamp", "timestamp"];

/// One entry of a result list.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) note: u32,
    pub(super) position: i32,
    pub(super) click: bool,
    pub(super) flags: [Option<i32>; 4],
    /// page_time; `None` where NaN or negative.
    pub(super) page_time: Option<f32>,
    pub(super) ts: i64,
}

#[derive(Debug)]
pub(super) struct Cands {
    pub(super) notes: Vec<u32>,
    pub(super) scores: Vec<Option<f64>>,
}

pub(super) struct DqaExtra {
    pub(super) output: Option<String>,
    pub(super) refs: Option<Vec<u32>>,
    pub(super) clk: [Option<i32>; 4],
}

pub(super) struct LogRow {
    pub(super) split: u8,
    pub(super) id: u64,
    pub(super) user: i64,
    pub(super) session: i64,
    pub(super) query: Option<String>,
    pub(super) query_from_type: Option<i32>,
    pub(super) recent: Option<Vec<u32>>,
    pub(super) entries: Vec<Entry>,
    pub(super) cands: Vec<Option<Cands>>,
    pub(super) dqa: Option<DqaExtra>,
}

impl LogRow {
    pub(super) fn ts(&self) -> Option<i64> {
        self.entries.iter().map(|e| e.ts).min()
    }
}

pub(super) fn note_code(notes: &NoteIndex, col: &str, v: &Val) -> std::result::Result<u32, Bad> {
    let idx = match int_of(col, v)? {
        Some(i) => i,
        None => return Err(("unknown_note", format!("`{col}` holds a null note_idx"))),
    };
    notes.code(idx).ok_or_else(|| {
        (
            "unknown_note",
            format!("`{col}` names note_idx {idx}, which is not in notes"),
        )
    })
}

pub(super) fn note_list(
    notes: &NoteIndex,
    col: &str,
    v: &Val,
) -> std::result::Result<Option<Vec<u32>>, Bad> {
    let Some(items) = v.list().map_err(|e| bad_value(col, e))? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|x| note_code(notes, col, x))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

/// A candidate list: note_idx ints, or `[note_idx, score]` pairs (or `{note_idx, score}`).
pub(super) fn candidates(
    notes: &NoteIndex,
    col: &str,
    v: &Val,
) -> std::result::Result<Option<Cands>, Bad> {
    let Some(items) = v.list().map_err(|e| bad_value(col, e))? else {
        return Ok(None);
    };
    let mut c = Cands {
        notes: Vec::with_capacity(items.len()),
        scores: Vec::with_capacity(items.len()),
    };
    for x in items {
        let (idx, score) = match x {
            Val::List(p) if p.len() == 2 => (&p[0], Some(&p[1])),
            Val::List(p) => {
                return Err(bad_value(
                    col,
                    format!("a candidate pair has {} elements, not 2", p.len()),
                ));
            }
            Val::Map(_) => (x.get("note_idx").unwrap_or(&Val::Null), x.get("score")),
            other => (other, None),
        };
        c.notes.push(note_code(notes, col, idx)?);
        c.scores.push(match score {
            Some(s) => s.num().map_err(|e| bad_value(col, e))?,
            None => None,
        });
    }
    Ok(Some(c))
}

pub(super) fn entries(
    notes: &NoteIndex,
    col: &str,
    v: &Val,
) -> std::result::Result<Vec<Entry>, Bad> {
    let Some(items) = v.list().map_err(|e| bad_value(col, e))? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for (k, x) in items.iter().enumerate() {
        if !matches!(x, Val::Map(_)) {
            return Err(bad_value(
                col,
                format!("entry {k} is {}, not an object", x.kind()),
            ));
        }
        let field = |f: &str| x.get(f).unwrap_or(&Val::Null);
        let note = note_code(notes, col, field("note_idx"))?;
        let position = i32_of(&format!("{col}[{k}].position"), field("position"))?
            .ok_or_else(|| bad_value(col, format!("entry {k} has no position")))?;
        let click = int_of(col, field("click"))?.is_some_and(|c| c > 0);
        let mut flags = [None; 4];
        for (slot, f) in flags
            .iter_mut()
            .zip(["like", "collect", "comment", "share"])
        {
            *slot = i32_of(&format!("{col}[{k}].{f}"), field(f))?;
        }
        let page_time = field("page_time")
            .num()
            .map_err(|e| bad_value(col, e))?
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(|p| p as f32);
        let ts_val = TS_FIELDS
            .iter()
            .find_map(|f| x.get(f))
            .unwrap_or(&Val::Null);
        let secs = ts_val.num().map_err(|e| bad_value(col, e))?;
        let ts = match secs {
            // Seconds; a value this large can only be milliseconds already (year > 5000 in s).
            Some(s) if s.is_finite() && s.abs() >= 1e11 && s.abs() < 1e14 => s.round() as i64,
            Some(s) if s.is_finite() && s.abs() < 1e11 => (s * 1000.0).round() as i64,
            _ => {
                return Err((
                    "bad_timestamp",
                    format!(
                        "`{col}` entry {k} has no usable timestamp ({})",
                        TS_FIELDS.join(" / ")
                    ),
                ));
            }
        };
        out.push(Entry {
            note,
            position,
            click,
            flags,
            page_time,
            ts,
        });
    }
    // Display order is `position`, not list order (the paper sorts by time); ties keep list order.
    out.sort_by_key(|e| e.position);
    Ok(out)
}

/// The columns of one log batch.
pub(super) struct LogCols<'a> {
    pub(super) id: Col<'a>,
    pub(super) user: Col<'a>,
    pub(super) session: Col<'a>,
    pub(super) query: Col<'a>,
    pub(super) qft: Col<'a>,
    pub(super) recent: Col<'a>,
    pub(super) details: Col<'a>,
    pub(super) cands: Vec<Col<'a>>,
    pub(super) dqa_output: Col<'a>,
    pub(super) refs: Col<'a>,
    pub(super) clk: Vec<Col<'a>>,
}

pub(super) fn parse_log_row(
    spec: &LogSpec,
    c: &LogCols<'_>,
    r: usize,
    notes: &NoteIndex,
) -> std::result::Result<LogRow, Bad> {
    let id_col = if spec.kind == Kind::Rec {
        "request_idx"
    } else {
        "search_idx"
    };
    let details_col = if spec.kind == Kind::Rec {
        "rec_result_details_with_idx"
    } else {
        "search_result_details_with_idx"
    };
    let id = id_of(id_col, &c.id.scalar(r))? as u64;
    let user = id_of("user_idx", &c.user.scalar(r))?;
    let session = int_of("session_idx", &c.session.scalar(r))?
        .ok_or(("missing_id", "`session_idx` is null".to_owned()))?;
    let query = text_of(c.query.scalar(r));
    let query_from_type = i32_of("query_from_type", &c.qft.scalar(r))?;
    let recent_v = c
        .recent
        .nested(r)
        .map_err(|e| bad_value("recent_clicked_note_idxs", e))?;
    let recent = note_list(notes, "recent_clicked_note_idxs", &recent_v)?;
    let details_v = c.details.nested(r).map_err(|e| bad_value(details_col, e))?;
    let entries = entries(notes, details_col, &details_v)?;
    let names: &[&str] = if spec.kind == Kind::Rec {
        &REC_CANDIDATES
    } else {
        &SEARCH_CANDIDATES
    };
    let mut cands = Vec::with_capacity(names.len());
    for (col, name) in c.cands.iter().zip(names) {
        let v = col.nested(r).map_err(|e| bad_value(name, e))?;
        cands.push(candidates(notes, name, &v)?);
    }
    let dqa = if spec.kind == Kind::Dqa {
        let refs_v = c
            .refs
            .nested(r)
            .map_err(|e| bad_value("ref_note_idx_list", e))?;
        let mut clk = [None; 4];
        for ((slot, col), name) in clk.iter_mut().zip(&c.clk).zip(DQA_CLICKS) {
            *slot = i32_of(name, &col.scalar(r))?.filter(|v| *v >= 0);
        }
        Some(DqaExtra {
            // '-1' is the corpus' "no answer".
            output: text_of(c.dqa_output.scalar(r)).filter(|s| s.trim() != "-1"),
            refs: note_list(notes, "ref_note_idx_list", &refs_v)?,
            clk,
        })
    } else {
        None
    };
    Ok(LogRow {
        split: u8::from(spec.split == "test"),
        id,
        user,
        session,
        query,
        query_from_type,
        recent,
        entries,
        cands,
        dqa,
    })
}

pub(super) struct Logs {
    pub(super) search: Vec<(LogRow, u32)>,
    pub(super) rec: Vec<(LogRow, u32)>,
    pub(super) dqa: Vec<(LogRow, u32)>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn read_logs(
    o: &Options,
    dir: &Path,
    notes: &NoteIndex,
    users: &mut Users,
    inter: &mut RawInteractions,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<Logs> {
    let mut logs = Logs {
        search: Vec::new(),
        rec: Vec::new(),
        dqa: Vec::new(),
    };
    let mut order = 0u64;
    let with_value = o.interaction_value == InteractionValue::PageTime;
    for spec in &LOGS {
        for path in shards(dir, spec.config)? {
            let file = rel(dir, &path);
            let (_, mut reader) = open_parquet(&path)?;
            let mut acc = FileAccount {
                file: file.clone(),
                lines: reader.header_records(),
                header: reader.header_records(),
                ..Default::default()
            };
            let (id_col, details_col) = if spec.kind == Kind::Rec {
                ("request_idx", "rec_result_details_with_idx")
            } else {
                ("search_idx", "search_result_details_with_idx")
            };
            let cand_names: &[&str] = if spec.kind == Kind::Rec {
                &REC_CANDIDATES
            } else {
                &SEARCH_CANDIDATES
            };
            while let Some(b) = next_batch(&path, &mut reader)? {
                for col in [id_col, "user_idx", "session_idx", details_col] {
                    require(&path, &b, col)?;
                }
                let get = |n: &str| Col::of(b.column_by_name(n));
                let cols = LogCols {
                    id: get(id_col),
                    user: get("user_idx"),
                    session: get("session_idx"),
                    query: get("query"),
                    qft: get("query_from_type"),
                    recent: get("recent_clicked_note_idxs"),
                    details: get(details_col),
                    cands: cand_names.iter().map(|n| get(n)).collect(),
                    dqa_output: get("dqa_output"),
                    refs: get("ref_note_idx_list"),
                    clk: DQA_CLICKS.iter().map(|n| get(n)).collect(),
                };
                for r in 0..b.num_rows() {
                    acc.lines += 1;
                    let row = match parse_log_row(spec, &cols, r, notes) {
                        Ok(row) => row,
                        Err((reason, detail)) => {
                            rejects.push(Reject {
                                file: file.clone(),
                                line: acc.lines,
                                reason,
                                detail,
                                raw: row_json(&b, r),
                            });
                            acc.rejected += 1;
                            continue;
                        }
                    };
                    acc.rows += 1;
                    let user = users.code(row.user);
                    if spec.kind != Kind::Dqa || o.dqa_clicks {
                        for e in row.entries.iter().filter(|e| e.click) {
                            inter.user.push(user);
                            inter.item.push(e.note);
                            inter.ts.push(e.ts);
                            inter.order.push(order);
                            order += 1;
                            if let Some(v) = inter.value.as_mut() {
                                v.push(e.page_time.unwrap_or(f32::NAN));
                            }
                            if let Some(s) = inter.session.as_mut() {
                                s.push(row.session);
                            }
                        }
                    }
                    match spec.kind {
                        Kind::Search => logs.search.push((row, user)),
                        Kind::Rec => logs.rec.push((row, user)),
                        Kind::Dqa => logs.dqa.push((row, user)),
                    }
                }
            }
            accounts.push(acc);
        }
    }
    if !with_value {
        inter.value = None;
    }
    Ok(logs)
}

// ---------------------------------------------------------------------------------------------
// Building the side tables

pub(super) fn u32_list<'a>(rows: impl Iterator<Item = Option<&'a [u32]>>) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new());
    for r in rows {
        match r {
            Some(v) => {
                b.values().append_slice(v);
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

pub(super) fn f64_list<'a>(rows: impl Iterator<Item = Option<&'a [Option<f64>]>>) -> ArrayRef {
    let mut b = ListBuilder::new(Float64Builder::new());
    for r in rows {
        match r {
            Some(v) => {
                for x in v {
                    b.values().append_option(*x);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

pub(super) fn dict(values: &[&str], keys: impl Iterator<Item = i32>) -> Result<ArrayRef> {
    Ok(Arc::new(Int32DictionaryArray::try_new(
        Int32Array::from_iter_values(keys),
        Arc::new(StringArray::from(values.to_vec())),
    )?))
}

pub(super) fn ts_array(v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter(v).with_timezone("UTC"))
}

/// `positions`, `likes`, `collects`, `comments`, `shares`, `page_times`: parallel to the result list.
pub(super) fn entry_columns(rows: &[&LogRow]) -> Vec<ArrayRef> {
    let mut pos = ListBuilder::new(Int32Builder::new());
    let mut flags: Vec<ListBuilder<Int32Builder>> = (0..4)
        .map(|_| ListBuilder::new(Int32Builder::new()))
        .collect();
    let mut pt = ListBuilder::new(Float32Builder::new());
    for r in rows {
        for e in &r.entries {
            pos.values().append_value(e.position);
            for (b, f) in flags.iter_mut().zip(e.flags) {
                b.values().append_option(f);
            }
            pt.values().append_option(e.page_time);
        }
        pos.append(true);
        for b in flags.iter_mut() {
            b.append(true);
        }
        pt.append(true);
    }
    let mut out: Vec<ArrayRef> = vec![Arc::new(pos.finish())];
    out.extend(
        flags
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef),
    );
    out.push(Arc::new(pt.finish()));
    out
}

pub(super) fn candidate_columns(rows: &[&LogRow], n: usize) -> Vec<ArrayRef> {
    let mut out = Vec::new();
    for k in 0..n {
        fn c<'a>(r: &&'a LogRow, k: usize) -> Option<&'a Cands> {
            r.cands.get(k).and_then(|c| c.as_ref())
        }
        out.push(u32_list(
            rows.iter().map(|r| c(r, k).map(|c| c.notes.as_slice())),
        ));
        out.push(f64_list(rows.iter().map(|r| {
            c(r, k)
                .filter(|c| c.scores.iter().any(Option::is_some))
                .map(|c| c.scores.as_slice())
        })));
    }
    out
}

pub(super) fn results(rows: &[&LogRow], clicked_only: bool) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new());
    for r in rows {
        for e in r.entries.iter().filter(|e| e.click || !clicked_only) {
            b.values().append_value(e.note);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

pub(super) fn batch(table: &str, cols: Vec<ArrayRef>) -> Result<RecordBatch> {
    let schema = crate::io::schema::table(table)?.arrow(NAME)?;
    RecordBatch::try_new(schema, cols).map_err(|e| {
        Error::Internal(format!(
            "qilin: building `{table}` does not match schemas/{table}.json: {e}"
        ))
    })
}

pub(super) fn requests_table(rows: &[(LogRow, u32)]) -> Result<SideTable> {
    let rs: Vec<&LogRow> = rows.iter().map(|(r, _)| r).collect();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(|r| r.id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, u)| *u))),
        Arc::new(Int64Array::from_iter_values(rs.iter().map(|r| r.session))),
        ts_array(rs.iter().map(|r| r.ts())),
        Arc::new(StringArray::from_iter_values(
            rs.iter().map(|r| r.query.as_deref().unwrap_or("")),
        )),
        results(&rs, false),
        results(&rs, true),
        dict(&["train", "test"], rs.iter().map(|r| i32::from(r.split)))?,
        Arc::new(Int32Array::from_iter(rs.iter().map(|r| r.query_from_type))),
        u32_list(rs.iter().map(|r| r.recent.as_deref())),
    ];
    cols.extend(entry_columns(&rs));
    cols.extend(candidate_columns(&rs, SEARCH_CANDIDATES.len()));
    Ok(SideTable {
        name: "requests".into(),
        batch: batch("requests", cols)?,
        user_col: Some("user_id".into()),
        item_cols: vec![
            "results".into(),
            "clicks".into(),
            "recent_clicked".into(),
            "bm25_results".into(),
            "dpr_results".into(),
            "search_results".into(),
        ],
    })
}

pub(super) fn exposures_table(rows: &[(LogRow, u32)]) -> Result<SideTable> {
    let rs: Vec<&LogRow> = rows.iter().map(|(r, _)| r).collect();
    let n = rs.len();
    let clicked_position = rs.iter().map(|r| {
        r.entries
            .iter()
            .position(|e| e.click)
            .and_then(|p| u16::try_from(p).ok())
    });
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(|r| r.id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, u)| *u))),
        ts_array(rs.iter().map(|r| r.ts())),
        Arc::new(arrow_array::UInt32Array::from(vec![None::<u32>; n])),
        dict(&["rec"], std::iter::repeat_n(0, n))?,
        results(&rs, false),
        Arc::new(UInt16Array::from_iter(clicked_position)),
        dict(&["train", "test"], rs.iter().map(|r| i32::from(r.split)))?,
        Arc::new(Int64Array::from_iter_values(rs.iter().map(|r| r.session))),
        Arc::new(StringArray::from_iter(
            rs.iter().map(|r| r.query.as_deref()),
        )),
        u32_list(rs.iter().map(|r| r.recent.as_deref())),
        results(&rs, true),
    ];
    cols.extend(entry_columns(&rs));
    cols.extend(candidate_columns(&rs, REC_CANDIDATES.len()));
    Ok(SideTable {
        name: "exposures".into(),
        batch: batch("exposures", cols)?,
        user_col: Some("user_id".into()),
        item_cols: vec![
            "items".into(),
            "recent_clicked".into(),
            "clicks".into(),
            "rec_results".into(),
        ],
    })
}

pub(super) fn dqa_table(rows: &[(LogRow, u32)]) -> Result<SideTable> {
    let rs: Vec<&LogRow> = rows.iter().map(|(r, _)| r).collect();
    pub(super) fn dq<'a>(r: &&'a LogRow) -> Option<&'a DqaExtra> {
        r.dqa.as_ref()
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(|r| r.id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, u)| *u))),
        Arc::new(Int64Array::from_iter_values(rs.iter().map(|r| r.session))),
        ts_array(rs.iter().map(|r| r.ts())),
        Arc::new(StringArray::from_iter_values(
            rs.iter().map(|r| r.query.as_deref().unwrap_or("")),
        )),
        Arc::new(Int32Array::from_iter(rs.iter().map(|r| r.query_from_type))),
        u32_list(rs.iter().map(|r| r.recent.as_deref())),
        results(&rs, false),
        results(&rs, true),
    ];
    cols.extend(entry_columns(&rs));
    cols.extend(candidate_columns(&rs, SEARCH_CANDIDATES.len()));
    cols.push(Arc::new(StringArray::from_iter(
        rs.iter().map(|r| dq(r).and_then(|d| d.output.as_deref())),
    )));
    cols.push(u32_list(
        rs.iter().map(|r| dq(r).and_then(|d| d.refs.as_deref())),
    ));
    for k in 0..4 {
        cols.push(Arc::new(Int32Array::from_iter(
            rs.iter().map(|r| dq(r).and_then(|d| d.clk[k])),
        )));
    }
    Ok(SideTable {
        name: "qilin_dqa".into(),
        batch: batch("qilin_dqa", cols)?,
        user_col: Some("user_id".into()),
        item_cols: vec![
            "recent_clicked".into(),
            "results".into(),
            "clicks".into(),
            "bm25_results".into(),
            "dpr_results".into(),
            "search_results".into(),
            "ref_notes".into(),
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// Qrels
