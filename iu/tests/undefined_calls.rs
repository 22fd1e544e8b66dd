//! An object that calls a function it does not define is refused before
//! linking, with a typed error naming the routine and the source line of
//! the call, by the loader and by `iu::panic_paths` alike.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error};

fn assert_names_the_call(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::UndefinedFunction { function, sites }) => {
            assert_eq!(function, "fold_checksum");
            let source = include_str!("c/undefined_call.bpf.c");
            let expected = source
                .lines()
                .position(|l| l.contains("UNDEFINED-CALL-LINE"))
                .unwrap() as u32
                + 1;
            assert!(
                sites
                    .iter()
                    .any(|s| s.file.ends_with("undefined_call.bpf.c") && s.line == expected),
                "expected line {expected} in {sites:?}"
            );
            let message = Error::UndefinedFunction { function, sites }.to_string();
            assert!(message.contains("nor the running kernel"), "{message}");
            assert!(message.contains(&format!(":{expected}")), "{message}");
        }
        other => panic!("expected UndefinedFunction, got {other:?}"),
    }
}

#[test]
fn an_undefined_call_is_refused_with_its_line() {
    let path = iu::object_dir().join("undefined_call");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    assert_names_the_call(Ebpf::load_file(&path).map(|_| ()));
    let bytes = std::fs::read(&path).unwrap();
    assert_names_the_call(iu::panic_paths(&bytes));
}
