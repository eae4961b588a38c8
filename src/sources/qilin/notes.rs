//! `notes`: the items (shards read in parallel) and the note index the logs resolve against.

use super::*;

/// The note extras in schema order (everything but `note_idx` and `note_title`).
pub fn note_extra_names() -> Vec<&'static str> {
    let mut v = vec!["note_content", "note_type"];
    v.extend_from_slice(&NOTE_NUMERIC[..6]);
    v.extend_from_slice(&["taxonomy1_id", "taxonomy2_id", "taxonomy3_id"]);
    v.extend_from_slice(&NOTE_NUMERIC[6..]);
    v.push("image_path");
    v
}

/// One notes shard, converted.
pub(super) struct NotesPart {
    pub(super) ids: Vec<i64>,
    /// 1-based row in the shard of each kept row.
    pub(super) lines: Vec<u64>,
    pub(super) title: Vec<Option<String>>,
    pub(super) extras: Vec<ArrayRef>,
    pub(super) rejects: Vec<Reject>,
    pub(super) acc: FileAccount,
    pub(super) missing_cols: Vec<String>,
}

pub(super) struct NoteBuilders {
    pub(super) content: StringBuilder,
    pub(super) note_type: Int32Builder,
    pub(super) nums: Vec<Float64Builder>,
    pub(super) tax: [StringBuilder; 3],
    pub(super) image_path: ListBuilder<StringBuilder>,
}

pub(super) fn read_notes_shard(
    o: &Options,
    dir: &Path,
    path: &Path,
    first_row: u64,
) -> Result<NotesPart> {
    let file = rel(dir, path);
    let (_, mut reader) = open_parquet(path)?;
    let mut part = NotesPart {
        ids: Vec::new(),
        lines: Vec::new(),
        title: Vec::new(),
        extras: Vec::new(),
        rejects: Vec::new(),
        acc: FileAccount {
            file: file.clone(),
            lines: reader.header_records(),
            header: reader.header_records(),
            ..Default::default()
        },
        missing_cols: Vec::new(),
    };
    let mut bld = NoteBuilders {
        content: StringBuilder::new(),
        note_type: Int32Builder::new(),
        nums: (0..36).map(|_| Float64Builder::new()).collect(),
        tax: Default::default(),
        image_path: ListBuilder::new(StringBuilder::new()),
    };
    let tax_names = ["taxonomy1_id", "taxonomy2_id", "taxonomy3_id"];
    let mut row = first_row;
    while let Some(b) = next_batch(path, &mut reader)? {
        require(path, &b, "note_idx")?;
        if part.missing_cols.is_empty() && part.acc.lines == part.acc.header {
            for c in ["note_title"].iter().chain(note_extra_names().iter()) {
                if b.column_by_name(c).is_none() {
                    part.missing_cols.push((*c).to_owned());
                }
            }
        }
        let id = Col::of(b.column_by_name("note_idx"));
        let title = Col::of(b.column_by_name("note_title"));
        let content = Col::of(b.column_by_name("note_content"));
        let note_type = Col::of(b.column_by_name("note_type"));
        let nums: Vec<Col> = NOTE_NUMERIC
            .iter()
            .map(|c| Col::of(b.column_by_name(c)))
            .collect();
        let tax: Vec<Col> = tax_names
            .iter()
            .map(|c| Col::of(b.column_by_name(c)))
            .collect();
        let images = Col::of(b.column_by_name("image_path"));
        for r in 0..b.num_rows() {
            part.acc.lines += 1;
            let global = row;
            row += 1;
            let parsed = (|| -> std::result::Result<_, Bad> {
                let idx = id_of("note_idx", &id.scalar(r))?;
                let nt = i32_of("note_type", &note_type.scalar(r))?;
                let mut n = [None; 36];
                for (k, c) in nums.iter().enumerate() {
                    n[k] = f64_of(NOTE_NUMERIC[k], c.scalar(r))?;
                }
                let img = match images.scalar(r) {
                    // Text: a JSON / Python list, or a bare path.
                    Val::Str(t) if t.trim_start().starts_with(['[', '(']) => {
                        parse_text(&t).map_err(|e| bad_value("image_path", e))?
                    }
                    Val::Str(t) if t.trim().is_empty() => Val::Null,
                    v => v,
                };
                let img: Option<Vec<String>> = match img {
                    Val::Null => None,
                    Val::List(v) => Some(
                        v.into_iter()
                            .map(|x| match x {
                                Val::Str(s) => Ok(s),
                                other => Err(bad_value(
                                    "image_path",
                                    format!("expected text paths, found {}", other.kind()),
                                )),
                            })
                            .collect::<std::result::Result<_, _>>()?,
                    ),
                    // A bare path is a one-image list.
                    Val::Str(s) => Some(vec![s]),
                    other => {
                        return Err(bad_value(
                            "image_path",
                            format!("expected a list of paths, found {}", other.kind()),
                        ));
                    }
                };
                Ok((idx, nt, n, img))
            })();
            let (idx, nt, n, img) = match parsed {
                Ok(x) => x,
                Err((reason, detail)) => {
                    part.rejects.push(Reject {
                        file: file.clone(),
                        line: part.acc.lines,
                        reason,
                        detail,
                        raw: row_json(&b, r),
                    });
                    part.acc.rejected += 1;
                    continue;
                }
            };
            if o.ids == Ids::Positional && idx as u64 != global {
                return Err(not_positional(
                    path,
                    part.acc.lines,
                    "note_idx",
                    global,
                    idx,
                ));
            }
            part.ids.push(idx);
            part.lines.push(part.acc.lines);
            part.title.push(text_of(title.scalar(r)));
            bld.content.append_option(text_of(content.scalar(r)));
            bld.note_type.append_option(nt);
            for (k, x) in n.iter().enumerate() {
                bld.nums[k].append_option(*x);
            }
            for (k, c) in tax.iter().enumerate() {
                // `nan` is how pandas writes a missing id as text.
                let t = text_of(c.scalar(r)).filter(|t| !t.is_empty() && t != "nan");
                bld.tax[k].append_option(t);
            }
            match img {
                Some(v) => {
                    for p in v {
                        bld.image_path.values().append_value(p);
                    }
                    bld.image_path.append(true);
                }
                None => bld.image_path.append(false),
            }
            part.acc.rows += 1;
        }
    }
    part.extras = bld.finish();
    Ok(part)
}

impl NoteBuilders {
    /// The note columns in table order: content, type, six counts, the three taxonomy levels,
    /// the other counts, the image path.
    fn finish(self) -> Vec<ArrayRef> {
        let mut nums = self
            .nums
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef);
        let [mut t1, mut t2, mut t3] = self.tax;
        let (mut content, mut note_type, mut image_path) =
            (self.content, self.note_type, self.image_path);
        let mut extras: Vec<ArrayRef> =
            vec![Arc::new(content.finish()), Arc::new(note_type.finish())];
        extras.extend(nums.by_ref().take(6));
        extras.push(Arc::new(t1.finish()));
        extras.push(Arc::new(t2.finish()));
        extras.push(Arc::new(t3.finish()));
        extras.extend(nums);
        extras.push(Arc::new(image_path.finish()));
        extras
    }
}

pub(super) struct Notes {
    pub(super) by_idx: NoteIndex,
    pub(super) entities: Entities,
}

/// note_idx → item code. With `unknown_notes = "keep"`, a note the logs name but `notes` lacks
/// gets the next code on first sight (in log order, so codes stay deterministic).
pub struct NoteIndex {
    pub(super) known: HashMap<i64, u32>,
    pub(super) keep_unknown: bool,
    pub(super) added: std::cell::RefCell<(HashMap<i64, u32>, Vec<i64>)>,
}

impl NoteIndex {
    pub(super) fn new(known: HashMap<i64, u32>, keep_unknown: bool) -> Self {
        NoteIndex {
            known,
            keep_unknown,
            added: Default::default(),
        }
    }

    /// The code of `idx`: a known note's, a kept unknown one's, or `None` (rejected).
    pub(super) fn code(&self, idx: i64) -> Option<u32> {
        if let Some(c) = self.known.get(&idx) {
            return Some(*c);
        }
        if !self.keep_unknown {
            return None;
        }
        let mut a = self.added.borrow_mut();
        if let Some(c) = a.0.get(&idx) {
            return Some(*c);
        }
        let c = (self.known.len() + a.1.len()) as u32;
        a.0.insert(idx, c);
        a.1.push(idx);
        Some(c)
    }

    /// Appends the kept unknown notes to the items: raw id, null title and features,
    /// `in_notes = false` (true for every note with a row).
    pub(super) fn complete(self, e: &mut Entities) -> Result<u64> {
        let added = self.added.into_inner().1;
        let n_known = e.raw_id.len();
        let n = added.len();
        e.raw_id.extend(added.iter().map(i64::to_string));
        if let Some(t) = e.title.as_mut() {
            t.extend(std::iter::repeat_n(None, n));
        }
        for (_, a) in e.extras.iter_mut() {
            let nulls = arrow_array::new_null_array(a.data_type(), n);
            *a = arrow_select::concat::concat(&[a.as_ref(), nulls.as_ref()])?;
        }
        e.extras.push((
            "in_notes".into(),
            Arc::new(BooleanArray::from(
                (0..n_known + n).map(|k| k < n_known).collect::<Vec<_>>(),
            )),
        ));
        Ok(n as u64)
    }
}

pub(super) fn read_notes(
    o: &Options,
    dir: &Path,
    progress: &Reporter,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<Notes> {
    let paths = shards(dir, NOTES)?;
    let mut starts = Vec::with_capacity(paths.len());
    let mut total = 0u64;
    for p in &paths {
        starts.push(total);
        total += open_parquet(p)?.0;
    }
    let bar = progress.count_bar(paths.len() as u64, "reading notes shards");
    let parts: Vec<Result<NotesPart>> = {
        use rayon::prelude::*;
        paths
            .par_iter()
            .zip(starts.par_iter())
            .map(|(p, s)| {
                let r = read_notes_shard(o, dir, p, *s);
                bar.inc(1);
                r
            })
            .collect()
    };
    bar.finish_and_clear();
    let names = note_extra_names();
    let mut by_idx: HashMap<i64, u32> = HashMap::with_capacity(total as usize);
    let mut raw_id = Vec::with_capacity(total as usize);
    let mut title = Vec::with_capacity(total as usize);
    let mut cols: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    let mut missing: Vec<String> = Vec::new();
    for part in parts {
        let mut part = part?;
        for m in part.missing_cols.drain(..) {
            if !missing.contains(&m) {
                missing.push(m);
            }
        }
        let mut keep = Vec::with_capacity(part.ids.len());
        for (k, idx) in part.ids.iter().enumerate() {
            if by_idx.contains_key(idx) {
                // Only possible with ids = "by_value" (positional ids are unique by construction).
                let mut m = vec![
                    ("note_idx".to_owned(), Val::Int(*idx)),
                    (
                        "note_title".to_owned(),
                        part.title[k].clone().map_or(Val::Null, Val::Str),
                    ),
                ];
                for (name, a) in names.iter().zip(&part.extras) {
                    m.push(((*name).to_owned(), arrow_val(a.as_ref(), k)));
                }
                let mut raw = String::new();
                Val::Map(m).write_json(&mut raw);
                rejects.push(Reject {
                    file: part.acc.file.clone(),
                    line: part.lines[k],
                    reason: "duplicate_id",
                    detail: format!("note_idx {idx} already has a row"),
                    raw: raw.into_bytes(),
                });
                part.acc.rows -= 1;
                part.acc.rejected += 1;
                keep.push(false);
                continue;
            }
            by_idx.insert(*idx, raw_id.len() as u32);
            raw_id.push(idx.to_string());
            keep.push(true);
        }
        let all = keep.iter().all(|k| *k);
        let mask = BooleanArray::from(keep.clone());
        for (c, a) in cols.iter_mut().zip(&part.extras) {
            c.push(if all {
                a.clone()
            } else {
                arrow_select::filter::filter(a.as_ref(), &mask)?
            });
        }
        title.extend(
            part.title
                .into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(t, _)| t),
        );
        rejects.extend(part.rejects);
        accounts.push(part.acc);
    }
    if !missing.is_empty() {
        progress.warn(format!(
            "qilin notes: no column {} in the shards; those extras are null",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut extras = Vec::with_capacity(names.len());
    for (name, parts) in names.iter().zip(cols) {
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        extras.push(((*name).to_owned(), arrow_select::concat::concat(&refs)?));
    }
    Ok(Notes {
        by_idx: NoteIndex::new(by_idx, o.unknown_notes == UnknownNotes::Keep),
        entities: Entities {
            raw_id,
            title: Some(title),
            extras,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Search, recommendation and DQA logs
