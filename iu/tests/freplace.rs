//! freplace: a program's `#[replaceable]` function replaced by another
//! object's `#[freplace]` program while it is loaded, and put back when the
//! link is dropped (`freplace_target`, `freplace_ext` in
//! `iu/tests/programs`). Like fentry, freplace is refused even to root by
//! this host's lockdown, so the replacement runs for real in the VM tier.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, EbpfLoader, Error, programs::TestRun};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn supported() -> bool {
    if iu::features::freplace() {
        return true;
    }
    iu::testing::skip_missing(
        "freplace",
        "freplace programs (Linux 5.6 with the BPF JIT on)",
    );
    false
}

/// What the target's XDP program answers for a packet of `len` bytes.
fn verdict(target: &Ebpf, len: usize) -> u32 {
    let packet = vec![0u8; len];
    target
        .program("decide")
        .unwrap()
        .test_run(&TestRun::packet(&packet))
        .unwrap()
        .retval
}

#[test]
fn an_freplace_program_replaces_the_function_until_its_link_is_dropped() {
    if !supported() {
        return;
    }
    // ANCHOR: load
    let target = Ebpf::load_file(iu::object_dir().join("freplace_target")).unwrap();
    assert_eq!(verdict(&target, 200), XDP_PASS, "the original verdict");

    let loaded = EbpfLoader::new()
        .extension_target("drop_large", target.program("decide").unwrap())
        .unwrap()
        .load_file(iu::object_dir().join("freplace_ext"));
    // ANCHOR_END: load
    let ext = match loaded {
        Ok(ext) => ext,
        // This host's lockdown refuses freplace programs, as it refuses
        // fentry, even to root; the VM tier runs this test for real.
        Err(e @ Error::PermissionDenied { .. })
            if nix::unistd::geteuid().is_root() && std::env::var_os("IU_VM_TIER").is_none() =>
        {
            eprintln!(
                "skipping: freplace: this kernel refuses freplace programs even to root (lockdown): {e}"
            );
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let extension = ext.extension("drop_large").unwrap();
    assert_eq!(extension.function(), "verdict");
    let calls = ext.array::<u64>("CALLS").unwrap();
    assert_eq!(
        verdict(&target, 200),
        XDP_PASS,
        "loaded but not attached: still the original"
    );
    assert_eq!(calls.get(0).unwrap(), 0);

    // ANCHOR: attach
    let link = extension.attach().unwrap();
    assert_eq!(verdict(&target, 200), XDP_DROP, "the replacement's verdict");
    assert_eq!(verdict(&target, 60), XDP_PASS);
    assert_eq!(calls.get(0).unwrap(), 2, "the replacement ran for both");
    assert!(
        extension.attach().is_err(),
        "a second link of the same program"
    );

    drop(link);
    assert_eq!(verdict(&target, 200), XDP_PASS, "the original is back");
    // ANCHOR_END: attach
    assert_eq!(calls.get(0).unwrap(), 2, "the replacement no longer runs");
}

#[test]
fn an_freplace_program_without_a_target_is_refused_with_what_to_call() {
    let error = Ebpf::load_file(iu::object_dir().join("freplace_ext")).unwrap_err();
    assert!(
        matches!(&error, Error::ExtensionTarget { program, .. } if program == "drop_large"),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("`verdict`"), "{message}");
    assert!(
        message.contains("extension_target(\"drop_large\""),
        "{message}"
    );
}

#[test]
fn a_target_without_the_function_is_refused_with_its_functions() {
    if !supported() {
        return;
    }
    // A program without `verdict` as the target (`map_test`, which every
    // kernel of the matrix loads).
    let other = Ebpf::load_file(iu::object_dir().join("map_test")).unwrap();
    let program = other.programs().next().unwrap();
    let error = EbpfLoader::new()
        .extension_target("drop_large", program)
        .unwrap()
        .load_file(iu::object_dir().join("freplace_ext"))
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(&error, Error::ExtensionTarget { .. }), "{message}");
    assert!(message.contains("no function `verdict`"), "{message}");
    assert!(message.contains(program.name()), "{message}");
}

#[test]
fn a_target_for_a_program_the_object_lacks_is_refused() {
    let target = Ebpf::load_file(iu::object_dir().join("freplace_target")).unwrap();
    let error = EbpfLoader::new()
        .extension_target("no_such_program", target.program("decide").unwrap())
        .unwrap()
        .load_file(iu::object_dir().join("freplace_ext"))
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnknownProgram { name, .. } if name == "no_such_program"),
        "{error}"
    );
}
