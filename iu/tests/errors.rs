//! The catalogue of errors a user can meet: each case makes one mistake
//! for real (a typo, a wrong type, a program the kernel refuses) and
//! compares the message iu renders with its snapshot in
//! `iu/tests/errors/<case>.txt`, as rustc's UI tests keep `.stderr` files,
//! so that a message changes only on purpose. `IU_BLESS=1 cargo test -p iu
//! --test errors` rewrites the snapshots; review the diff.
//!
//! Paths are written as `$ROOT` (the workspace) and `$OBJECTS` (the BPF
//! object directory). A verifier refusal is kept up to its log, which is
//! the kernel's: the snapshots are of the host kernel (Linux 6.18), and in
//! the VM tier's other kernels the refusal must still render its first
//! line, the error and the program's line as the snapshot does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::path::{Path, PathBuf};

use iu::{Ebpf, EbpfLoader, Error};

fn object(name: &str) -> PathBuf {
    let path = iu::object_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    path
}

/// `message` with the machine's paths replaced, and a verifier refusal cut
/// before the kernel's log.
fn normalize(message: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let objects = iu::object_dir();
    let message = message
        .replace(&*objects.to_string_lossy(), "$OBJECTS")
        .replace(&*root.to_string_lossy(), "$ROOT");
    let kept = match message.find("\n  verifier log") {
        Some(at) => &message[..at],
        None => &message,
    };
    format!("{}\n", kept.trim_end())
}

/// Compares the rendered `error` with snapshot `case`.
fn check(case: &str, error: Error) {
    let actual = normalize(&error.to_string());
    // `?` out of `main` prints Debug: it must be the same message.
    assert_eq!(
        format!("{error:?}"),
        error.to_string(),
        "{case}: Debug differs"
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/errors")
        .join(format!("{case}.txt"));
    if std::env::var_os("IU_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with IU_BLESS=1 cargo test -p iu --test errors",
            path.display()
        )
    });
    let verifier = matches!(error, Error::Verifier { .. });
    if verifier && std::env::var_os("IU_VM_KERNEL").is_some() {
        // Another kernel words its refusal its own way; iu's parts stay.
        let first = expected.lines().next().unwrap();
        assert!(
            actual.starts_with(first),
            "{case}:\n{actual}\nexpected to start with:\n{first}"
        );
        for line in expected.lines().filter(|l| l.starts_with("  at ")) {
            assert!(
                actual.contains(line),
                "{case}:\n{actual}\nexpected:\n{line}"
            );
        }
        return;
    }
    assert_eq!(
        actual,
        expected,
        "{case}: the message changed (IU_BLESS=1 rewrites {}); got:\n{actual}",
        path.display()
    );
}

fn err<T>(result: Result<T, Error>) -> Error {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn names_a_user_can_get_wrong() {
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    check("unknown_map", err(ebpf.map("HELO")));
    check("unknown_program", err(ebpf.tracepoint("helo")));
    check("wrong_program_type", err(ebpf.xdp("hello")));
    check(
        "unknown_tracepoint",
        err(ebpf
            .tracepoint("hello")
            .unwrap()
            .attach_to("syscalls", "sys_enter_dupp")),
    );
    let maps = Ebpf::load_file(object("map_test")).unwrap();
    check("wrong_map_type", err(maps.hash_map::<u32, u64>("OUTPUT")));
    check("wrong_value_size", err(maps.array::<u32>("OUTPUT")));
    check(
        "missing_object",
        err(Ebpf::load_file(iu::object_dir().join("no_such_program"))),
    );
}

#[test]
fn sockets_a_socket_map_cannot_hold() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("sock_map")).unwrap();
    let unconnected = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::empty(),
        None,
    )
    .unwrap();
    check(
        "socket_refused",
        err(ebpf.sock_map("PAIR").unwrap().insert(0, &unconnected)),
    );
    check("wrong_socket_program_type", err(ebpf.sk_skb("splice")));
}

#[test]
fn globals_a_user_can_get_wrong() {
    check(
        "unknown_global",
        err(EbpfLoader::new()
            .set_global("MULTIPLYER", &3u64)
            .load_file(object("map_test"))),
    );
    check(
        "global_size",
        err(EbpfLoader::new()
            .set_global("MULTIPLIER", &3u32)
            .load_file(object("map_test"))),
    );
}

#[test]
fn objects_the_loader_refuses() {
    check("not_an_object", err(Ebpf::load(b"not an ELF file")));
    check(
        "undefined_function",
        err(Ebpf::load_file(object("undefined_call"))),
    );
    check(
        "missing_kernel_field",
        err(Ebpf::load_file(object("co_re_c_missing"))),
    );
    check(
        "tail_call_types",
        err(Ebpf::load_file(object("tail_mixed"))),
    );
}

#[test]
fn attachments_a_user_can_get_wrong() {
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    let tp = ebpf.tracepoint("hello").unwrap();
    let _first = tp.attach().unwrap();
    check("second_attach", err(tp.attach()));
    let tails = EbpfLoader::new()
        .autoload("tail_from_tc", false)
        .load_file(object("tail_mixed"))
        .unwrap();
    check(
        "tail_call_types_at_set",
        err(tails
            .program_array("JUMPS")
            .unwrap()
            .set(0, tails.program("tc_leaf").unwrap())),
    );
}

#[test]
fn programs_the_verifier_refuses() {
    check(
        "unbounded_loop",
        err(EbpfLoader::new()
            .loop_budgets(false)
            .load_file(object("rejected"))),
    );
    check("stack_chain", err(Ebpf::load_file(object("stack_chain"))));
    check(
        "leaked_reservation",
        err(Ebpf::load_file(object("rejected_leak"))),
    );
    for (program, other) in [
        ("helper_under_lock", "lock_twice"),
        ("lock_twice", "helper_under_lock"),
    ] {
        check(
            program,
            err(EbpfLoader::new()
                .autoload(other, false)
                .load_file(object("lock_misuse"))),
        );
    }
}

#[test]
fn an_af_xdp_queue_already_taken() {
    if !iu::features::af_xdp() {
        iu::testing::skip_missing("AF_XDP sockets", "CONFIG_XDP_SOCKETS");
        return;
    }
    use iu::xsk::{XskConfig, XskSocket};
    let small = XskConfig {
        ring_size: 8,
        ..XskConfig::default()
    };
    // Queue 0 of the loopback of a network namespace of its own.
    iu::testing::in_new_netns(move || {
        let _first = XskSocket::new("lo", 0, small).unwrap();
        check("xsk_queue_busy", err(XskSocket::new("lo", 0, small)));
    })
    .unwrap();
    check(
        "xsk_frame_size",
        err(XskSocket::new(
            "lo",
            0,
            XskConfig {
                frame_size: 1500,
                ..small
            },
        )),
    );
}
