#![no_main]
// The body lives in the library (recdata::fuzzing), so `make test` runs it too; `init` writes
// the target's seeds where `make fuzz` asks (RECDATA_FUZZ_SEEDS).
libfuzzer_sys::fuzz_target!(init: recdata::fuzzing::write_seeds("deezer_sessions"), |data: &[u8]| {
    let _accepted = recdata::fuzzing::deezer_sessions(data);
});
