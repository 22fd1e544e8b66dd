//! Attaching programs to a cgroup v2 directory with a bpf_link, shared by
//! the cgroup program types.

use std::{
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use aya_obj::generated::bpf_attach_type;

use super::{FdLink, Program};
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// Links `program` to `cgroup` at `attach_type`; `hook` names it in errors
/// and in the link's target.
pub(crate) fn attach(
    program: &Program,
    cgroup: &Path,
    attach_type: bpf_attach_type,
    hook: &str,
) -> Result<FdLink> {
    let target = format!("{hook} on {}", cgroup.display());
    let dir = std::fs::File::open(cgroup).map_err(|e| Error::Attach {
        program: program.name.clone(),
        target: target.clone(),
        source: SyscallError::new("open", e),
        hint: Some(
            "give the directory of a cgroup v2 (under the cgroup2 mount, usually /sys/fs/cgroup)",
        ),
    })?;
    let link = sys::link_create(
        program.as_fd(),
        dir.as_raw_fd() as u32,
        attach_type as u32,
        0,
        0,
    )
    .map_err(|e| {
        let hint = matches!(e.raw_os_error(), Some(libc::EBADF | libc::EINVAL))
            .then_some("the directory must be a cgroup v2 (cgroup2 mount), not a v1 hierarchy");
        program.attach_error(
            &target,
            "bpf(BPF_LINK_CREATE)",
            e,
            "Attaching cgroup programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
            hint,
        )
    })?;
    Ok(FdLink { link, target })
}
