//! `user_feat`: the users table (positional ids checked).

use super::*;

pub(super) struct Users {
    pub(super) raw: Vec<String>,
    pub(super) by_idx: HashMap<i64, u32>,
    pub(super) text: [Vec<Option<String>>; 4],
    pub(super) nums: Vec<Vec<Option<f64>>>,
    pub(super) in_feat: Vec<bool>,
}

/// A parsed `user_feat` row: user_idx, the four texts, the 42 numbers.
pub(super) type UserRow = (i64, [Option<String>; 4], Vec<Option<f64>>);

/// gender, platform, age, location (text) and fans_num, follows_num, dense_feat1..40 (numbers).
pub(super) const USER_TEXT: [&str; 4] = ["gender", "platform", "age", "location"];

pub(super) fn user_numeric() -> Vec<String> {
    let mut v = vec!["fans_num".to_owned(), "follows_num".to_owned()];
    v.extend((1..=40).map(|k| format!("dense_feat{k}")));
    v
}

impl Users {
    pub(super) fn new() -> Self {
        Users {
            raw: Vec::new(),
            by_idx: HashMap::new(),
            text: Default::default(),
            nums: vec![Vec::new(); 42],
            in_feat: Vec::new(),
        }
    }

    pub(super) fn push(
        &mut self,
        idx: i64,
        text: [Option<String>; 4],
        nums: Vec<Option<f64>>,
        feat: bool,
    ) -> u32 {
        let code = self.raw.len() as u32;
        self.raw.push(idx.to_string());
        self.by_idx.insert(idx, code);
        for (c, v) in self.text.iter_mut().zip(text) {
            c.push(v);
        }
        for (c, v) in self.nums.iter_mut().zip(nums) {
            c.push(v);
        }
        self.in_feat.push(feat);
        code
    }

    /// The code of a user seen in the logs (added without features if new).
    pub(super) fn code(&mut self, idx: i64) -> u32 {
        match self.by_idx.get(&idx) {
            Some(c) => *c,
            None => self.push(idx, Default::default(), vec![None; 42], false),
        }
    }

    pub(super) fn into_entities(self) -> Entities {
        let [gender, platform, age, location] = self.text;
        let mut extras: Vec<(String, ArrayRef)> = vec![
            ("gender".into(), Arc::new(StringArray::from(gender))),
            ("platform".into(), Arc::new(StringArray::from(platform))),
            ("age".into(), Arc::new(StringArray::from(age))),
        ];
        for (name, v) in user_numeric().into_iter().zip(self.nums) {
            extras.push((name, Arc::new(Float64Array::from(v))));
        }
        extras.push(("location".into(), Arc::new(StringArray::from(location))));
        extras.push((
            "in_user_feat".into(),
            Arc::new(BooleanArray::from(self.in_feat)),
        ));
        Entities {
            raw_id: self.raw,
            title: None,
            extras,
        }
    }
}

pub(super) fn read_users(
    o: &Options,
    dir: &Path,
    users: &mut Users,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<()> {
    let numeric = user_numeric();
    let mut global = 0u64;
    for path in shards(dir, USER_FEAT)? {
        let file = rel(dir, &path);
        let (_, mut reader) = open_parquet(&path)?;
        let mut acc = FileAccount {
            file: file.clone(),
            lines: reader.header_records(),
            header: reader.header_records(),
            ..Default::default()
        };
        while let Some(b) = next_batch(&path, &mut reader)? {
            require(&path, &b, "user_idx")?;
            let id = Col::of(b.column_by_name("user_idx"));
            let text: Vec<Col> = USER_TEXT
                .iter()
                .map(|c| Col::of(b.column_by_name(c)))
                .collect();
            let nums: Vec<Col> = numeric
                .iter()
                .map(|c| Col::of(b.column_by_name(c)))
                .collect();
            for r in 0..b.num_rows() {
                acc.lines += 1;
                let row = global;
                global += 1;
                let parsed = (|| -> std::result::Result<UserRow, Bad> {
                    let idx = id_of("user_idx", &id.scalar(r))?;
                    let mut t: [Option<String>; 4] = Default::default();
                    for (k, c) in text.iter().enumerate() {
                        t[k] = text_of(c.scalar(r));
                    }
                    // An empty location is no location.
                    if t[3].as_deref() == Some("") {
                        t[3] = None;
                    }
                    let mut n = Vec::with_capacity(nums.len());
                    for (c, name) in nums.iter().zip(&numeric) {
                        n.push(f64_of(name, c.scalar(r))?);
                    }
                    Ok((idx, t, n))
                })();
                let reject = |reason: &'static str, detail: String, rejects: &mut Vec<Reject>| {
                    rejects.push(Reject {
                        file: file.clone(),
                        line: acc.lines,
                        reason,
                        detail,
                        raw: row_json(&b, r),
                    })
                };
                match parsed {
                    Err((reason, detail)) => {
                        reject(reason, detail, rejects);
                        acc.rejected += 1;
                    }
                    Ok((idx, t, n)) => {
                        if o.ids == Ids::Positional && idx as u64 != row {
                            return Err(not_positional(&path, acc.lines, "user_idx", row, idx));
                        }
                        if users.by_idx.contains_key(&idx) {
                            reject(
                                "duplicate_id",
                                format!("user_idx {idx} already has a row"),
                                rejects,
                            );
                            acc.rejected += 1;
                            continue;
                        }
                        users.push(idx, t, n, true);
                        acc.rows += 1;
                    }
                }
            }
        }
        accounts.push(acc);
    }
    Ok(())
}

pub(super) fn not_positional(path: &Path, row: u64, col: &str, expected: u64, found: i64) -> Error {
    bad_input(
        path,
        format!(
            "row {row}: `{col}` is {found} but this is global row {expected} of the shards in order; \
             the official code indexes this table by row position, so the shards are out of order, \
             incomplete or not the Qilin release (set `ids = \"by_value\"` in [source] to key rows by \
             their `{col}` instead)"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Notes
