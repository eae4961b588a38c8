//! A Deezer-sessions-format corpus as released with PISA (`sources/deezer_sessions.rs`):
//!
//! - `sessions.parquet`: `user_id`, `session_id`, `ts` (Unix seconds), `product_track_id`, all
//!   int64, rows in no particular order (shuffled). Sessions hold 1–10 tracks with gaps under
//!   20 minutes, separated by more than 20 minutes (PISA's session rule), between March and
//!   August 2022. Quirks: a few exact duplicate events, and two different tracks played in the
//!   same second (a timestamp tie, resolved by row order).
//! - `svd_embeddings.parquet`: `product_track_id`, `artist_id` (int64), `vector`
//!   (`list<float32>` of length `dim`), for every track plus two tracks nobody played. Quirks:
//!   one played track has no embedding row, and one row's vector has `dim - 1` values.
//! - `svd_embeddings_str.parquet`: the same rows with `vector` as a string, alternating
//!   `"[0.1, 0.2]"`, `"[0.1 0.2]"` (numpy) and `"0.1 0.2"`, since the real encoding is
//!   unconfirmed.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, Int64Array, ListArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::error::Result;
use crate::io::parquet::{Level, write_batch};
use crate::util::rng::Rng;

pub const SESSIONS_FILE: &str = "sessions.parquet";
pub const EMBEDDINGS_FILE: &str = "svd_embeddings.parquet";
pub const EMBEDDINGS_STR_FILE: &str = "svd_embeddings_str.parquet";

#[derive(Debug, Clone)]
pub struct Options {
    pub users: u32,
    pub seed: u64,
    /// Mean sessions per user.
    pub sessions_per_user: u32,
    pub dim: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub events: usize,
    pub duplicate_events: usize,
    pub users: u32,
    pub sessions: u64,
    pub tracks: usize,
    pub embedding_rows: usize,
    pub dim: u32,
}

/// 2022-03-01T00:00:00Z and 2022-08-31T00:00:00Z.
const START: i64 = 1_646_092_800;
const END: i64 = 1_661_904_000;

struct Event {
    user: i64,
    session: i64,
    ts: i64,
    track: i64,
}

fn distinct_ids(rng: &mut Rng, n: usize, below: u64) -> Vec<i64> {
    let mut seen = hashbrown::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let v = 1 + rng.below(below) as i64;
        if seen.insert(v) {
            out.push(v);
        }
    }
    out
}

/// The shortest text that parses back to the same f32.
fn f32_text(x: f32) -> String {
    format!("{x}")
}

// Long on purpose: one seeded generator writes the corpus' files: the order of its random draws is
// the byte-exact output.
pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let mut rng = Rng::derive(o.seed, "deezer-sessions");
    let n_tracks = (o.users as usize * 3).clamp(12, 50_000);
    let tracks = distinct_ids(&mut rng, n_tracks + 2, 200_000_000);
    let artists = distinct_ids(&mut rng, (n_tracks / 4).max(3), 5_000_000);
    let users = distinct_ids(&mut rng, o.users as usize, 30_000_000);

    let mut events = Vec::new();
    let first_session = 100_000 + rng.below(900_000) as i64;
    let mut session_id = first_session;
    for &user in &users {
        let n_sessions = 1 + rng.below(2 * u64::from(o.sessions_per_user.max(1))) as usize;
        let mut t = START + rng.below((END - START) as u64 / 2) as i64;
        for _ in 0..n_sessions {
            let len = 1 + rng.below(10) as usize;
            for _ in 0..len {
                // The first tracks are popular (the last two are never played).
                let k = (rng.next_f64().powi(2) * n_tracks as f64) as usize;
                events.push(Event {
                    user,
                    session: session_id,
                    ts: t.min(END),
                    track: tracks[k.min(n_tracks - 1)],
                });
                t += 30 + rng.below(400) as i64;
            }
            session_id += 1;
            t += 1_201 + rng.below(3 * 86_400) as i64;
        }
    }
    // A timestamp tie: a second track in the very second of the first event.
    let tie = Event {
        user: events[0].user,
        session: events[0].session,
        ts: events[0].ts,
        track: if events[0].track == tracks[0] {
            tracks[2]
        } else {
            tracks[0]
        },
    };
    events.insert(1, tie);
    // Exact duplicate events.
    let duplicates = 3.min(events.len());
    for k in 0..duplicates {
        let e = &events[k * events.len() / duplicates];
        let d = Event {
            user: e.user,
            session: e.session,
            ts: e.ts,
            track: e.track,
        };
        events.push(d);
    }
    rng.shuffle(&mut events);

    let i64_col = |f: &dyn Fn(&Event) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(events.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("session_id", DataType::Int64, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("product_track_id", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            i64_col(&|e| e.user),
            i64_col(&|e| e.session),
            i64_col(&|e| e.ts),
            i64_col(&|e| e.track),
        ],
    )?;
    write_batch(&out.join(SESSIONS_FILE), batch, Level::Publish, vec![])?;

    // Embeddings: every track but the second (played, yet without a vector); the third has a
    // vector one value short.
    let mut emb_rng = Rng::derive(o.seed, "deezer-sessions-embeddings");
    let mut ids = Vec::new();
    let mut artist_ids = Vec::new();
    let mut vectors: Vec<Vec<f32>> = Vec::new();
    for (k, &t) in tracks.iter().enumerate() {
        if k == 1 {
            continue;
        }
        let len = if k == 2 { o.dim - 1 } else { o.dim } as usize;
        ids.push(t);
        artist_ids.push(artists[k % artists.len()]);
        vectors.push(
            (0..len)
                .map(|_| ((emb_rng.next_f64() * 2.0 - 1.0) * 0.5) as f32)
                .collect(),
        );
    }
    // pyarrow >= 13 names the list element `element` in parquet.
    let item = Arc::new(Field::new("element", DataType::Float32, true));
    let mut b = ListBuilder::new(Float32Builder::new()).with_field(item.clone());
    for v in &vectors {
        b.values().append_slice(v);
        b.append(true);
    }
    let list: ListArray = b.finish();
    let emb_schema = |vt: DataType| {
        Arc::new(Schema::new(vec![
            Field::new("product_track_id", DataType::Int64, true),
            Field::new("artist_id", DataType::Int64, true),
            Field::new("vector", vt, true),
        ]))
    };
    let id_col: ArrayRef = Arc::new(Int64Array::from(ids.clone()));
    let artist_col: ArrayRef = Arc::new(Int64Array::from(artist_ids));
    write_batch(
        &out.join(EMBEDDINGS_FILE),
        RecordBatch::try_new(
            emb_schema(DataType::List(item)),
            vec![id_col.clone(), artist_col.clone(), Arc::new(list)],
        )?,
        Level::Publish,
        vec![],
    )?;
    let text: StringArray = vectors
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let parts: Vec<String> = v.iter().map(|x| f32_text(*x)).collect();
            Some(match k % 3 {
                0 => format!("[{}]", parts.join(", ")),
                1 => format!("[{}]", parts.join(" ")),
                _ => parts.join(" "),
            })
        })
        .collect();
    write_batch(
        &out.join(EMBEDDINGS_STR_FILE),
        RecordBatch::try_new(
            emb_schema(DataType::Utf8),
            vec![id_col, artist_col, Arc::new(text)],
        )?,
        Level::Publish,
        vec![],
    )?;
    Ok(Summary {
        events: events.len(),
        duplicate_events: duplicates,
        users: o.users,
        sessions: (session_id - first_session) as u64,
        tracks: n_tracks,
        embedding_rows: ids.len(),
        dim: o.dim,
    })
}
