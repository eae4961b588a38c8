#![no_main]
// The body lives in the library (recdata::fuzzing), so `make test` runs it too; `init` writes
// the target's seeds where `make fuzz` asks (RECDATA_FUZZ_SEEDS).
libfuzzer_sys::fuzz_target!(init: recdata::fuzzing::write_seeds("finn_slates"), |data: &[u8]| {
    let _accepted = recdata::fuzzing::finn_slates(data);
});
