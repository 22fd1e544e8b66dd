//! {{name}} in the running kernel (root): the object loads, attaches, and
//! counts this process's own getppid() calls.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

#[test]
fn counts_this_process_calls() {
    let ebpf = {{crate}}::load().unwrap();
    {{crate}}::set_target(&ebpf, std::process::id()).unwrap();
    {{attach}}
    for _ in 0..5 {
        std::hint::black_box(std::os::unix::process::parent_id());
    }
    assert_eq!({{crate}}::events(&ebpf).unwrap(), 5);
    drop(link);
    std::hint::black_box(std::os::unix::process::parent_id());
    assert_eq!({{crate}}::events(&ebpf).unwrap(), 5, "detached");
}
