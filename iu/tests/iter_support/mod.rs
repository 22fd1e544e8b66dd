//! Loading an iterator test's object, shared by the iterator tests.

use iu::{Ebpf, Error};

/// Loads `object`, or says why this kernel refuses it: iterators are
/// tracing programs, which the development hosts' lockdown refuses even
/// to root (the VM tier runs them); `what` names the iterators.
pub fn load(object: &str, what: &str) -> Option<Ebpf> {
    match Ebpf::load_file(iu::object_dir().join(object)) {
        Ok(ebpf) => Some(ebpf),
        Err(Error::PermissionDenied { .. }) => {
            assert!(
                std::env::var_os("IU_VM_KERNEL").is_none(),
                "the VM tier runs tracing programs"
            );
            iu::testing::skip_missing(
                what,
                "tracing programs (BPF_PROG_TYPE_TRACING), refused here by lockdown",
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}
