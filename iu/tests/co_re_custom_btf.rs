//! `EbpfLoader::kernel_btf`: CO-RE relocations resolved against a BTF file
//! instead of the running kernel's (libbpf's `btf_custom_path`). The file
//! is made here: a `task_struct` as kernels before 5.14 had it (`long
//! state`, no `__state`), with `pid` and `tgid` swapped so that the values
//! the program reads show which BTF placed them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{EbpfLoader, Error, btf::Btf};

/// A minimal raw BTF encoder: just the kinds this file needs.
#[derive(Default)]
struct BtfWriter {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl BtfWriter {
    fn new() -> Self {
        Self {
            strings: vec![0],
            next_id: 1,
            ..Default::default()
        }
    }

    fn string(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn push(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let name = self.string(name);
        let encoding = u32::from(signed);
        self.push(&[name, 1 << 24, size, (encoding << 24) | (size * 8)])
    }

    fn ptr(&mut self, to: u32) -> u32 {
        self.push(&[0, 2 << 24, to])
    }

    fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.push(&[0, 3 << 24, 0, elem, index, n])
    }

    /// A struct of `(name, type, byte offset)` members.
    fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let name = self.string(name);
        let mut words = vec![name, (4 << 24) | members.len() as u32, size];
        for &(m, ty, off) in members {
            let m = self.string(m);
            words.extend([m, ty, off * 8]);
        }
        self.push(&words)
    }

    fn enumeration(&mut self, name: &str, values: &[(&str, u32)]) -> u32 {
        let name = self.string(name);
        let mut words = vec![name, (6 << 24) | values.len() as u32, 4];
        for &(v, value) in values {
            let v = self.string(v);
            words.extend([v, value]);
        }
        self.push(&words)
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for word in [
            24,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Byte offset of `task_struct.<field>` in the running kernel.
fn offset(btf: &Btf, field: &str) -> u32 {
    let id = btf
        .by_name("task_struct")
        .find(|&id| btf.get(id).is_some_and(|t| t.members.len() > 10))
        .unwrap();
    let member = btf
        .get(id)
        .unwrap()
        .members
        .iter()
        .find(|m| m.name == field);
    member.unwrap().bit_offset / 8
}

/// The running kernel's `task_struct` layout, but `state` (a `long`) where
/// `__state` is and `pid`/`tgid` swapped.
fn old_task_struct_btf() -> Vec<u8> {
    let kernel = Btf::from_file("/sys/kernel/btf/vmlinux").unwrap();
    let mut w = BtfWriter::new();
    let int = w.int("int", 4, true);
    let long = w.int("long", 8, true);
    let char_ = w.int("char", 1, false);
    let index = w.int("unsigned int", 4, false);
    // `task_struct` is the next id; its pointer the one after.
    let task = w.next_id;
    let parent = task + 1;
    let comm = task + 2;
    w.structure(
        "task_struct",
        offset(&kernel, "comm") + 64,
        &[
            ("state", long, offset(&kernel, "__state")),
            ("pid", int, offset(&kernel, "tgid")),
            ("tgid", int, offset(&kernel, "pid")),
            ("real_parent", parent, offset(&kernel, "real_parent")),
            ("comm", comm, offset(&kernel, "comm")),
        ],
    );
    assert_eq!(w.ptr(task), parent);
    assert_eq!(w.array(char_, index, 16), comm);
    w.enumeration("pid_type", &[("PIDTYPE_PID", 0), ("PIDTYPE_TGID", 1)]);
    w.bytes()
}

#[test]
fn relocations_resolve_against_a_given_btf_file_with_the_old_field_name() {
    let path = std::env::temp_dir().join(format!("iu-old-task-{}.btf", std::process::id()));
    std::fs::write(&path, old_task_struct_btf()).unwrap();
    let ebpf = EbpfLoader::new()
        .kernel_btf(&path)
        .load_file(iu::object_dir().join("co_re"))
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let seen = ebpf.array::<u64>("SEEN").unwrap();
    let tid = nix::unistd::gettid().as_raw() as u64;
    seen.set(0, &tid).unwrap();
    let link = ebpf.tracepoint("co_re").unwrap().attach().unwrap();
    nix::unistd::getppid();
    drop(link);
    assert_eq!(seen.get(11).unwrap(), 1, "the program ran once");
    // The file's `pid` is the kernel's `tgid`, and the other way round.
    assert_eq!(
        seen.get(1).unwrap(),
        u64::from(std::process::id()),
        "pid at the file's offset"
    );
    assert_eq!(seen.get(2).unwrap(), tid, "tgid at the file's offset");
    assert_eq!(seen.get(5).unwrap(), 0, "the file has no `__state`");
    // Both reads take the old name: 8 bytes where `__state` is, whose low
    // half is TASK_RUNNING (0).
    let old = seen.get(10).unwrap();
    assert_eq!(old & 0xffff_ffff, 0, "state through task_struct___old");
    assert_eq!(
        seen.get(4).unwrap(),
        old,
        "the `state` branch is the live one"
    );
    assert_eq!(seen.get(9).unwrap(), 1, "PIDTYPE_TGID from the file");
}

#[test]
fn the_same_object_without_the_file_reads_the_new_name() {
    let ebpf = EbpfLoader::new()
        .load_file(iu::object_dir().join("co_re"))
        .unwrap();
    let seen = ebpf.array::<u64>("SEEN").unwrap();
    let tid = nix::unistd::gettid().as_raw() as u64;
    seen.set(0, &tid).unwrap();
    let link = ebpf.tracepoint("co_re").unwrap().attach().unwrap();
    nix::unistd::getppid();
    drop(link);
    assert_eq!(seen.get(1).unwrap(), tid);
    assert_eq!(seen.get(5).unwrap(), 1, "`__state` exists on this kernel");
    assert_eq!(seen.get(10).unwrap(), 7, "the `state` branch is dead");
}

#[test]
fn an_unreadable_btf_file_is_a_typed_error() {
    let path = std::env::temp_dir().join(format!("iu-not-btf-{}.btf", std::process::id()));
    std::fs::write(&path, b"not BTF").unwrap();
    let result = EbpfLoader::new()
        .kernel_btf(&path)
        .load_file(iu::object_dir().join("co_re"));
    std::fs::remove_file(&path).unwrap();
    match result {
        Err(Error::CustomBtf { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(!reason.is_empty());
        }
        Err(e) => panic!("expected CustomBtf, got {e}"),
        Ok(_) => panic!("loaded with a file that is not BTF"),
    }
}
