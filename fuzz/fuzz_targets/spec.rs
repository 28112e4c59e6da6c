#![no_main]
// The body is distill_fuzz::spec (fuzz/src/lib.rs), shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| distill_fuzz::spec(data));
