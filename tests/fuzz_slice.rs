//! A few seconds of the fuzzer (fuzz/harness.rs) in every test run: generated
//! and mutated programs, extremes around the nesting limits, and odd input
//! records through check, fmt, test and run; none may panic. The long runs
//! are in fuzz/RESULTS.md.

#[path = "../fuzz/harness.rs"]
mod harness;

#[test]
fn a_slice_of_the_fuzzer_finds_no_crash() {
    // Debug builds are slower: a small slice, on a 2 MiB stack like a worker's.
    let stats = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| harness::run(7, 0, 400, &harness::Mode::ALL, |_| {}))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(stats.inputs, 400);
    assert!(stats.clean > 20, "too few inputs check clean: {stats:?}");
    assert!(stats.records > 0, "no record was mapped: {stats:?}");
    assert!(stats.crashes.is_empty(), "crashes: {:?}", stats.crashes);
}

#[test]
fn the_generator_is_deterministic() {
    let a = harness::input(3, 17);
    let b = harness::input(3, 17);
    assert_eq!(a.program, b.program);
    assert_eq!(a.lines, b.lines);
}
