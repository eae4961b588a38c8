//! The fuzz targets' bodies (`recdata::fuzzing`, the same code `make fuzz` runs under
//! libFuzzer) over their seeds, deterministic mutants of every seed, and every input saved in
//! `fuzz/regressions/<target>/`: the share of fuzzing that runs in `make test`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use recdata::fuzzing::{self, TARGETS};

/// Mutants per seed: the corpus targets copy a small corpus and normalize it per input.
fn rounds(target: &str) -> usize {
    match target {
        "lastfm" | "movielens" | "microlens" | "amazon" | "agrosense" | "qilin"
        | "deezer_sessions" | "finn_slates" => 40,
        _ => 400,
    }
}

fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs `target` on one input; a panic saves the input and fails with its path, so it can be
/// replayed (`recdata fuzz run <target> <file>`) and added to `fuzz/regressions/`.
fn run(target: &'static fuzzing::Target, input: &[u8], what: &str) -> bool {
    match catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Ok(accepted) => accepted,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let saved = std::env::temp_dir().join(format!(
                "recdata-fuzz-crash-{}-{}",
                target.name,
                recdata::util::hash::sha256_hex(input)
            ));
            std::fs::write(&saved, input).unwrap();
            panic!(
                "fuzz target `{}` failed on {what}: {msg}\n  input saved: {}\n  replay: recdata fuzz run {} {}",
                target.name,
                saved.display(),
                target.name,
                saved.display()
            );
        }
    }
}

fn smoke(name: &str) {
    let target = fuzzing::target(name).unwrap();
    let seeds = fuzzing::seeds(name);
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let (mut accepted, mut refused) = (0usize, 0usize);
    for (i, seed) in seeds.iter().enumerate() {
        assert!(
            run(target, seed, &format!("seed {i}")),
            "{name}: seed {i} is not accepted, so the target does not reach the parser's happy path"
        );
        for (j, m) in fuzzing::mutants(seed, rounds(name), i as u64 * 7919 + 1)
            .iter()
            .enumerate()
        {
            if run(target, m, &format!("mutant {j} of seed {i}")) {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
    }
    for f in regressions(name) {
        run(
            target,
            &std::fs::read(&f).unwrap(),
            &f.display().to_string(),
        );
    }
    eprintln!("{name}: {accepted} mutants accepted, {refused} refused");
    assert!(accepted + refused > 0);
}

macro_rules! targets {
    ($($t:ident),*) => {$(
        #[test]
        fn $t() {
            smoke(stringify!($t));
        }
    )*
        #[test]
        fn every_target_has_a_smoke_test_and_a_libfuzzer_binary() {
            let tested = [$(stringify!($t)),*];
            for t in TARGETS {
                assert!(tested.contains(&t.name), "{} has no smoke test", t.name);
                let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets").join(format!("{}.rs", t.name));
                assert!(bin.exists(), "{} has no {}", t.name, bin.display());
                let cargo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml")).unwrap();
                assert!(cargo.contains(&format!("name = \"{}\"", t.name)), "{} is not in fuzz/Cargo.toml", t.name);
            }
            assert_eq!(tested.len(), TARGETS.len());
        }
    };
}

targets!(
    manifest,
    npy,
    npz,
    archive,
    media,
    chat_response,
    lastfm,
    movielens,
    microlens,
    amazon,
    agrosense,
    qilin,
    deezer_sessions,
    finn_slates
);

/// `recdata fuzz run` replays saved inputs with the normal binary; `fuzz seeds` writes every
/// target's seeds.
#[test]
fn the_cli_replays_regressions_and_writes_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = crate::util::recdata(
        &["fuzz", "run", "movielens", "fuzz/regressions/movielens"],
        root,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no failure"));
    let o = crate::util::recdata(&["fuzz", "run", "nope", "x"], root);
    assert_eq!(o.status.code(), Some(2), "a usage error: could not run");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no fuzz target `nope`"));
    let d = tempfile::tempdir().unwrap();
    let o = crate::util::recdata(&["fuzz", "seeds", d.path().to_str().unwrap()], root);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for t in TARGETS {
        assert!(d.path().join(t.name).join("seed-0").is_file(), "{}", t.name);
    }
}
