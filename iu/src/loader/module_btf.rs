//! Kernel functions and variables that modules define: found by name in
//! the modules' split BTF (`/sys/kernel/btf/<module>`, whose type ids
//! follow the kernel's), and named to the verifier through the module's
//! BTF object (a kfunc call's `off` indexes the program's `fd_array`, a
//! `__ksym` variable's second `ld_imm64` word is the descriptor), as
//! libbpf does.

use std::{
    collections::HashMap,
    os::fd::{AsFd, OwnedFd},
    sync::OnceLock,
};

use crate::{
    btf_linkage::{records, u32_at},
    error::{CAP_BPF_HINT, Error, Result},
    sys::{self, SyscallError},
};

const BTF_KIND_VAR: u32 = 14;
const BTF_KIND_FUNC: u32 = 12;

/// Where the kernel's modules' BTF is.
const BTF_DIR: &str = "/sys/kernel/btf";

/// The functions and variables of every loaded module's BTF, by kind and
/// name: the module and the type id. Read once per process.
fn index() -> &'static HashMap<(u32, String), (String, u32)> {
    static INDEX: OnceLock<HashMap<(u32, String), (String, u32)>> = OnceLock::new();
    INDEX.get_or_init(|| read_index().unwrap_or_default())
}

fn read_index() -> Option<HashMap<(u32, String), (String, u32)>> {
    let vmlinux = std::fs::read(format!("{BTF_DIR}/vmlinux")).ok()?;
    let (base, _) = records(&vmlinux)?;
    let base_types = base.len() as u32;
    let base_strings = u32_at(&vmlinux, 20)?;
    let mut index = HashMap::new();
    for entry in std::fs::read_dir(BTF_DIR).ok()?.flatten() {
        let module = entry.file_name().to_string_lossy().into_owned();
        if module == "vmlinux" {
            continue;
        }
        let Ok(btf) = std::fs::read(entry.path()) else {
            continue;
        };
        let Some((types, str_off)) = records(&btf) else {
            continue;
        };
        for record in types
            .iter()
            .filter(|r| matches!(r.kind, BTF_KIND_FUNC | BTF_KIND_VAR))
        {
            // A split BTF's own strings follow the base's.
            let Some(name_off) = u32_at(&btf, record.at).and_then(|n| n.checked_sub(base_strings))
            else {
                continue;
            };
            let Some(name) = name_at(&btf, str_off, name_off) else {
                continue;
            };
            index
                .entry((record.kind, name))
                .or_insert_with(|| (module.clone(), base_types + record.id));
        }
    }
    Some(index)
}

fn name_at(btf: &[u8], str_off: usize, name_off: u32) -> Option<String> {
    let at = str_off.checked_add(name_off as usize)?;
    let rest = btf.get(at..)?;
    let name = &rest[..rest.iter().position(|&b| b == 0)?];
    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

/// The module and BTF id of the kernel function `name` a module defines.
pub(crate) fn function(name: &str) -> Option<(String, u32)> {
    index().get(&(BTF_KIND_FUNC, name.to_owned())).cloned()
}

/// The module and BTF id of the kernel variable `name` a module defines.
pub(super) fn variable(name: &str) -> Option<(String, u32)> {
    index().get(&(BTF_KIND_VAR, name.to_owned())).cloned()
}

/// The modules an object's externs resolved to, in the order of their
/// `fd_array` slots (slot 0 is the kernel's own).
#[derive(Debug, Default)]
pub(super) struct Modules {
    names: Vec<String>,
}

impl Modules {
    /// The `fd_array` slot of `module`, given on first use.
    pub(super) fn slot(&mut self, module: &str) -> i16 {
        let index = match self.names.iter().position(|m| m == module) {
            Some(index) => index,
            None => {
                self.names.push(module.to_owned());
                self.names.len() - 1
            }
        };
        i16::try_from(index + 1).unwrap_or(i16::MAX)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Opens each module's BTF object, in slot order.
    pub(super) fn open(&self) -> Result<Vec<OwnedFd>> {
        if self.names.is_empty() {
            return Ok(vec![]);
        }
        let mut open: HashMap<String, OwnedFd> = HashMap::new();
        let mut id = 0;
        while open.len() < self.names.len() {
            id = match sys::btf_get_next_id(id) {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => return Err(privilege("listing the kernel's BTF objects", e)),
            };
            let fd = match sys::btf_get_fd_by_id(id) {
                Ok(fd) => fd,
                // Unloaded since it was listed.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(privilege("opening a module's BTF", e)),
            };
            if let Ok((name, true)) = sys::btf_name(fd.as_fd())
                && self.names.contains(&name)
            {
                open.insert(name, fd);
            }
        }
        self.names
            .iter()
            .map(|name| {
                open.remove(name).ok_or_else(|| Error::KernelBtf(format!(
                    "module `{name}`, whose kernel functions the object calls, has no BTF object any more: was it unloaded? Load it again (`modprobe {name}`)"
                )))
            })
            .collect()
    }
}

fn privilege(what: &str, error: std::io::Error) -> Error {
    Error::from_syscall(
        what,
        SyscallError::new("bpf(BPF_BTF_GET_FD_BY_ID)", error),
        CAP_BPF_HINT,
        |_, source| Error::KernelBtf(source.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_start_after_the_kernels_own() {
        let mut modules = Modules::default();
        assert!(modules.is_empty());
        assert_eq!(modules.slot("nf_conntrack"), 1);
        assert_eq!(modules.slot("veth"), 2);
        assert_eq!(modules.slot("nf_conntrack"), 1);
    }

    #[test]
    fn names_in_split_btf_follow_the_base_strings() {
        let btf = b"abc\0kfunc\0";
        assert_eq!(name_at(btf, 0, 4).as_deref(), Some("kfunc"));
        assert_eq!(name_at(btf, 0, 3), None, "the empty name");
        assert_eq!(name_at(btf, 0, 40), None);
    }
}
