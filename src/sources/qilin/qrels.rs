//! The relevance judgements (`qrels`) of the search logs.

use super::*;

pub(super) fn read_qrels(
    dir: &Path,
    notes: &NoteIndex,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<Option<SideTable>> {
    let mut split = Vec::new();
    let mut qid = Vec::new();
    let mut item = Vec::new();
    let mut any = false;
    for (k, (name, _)) in QRELS.iter().enumerate() {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        any = true;
        let mut acc = FileAccount {
            file: (*name).to_owned(),
            ..Default::default()
        };
        let mut reader = crate::io::lines::LineReader::open(&path)?;
        while let Some((line_no, _, raw, long)) = reader.next_line()? {
            acc.lines += 1;
            if let Some(n) = long {
                acc.rejected += 1;
                rejects.push(Reject {
                    file: (*name).to_owned(),
                    line: line_no,
                    reason: "line_too_long",
                    detail: format!(
                        "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                        crate::io::lines::MAX_LINE >> 20
                    ),
                    raw: raw.to_vec(),
                });
                continue;
            }
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line_no == 1 {
                let l = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
                if l != b"qid,pid" {
                    return Err(bad_input(
                        &path,
                        format!(
                            "line 1: expected the header `qid,pid`, found `{}`",
                            String::from_utf8_lossy(l)
                        ),
                    ));
                }
                acc.header += 1;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                acc.skipped += 1;
                continue;
            }
            let mut reject = |reason: &'static str, detail: String| {
                rejects.push(Reject {
                    file: (*name).to_owned(),
                    line: line_no,
                    reason,
                    detail,
                    raw: raw.to_vec(),
                });
            };
            let text = std::str::from_utf8(line).unwrap_or("");
            let parsed = text.split_once(',').and_then(|(q, p)| {
                Some((q.trim().parse::<u64>().ok()?, p.trim().parse::<i64>().ok()?))
            });
            let Some((q, p)) = parsed else {
                reject(
                    "bad_line",
                    "expected `qid,pid` with two whole numbers".into(),
                );
                acc.rejected += 1;
                continue;
            };
            let Some(code) = notes.code(p) else {
                reject(
                    "unknown_note",
                    format!("pid {p} is not a note_idx in notes"),
                );
                acc.rejected += 1;
                continue;
            };
            split.push(k as i32);
            qid.push(q);
            item.push(code);
            acc.rows += 1;
        }
        accounts.push(acc);
    }
    if !any {
        return Ok(None);
    }
    let names: Vec<&str> = QRELS.iter().map(|(_, s)| *s).collect();
    let cols: Vec<ArrayRef> = vec![
        dict(&names, split.into_iter())?,
        Arc::new(UInt64Array::from(qid)),
        Arc::new(UInt32Array::from(item)),
    ];
    Ok(Some(SideTable {
        name: "qilin_qrels".into(),
        batch: batch("qilin_qrels", cols)?,
        user_col: None,
        item_cols: vec!["item_id".into()],
    }))
}

// ---------------------------------------------------------------------------------------------
