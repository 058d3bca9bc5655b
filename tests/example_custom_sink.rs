//! `examples/custom_sink.rs`, compiled into this test and run.

include!("../examples/custom_sink.rs");

// One test: the two recordings must not overlap.
#[test]
fn the_example_runs_and_its_sink_sees_every_size_class() {
    main().unwrap();

    let finished = record(|| {
        for size in [1, 100, 3000] {
            std::hint::black_box(vec![0u8; size]);
        }
    })
    .unwrap();
    for class in [1, 128, 4096] {
        let calls = finished.sink.0.get(&class).map_or(0, |&(calls, _)| calls);
        assert!(calls >= 1, "{class}: {:?}", finished.sink.0);
    }
}
