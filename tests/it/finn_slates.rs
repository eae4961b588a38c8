//! FINN.no slates: the synthetic fixture through `recdata build`, every quirk, checked against
//! numpy reading the same raw files (an independent implementation of the mapping rules) and
//! against hand-written expectations for the fixed quirk steps.

use std::path::{Path, PathBuf};
use std::process::Output;

use recdata::synth::finn_slates::{Layout, Options, Summary, write};

use crate::util::{py, recdata};

fn synth(dir: &Path, users: u32, seed: u64, layout: Layout) -> Summary {
    let mut o = Options::new(users, seed);
    o.layout = layout;
    write(dir, &o).unwrap()
}

fn manifest(dir: &Path, name: &str, raw: &str, stages: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"finn-slates\"\npath = \"{raw}\"\n\n{stages}"
        ),
    )
    .unwrap();
    p
}

const SPLIT: &str = "[stages.filter]\nid_base = 1\n\n[stages.split]\nmethod = \"leave_one_out\"\n";

fn build(cwd: &Path, m: &Path, data: &str) -> Output {
    recdata(&["build", m.to_str().unwrap(), "--data-dir", data], cwd)
}

fn built(cwd: &Path, m: &Path, data: &str) -> String {
    let out = build(cwd, m, data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exposures and interactions of a published version in raw ids, as JSON:
/// `{"exposures": [[exposure_id, raw user, step, context, [raw items | null], clicked_position]],
///   "clicks": {raw user: [raw items in order]}}`.
const READ_BACK: &str = r#"
import json, sys, pyarrow.parquet as pq
v = sys.argv[1]
users = {r["user_id"]: r["raw_id"] for r in pq.read_table(f"{v}/user_map.parquet").to_pylist()}
items = {r["item_id"]: r["raw_id"] for r in pq.read_table(f"{v}/item_map.parquet").to_pylist()}
ex = [[r["exposure_id"], users[r["user_id"]], r["step"], r["context"],
       [None if i is None else items[i] for i in r["items"]], r["clicked_position"]]
      for r in pq.read_table(f"{v}/exposures.parquet").to_pylist()]
assert all(r["ts"] is None for r in pq.read_table(f"{v}/exposures.parquet").to_pylist())
clicks = {}
for r in pq.read_table(f"{v}/interactions.parquet").to_pylist():
    assert r["ts"] is None and r["event"] == "click"
    clicks.setdefault(users[r["user_id"]], []).append(items[r["item_id"]])
print(json.dumps({"exposures": ex, "clicks": clicks}))
"#;

/// The mapping rules of `sources/finn_slates.rs`, written again over numpy arrays.
const ORACLE: &str = r#"
import json, sys, numpy as np
raw = sys.argv[1]
d = np.load(f"{raw}/data.npz")
ind = json.load(open(f"{raw}/ind2val.json"))
ctx = {int(k): (v if v in ("search", "rec") else "other") for k, v in ind["interaction_type"].items()}
uid, click, cidx, slate, itype = d["userId"], d["click"], d["click_idx"], d["slate"], d["interaction_type"]
U, T, S = slate.shape
ex, clicks = [], {}
for u in range(U):
    for t in range(T):
        c = int(click[u, t])
        if c == 0:
            continue
        row = [int(x) for x in slate[u, t]]
        kept = [(k, x) for k, x in enumerate(row) if x not in (0, 1)]
        pos = None
        if c != 1:
            hits = [p for p, (k, x) in enumerate(kept) if x == c]
            at = [p for p in hits if kept[p][0] == int(cidx[u, t])]
            pos = (at or hits or [None])[0]
        ex.append([u * T + t, str(int(uid[u])), t, ctx[int(itype[u, t])],
                   [None if x == 2 else str(x) for _, x in kept], pos])
        if c >= 3:
            clicks.setdefault(str(int(uid[u])), []).append(str(c))
print(json.dumps({"exposures": ex, "clicks": clicks}))
"#;

type Row = (u64, String, u32, String, Vec<Option<String>>, Option<u16>);

fn rows(json: &str) -> (Vec<Row>, serde_json::Value) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let ex = v["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_u64().unwrap(),
                r[1].as_str().unwrap().to_owned(),
                r[2].as_u64().unwrap() as u32,
                r[3].as_str().unwrap().to_owned(),
                r[4].as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                r[5].as_u64().map(|p| p as u16),
            )
        })
        .collect();
    (ex, v["clicks"].clone())
}

fn dataset_json(v: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(v.join("dataset.json")).unwrap()).unwrap()
}

/// One fixture shared by the read-only tests below.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    summary: Summary,
    ex: Vec<Row>,
    clicks: serde_json::Value,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let summary = synth(&root.join("raw"), 20, 7, Layout::default());
        let m = manifest(&root, "finn", "raw", SPLIT);
        built(&root, &m, "data");
        let (ex, clicks) = rows(&py(
            READ_BACK,
            &[root.join("data/finn/1").to_str().unwrap()],
        ));
        Fixture {
            _tmp: tmp,
            root,
            summary,
            ex,
            clicks,
        }
    }

    fn version(&self) -> PathBuf {
        self.root.join("data/finn/1")
    }

    fn step(&self, user: &str, step: u32) -> Option<&Row> {
        self.ex.iter().find(|r| r.1 == user && r.2 == step)
    }

    fn clicks_of(&self, user: &str) -> Vec<String> {
        self.clicks[user]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }
}

fn s(x: &str) -> Option<String> {
    Some(x.to_owned())
}

/// Golden: every exposure and click equals numpy's reading of the raw arrays, and the fixed
/// quirk steps are exactly as written here.
#[test]
fn golden_synth_fixture() {
    let f = Fixture::new();
    let (want_ex, want_clicks) = rows(&py(ORACLE, &[f.root.join("raw").to_str().unwrap()]));
    assert_eq!(f.ex, want_ex);
    assert_eq!(f.clicks, want_clicks);
    assert_eq!(f.ex.len() as u64, f.summary.real_steps);

    let r = |id: u64, u: &str, t: u32, ctx: &str, items: &[Option<&str>], pos: Option<u16>| {
        (
            id,
            u.to_owned(),
            t,
            ctx.to_owned(),
            items
                .iter()
                .map(|i| i.map(str::to_owned))
                .collect::<Vec<_>>(),
            pos,
        )
    };
    // User 0, steps 2-5: a no-click slate; <UNK> at slots 2 and 5 with a click at slot 4; a
    // click on <UNK>; a rec slate.
    let user0: Vec<Row> = f.ex.iter().filter(|x| x.1 == "0").cloned().collect();
    assert_eq!(user0.len(), 20);
    assert_eq!(
        user0[2..6].to_vec(),
        vec![
            r(
                2,
                "0",
                2,
                "search",
                &[Some("4"), None, Some("83"), Some("92"), Some("51")],
                None
            ),
            r(
                3,
                "0",
                3,
                "search",
                &[
                    Some("62"),
                    None,
                    Some("18"),
                    Some("9"),
                    None,
                    Some("13"),
                    Some("51")
                ],
                Some(3)
            ),
            r(
                4,
                "0",
                4,
                "search",
                &[Some("13"), Some("4"), None, Some("55")],
                Some(2)
            ),
            r(
                5,
                "0",
                5,
                "rec",
                &[Some("69"), Some("80"), Some("56")],
                Some(0)
            ),
        ]
    );
    // User 2: a full slate with slate_lengths 26, clicked at slot 10; a click at slot 4 whose
    // click_idx says 0; slate_lengths 26 and a click outside the slate.
    let user2: Vec<Row> = f.ex.iter().filter(|x| x.1 == "2").cloned().collect();
    assert_eq!(user2.len(), 3);
    assert_eq!(user2[0].4.len(), 24);
    assert_eq!(
        (
            user2[0].0, user2[0].5, user2[1].0, user2[1].5, user2[2].0, user2[2].5
        ),
        (40, Some(9), 41, Some(3), 42, None)
    );
    assert_eq!(user2[1].4[3], s("98"));
    check_with_pyarrow_and_accounts(&f);
}

fn check_with_pyarrow_and_accounts(f: &Fixture) {
    assert_eq!(crate::pyarrow::check_with_pyarrow(&f.version()), 10);
    let d = dataset_json(&f.version());
    let a = &d["accounting"];
    let acc = &a["raw"]["data.npz"];
    assert_eq!(acc["lines"], 400);
    assert_eq!(acc["skipped"], f.summary.padding_steps);
    assert_eq!(acc["rows"], f.summary.real_steps);
    assert_eq!(acc["rejected"], 0);
    assert_eq!(a["normalized_tables"]["exposures"], f.summary.real_steps);
    assert_eq!(a["normalized_interactions"], f.summary.clicks);
    assert_eq!(
        a["filter"]["side_tables"][0]["output_rows"],
        f.summary.real_steps
    );
    assert_eq!(d["source"]["corpus"], "finn-slates");
}

fn raw_account(f: &Fixture) -> serde_json::Value {
    dataset_json(&f.version())["accounting"]["raw"]["data.npz"].clone()
}

/// `slate_lengths` 26: clamped, counted as repaired; the full slate's 24 items are all kept.
#[test]
fn slate_lengths_26_is_clamped_and_counted() {
    let f = Fixture::new();
    assert_eq!(f.summary.slate_lengths_26, 2);
    assert_eq!(raw_account(&f)["repaired"], 2);
    assert_eq!(f.step("2", 0).unwrap().4.len(), 24);
    assert_eq!(f.step("2", 2).unwrap().4.len(), 24);
}

/// `click_idx` says 0 (the noClick slot) but the click is in slot 4 (position 3); a real
/// click outside its slate gets no position but stays an interaction.
#[test]
fn click_idx_is_not_trusted() {
    let f = Fixture::new();
    assert_eq!(f.step("2", 1).unwrap().5, Some(3));
    let outside = f.step("2", 2).unwrap();
    assert_eq!(outside.5, None);
    let clicks2 = f.clicks_of("2");
    assert_eq!(clicks2.len(), 3);
    assert!(!outside.4.contains(&Some(clicks2[2].clone())));
}

/// No-click slates are exposures with a null position and no interaction.
#[test]
fn no_click_slates_are_kept_with_null_position() {
    let f = Fixture::new();
    let nc = f.step("0", 2).unwrap();
    assert_eq!((nc.5, nc.4.len()), (None, 5));
    // Every null position is a no-click step, or the one click outside its slate.
    let null_positions = f.ex.iter().filter(|r| r.5.is_none()).count() as u64;
    assert_eq!(null_positions, f.summary.no_click_steps + 1);
    let total: usize = f
        .clicks
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(total as u64, f.summary.clicks);
}

/// `<UNK>` is a null list element; a click on it keeps the exposure (the `<UNK>`'s position)
/// and is not an interaction.
#[test]
fn unk_is_a_null_element_and_not_an_interaction() {
    let f = Fixture::new();
    let unk = f.step("0", 3).unwrap();
    assert_eq!((unk.4[1].clone(), unk.4[4].clone()), (None, None));
    let unk_click = f.step("0", 4).unwrap();
    assert_eq!((unk_click.4[2].clone(), unk_click.5), (None, Some(2)));
    // User 0: 20 steps - 1 no-click - 1 click on <UNK>.
    assert_eq!(f.clicks_of("0").len(), 18);
    assert!(f.summary.unk_clicks >= 1);
}

/// User 1 has 7 steps, then 13 padding steps: skipped and counted, never exposures.
#[test]
fn padding_steps_are_skipped_and_counted() {
    let f = Fixture::new();
    assert_eq!(f.ex.iter().filter(|r| r.1 == "1").count(), 7);
    assert!(f.step("1", 7).is_none());
    let acc = raw_account(&f);
    assert_eq!(acc["skipped"], f.summary.padding_steps);
    assert_eq!(
        acc["lines"].as_u64().unwrap(),
        acc["skipped"].as_u64().unwrap() + acc["rows"].as_u64().unwrap()
    );
    assert!(f.summary.padding_steps >= 13 + 17 + 17);
}

/// The int64 variant and an unusual numpy layout (big-endian, Fortran order, STORED members)
/// publish exactly the bytes of the ordinary int32 file.
#[test]
fn int64_big_endian_fortran_variants_give_identical_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let layouts = [
        ("i32", Layout::default()),
        (
            "i64",
            Layout {
                int64: true,
                ..Layout::default()
            },
        ),
        (
            "be_fortran_stored",
            Layout {
                big_endian: true,
                fortran: true,
                stored: true,
                ..Layout::default()
            },
        ),
        (
            "i64_be",
            Layout {
                int64: true,
                big_endian: true,
                ..Layout::default()
            },
        ),
    ];
    let mut outputs = Vec::new();
    for (name, layout) in layouts {
        synth(&root.join(name), 12, 3, layout);
        let m = manifest(root, "v", name, SPLIT);
        built(root, &m, &format!("data-{name}"));
        let header = py(
            "import sys, numpy as np\nz = np.load(sys.argv[1])\nprint(z['slate'].dtype.str, np.isfortran(z['slate']), z['userId'].dtype.str)",
            &[root.join(name).join("data.npz").to_str().unwrap()],
        );
        outputs.push((
            name,
            header,
            crate::util::tree(&root.join(format!("data-{name}/v/1")))
                .into_iter()
                .filter(|(p, _)| p.ends_with(".parquet"))
                .collect::<Vec<_>>(),
        ));
    }
    assert_eq!(outputs[0].1.trim(), "<i4 False <i4");
    assert_eq!(outputs[1].1.trim(), "<i8 False <i8");
    assert_eq!(outputs[2].1.trim(), ">i4 True >i4");
    assert_eq!(outputs[3].1.trim(), ">i8 False >i8");
    for (name, _, files) in &outputs[1..] {
        assert_eq!(files.len(), outputs[0].2.len());
        for (a, b) in files.iter().zip(&outputs[0].2) {
            assert_eq!(a.0, b.0);
            assert!(a.1 == b.1, "{name}: {} differs from the int32 build", a.0);
        }
    }
}

/// Bad steps written by numpy land in `rejects` with a reason; the rest still reconciles.
#[test]
fn bad_steps_are_rejected_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let summary = synth(&root.join("raw"), 10, 2, Layout::default());
    py(
        r#"
import sys, numpy as np
p = sys.argv[1]
d = dict(np.load(p))
d["slate"][4, 0, 3] = -7                 # bad_item_id
d["slate_lengths"][4, 1] = 31            # bad_slate_length
d["interaction_type"][4, 2] = 9          # unknown_interaction_type
d["interaction_type"][1, 19] = 1         # padding_with_data (user 1 has 7 steps)
d["interaction_type"][0, 0] = 0          # a real step of type 0 (`<UNK>`): context "other"
np.savez_compressed(p, **d)
"#,
        &[root.join("raw/data.npz").to_str().unwrap()],
    );
    let m = manifest(root, "bad", "raw", SPLIT);
    built(root, &m, "data");
    let v = root.join("data/bad/1");
    let d = dataset_json(&v);
    let acc = &d["accounting"]["raw"]["data.npz"];
    assert_eq!(acc["rejected"], 4);
    assert_eq!(acc["rows"], summary.real_steps - 3);
    assert_eq!(acc["skipped"], summary.padding_steps - 1);
    let got = py(
        "import sys, pyarrow.parquet as pq\nfor r in pq.read_table(sys.argv[1]).to_pylist(): print(r['line'], r['reason'], r['raw'].decode()[:22])",
        &[v.join("rejects.parquet").to_str().unwrap()],
    );
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        vec![
            "40 padding_with_data userId=1 step=19 click",
            "81 bad_item_id userId=4 step=0 click=",
            "82 bad_slate_length userId=4 step=1 click=",
            "83 unknown_interaction_type userId=4 step=2 click=",
        ]
    );
    assert_eq!(crate::pyarrow::check_with_pyarrow(&v), 10);
    let contexts = py(
        "import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1]).to_pylist()\nprint(t[0]['exposure_id'], t[0]['context'], sorted({r['context'] for r in t}))",
        &[v.join("exposures.parquet").to_str().unwrap()],
    );
    assert_eq!(contexts.trim(), "0 other ['other', 'rec', 'search']");
}

/// A damaged `data.npz` fails the build with the file and member named; nothing is published.
#[test]
fn corrupt_npz_names_the_member() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    synth(&root.join("raw"), 40, 1, Layout::default());
    let path = root.join("raw/data.npz");
    let z = recdata::io::npy::Npz::open(&path).unwrap();
    let m = z.member("slate").unwrap().clone();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = (m.data_start + m.compressed_size / 2) as usize;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xa5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let mf = manifest(root, "bad", "raw", SPLIT);
    let out = build(root, &mf, "data");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("data.npz") && err.contains("member `slate.npy`"),
        "{err}"
    );
    assert!(!root.join("data/bad/1").exists());

    // A member that is missing altogether: the error lists what the archive holds.
    synth(&root.join("raw2"), 5, 1, Layout::default());
    py(
        "import sys, numpy as np\nd = dict(np.load(sys.argv[1]))\ndel d['click_idx']\nnp.savez_compressed(sys.argv[1], **d)",
        &[root.join("raw2/data.npz").to_str().unwrap()],
    );
    let mf = manifest(root, "missing", "raw2", SPLIT);
    let out = build(root, &mf, "data");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no member `click_idx.npy`") && err.contains("slate.npy"),
        "{err}"
    );

    // Shapes that disagree are refused with the member named.
    synth(&root.join("raw3"), 5, 1, Layout::default());
    py(
        "import sys, numpy as np\nd = dict(np.load(sys.argv[1]))\nd['slate_lengths'] = d['slate_lengths'][:, :10]\nnp.savez_compressed(sys.argv[1], **d)",
        &[root.join("raw3/data.npz").to_str().unwrap()],
    );
    let mf = manifest(root, "shape", "raw3", SPLIT);
    let err = String::from_utf8_lossy(&build(root, &mf, "data").stderr).into_owned();
    assert!(
        err.contains("member `slate_lengths.npy`") && err.contains("expected shape (5, 20)"),
        "{err}"
    );
}

/// `recdata synth finn-slates` writes the three files numpy and json read as documented.
#[test]
fn synth_cli_writes_numpy_readable_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = recdata(
        &[
            "synth",
            "finn-slates",
            "--out",
            "raw",
            "--users",
            "30",
            "--seed",
            "5",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = py(
        r#"
import json, sys, zipfile, numpy as np
raw = sys.argv[1]
d = np.load(f"{raw}/data.npz")
assert list(d.keys()) == ["userId", "click", "click_idx", "slate_lengths", "slate", "interaction_type"], list(d.keys())
assert d["slate"].shape == (30, 20, 25) and d["slate"].dtype == np.int32
assert (d["userId"] == np.arange(30)).all()
real = d["click"] != 0
assert (d["slate"][real][:, 0] == 1).all()                      # noClick at slot 0
assert (d["slate_lengths"][~real] == 0).all() and (d["interaction_type"][~real] == 0).all()
assert d["slate_lengths"].max() == 26
assert set(np.unique(d["interaction_type"][real])) == {1, 2}
for m in zipfile.ZipFile(f"{raw}/data.npz").infolist():
    assert m.compress_type == zipfile.ZIP_DEFLATED and m.extract_version == 45
    assert zipfile.ZipFile(f"{raw}/data.npz").open(m).read(10)[:8] == b"\x93NUMPY\x01\x00"
cat = np.load(f"{raw}/itemattr.npz")["category"]
assert cat.dtype == np.float64 and cat[:3].tolist() == [0.0, 1.0, 2.0]
text = open(f"{raw}/ind2val.json").read()
assert "Tr\\u00f8ndelag" in text and '"MOTOR,,Sogn og Fjordane"' in text and text.isascii()
ind = json.loads(text)
assert ind["interaction_type"] == {"1": "search", "2": "rec", "0": "<UNK>"}
assert all(str(int(c)) in ind["category"] for c in cat)
print("ok")
"#,
        &[tmp.path().join("raw").to_str().unwrap()],
    );
    assert_eq!(got.trim(), "ok");
}

/// Regression (adversary with the release binary, 2026-12-05): a normalize cache whose side
/// table holds an item code out of range — damage that got past the record of the stage's
/// files, here because the record was rewritten to match — panicked in the filter ("index out
/// of bounds", exit 101) when a changed filter reused the cache. Now the load checks every code
/// and the build fails with the cached file named; nothing new is published.
#[test]
fn damaged_codes_in_a_cached_side_table_are_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    synth(&root.join("raw"), 20, 7, Layout::default());
    let m = manifest(root, "dm", "raw", SPLIT);
    built(root, &m, "d");
    let cache = crate::util::stage_cache(&root.join("d/dm"), "normalize");
    // An item code far past the catalogue, written back as the same zstd IPC, and the record
    // rewritten to match the new bytes.
    py(
        "import sys, json, zlib, os, pyarrow as pa\n\
         d = sys.argv[1]; f = os.path.join(d, 'table-exposures.arrow')\n\
         t = pa.ipc.open_file(f).read_all().combine_chunks()\n\
         i = t.schema.get_field_index('items')\n\
         items = t.column(i).chunk(0)\n\
         vals = items.values.to_pylist(); vals[0] = 10**7\n\
         bad = pa.ListArray.from_arrays(items.offsets, pa.array(vals, pa.uint32()))\n\
         t = t.set_column(i, t.schema.field(i), bad)\n\
         opts = pa.ipc.IpcWriteOptions(compression='zstd')\n\
         with pa.ipc.new_file(f, t.schema, options=opts) as w: w.write_table(t)\n\
         r = os.path.join(d, '.files.json'); rec = json.load(open(r))\n\
         b = open(f, 'rb').read()\n\
         rec['table-exposures.arrow'] = {'bytes': len(b), 'crc32': zlib.crc32(b)}\n\
         json.dump(rec, open(r, 'w'))",
        &[cache.to_str().unwrap()],
    );
    // A new version with another filter: the normalize cache is reused.
    let m2 = root.join("dm2.toml");
    std::fs::write(
        &m2,
        std::fs::read_to_string(&m)
            .unwrap()
            .replace("version = \"1\"", "version = \"2\"")
            .replace("id_base = 1", "id_base = 0"),
    )
    .unwrap();
    let out = build(root, &m2, "d");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "exit {:?}: {err}",
        out.status.code()
    );
    assert!(
        err.contains("is damaged")
            && err.contains("table-exposures.arrow")
            && err.contains("item code 10000000"),
        "{err}"
    );
    assert!(!root.join("d/dm/2").exists());
}

/// Exposures are mapped to dense ids a row group at a time as they are written: with more than
/// one row group (2^20 rows each), every slate, user and exposure id must still match numpy's
/// reading of `data.npz` — slates in display order without padding and `no click` slots,
/// `<UNK>` as a null element — through the published id maps (`id_base = 1`, so no dense id
/// equals its normalize code by accident).
/// Also: readers filtering on the categorical `context` and `event` columns (no statistics).
#[test]
fn exposures_spanning_row_groups_match_numpy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let summary = synth(&root.join("raw"), 72_000, 11, Layout::default());
    assert!(summary.real_steps > 1 << 20, "{}", summary.real_steps);
    let m = manifest(root, "big", "raw", SPLIT);
    built(root, &m, "d");
    let got = py(
        r#"
import sys, numpy as np, pyarrow.compute as pc, pyarrow.parquet as pq
raw, v = sys.argv[1], sys.argv[2]
d = np.load(f"{raw}/data.npz")
uid, click, slate = d["userId"], d["click"], d["slate"]
U, T, S = slate.shape
real = click != 0
u_idx, t_idx = np.nonzero(real)
rows = slate[real]
keep = (rows != 0) & (rows != 1)
want_len, want = keep.sum(axis=1), rows[keep]

f = pq.ParquetFile(f"{v}/exposures.parquet")
assert f.metadata.num_row_groups >= 2, f.metadata.num_row_groups
ex = f.read()
assert (ex["exposure_id"].to_numpy() == u_idx * T + t_idx).all(), "exposure ids"
im = pq.read_table(f"{v}/item_map.parquet")
item_raw = np.full(pc.max(im["item_id"]).as_py() + 1, -1, dtype=np.int64)
item_raw[im["item_id"].to_numpy()] = np.array(im["raw_id"].to_pylist(), dtype=np.int64)
um = pq.read_table(f"{v}/user_map.parquet")
user_raw = np.full(pc.max(um["user_id"]).as_py() + 1, -1, dtype=np.int64)
user_raw[um["user_id"].to_numpy()] = np.array(um["raw_id"].to_pylist(), dtype=np.int64)
assert (user_raw[ex["user_id"].to_numpy()] == uid[u_idx]).all(), "users"

items = ex["items"].combine_chunks()
assert (np.diff(items.offsets.to_numpy()) == want_len).all(), "slate lengths"
flat = pc.list_flatten(items)
valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
assert (valid == (want != 2)).all(), "<UNK> nulls"
ids = pc.fill_null(flat, 0).to_numpy()
assert (ids[valid] >= 1).all(), "id_base 1"
assert (item_raw[ids[valid]] == want[want != 2]).all(), "slate items"

# Categorical columns carry no min/max statistics (io::parquet::props): readers filtering on
# them, with and without pushdown, still get exactly the rows a plain pass over the table keeps.
import duckdb, polars as pl
ctx = ex["context"].to_pylist()
for want_ctx in ["search", "rec", "other", "nonexistent"]:
    n = sum(c == want_ctx for c in ctx)
    q = f"SELECT count(*), sum(exposure_id) FROM '{v}/exposures.parquet' WHERE context = '{want_ctx}'"
    got = duckdb.execute(q).fetchone()
    ids_of = [e for e, c in zip(ex["exposure_id"].to_pylist(), ctx) if c == want_ctx]
    assert got == (n, sum(ids_of) if ids_of else None), (want_ctx, got, n)
    lazy = pl.scan_parquet(f"{v}/exposures.parquet").filter(pl.col("context") == want_ctx)
    assert lazy.select(pl.len()).collect().item() == n, want_ctx
    assert pq.read_table(f"{v}/exposures.parquet", filters=[("context", "=", want_ctx)]).num_rows == n
clicks = pq.read_table(f"{v}/interactions.parquet").num_rows
for ev, n in [("click", clicks), ("play", 0)]:
    got = duckdb.execute(f"SELECT count(*) FROM '{v}/interactions.parquet' WHERE event = '{ev}'").fetchone()[0]
    assert got == n, (ev, got, n)
print(ex.num_rows)
"#,
        &[
            root.join("raw").to_str().unwrap(),
            root.join("d/big/1").to_str().unwrap(),
        ],
    );
    assert_eq!(got.trim(), summary.real_steps.to_string(), "{got}");
}
