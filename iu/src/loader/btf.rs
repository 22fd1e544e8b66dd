//! Stage 4: BTF. The object's BTF is sanitized for this kernel (aya-obj's
//! fixups, then iu's own for the memory builtins) and loaded, so that
//! programs get func and line info and the verifier's log shows Rust
//! source lines. Also the kernel's BTF, read once per process.

use std::{os::fd::OwnedFd, sync::OnceLock};

use aya_obj::{
    Object,
    btf::{Btf, BtfKind},
};

use crate::{
    error::{CAP_BPF_HINT, Error, Result, chain},
    features,
    sys::{self, SyscallError},
    validate::guarded,
    verifier::VerifierLog,
};

/// The object's BTF as the kernel holds it.
pub(super) struct LoadedBtf {
    pub fd: OwnedFd,
    /// The sanitized bytes, which hold the line-info strings.
    pub bytes: Vec<u8>,
}

/// The object's BTF sanitized for this kernel, if it has BTF (`file` is
/// the object's ELF view).
pub(super) fn sanitize(file: &object::File<'_>, obj: &mut Object) -> Result<Option<Vec<u8>>> {
    let features = features::object_features()
        .btf()
        .ok_or_else(|| Error::Btf("BTF features unknown".into()))?;
    let mut btf = match guarded("fixing up BTF", || {
        obj.fixup_and_sanitize_btf(features)
            .map(|b| b.map(Btf::to_bytes))
    })? {
        Ok(Some(btf)) => btf,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Error::Btf(chain(&e))),
    };
    crate::btf_linkage::make_static(&mut btf, &crate::btf_linkage::hidden_functions(file));
    crate::btf_linkage::type_typeless_vars(&mut btf);
    Ok(Some(btf))
}

/// Sanitizes the object's BTF and loads it. An object without BTF maps
/// loads without BTF where the kernel refuses it, as libbpf does.
pub(super) fn load(file: &object::File<'_>, obj: &mut Object) -> Result<Option<LoadedBtf>> {
    let needs_btf = obj.maps.values().any(|m| matches!(m, aya_obj::Map::Btf(_)));
    let Some(btf) = sanitize(file, obj)? else {
        return Ok(None);
    };
    match sys::btf_load(&btf, &mut []) {
        Ok(fd) => Ok(Some(LoadedBtf { fd, bytes: btf })),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(Error::from_syscall(
            "loading the object's BTF",
            SyscallError::new("bpf(BPF_BTF_LOAD)", e),
            CAP_BPF_HINT,
            |_, source| Error::Btf(source.to_string()),
        )),
        Err(e) => {
            let mut log = vec![0u8; 64 << 10];
            let _ = sys::btf_load(&btf, &mut log);
            let log = VerifierLog::new(&log, false);
            if needs_btf {
                Err(Error::Btf(format!(
                    "the kernel refused it ({e}); BTF-defined maps need it:\n{log}"
                )))
            } else {
                log::warn!("the kernel refused the object's BTF ({e}); loading without it");
                Ok(None)
            }
        }
    }
}

/// The BTF id of the `bpf_throw` kfunc (BPF exceptions, Linux 6.7+), if
/// the kernel has it.
pub(crate) fn bpf_throw_id() -> Option<u32> {
    kernel_function_id("bpf_throw")
}

/// The BTF id of kernel function `name`, if the kernel has it.
pub(crate) fn kernel_function_id(name: &str) -> Option<u32> {
    kernel_btf()
        .ok()?
        .id_by_type_name_kind(name, BtfKind::Func)
        .ok()
}

/// The kernel's BTF, parsed at most once per process, and only for objects
/// that need it.
pub(crate) fn kernel_btf() -> Result<&'static Btf> {
    static KERNEL_BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    KERNEL_BTF
        .get_or_init(|| Btf::from_sys_fs().map_err(|e| chain(&e)))
        .as_ref()
        .map_err(|e| Error::KernelBtf(e.clone()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{parse::parse, test_objects};

    #[test]
    fn the_objects_btf_is_sanitized_for_this_kernel() {
        let object = test_objects::bytes("loader_stages");
        let mut parsed = parse(object.bytes()).unwrap();
        let bytes = sanitize(&parsed.file, &mut parsed.obj)
            .unwrap()
            .expect("clang emits BTF");
        // What the kernel gets still parses, and still names the maps'
        // value types and the data sections.
        let btf = crate::btf::Btf::parse(&bytes).unwrap();
        for name in [".data", ".rodata", ".bss", "classify", "bump"] {
            assert!(btf.by_name(name).next().is_some(), "{name} is gone");
        }
    }

    #[test]
    fn kernel_functions_are_found_by_name() {
        let kernel = kernel_btf().unwrap();
        let id = kernel_function_id("bpf_iter_num_new").expect("the host has kfuncs");
        assert_eq!(
            kernel
                .id_by_type_name_kind("bpf_iter_num_new", BtfKind::Func)
                .unwrap(),
            id
        );
        assert_eq!(kernel_function_id("iu_no_such_kfunc"), None);
    }
}
