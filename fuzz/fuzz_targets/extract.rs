#![no_main]
// The body is distill_fuzz::extract (fuzz/src/lib.rs), shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| distill_fuzz::extract(data));
