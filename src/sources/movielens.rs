//! MovieLens 100K and 1M (GroupLens): explicit 1–5 star ratings with movie and user
//! attributes.
//!
//! ## Source
//! <https://files.grouplens.org/datasets/movielens/ml-100k.zip> and `ml-1m.zip`
//! (<https://grouplens.org/datasets/movielens/>). GroupLens publishes MD5s on the page, not
//! sha256s: the first fetch records the sha256 in the manifest's `.lock`.
//!
//! ## License
//! GroupLens' README: research use, no redistribution without permission, cite Harper & Konstan,
//! "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015; no commercial use.
//!
//! ## Schema mapping
//! - 100K `u.data` (`user \t item \t rating \t unix seconds`), 1M `ratings.dat`
//!   (`UserID::MovieID::Rating::Timestamp`) → `interactions` (event `rating`, `value` = stars).
//! - 100K `u.item` (`id|title|release date|video release date|IMDb URL|19 genre flags`), 1M
//!   `movies.dat` (`MovieID::Title::Genres` with `|`-joined genres) → `items` (title, year from
//!   the title's `(YYYY)`, genres, release date and IMDb URL where present).
//! - 100K `u.user` (`id|age|gender|occupation|zip`), 1M `users.dat`
//!   (`UserID::Gender::Age::Occupation::Zip-code`, age and occupation as codes, decoded with
//!   the README's tables) → `users`.
//!
//! ## Known quirks (each has a test)
//! - Titles and some fields are Latin-1, not UTF-8 (`Misérables` is byte 0xE9): decoded as
//!   Latin-1 always (every byte is valid Latin-1, so nothing is lost).
//! - 1M separates with `::`, which never occurs inside a title; 100K uses `|` and tabs.
//! - 100K `u.item` has a movie whose title is `unknown` with an empty release date (id 267).
//! - Timestamps are Unix seconds; the published `ts` is milliseconds.
//! - Files live in `ml-100k/` or `ml-1m/` inside the zips; both that folder and the files at the
//!   top of the source are accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, ListArray, StringArray, UInt16Array};

use super::text::{Line, parse_uint, read_lines};
use super::{Entities, FileAccount, Interner, Normalized, RawInteractions, string_array};
use crate::error::{Error, Result};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const NAME: &str = "movielens";
pub const LICENSE: &str = "GroupLens research license: research use only, no redistribution without permission, \
    no commercial use; cite F. Maxwell Harper and Joseph A. Konstan, The MovieLens Datasets: History and Context, ACM TiiS 5(4), 2015.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://grouplens.org/datasets/movielens/";
pub const CITATION: &str = "Harper, Konstan. The MovieLens Datasets: History and Context. ACM Transactions on Interactive Intelligent Systems 5(4), 2015.";
pub const DESCRIPTION: &str = "MovieLens explicit 1-5 star movie ratings with timestamps, movie titles, years and genres, \
    and user demographics (GroupLens).";

/// The 19 genre flags of 100K `u.item`, in column order (its `u.genre`).
pub const GENRES_100K: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// 1M `users.dat` age codes (README).
fn age_1m(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "Under 18",
        "18" => "18-24",
        "25" => "25-34",
        "35" => "35-44",
        "45" => "45-49",
        "50" => "50-55",
        "56" => "56+",
        _ => return None,
    })
}

/// 1M `users.dat` occupation codes (README).
pub const OCCUPATIONS_1M: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Variant {
    #[serde(rename = "100k")]
    K100,
    #[serde(rename = "1m")]
    M1,
}

impl Variant {
    pub fn folder(self) -> &'static str {
        match self {
            Variant::K100 => "ml-100k",
            Variant::M1 => "ml-1m",
        }
    }
    /// ratings, items, users file names.
    pub fn files(self) -> [&'static str; 3] {
        match self {
            Variant::K100 => ["u.data", "u.item", "u.user"],
            Variant::M1 => ["ratings.dat", "movies.dat", "users.dat"],
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    pub variant: Option<Variant>,
    /// Read the movies file (`u.item` / `movies.dat`); default true, and then it must exist.
    pub items: bool,
    /// Read the users file (`u.user` / `users.dat`); default true, and then it must exist.
    pub users: bool,
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let variant = r.choice(diags, "variant", &["100k", "1m"]).map(|c| {
            if c.value == "1m" {
                Variant::M1
            } else {
                Variant::K100
            }
        });
        let items = r.bool(diags, "items").is_none_or(|b| b.value);
        let users = r.bool(diags, "users").is_none_or(|b| b.value);
        Some(Options {
            variant,
            items,
            users,
        })
    }
}

/// (variant, folder holding its files).
fn locate(o: &Options, dir: &Path) -> Result<(Variant, PathBuf)> {
    let candidates = |v: Variant| [dir.join(v.folder()), dir.to_path_buf()];
    let variants: Vec<Variant> = match o.variant {
        Some(v) => vec![v],
        None => vec![Variant::K100, Variant::M1],
    };
    for v in &variants {
        for d in candidates(*v) {
            let ratings = d.join(v.files()[0]);
            if ratings.is_file() {
                return Ok((*v, d));
            }
            // There, but not a file (a directory, a FIFO, a link loop): say what it is.
            if crate::io::input::present_but_not_a_file(&ratings) {
                crate::io::input::check_file(&ratings)?;
            }
        }
    }
    let v = o.variant.unwrap_or(Variant::K100);
    Err(Error::MissingInput {
        path: dir.join(v.folder()).join(v.files()[0]),
        hint: "`source.path` must hold `u.data` (100K) or `ratings.dat` (1M), at the top or in `ml-100k/` / `ml-1m/`; \
               `recdata synth movielens --out <dir>` writes a small one"
            .into(),
    })
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let (v, d) = locate(o, dir)?;
    let [r, i, u] = v.files();
    let mut out = vec![d.join(r)];
    for (f, wanted, key) in [(i, o.items, "items"), (u, o.users, "users")] {
        if !wanted {
            continue;
        }
        let path = d.join(f);
        match crate::io::input::check_file(&path) {
            Ok(_) => out.push(path),
            Err(Error::MissingInput { path, .. }) => {
                return Err(Error::MissingInput {
                    path,
                    hint: format!(
                        "MovieLens ships `{f}` beside `{r}`; without it the dataset has no {}. \
                         If that is what you want, set `{key} = false` in [source]",
                        if key == "items" {
                            "titles, genres or years"
                        } else {
                            "user attributes"
                        }
                    ),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Latin-1 → UTF-8: every byte is one code point.
pub fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// The year in a title's trailing `(YYYY)`.
fn title_year(t: &str) -> Option<u16> {
    let t = t.trim_end();
    let inner = t.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let y = &inner[open + 1..];
    (y.len() == 4).then(|| y.parse().ok()).flatten()
}

#[derive(Default)]
struct ItemAttrs {
    title: Vec<Option<String>>,
    year: Vec<Option<u16>>,
    genres: Vec<Option<Vec<String>>>,
    release_date: Vec<Option<String>>,
    imdb_url: Vec<Option<String>>,
}

#[derive(Default)]
struct UserAttrs {
    age: Vec<Option<String>>,
    gender: Vec<Option<String>>,
    occupation: Vec<Option<String>>,
    zip: Vec<Option<String>>,
}

fn grow<T: Clone>(v: &mut Vec<Option<T>>, n: usize) {
    if v.len() < n {
        v.resize(n, None);
    }
}

fn split(line: &[u8], v: Variant, sep_100k: u8) -> Vec<&[u8]> {
    match v {
        Variant::K100 => line.split(|b| *b == sep_100k).collect(),
        Variant::M1 => {
            let mut out = Vec::new();
            let mut rest = line;
            while let Some(p) = memchr::memmem::find(rest, b"::") {
                out.push(&rest[..p]);
                rest = &rest[p + 2..];
            }
            out.push(rest);
            out
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

// Long on purpose: the three files of a MovieLens release in read order (ratings, movies, users and
// the tag variants), each a short block into the shared interners and accounts.
pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    let (v, d) = locate(o, dir)?;
    let [rf, itf, uf] = v.files();
    let mut users = Interner::default();
    let mut items = Interner::default();
    let mut inter = RawInteractions {
        value: Some(Vec::new()),
        ..Default::default()
    };
    let mut rejects = Vec::new();
    let mut accounts: Vec<FileAccount> = Vec::new();

    let path = d.join(rf);
    let bar = progress.bytes_bar(fs_err::metadata(&path)?.len(), rf);
    let values = inter.value.as_mut().expect("set above");
    accounts.push(read_lines(
        &path,
        rf,
        &mut rejects,
        &bar,
        |line_no, line| {
            if line.is_empty() {
                return Line::Skip;
            }
            let f = split(line, v, b'\t');
            let [u, i, r, t] = f.as_slice() else {
                return Line::Reject(
                    "field_count",
                    format!(
                        "expected 4 {} fields, found {}",
                        if v == Variant::M1 {
                            "`::`-separated"
                        } else {
                            "tab-separated"
                        },
                        f.len()
                    ),
                );
            };
            let (Some(_), Some(_)) = (parse_uint(u), parse_uint(i)) else {
                return Line::Reject("bad_id", "user and movie ids must be whole numbers".into());
            };
            let Some(rating) = std::str::from_utf8(r)
                .ok()
                .and_then(|s| s.parse::<f32>().ok())
                .filter(|x| (0.5..=5.0).contains(x))
            else {
                return Line::Reject(
                    "bad_rating",
                    format!(
                        "rating `{}` is not between 0.5 and 5",
                        String::from_utf8_lossy(r)
                    ),
                );
            };
            // Milliseconds must fit an i64: a 19-digit "timestamp" is a broken line, not a date.
            let Some(ms) = parse_uint(t)
                .and_then(|s| i64::try_from(s).ok())
                .and_then(|s| s.checked_mul(1000))
            else {
                return Line::Reject(
                    "bad_timestamp",
                    format!(
                        "timestamp `{}` is not Unix seconds",
                        String::from_utf8_lossy(t)
                    ),
                );
            };
            inter.user.push(users.intern(u, || latin1(u)).0);
            inter.item.push(items.intern(i, || latin1(i)).0);
            inter.ts.push(ms);
            inter.order.push(line_no);
            values.push(rating);
            Line::Row
        },
    )?);
    bar.finish_and_clear();
    let hidden = indicatif::ProgressBar::hidden();

    let mut ia = ItemAttrs::default();
    let path = d.join(itf);
    if o.items {
        accounts.push(read_lines(&path, itf, &mut rejects, &hidden, |_, line| {
            if line.is_empty() {
                return Line::Skip;
            }
            let f = split(line, v, b'|');
            let ok = match v {
                Variant::K100 => f.len() == 5 + GENRES_100K.len(),
                Variant::M1 => f.len() == 3,
            };
            if !ok {
                return Line::Reject(
                    "field_count",
                    format!(
                        "expected {} fields, found {}",
                        if v == Variant::K100 { 24 } else { 3 },
                        f.len()
                    ),
                );
            }
            if parse_uint(f[0]).is_none() {
                return Line::Reject("bad_id", "movie id must be a whole number".into());
            }
            let (c, new) = items.intern(f[0], || latin1(f[0]));
            let c = c as usize;
            let n = items.keys.len();
            grow(&mut ia.title, n);
            grow(&mut ia.year, n);
            grow(&mut ia.genres, n);
            grow(&mut ia.release_date, n);
            grow(&mut ia.imdb_url, n);
            if !new && ia.title[c].is_some() {
                return Line::Reject("duplicate_item", "movie id listed twice".into());
            }
            let title = latin1(f[1]);
            ia.year[c] = title_year(&title);
            match v {
                Variant::K100 => {
                    let mut g = Vec::new();
                    for (k, flag) in f[5..].iter().enumerate() {
                        match *flag {
                            b"1" => g.push(GENRES_100K[k].to_owned()),
                            b"0" => {}
                            _ => {
                                return Line::Reject(
                                    "bad_genre_flag",
                                    format!("genre flag {} is not 0 or 1", k + 1),
                                );
                            }
                        }
                    }
                    ia.genres[c] = Some(g);
                    ia.release_date[c] = non_empty(latin1(f[2]));
                    ia.imdb_url[c] = non_empty(latin1(f[4]));
                }
                Variant::M1 => {
                    ia.genres[c] = Some(
                        latin1(f[2])
                            .split('|')
                            .filter(|g| !g.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    );
                }
            }
            ia.title[c] = Some(title);
            Line::Row
        })?);
    }
    let n = items.keys.len();
    grow(&mut ia.title, n);
    grow(&mut ia.year, n);
    grow(&mut ia.genres, n);
    grow(&mut ia.release_date, n);
    grow(&mut ia.imdb_url, n);

    let mut ua = UserAttrs::default();
    let path = d.join(uf);
    let mut user_rows = 0usize;
    if o.users {
        accounts.push(read_lines(&path, uf, &mut rejects, &hidden, |_, line| {
            if line.is_empty() {
                return Line::Skip;
            }
            let f = split(line, v, b'|');
            if f.len() != 5 {
                return Line::Reject(
                    "field_count",
                    format!("expected 5 fields, found {}", f.len()),
                );
            }
            if parse_uint(f[0]).is_none() {
                return Line::Reject("bad_id", "user id must be a whole number".into());
            }
            let (age, gender, occupation) = match v {
                Variant::K100 => (f[1], f[2], latin1(f[3])),
                Variant::M1 => {
                    let Some(occ) = parse_uint(f[3]).and_then(|k| OCCUPATIONS_1M.get(k as usize))
                    else {
                        return Line::Reject(
                            "bad_occupation",
                            format!("occupation code `{}` is not 0-20", latin1(f[3])),
                        );
                    };
                    (f[2], f[1], (*occ).to_owned())
                }
            };
            let age = match v {
                Variant::K100 => {
                    if parse_uint(age).is_none() {
                        return Line::Reject(
                            "bad_age",
                            format!("age `{}` is not a number", latin1(age)),
                        );
                    }
                    latin1(age)
                }
                Variant::M1 => match age_1m(&latin1(age)) {
                    Some(a) => a.to_owned(),
                    None => {
                        return Line::Reject(
                            "bad_age",
                            format!(
                                "age code `{}` is not one of 1, 18, 25, 35, 45, 50, 56",
                                latin1(age)
                            ),
                        );
                    }
                },
            };
            let (c, new) = users.intern(f[0], || latin1(f[0]));
            let c = c as usize;
            let n = users.keys.len();
            grow(&mut ua.age, n);
            grow(&mut ua.gender, n);
            grow(&mut ua.occupation, n);
            grow(&mut ua.zip, n);
            if !new && ua.gender[c].is_some() {
                return Line::Reject("duplicate_user", "user id listed twice".into());
            }
            user_rows += 1;
            ua.age[c] = Some(age);
            ua.gender[c] = non_empty(latin1(gender));
            ua.occupation[c] = non_empty(occupation);
            ua.zip[c] = non_empty(latin1(f[4]));
            Line::Row
        })?);
    }
    let n = users.keys.len();
    grow(&mut ua.age, n);
    grow(&mut ua.gender, n);
    grow(&mut ua.occupation, n);
    grow(&mut ua.zip, n);
    let _ = user_rows;

    let genres: ArrayRef = {
        let mut b =
            arrow_array::builder::ListBuilder::new(arrow_array::builder::StringBuilder::new());
        for g in &ia.genres {
            match g {
                Some(g) => {
                    for x in g {
                        b.values().append_value(x);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish()) as Arc<ListArray> as ArrayRef
    };
    Ok(Normalized {
        interactions: inter,
        event: "rating".into(),
        users: Entities {
            raw_id: users.keys,
            title: None,
            extras: vec![
                ("age".into(), string_array(ua.age)),
                ("gender".into(), string_array(ua.gender)),
                ("occupation".into(), string_array(ua.occupation)),
                ("zip_code".into(), string_array(ua.zip)),
            ],
        },
        items: Entities {
            raw_id: items.keys,
            title: Some(ia.title),
            extras: vec![
                ("year".into(), Arc::new(UInt16Array::from(ia.year))),
                ("genres".into(), genres),
                ("release_date".into(), string_array(ia.release_date)),
                ("imdb_url".into(), Arc::new(StringArray::from(ia.imdb_url))),
            ],
        },
        rejects,
        accounts,
        timeless: false,
        tables: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_and_years() {
        assert_eq!(
            latin1(b"Mis\xe9rables, Les (1995)"),
            "Misérables, Les (1995)"
        );
        assert_eq!(title_year("Toy Story (1995)"), Some(1995));
        assert_eq!(title_year("unknown"), None);
        assert_eq!(
            title_year("City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
            Some(1995)
        );
    }

    #[test]
    fn double_colon_split() {
        assert_eq!(
            split(b"1::Toy Story (1995)::Animation|Comedy", Variant::M1, b'|'),
            vec![&b"1"[..], b"Toy Story (1995)", b"Animation|Comedy"]
        );
    }
}
