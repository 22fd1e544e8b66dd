//! Mutated objects loaded for real (issue #17, item 2): thousands of
//! copies of built objects (Rust examples and clang-built C objects), each
//! with one mutation that knows the ELF layout (a truncation, bit flips, a
//! section header's size changed, a relocation's offset or symbol changed,
//! a BTF header or type field changed), go through `Ebpf::load` to the
//! kernel. Each one loads or fails with an `iu::Error`; none panics, none
//! takes longer than the per-object bound, and nothing stays loaded.
//! (`iu/tests/malformed.rs` does the same up to the kernel call, with the
//! crash classes found there.)
//!
//! 6,000 objects on the host (about 16 s), 300 in each guest;
//! `IU_KERNEL_MUTATIONS` and `IU_MUTATION_SEED` run other series.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::mpsc,
    time::{Duration, Instant},
};

use object::{Object, ObjectSection, SectionKind};

/// No load may take longer (a verifier run of a mutated but accepted
/// program included).
const BOUND: Duration = Duration::from_secs(10);

/// Rust examples and test programs, and C objects built with clang.
const OBJECTS: &[&str] = &[
    "hello",
    "xdp_firewall",
    "map_test",
    "tc_counter",
    "events",
    "co_re_c",
    "libbpf_sections",
];

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A value from the ones parsers get wrong: 0, 1, around the
    /// original, huge, or random.
    fn nasty(&mut self, original: u64) -> u64 {
        match self.below(7) {
            0 => 0,
            1 => 1,
            2 => original.wrapping_add(1 + self.below(64) as u64),
            3 => original.wrapping_sub(1 + self.below(64) as u64),
            4 => u64::from(u32::MAX),
            5 => original.wrapping_mul(2),
            _ => self.next() % (1 << (8 * (1 + self.below(4)))),
        }
    }
}

/// What the mutations aim at, from the original object's layout.
struct Layout {
    /// Offsets of the section headers (64 bytes each).
    headers: Vec<usize>,
    /// File ranges of relocation sections (entries of 16 bytes).
    relocations: Vec<(usize, usize)>,
    /// File range of `.BTF`.
    btf: Option<(usize, usize)>,
    /// File range of `.BTF.ext`.
    btf_ext: Option<(usize, usize)>,
}

fn layout(bytes: &[u8]) -> Layout {
    let file = object::File::parse(bytes).unwrap();
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let mut layout = Layout {
        headers: vec![],
        relocations: vec![],
        btf: None,
        btf_ext: None,
    };
    for section in file.sections() {
        layout.headers.push(shoff + section.index().0 * 64);
        let range = section.file_range().map(|(o, s)| (o as usize, s as usize));
        match (section.name().unwrap_or_default(), section.kind()) {
            (".BTF", _) => layout.btf = range,
            (".BTF.ext", _) => layout.btf_ext = range,
            (name, _) if name.starts_with(".rel") => {
                layout.relocations.extend(range);
            }
            (_, SectionKind::Metadata) => {}
            _ => {}
        }
    }
    layout
}

fn get(bytes: &[u8], at: usize, width: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(&bytes[at..at + width]);
    u64::from_le_bytes(buf)
}

fn put(bytes: &mut [u8], at: usize, width: usize, value: u64) {
    bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

/// Changes the `width`-byte field at `at` to a nasty value.
fn field(rng: &mut Rng, bytes: &mut [u8], at: usize, width: usize) {
    if at + width <= bytes.len() {
        let value = rng.nasty(get(bytes, at, width));
        put(bytes, at, width, value);
    }
}

/// One mutated copy and the kind of mutation.
fn mutate(rng: &mut Rng, original: &[u8], layout: &Layout) -> (Vec<u8>, &'static str) {
    let mut bytes = original.to_vec();
    let kind = match rng.below(6) {
        0 => {
            bytes.truncate(rng.below(original.len()));
            "truncation"
        }
        1 => {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            "bit flips"
        }
        2 => {
            // sh_size (offset 32), sometimes sh_offset (24) with it.
            let header = layout.headers[rng.below(layout.headers.len())];
            field(rng, &mut bytes, header + 32, 8);
            if rng.below(3) == 0 {
                field(rng, &mut bytes, header + 24, 8);
            }
            "section size"
        }
        3 if !layout.relocations.is_empty() => {
            let (start, size) = layout.relocations[rng.below(layout.relocations.len())];
            let entry = start + 16 * rng.below(size / 16);
            // r_offset, or the symbol half of r_info.
            if rng.below(3) == 0 {
                field(rng, &mut bytes, entry + 12, 4);
                "relocation symbol"
            } else {
                field(rng, &mut bytes, entry, 8);
                "relocation offset"
            }
        }
        4 if layout.btf.is_some() => {
            let (start, size) = layout.btf.unwrap();
            if rng.below(3) == 0 {
                // Header: hdr_len, type_off, type_len, str_off, str_len.
                let at = start + 4 + 4 * rng.below(5);
                field(rng, &mut bytes, at, 4);
            } else {
                // A type's name_off, info (kind, vlen) or size/type.
                let at = (start + 24 + rng.below(size.saturating_sub(24))) & !3;
                field(rng, &mut bytes, at, 4);
            }
            "BTF"
        }
        _ if layout.btf_ext.is_some() => {
            let (start, size) = layout.btf_ext.unwrap();
            let at = (start + 4 + rng.below(size.saturating_sub(4))) & !3;
            field(rng, &mut bytes, at, 4);
            "BTF.ext"
        }
        _ => {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
            "byte"
        }
    };
    (bytes, kind)
}

/// The `iu::Error` variant's name.
fn variant(error: &iu::Error) -> &'static str {
    #[allow(unreachable_patterns)] // In case the enum is non-exhaustive.
    match error {
        iu::Error::ReadObject { .. } => "ReadObject",
        iu::Error::Parse { .. } => "Parse",
        iu::Error::Btf { .. } => "Btf",
        iu::Error::KernelBtf { .. } => "KernelBtf",
        iu::Error::CustomBtf { .. } => "CustomBtf",
        iu::Error::Relocation { .. } => "Relocation",
        iu::Error::PermissionDenied { .. } => "PermissionDenied",
        iu::Error::MapCreate { .. } => "MapCreate",
        iu::Error::Verifier { .. } => "Verifier",
        iu::Error::ProgramLoad { .. } => "ProgramLoad",
        iu::Error::PanicsUnsupported { .. } => "PanicsUnsupported",
        iu::Error::PanicNotInlined { .. } => "PanicNotInlined",
        iu::Error::UndefinedFunction { .. } => "UndefinedFunction",
        iu::Error::TailCallTypeMismatch { .. } => "TailCallTypeMismatch",
        iu::Error::LoopBudgetUnsupported { .. } => "LoopBudgetUnsupported",
        iu::Error::UnknownProgram { .. } => "UnknownProgram",
        iu::Error::UnknownMap { .. } => "UnknownMap",
        iu::Error::UnknownGlobal { .. } => "UnknownGlobal",
        iu::Error::GlobalSize { .. } => "GlobalSize",
        iu::Error::WrongMapType { .. } => "WrongMapType",
        iu::Error::MapSize { .. } => "MapSize",
        iu::Error::MapOp { .. } => "MapOp",
        iu::Error::ProducerBusy { .. } => "ProducerBusy",
        iu::Error::RecordTooLarge { .. } => "RecordTooLarge",
        iu::Error::NoInnerTemplate { .. } => "NoInnerTemplate",
        iu::Error::InnerMapMismatch { .. } => "InnerMapMismatch",
        iu::Error::PinMismatch { .. } => "PinMismatch",
        iu::Error::WrongProgramType { .. } => "WrongProgramType",
        iu::Error::UnsupportedProgram { .. } => "UnsupportedProgram",
        iu::Error::NoAttachTarget { .. } => "NoAttachTarget",
        iu::Error::UnknownTracePoint { .. } => "UnknownTracePoint",
        iu::Error::Attach { .. } => "Attach",
        iu::Error::MissingFeature { .. } => "MissingFeature",
        iu::Error::UnknownKernelFunction { .. } => "UnknownKernelFunction",
        iu::Error::UnknownBtfTracepoint { .. } => "UnknownBtfTracepoint",
        iu::Error::UnknownSymbol { .. } => "UnknownSymbol",
        iu::Error::Tracefs { .. } => "Tracefs",
        iu::Error::Io { .. } => "Io",
        iu::Error::CoreRelocation { .. } => "CoreRelocation",
        iu::Error::CoreRecord { .. } => "CoreRecord",
        _ => "other",
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn mutated_objects_load_or_fail_with_a_typed_error() {
    let seed = std::env::var("IU_MUTATION_SEED").map_or(17, |s| s.parse().unwrap());
    let total: usize = std::env::var("IU_KERNEL_MUTATIONS").map_or(
        if std::env::var_os("IU_VM_TIER").is_some() {
            300
        } else {
            6000
        },
        |s| s.parse().unwrap(),
    );
    let programs_before = iu::programs::loaded().unwrap().len();
    // A worker loads; this thread enforces the time bound.
    let (jobs, job) = mpsc::channel::<Vec<u8>>();
    let (results, result) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        for bytes in job {
            let began = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                iu::Ebpf::load(&bytes).map(|ebpf| ebpf.programs().count())
            }));
            if results.send((outcome, began.elapsed())).is_err() {
                return;
            }
        }
    });
    let mut rng = Rng(0x1u64 << 62 | seed);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut failures, mut slowest, mut caught) = (vec![], Duration::ZERO, 0);
    let fds = open_fds();
    let start = Instant::now();
    let originals: Vec<_> = OBJECTS
        .iter()
        .map(|name| {
            let bytes = std::fs::read(iu::object_dir().join(name)).unwrap();
            let layout = layout(&bytes);
            (name, bytes, layout)
        })
        .collect();
    for case in 0..total {
        let (name, original, layout) = &originals[case % originals.len()];
        let (bytes, kind) = mutate(&mut rng, original, layout);
        *kinds.entry(kind).or_default() += 1;
        jobs.send(bytes).unwrap();
        let Ok((outcome, took)) = result.recv_timeout(BOUND) else {
            panic!("case {case} ({name}, {kind}) did not finish within {BOUND:?}");
        };
        slowest = slowest.max(took);
        match outcome {
            Err(_) => failures.push(format!("case {case} ({name}, {kind}): panicked")),
            Ok(Ok(_)) => *outcomes.entry("loaded".to_owned()).or_default() += 1,
            Ok(Err(e)) => {
                if e.to_string().contains("panicked") {
                    caught += 1;
                }
                *outcomes.entry(variant(&e).to_owned()).or_default() += 1;
            }
        }
    }
    drop(jobs);
    worker.join().unwrap();
    eprintln!(
        "{total} mutated objects in {:.1} s (slowest {slowest:?}); mutations {kinds:?}; outcomes {outcomes:?}; {caught} refused by a caught parser panic",
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Most mutations break something; some leave a loadable object.
    assert!(outcomes.len() > 3, "{outcomes:?}");
    assert_eq!(open_fds(), fds, "descriptors leaked");
    // Other tests of this binary do not load programs; allow for other
    // processes' by checking that ours are not among them.
    let left = iu::programs::loaded().unwrap().len();
    assert!(
        left <= programs_before,
        "{} programs more than before",
        left - programs_before
    );
}
