//! Errors. Each one names the thing that failed, what the kernel said, and
//! what to do about it.

use std::{fmt, io, path::PathBuf};

use crate::{sys::SyscallError, verifier::VerifierLog};

/// What `iu` returns when something fails.
///
/// `Debug` prints the same message as `Display`, so that `?` out of a
/// `main` returning `Result<(), Box<dyn Error>>` shows what went wrong and
/// what to do (with a verifier log shortened to its end), not a dump of
/// the fields: the whole log stays available in the variant.
///
/// ```
/// let err = iu::Ebpf::load(b"not an ELF file").unwrap_err();
/// assert_eq!(format!("{err:?}"), err.to_string());
/// ```
#[derive(thiserror::Error)]
pub enum Error {
    /// The object file could not be read.
    #[error("cannot read BPF object {path}: {source}")]
    ReadObject {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// The bytes are not a valid BPF ELF object.
    #[error("invalid BPF object: {0}")]
    Parse(String),

    /// The object's BTF is malformed or the kernel refused it.
    #[error("the object's BTF is invalid: {0}")]
    Btf(String),

    /// The kernel's BTF (`/sys/kernel/btf/vmlinux`) is missing or unreadable.
    #[error(
        "cannot read the kernel's BTF at /sys/kernel/btf/vmlinux: {0}; the kernel needs CONFIG_DEBUG_INFO_BTF for CO-RE programs"
    )]
    KernelBtf(String),

    /// The BTF file given to `EbpfLoader::kernel_btf` cannot be read or
    /// parsed.
    #[error(
        "cannot use {} as the kernel's BTF for CO-RE: {reason}; give a raw BTF file, as /sys/kernel/btf/vmlinux or the files BTFHub ships",
        path.display()
    )]
    CustomBtf {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Relocating maps, calls or CO-RE accesses failed.
    #[error("relocation failed: {0}")]
    Relocation(String),

    /// The operation needs privileges the process lacks.
    #[error("{operation}: permission denied ({source}). {hint}")]
    PermissionDenied {
        /// What was attempted, naming the program or map.
        operation: String,
        /// The failing call.
        source: SyscallError,
        /// What to do: the capability to add, or why root was refused.
        hint: &'static str,
    },

    /// Creating a map failed.
    #[error("creating map `{name}` failed: {source}")]
    MapCreate {
        /// The map's name in the object.
        name: String,
        /// The failing call.
        source: SyscallError,
    },

    /// The verifier refused a program. The log says why.
    #[error("the verifier rejected program `{name}` ({errno}):\n{log}")]
    Verifier {
        /// The program's name.
        name: String,
        /// The errno `BPF_PROG_LOAD` returned, for example `EACCES`.
        errno: String,
        /// The verifier's log, with the Rust source line of the failure.
        log: VerifierLog,
    },

    /// Loading a program failed without a verifier log.
    #[error("loading program `{name}` failed: {source}")]
    ProgramLoad {
        /// The program's name.
        name: String,
        /// The failing call.
        source: SyscallError,
    },

    /// The program can panic inside a function the compiler did not inline
    /// into it, and the running kernel has no BPF exceptions (`bpf_throw`,
    /// Linux 6.7+) to abort it from there. (A panic in the program's own
    /// frame aborts on every kernel.)
    #[error(
        "program `{program}` can panic inside a function that the compiler did not inline into the program, and this kernel has no BPF exceptions (the bpf_throw kfunc, Linux 6.7+) to abort it from there (a panic in the program's own code returns its `on_panic` value on any kernel); mark that function `#[inline(always)]`, or use a checked operation (`get`, `checked_*`, `if let`) at:{}",
        sites.iter().map(|s| format!("\n    {s}")).collect::<String>()
    )]
    PanicsUnsupported {
        /// The program.
        program: String,
        /// Where a called function calls into a panic path.
        sites: Vec<crate::SourceLine>,
    },

    /// The program can panic inside a function the compiler did not inline
    /// into it, and the kernel does not allow BPF exceptions (`bpf_throw`)
    /// in this program type (it allows them in XDP, tc, syscall and some
    /// others only).
    #[error(
        "program `{program}` ({section}) can panic inside a function that the compiler did not inline into the program, and the kernel does not allow BPF exceptions (bpf_throw) in this program type, so the panic cannot abort it from there (a panic in the program's own code returns its `on_panic` value in every program type); mark that function `#[inline(always)]`, or use a checked operation (`get`, `checked_*`, `if let`) at:{}",
        sites.iter().map(|s| format!("\n    {s}")).collect::<String>()
    )]
    PanicNotInlined {
        /// The program.
        program: String,
        /// Its ELF section, which names the program type.
        section: String,
        /// Where a called function calls into a panic path.
        sites: Vec<crate::SourceLine>,
    },

    /// A C object's `__kconfig` extern has no value on this kernel, or its
    /// value does not fit the extern's type.
    #[error(
        "the object needs the kernel configuration value `{name}` (a `__kconfig` extern): {reason}"
    )]
    KernelConfig {
        /// The extern (`CONFIG_...` or `LINUX_...`).
        name: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The object calls a function it does not define: a library routine
    /// that the compiler emitted and BPF has no implementation of.
    #[error(
        "the object calls `{function}`, which neither it nor the running kernel (as a kfunc or `__ksym`) defines: BPF programs cannot call library routines (iu-ebpf provides only memcpy, memmove, memset, memcmp and bcmp); rewrite the code that needs it, or declare a kfunc that may be missing `__weak` and test it with `bpf_ksym_exists`, at:{}",
        if sites.is_empty() { "\n    (no line info: build with debug info, as `cargo xtask build` does)".to_owned() } else { sites.iter().map(|s| format!("\n    {s}")).collect::<String>() }
    )]
    UndefinedFunction {
        /// The routine's name.
        function: String,
        /// The source lines of the calls.
        sites: Vec<crate::SourceLine>,
    },

    /// A program array holds programs of one type, set by the first
    /// program that tail calls through it or is put in it; another type
    /// was used with it.
    #[error(
        "program `{program}` is {} program and cannot use program array `{map}`: it holds {owner_type} programs (`{owner}` made it so), and a tail call stays within one program type; give each program type its own `ProgramArray`",
        with_article(program_type)
    )]
    TailCallTypeMismatch {
        /// The program array.
        map: String,
        /// The program refused.
        program: String,
        /// Its type.
        program_type: &'static str,
        /// The program whose type the array holds.
        owner: String,
        /// That type.
        owner_type: &'static str,
    },

    /// The program spends the kernel's loop budget (`may_goto`, Linux
    /// 6.9+), and the running kernel has none.
    #[error(
        "program `{program}` runs a budgeted loop (`iu_ebpf::loops::while_budgeted`), and this kernel has no loop budget (`may_goto`, Linux 6.9+); give the loop an explicit bound (`loops::while_bounded`, `loops::for_range`) at:{}",
        sites.iter().map(|s| format!("\n    {s}")).collect::<String>()
    )]
    LoopBudgetUnsupported {
        /// The program.
        program: String,
        /// The lines of the budgeted loops.
        sites: Vec<crate::SourceLine>,
    },

    /// The object has no program with that name.
    #[error("no program named `{name}` in the object; it has: {}", available.join(", "))]
    UnknownProgram {
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: Vec<String>,
    },

    /// The object has no map with that name.
    #[error(
        "no map named `{name}` in the object; {}",
        if available.is_empty() { "it has no maps".to_owned() } else { format!("it has: {}", available.join(", ")) }
    )]
    UnknownMap {
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: Vec<String>,
    },

    /// [`crate::EbpfLoader::set_global`] named a variable the object does
    /// not have.
    #[error(
        "no global variable named `{name}` in the object (set with `set_global`); it has: {}",
        if available.is_empty() { "none".to_owned() } else { available.iter().map(|(n, s)| format!("{n} ({s} bytes)")).collect::<Vec<_>>().join(", ") }
    )]
    UnknownGlobal {
        /// The name asked for.
        name: String,
        /// The object's global variables and their sizes in bytes.
        available: Vec<(String, u64)>,
    },

    /// [`crate::EbpfLoader::set_global`] gave a value of another size than
    /// the variable's.
    #[error(
        "global variable `{name}` is {expected} bytes, and the value given to `set_global` is {actual} bytes; pass a value of the variable's type"
    )]
    GlobalSize {
        /// The variable.
        name: String,
        /// Its size in the object.
        expected: u64,
        /// The size of the value given.
        actual: usize,
    },

    /// The map exists but is of another type than the handle asked for.
    #[error(
        "map `{name}` is {}, not {}; use the handle for its type (`Ebpf::maps()` lists each map's type)",
        with_article(actual),
        with_article(expected)
    )]
    WrongMapType {
        /// The map's name.
        name: String,
        /// The type the handle needs.
        expected: &'static str,
        /// The map's real type.
        actual: &'static str,
    },

    /// The handle's key or value type does not have the map's size.
    #[error(
        "map `{name}` has {what} size {actual} bytes, but the handle's {what} type has {expected}; use the type the program declares (share it through a `*-common` crate)"
    )]
    MapSize {
        /// The map's name.
        name: String,
        /// `key` or `value`.
        what: &'static str,
        /// `size_of` the handle's type.
        expected: usize,
        /// The map's size.
        actual: usize,
    },

    /// A map operation failed.
    #[error("{op} on map `{name}` failed: {source}")]
    MapOp {
        /// The map's name.
        name: String,
        /// The operation, for example `insert`.
        op: &'static str,
        /// The failing call.
        source: SyscallError,
    },

    /// A second producer was opened on a user ring buffer in this
    /// process; the kernel's format allows one.
    #[error(
        "user ring buffer `{name}` already has a producer in this process: share that `UserRingBuf` (behind a mutex or a channel) instead of opening another"
    )]
    ProducerBusy {
        /// The map's name.
        name: String,
    },

    /// A record does not fit in a user ring buffer.
    #[error(
        "a {len}-byte record does not fit in user ring buffer `{name}` (at most {max} bytes): make the buffer larger in the program"
    )]
    RecordTooLarge {
        /// The map's name.
        name: String,
        /// The record's size.
        len: usize,
        /// The largest record the buffer holds.
        max: usize,
    },

    /// A map of maps was opened from a map the loader did not create from
    /// an object, so iu does not know its inner maps' definition.
    #[error(
        "map `{name}` has no inner map template: open maps of maps from the object that declares them (`ebpf.array_of_maps(\"{name}\")`)"
    )]
    NoInnerTemplate {
        /// The map's name.
        name: String,
    },

    /// An inner map does not have the shape the map of maps' template
    /// declares.
    #[error(
        "map `{inner}` cannot go into the map of maps `{name}`: {detail}; create inner maps with `create_inner`, or change the inner type in the program"
    )]
    InnerMapMismatch {
        /// The map of maps.
        name: String,
        /// The map that was to be inserted.
        inner: String,
        /// What differs.
        detail: String,
    },

    /// A socket map refused a socket: its kind or state is not one the
    /// kernel can put in a socket map.
    #[error("socket map `{name}` refused {socket}: {source}; {fix}")]
    SocketRefused {
        /// The map's name.
        name: String,
        /// What the socket is, for example `an unconnected TCP socket (state CLOSE)`.
        socket: String,
        /// What to insert instead.
        fix: &'static str,
        /// The failing call.
        source: SyscallError,
    },

    /// A program was attached to a socket map with an attach type its
    /// program type cannot take, or twice.
    #[error("attaching `{program}` to socket map `{map}` failed: {source}; {fix}")]
    SockMapAttach {
        /// The program.
        program: String,
        /// The map.
        map: String,
        /// What to do.
        fix: &'static str,
        /// The failing call.
        source: SyscallError,
    },

    /// A pinned map exists but does not match the object's definition.
    #[error(
        "the map pinned at {path} does not match `{name}` in the object ({detail}); remove the pin (`rm {path}`) or load the matching object"
    )]
    PinMismatch {
        /// The map's name.
        name: String,
        /// The pin's path.
        path: PathBuf,
        /// What differs.
        detail: String,
    },

    /// The program exists but is of another type than the one asked for.
    #[error("program `{name}` (section `{actual}`) is not {expected}")]
    WrongProgramType {
        /// The program's name.
        name: String,
        /// What was asked for, with its article: `an XDP program`.
        expected: &'static str,
        /// The program's section, which names its type.
        actual: String,
    },

    /// The object uses a program type this version of iu cannot load.
    #[error("program `{name}` has unsupported section `{section}`: {reason}")]
    UnsupportedProgram {
        /// The program's name.
        name: String,
        /// Its ELF section.
        section: String,
        /// Why it is not supported.
        reason: &'static str,
    },

    /// A program's section name is not one libbpf or iu knows, so its
    /// program type is unknown.
    #[error(
        "program `{program}` is in section `{section}`, which is no program section libbpf or iu knows; the nearest known one is `{nearest}` (README, \"What iu supports\", lists the sections)"
    )]
    UnknownSection {
        /// The program's name.
        program: String,
        /// Its ELF section.
        section: String,
        /// The known section name nearest to it.
        nearest: String,
    },

    /// A slot of a map's initial values (libbpf's `.values`: a program
    /// array's programs, a map of maps' inner maps) could not be filled.
    #[error("map `{map}`, slot {index}: cannot put `{target}` in: {problem}")]
    InitialValue {
        /// The map.
        map: String,
        /// The slot.
        index: u32,
        /// The program or map the object puts there.
        target: String,
        /// What went wrong and what to do.
        problem: String,
    },

    /// The program's section does not say where to attach it.
    #[error(
        "program `{0}` does not name its attach target in its section; pass the target to the attach call"
    )]
    NoAttachTarget(String),

    /// The tracepoint does not exist in the running kernel.
    #[error(
        "tracepoint `{category}/{name}` does not exist in this kernel (no {path}); list them with `ls /sys/kernel/tracing/events/{category}`"
    )]
    UnknownTracePoint {
        /// The tracepoint's category.
        category: String,
        /// The tracepoint's name.
        name: String,
        /// The file that was looked for.
        path: PathBuf,
    },

    /// Attaching a program failed.
    #[error("attaching `{program}` to {target} failed: {source}{}", hint.map(|h| format!(". {h}")).unwrap_or_default())]
    Attach {
        /// The program's name.
        program: String,
        /// The hook, for example `tracepoint syscalls/sys_enter_dup`.
        target: String,
        /// The failing call.
        source: SyscallError,
        /// What the error most likely means.
        hint: Option<&'static str>,
    },

    /// A struct_ops fills a kernel struct the running kernel does not
    /// have, or cannot take from BPF.
    #[error(
        "struct_ops `{name}` fills `struct {kernel_struct}`, which this kernel does not offer to BPF (no `struct {kernel_struct}` and `struct bpf_struct_ops_{kernel_struct}` in /sys/kernel/btf/vmlinux; iu does not look in kernel modules' BTF); check the kernel version and config (TCP congestion control: Linux 5.6 with CONFIG_BPF_JIT)"
    )]
    StructOpsUnknownStruct {
        /// The struct_ops' name.
        name: String,
        /// The kernel struct (`tcp_congestion_ops`).
        kernel_struct: String,
    },

    /// A struct_ops program fills a member the running kernel's struct does
    /// not have (or that is not a function pointer).
    #[error(
        "struct_ops `{name}`: program `{program}` fills member `{member}` of `struct {kernel_struct}`, which this kernel's struct has no callback for; its callbacks are: {}",
        available.join(", ")
    )]
    StructOpsUnknownMember {
        /// The struct_ops' name.
        name: String,
        /// The kernel struct.
        kernel_struct: String,
        /// The member asked for.
        member: String,
        /// The program meant for it.
        program: String,
        /// The struct's function-pointer members on this kernel.
        available: Vec<String>,
    },

    /// A member of a C object's struct_ops variable (libbpf's
    /// `.struct_ops` sections) cannot be put in the kernel's struct: the
    /// kernel's struct lacks a member set to non-zero, the two disagree
    /// on its kind or size, it is a bitfield, or a function pointer
    /// names no struct_ops program. libbpf refuses the same objects.
    #[error("struct_ops `{name}`: member `{member}` of `struct {kernel_struct}`: {problem}")]
    StructOpsMember {
        /// The struct_ops' name (the C variable).
        name: String,
        /// The kernel struct.
        kernel_struct: String,
        /// The member.
        member: String,
        /// What is wrong and what to do.
        problem: String,
    },

    /// Registering a struct_ops failed.
    #[error("registering struct_ops `{name}` failed: {source}{}", hint.map(|h| format!(". {h}")).unwrap_or_default())]
    StructOpsRegister {
        /// The struct_ops' name.
        name: String,
        /// The failing call.
        source: SyscallError,
        /// What the error most likely means.
        hint: Option<&'static str>,
    },

    /// The object has no struct_ops with that name.
    #[error(
        "no struct_ops named `{name}` in the object; {}",
        if available.is_empty() { "it has none (`#[struct_ops(name = \"...\")]` on an impl makes one)".to_owned() } else { format!("it has: {}", available.join(", ")) }
    )]
    UnknownStructOps {
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: Vec<String>,
    },

    /// The running kernel lacks a feature the operation needs.
    #[error(
        "{feature}: not available in this kernel ({detail}); run it in the VM tier (`cargo xtask run --vm`, `cargo xtask test --vm`)"
    )]
    MissingFeature {
        /// The feature, for example `kprobes (kernel built without CONFIG_KPROBES)`.
        feature: &'static str,
        /// What was looked for.
        detail: String,
    },

    /// A BTF-attached program names a kernel function the kernel's BTF
    /// does not have.
    #[error(
        "program `{program}` attaches to kernel function `{function}`, which is not in this kernel's BTF (/sys/kernel/btf/vmlinux); check the name, or whether the kernel has the hook"
    )]
    UnknownKernelFunction {
        /// The program.
        program: String,
        /// The function looked for.
        function: String,
    },

    /// A `tp_btf` program names a tracepoint the kernel's BTF has no
    /// `btf_trace_<name>` type for.
    #[error(
        "program `{program}` attaches to BTF tracepoint `{tracepoint}`, which this kernel does not have (no `btf_trace_{tracepoint}` in /sys/kernel/btf/vmlinux); list them with `bpftool btf dump file /sys/kernel/btf/vmlinux | grep btf_trace_`"
    )]
    UnknownBtfTracepoint {
        /// The program.
        program: String,
        /// The tracepoint looked for (`sched_switch`).
        tracepoint: String,
    },

    /// An freplace program has no usable target: none was given, the
    /// target has no BTF, or no function of that name.
    #[error("freplace program `{program}`: {problem}")]
    ExtensionTarget {
        /// The freplace program.
        program: String,
        /// What is wrong and what to do.
        problem: String,
    },

    /// A uprobe's symbol is not in the binary.
    #[error("symbol `{symbol}` is not defined in {binary}; list its symbols with `nm -D {binary}`")]
    UnknownSymbol {
        /// The symbol asked for.
        symbol: String,
        /// The binary searched.
        binary: PathBuf,
    },

    /// A USDT probe is not in the binary's `.note.stapsdt` notes.
    #[error(
        "USDT probe `{probe}` is not in {binary}; it has {}; list them with `readelf -n {binary}`",
        if available.is_empty() { "no USDT probes".to_owned() } else { available.join(", ") }
    )]
    UnknownUsdtProbe {
        /// `provider:name`.
        probe: String,
        /// The binary searched.
        binary: PathBuf,
        /// The probes it has (`provider:name`).
        available: Vec<String>,
    },

    /// A site of a USDT probe has an argument spec (or an address) iu
    /// cannot use.
    #[error(
        "USDT probe `{probe}` in {binary}, site at {address:#x}: argument spec `{spec}`: {reason}"
    )]
    BadUsdtSpec {
        /// `provider:name`.
        probe: String,
        /// The binary.
        binary: PathBuf,
        /// The site's address.
        address: u64,
        /// The whole spec, as the note writes it.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The object's USDT spec map has no room for another attachment.
    #[error(
        "program `{program}`: attaching needs {needed} more USDT argument specs, but the object's {max} are in use; drop some USDT links first"
    )]
    UsdtSpecsFull {
        /// The program being attached.
        program: String,
        /// Distinct specs the probe's sites need.
        needed: usize,
        /// Specs an object holds.
        max: usize,
    },

    /// tracefs is not mounted and could not be mounted.
    #[error(
        "tracefs is not available: {0}; mount it with `mount -t tracefs tracefs /sys/kernel/tracing` (needs CAP_SYS_ADMIN)"
    )]
    Tracefs(String),

    // --- Inspecting what is loaded (issue #16) ---
    /// No program, map, link or BTF object has that id (it was never
    /// loaded, or was freed since).
    #[error(
        "no {kind} with id {id} is loaded: list the ids with `iu-loader {kind} list` (or `bpftool {kind} list`)"
    )]
    UnknownId {
        /// `prog`, `map`, `link` or `btf`.
        kind: &'static str,
        /// The id asked for.
        id: u32,
    },

    /// A key or value given for a loaded map has the wrong size.
    #[error(
        "map {map} has {what} size {expected} bytes, but the {what} given is {actual} bytes: give a {what} of the map's type (its BTF type or size is in `iu-loader map show`)"
    )]
    EntrySize {
        /// The map (id and name).
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// The map's size.
        expected: usize,
        /// The size given.
        actual: usize,
    },

    /// A bpffs path holds another kind of object than the one asked for.
    #[error("{path} holds {actual}, not a {expected}: give the pin of a {expected}")]
    WrongPinKind {
        /// The pin.
        path: std::path::PathBuf,
        /// `program` or `map`.
        expected: &'static str,
        /// What the pin holds (`a map`, `a link`, `no BPF object`).
        actual: &'static str,
    },

    // --- AF_XDP sockets (issue #15) ---
    /// A step of opening or using an AF_XDP socket failed.
    #[error("AF_XDP socket on {interface} queue {queue}: {source}; {hint}")]
    Xsk {
        /// The interface.
        interface: String,
        /// The queue.
        queue: u32,
        /// The step (`bind`, `setsockopt(XDP_UMEM_REG)`, ...).
        op: &'static str,
        /// What the kernel said.
        source: SyscallError,
        /// What to do.
        hint: &'static str,
    },

    /// `iu::xsk::XskConfig` has sizes the kernel would refuse.
    #[error("AF_XDP socket configuration: {reason}")]
    XskConfig {
        /// Which size, and what it may be.
        reason: String,
    },

    /// The kernel handed an AF_XDP socket a descriptor outside the frames
    /// it holds; the descriptor was skipped and its frame not read.
    #[error(
        "AF_XDP socket on {interface} queue {queue}: the kernel returned a bad descriptor ({detail}); it was skipped"
    )]
    XskDescriptor {
        /// The interface.
        interface: String,
        /// The queue.
        queue: u32,
        /// The descriptor.
        detail: String,
    },

    /// A packet to send is larger than the socket's frames.
    #[error(
        "AF_XDP packet of {len} bytes does not fit a {max}-byte frame: send less, or use 4096-byte frames (`XskConfig::frame_size`)"
    )]
    XskPacketSize {
        /// The packet's length.
        len: usize,
        /// The frame size.
        max: usize,
    },

    /// Another I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: io::Error,
    },

    // --- CO-RE (issue #13) ---
    /// A program reads a kernel field or type (through `iu_ebpf::kernel`
    /// handles) that the running kernel lacks, on a path no
    /// `field_exists!`/`type_exists!` check rules out.
    #[error(
        "program `{program}` reads `{target}`, which this kernel cannot provide ({reason}); guard the read with `iu_ebpf::field_exists!` (or `type_exists!`) and handle the other kernels, or read another field{}",
        line.as_ref().map(|l| format!(", at:\n    {l}")).unwrap_or_default()
    )]
    CoreRelocation {
        /// The program.
        program: String,
        /// The type and field path (`task_struct.state`).
        target: String,
        /// Why it does not resolve (`no field `state``).
        reason: String,
        /// The Rust line of the read (boxed: keeps `Error` small).
        line: Option<Box<crate::SourceLine>>,
    },

    /// A CO-RE record cannot be resolved at all: the kernel's candidate
    /// types disagree, or the object's records are inconsistent.
    #[error("CO-RE relocation of `{target}`: {reason}")]
    CoreRecord {
        /// The type and field path.
        target: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Builds the error for a failed syscall about `what`, turning `EPERM`
    /// into [`Error::PermissionDenied`] with advice and anything else into
    /// the error `other` builds.
    pub(crate) fn from_syscall(
        what: impl Into<String>,
        source: SyscallError,
        capability_hint: &'static str,
        other: impl FnOnce(String, SyscallError) -> Error,
    ) -> Error {
        let what = what.into();
        if source.errno() == Some(libc::EPERM) {
            let hint = if crate::sys::is_root() {
                "The kernel refused it even to root: kernel lockdown or an LSM forbids it here. Run it in the VM instead (`cargo xtask run --vm`)."
            } else {
                capability_hint
            };
            Error::PermissionDenied {
                operation: what,
                source,
                hint,
            }
        } else {
            other(what, source)
        }
    }
}

/// Renders an error with its chain of sources: `a: b: c`.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    capped(out)
}

/// The longest message [`capped`] keeps. aya-obj's errors print object
/// data (a license section as a list of decimal bytes, for one), which
/// for a malformed object can be megabytes.
pub(crate) const MAX_MESSAGE: usize = 400;

/// `message`, cut to [`MAX_MESSAGE`] bytes (at a character boundary) with
/// a note of how much was left out.
pub(crate) fn capped(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let cut = message.len() - end;
        message.truncate(end);
        message.push_str(&format!("… ({cut} more bytes)"));
    }
    message
}

/// The capabilities loading programs and maps needs.
pub(crate) const CAP_BPF_HINT: &str = "Loading BPF programs and maps needs CAP_BPF (and CAP_PERFMON for tracing programs, CAP_NET_ADMIN for networking ones): run with `sudo`, or in the VM with `cargo xtask run --vm`.";

/// The capabilities attaching tracing programs needs.
pub(crate) const CAP_PERFMON_HINT: &str = "Attaching tracing programs needs CAP_PERFMON and CAP_BPF (or root): run with `sudo`, or in the VM with `cargo xtask run --vm`.";

/// Shorthand for `Result<T, iu::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `noun` with its indefinite article: "an array", "an LPM trie", "a hash
/// map".
fn with_article(noun: &str) -> String {
    let an = noun.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U'])
        || ["LPM", "LRU", "LSM", "XDP", "fentry", "fexit"]
            .iter()
            .any(|p| noun.starts_with(p));
    format!("{} {noun}", if an { "an" } else { "a" })
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_is_the_message_not_a_dump_of_the_log() {
        let mut raw = String::new();
        for i in 0..200_000 {
            raw.push_str(&format!("{i}: (b7) r0 = 0\n"));
        }
        raw.push_str("R1 invalid mem access 'scalar'\n");
        let err = Error::Verifier {
            name: "prog".to_owned(),
            errno: "EACCES".to_owned(),
            log: VerifierLog::new(raw.as_bytes(), false),
        };
        let debug = format!("{err:?}");
        assert_eq!(debug, err.to_string());
        assert!(debug.len() < 4096, "{} bytes", debug.len());
        assert!(debug.contains("R1 invalid mem access"), "{debug}");
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(format!("{boxed:?}"), debug);
    }
}
