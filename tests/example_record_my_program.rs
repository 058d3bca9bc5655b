//! The README's example, `examples/record_my_program.rs`, compiled into this
//! test and run: it writes the three files, none of them empty. (`cargo test`
//! builds the example itself too; `readme.rs` checks the README shows this
//! file's exact text.)

include!("../examples/record_my_program.rs");

#[test]
fn the_example_writes_three_files() {
    let dir = tempfile::tempdir().unwrap();
    // The only test in this binary: no other thread minds the change.
    std::env::set_current_dir(dir.path()).unwrap();
    main().unwrap();
    for name in ["alloc.tsv", "summary.json", "latency.hgrm"] {
        let path = dir.path().join("alloc-results").join(name);
        let bytes = std::fs::metadata(&path).unwrap().len();
        assert!(bytes > 0, "{} is empty", path.display());
    }
    let tsv = std::fs::read_to_string(dir.path().join("alloc-results/alloc.tsv")).unwrap();
    assert!(tsv.lines().count() > 9000, "a row per word at least");
}
