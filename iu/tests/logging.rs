//! Program logs (`info!` and friends) rendered in user space, on the
//! running kernel, with `iu/tests/programs/src/bin/logging.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{os::fd::AsFd, path::PathBuf, time::Duration};

use iu::{EbpfLoader, EbpfLogger};

fn object() -> PathBuf {
    iu::object_dir().join("logging")
}

#[tokio::test]
async fn every_argument_type_and_hint_round_trips() {
    // ANCHOR: logger
    let ebpf = EbpfLoader::new()
        .log_level(log::LevelFilter::Debug)
        .load_file(object())
        .unwrap();
    ebpf.array::<u32>("CONFIG")
        .unwrap()
        .set(0, &std::process::id())
        .unwrap();
    let mut logger = EbpfLogger::new(&ebpf).unwrap();
    let _link = ebpf.tracepoint("logging").unwrap().attach().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    drop(nix::unistd::dup(file.as_fd()).unwrap());
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);

    let mut records = vec![];
    for _ in 0..4 {
        let record = tokio::time::timeout(Duration::from_secs(5), logger.next())
            .await
            .expect("a log record within 5 s")
            .unwrap()
            .unwrap();
        records.push(record);
    }
    // ANCHOR_END: logger
    let messages: Vec<(log::Level, &str)> = records
        .iter()
        .map(|r| (r.level, r.message.as_str()))
        .collect();
    let named = format!("named fd={fd} twice={fd}");
    assert_eq!(
        messages,
        vec![
            (
                log::Level::Info,
                "ints 200 -5 60000 -300 4000000000 -70000 18446744073709551615 -9223372036854775808"
            ),
            (log::Level::Debug, "hex beef BEEF bytes dead BEEF"),
            (
                log::Level::Warn,
                "net 127.0.0.1 10.0.0.1 2001:db8::1 de:ad:be:ef:00:01"
            ),
            (log::Level::Error, named.as_str()),
        ]
    );
    assert_eq!(records[0].target, "logging");
    assert!(records[0].location.0.ends_with("logging.rs"));
    // Trace is above the level: nothing else arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), logger.next())
            .await
            .is_err()
    );
}

#[test]
fn disabled_levels_cost_nothing_after_verification() {
    let xlated = |level| {
        let ebpf = EbpfLoader::new()
            .log_level(level)
            .load_file(object())
            .unwrap();
        ebpf.program("logging")
            .unwrap()
            .info()
            .unwrap()
            .xlated_insns
    };
    let (off, error, trace) = (
        xlated(log::LevelFilter::Off),
        xlated(log::LevelFilter::Error),
        xlated(log::LevelFilter::Trace),
    );
    // The verifier removes the branches of disabled levels: each level adds
    // code only when it is on.
    assert!(
        off < error && error < trace,
        "xlated instructions: off {off}, error {error}, trace {trace}"
    );
}
