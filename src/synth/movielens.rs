//! A seeded MovieLens release in the exact layout of `ml-100k.zip` (`ml-100k/u.data`, `u.item`,
//! `u.user`: tabs and `|`, Latin-1) or `ml-1m.zip` (`ml-1m/ratings.dat`, `movies.dat`,
//! `users.dat`: `::`, Latin-1, coded ages and occupations).
//!
//! Quirks written on purpose: Latin-1 bytes in titles (0xE9 `é`, 0xE7 `ç`), a title with
//! commas and parentheses, the 100K `unknown` movie with an empty release date, ratings of a
//! user not in order of time, and (1M) a multi-genre title.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Result;
use crate::sources::movielens::{GENRES_100K, Variant};
use crate::util::rng::Rng;

#[derive(Debug, Clone)]
pub struct Options {
    pub variant: Variant,
    pub users: u32,
    pub ratings_per_user: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub variant: Variant,
    pub users: u32,
    pub movies: u32,
    pub ratings: u64,
}

/// `ml-100k/u.genre` as distributed.
const U_GENRE: &str = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n\
Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\n\
Sci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n";

/// Titles as Latin-1 bytes; the first ones carry the quirks.
const SPECIAL_TITLES: &[&[u8]] = &[
    b"Toy Story (1995)",
    b"Mis\xe9rables, Les (1995)",
    b"City of Lost Children, The (Cit\xe9 des enfants perdus, La) (1995)",
    b"Gar\xe7on (1983)",
    b"unknown",
];
const WORDS: &[&str] = &[
    "Night", "River", "Return", "Blue", "City", "Ghost", "Summer", "King", "Lost", "Dream",
];
/// 1M's genres: 100K's flags without `unknown`.
const GENRES_1M: &[&str] = GENRES_100K.split_at(1).1;

fn title(rng: &mut Rng, k: usize) -> Vec<u8> {
    if let Some(t) = SPECIAL_TITLES.get(k) {
        return t.to_vec();
    }
    let a = WORDS[rng.below(WORDS.len() as u64) as usize];
    let b = WORDS[rng.below(WORDS.len() as u64) as usize];
    format!("{a} {b} ({})", 1950 + rng.below(50)).into_bytes()
}

pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    let dir = out.join(o.variant.folder());
    fs_err::create_dir_all(&dir)?;
    let mut rng = Rng::derive(o.seed, "movielens");
    let movies = (o.users * 2).clamp(12, 4_000);
    let [rf, mf, uf] = o.variant.files();
    let sep: &[u8] = if o.variant == Variant::M1 {
        b"::"
    } else {
        b"\t"
    };

    let mut w = BufWriter::new(fs_err::File::create(dir.join(rf))?);
    let mut ratings = 0u64;
    let base = 874_724_710i64; // Sep 1997, as in 100K
    for u in 1..=o.users {
        let n =
            o.ratings_per_user.max(1) / 2 + rng.below(u64::from(o.ratings_per_user.max(1))) as u32;
        let mut seen = hashbrown::HashSet::new();
        for _ in 0..n {
            let m = 1 + rng.below(u64::from(movies)) as u32;
            if !seen.insert(m) {
                continue;
            }
            let r = 1 + rng.below(5);
            let t = base + rng.below(200 * 86_400) as i64;
            w.write_all(format!("{u}").as_bytes())?;
            w.write_all(sep)?;
            w.write_all(format!("{m}").as_bytes())?;
            w.write_all(sep)?;
            w.write_all(format!("{r}").as_bytes())?;
            w.write_all(sep)?;
            writeln!(w, "{t}")?;
            ratings += 1;
        }
    }
    w.flush()?;

    let mut w = BufWriter::new(fs_err::File::create(dir.join(mf))?);
    for m in 1..=movies {
        let t = title(&mut rng, (m - 1) as usize);
        match o.variant {
            Variant::K100 => {
                let unknown = t == b"unknown";
                write!(w, "{m}|")?;
                w.write_all(&t)?;
                if unknown {
                    w.write_all(b"||||1")?;
                    w.write_all(&b"|0".repeat(GENRES_100K.len() - 1))?;
                } else {
                    let date = format!("01-Jan-{}", 1950 + m % 50);
                    write!(w, "|{date}||http://us.imdb.com/M/title-exact?Movie%20{m}")?;
                    for k in 0..GENRES_100K.len() {
                        let on = k > 0 && (rng.chance(0.15) || k == 1 + (m as usize % 18));
                        write!(w, "|{}", u8::from(on))?;
                    }
                }
                w.write_all(b"\n")?;
            }
            Variant::M1 => {
                write!(w, "{m}::")?;
                w.write_all(&t)?;
                let mut g: Vec<&str> = GENRES_1M
                    .iter()
                    .filter(|_| rng.chance(0.12))
                    .copied()
                    .collect();
                if g.is_empty() {
                    g.push(GENRES_1M[m as usize % GENRES_1M.len()]);
                }
                writeln!(w, "::{}", g.join("|"))?;
            }
        }
    }
    w.flush()?;

    let mut w = BufWriter::new(fs_err::File::create(dir.join(uf))?);
    const OCC_100K: &[&str] = &[
        "technician",
        "other",
        "writer",
        "executive",
        "student",
        "librarian",
    ];
    const AGES_1M: &[u32] = &[1, 18, 25, 35, 45, 50, 56];
    for u in 1..=o.users {
        let g = if rng.chance(0.5) { "M" } else { "F" };
        let zip = format!("{:05}", rng.below(100_000));
        match o.variant {
            Variant::K100 => {
                let occ = OCC_100K[rng.below(OCC_100K.len() as u64) as usize];
                writeln!(w, "{u}|{}|{g}|{occ}|{zip}", 7 + rng.below(66))?;
            }
            Variant::M1 => {
                let age = AGES_1M[rng.below(AGES_1M.len() as u64) as usize];
                writeln!(w, "{u}::{g}::{age}::{}::{zip}", rng.below(21))?;
            }
        }
    }
    w.flush()?;
    if o.variant == Variant::K100 {
        // The release's genre list, byte for byte (a blank line at the end), as outside tools
        // (LensKit's `load_movielens`) read it; recdata's adapter does not need it.
        fs_err::write(dir.join("u.genre"), U_GENRE)?;
    }
    Ok(Summary {
        variant: o.variant,
        users: o.users,
        movies,
        ratings,
    })
}
