//! Procedural macros of iu: program attributes and `printk!`.
//!
//! Each program attribute keeps the user's safe function as it is and adds
//! the entry point the kernel calls, in the ELF section libbpf would use for
//! the same program (`tracepoint/<category>/<name>`, ...). The entry point is
//! emitted here with this crate's spans: rustc does not lint inside an
//! external macro's expansion, so the attributes and the `unsafe` block it
//! needs do not count against the program crate's `forbid(unsafe_code)`
//! (docs/safety.md, "Macros and `forbid(unsafe_code)`").
//!
//! Every program attribute also takes `on_panic = "..."`: what the program
//! returns when a panic (an index out of bounds, an `unwrap` on `None`, a
//! division by zero) aborts it through `bpf_throw`. The default acts as if
//! the program were not there: XDP `pass` (or `aborted`, `drop`), tc
//! `unspec` (or `ok`, `shot`), cgroup `allow` (or `deny`), socket filter
//! `keep` (or `drop`), LSM `allow` (or `deny`: -EPERM); tracing programs
//! return 0. User space reads the abort counts with `Ebpf::aborts`.

use proc_macro::TokenStream;

mod abi;
mod freplace;
mod kernel;
mod log;
mod map;
mod printk;
mod program;
mod sock_programs;
mod struct_ops;
mod symbol;

/// Turns a function into a tracepoint program.
///
/// The function takes a `TracePointContext<A>` whose record type `A` matches
/// the tracepoint's `format` file, and returns `()`, an integer or a
/// `Result` of them. `category` and `name` name the tracepoint; without them
/// user space must name it when attaching.
///
/// ```ignore
/// #[tracepoint(category = "syscalls", name = "sys_enter_dup")]
/// fn hello(ctx: TracePointContext<SysEnter>) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn tracepoint(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::tracepoint(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an XDP program. It takes an `XdpContext` and
/// returns an `XdpAction`. `frags = "true"` accepts multi-buffer packets
/// (section `xdp.frags`); `on_panic` is `"pass"` (the default), `"aborted"`
/// or `"drop"`.
///
/// ```ignore
/// #[xdp(on_panic = "drop")]
/// fn pass(_ctx: XdpContext) -> XdpAction {
///     XdpAction::Pass
/// }
/// ```
#[proc_macro_attribute]
pub fn xdp(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::xdp(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a kprobe program on kernel function `function`
/// (optionally at `offset`). It takes a `ProbeContext`.
///
/// ```ignore
/// #[kprobe(function = "do_sys_openat2")]
/// fn open(ctx: ProbeContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn kprobe(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::kprobe(attr.into(), item.into(), false)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a kretprobe program: it runs when kernel function
/// `function` returns; `ProbeContext::ret` is the return value.
///
/// ```ignore
/// #[kretprobe(function = "do_sys_openat2")]
/// fn opened(ctx: ProbeContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn kretprobe(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::kprobe(attr.into(), item.into(), true)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a uprobe program; user space names the binary
/// and symbol when attaching. `sleepable = "true"` makes it sleepable
/// (section `uprobe.s`, Linux 6.0+).
///
/// ```ignore
/// #[uprobe]
/// fn malloc_called(ctx: ProbeContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn uprobe(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::uprobe(attr.into(), item.into(), false)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a uretprobe program (runs when the user function
/// returns).
///
/// ```ignore
/// #[uretprobe]
/// fn malloc_returned(ctx: ProbeContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn uretprobe(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::uprobe(attr.into(), item.into(), true)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a raw tracepoint program on tracepoint `name`.
///
/// ```ignore
/// #[raw_tracepoint(name = "sys_enter")]
/// fn enter(ctx: RawTracePointContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn raw_tracepoint(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::raw_tracepoint(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a BTF tracepoint program (`tp_btf/<name>`): a
/// raw tracepoint whose arguments the verifier knows the types of, from
/// the kernel's BTF. It takes a `BtfContext`; pointer arguments come out
/// as typed kernel handles (`ctx.arg_ptr::<TaskStruct>(1)`).
///
/// ```ignore
/// // TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next, ...)
/// #[tp_btf(name = "sched_switch")]
/// fn on_switch(ctx: BtfContext) -> u32 {
///     let prev_pid = ctx.arg_ptr::<TaskStruct>(1).and_then(|t| t.pid());
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn tp_btf(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::tp_btf(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an fentry program: it runs when kernel function
/// `function` is entered, with its arguments (`BtfContext`).
/// `sleepable = "true"` (here and on `#[fexit]`, `#[fmod_ret]`, `#[lsm]`)
/// makes it sleepable (section `fentry.s/...`), for targets the kernel
/// allows to sleep.
///
/// ```ignore
/// #[fentry(function = "do_unlinkat")]
/// fn unlink(ctx: BtfContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn fentry(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::btf(attr.into(), item.into(), "fentry")
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an fexit program: it runs when kernel function
/// `function` returns, with its arguments and return value.
///
/// ```ignore
/// #[fexit(function = "do_unlinkat")]
/// fn unlinked(ctx: BtfContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn fexit(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::btf(attr.into(), item.into(), "fexit")
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an fmod_ret program: it runs before kernel
/// function `function`, with its arguments, and returns 0 to let the
/// function run or another value to skip it and return that value instead.
/// The kernel allows it only on functions open to error injection and on
/// `security_*` hooks.
///
/// ```ignore
/// #[fmod_ret(function = "bpf_modify_return_test")]
/// fn skip(ctx: BtfContext) -> i32 {
///     42
/// }
/// ```
#[proc_macro_attribute]
pub fn fmod_ret(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::btf(attr.into(), item.into(), "fmod_ret")
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a BPF LSM program on security hook `hook`. It
/// returns 0 to allow, or a negative errno to deny.
///
/// ```ignore
/// #[lsm(hook = "file_open")]
/// fn file_open(ctx: BtfContext) -> i32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn lsm(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::btf(attr.into(), item.into(), "lsm")
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a tc classifier. It takes a `TcContext` and
/// returns a `TcAction`; user space attaches it to an interface's ingress
/// or egress.
///
/// ```ignore
/// #[classifier]
/// fn count(ctx: TcContext) -> TcAction {
///     TcAction::Ok
/// }
/// ```
#[proc_macro_attribute]
pub fn classifier(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::classifier(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a cgroup socket-buffer program, run on every
/// packet the sockets of a cgroup send (`attach = "egress"`) or receive
/// (`attach = "ingress"`). It takes an `SkBuffContext` (the packet from its
/// IP header on) and returns a `CgroupAction`.
///
/// ```ignore
/// #[cgroup_skb(attach = "egress")]
/// fn allow_all(_ctx: SkBuffContext) -> CgroupAction {
///     CgroupAction::Allow
/// }
/// ```
#[proc_macro_attribute]
pub fn cgroup_skb(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::cgroup_skb(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a cgroup socket program, run when a process of
/// the cgroup creates (`attach = "sock_create"`), releases
/// (`"sock_release"`) or binds (`"post_bind4"`, `"post_bind6"`) a socket.
/// It takes a `SockContext` and returns a `CgroupAction`.
///
/// ```ignore
/// #[cgroup_sock(attach = "sock_create")]
/// fn no_raw(ctx: SockContext) -> CgroupAction {
///     if ctx.sock_type() == 3 { CgroupAction::Deny } else { CgroupAction::Allow }
/// }
/// ```
#[proc_macro_attribute]
pub fn cgroup_sock(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::cgroup_sock(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a syscall program: user space runs it on demand
/// (`Ebpf::syscall(name)?.run(&mut args)`) on a buffer it passes, typed by
/// the `SyscallContext<T>` it takes, which the program may rewrite. It
/// returns an `i32`.
///
/// ```ignore
/// #[syscall]
/// fn double(mut ctx: SyscallContext<u64>) -> i32 {
///     ctx.set_args(ctx.args() * 2);
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn syscall(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::syscall(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a socket filter. It takes an `SkBuffContext` and
/// returns how many bytes of the packet the socket keeps (0 drops it).
///
/// ```ignore
/// #[socket_filter]
/// fn keep_all(_ctx: SkBuffContext) -> u32 {
///     u32::MAX
/// }
/// ```
#[proc_macro_attribute]
pub fn socket_filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::socket_filter(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a perf_event program: it runs on every sample of
/// the perf event user space attaches it to (a CPU clock at N Hz, ...).
///
/// ```ignore
/// #[perf_event]
/// fn profile(ctx: PerfEventContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn perf_event(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::perf_event(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Prints a formatted line to the kernel's trace pipe.
///
/// Takes a Rust format string with integer arguments: `{}`, `{name}`,
/// `{0}`, `{:x}`, `{:X}`, width, `0` padding and `<`/`>` alignment. The
/// format is translated to `bpf_trace_printk`'s at compile time.
///
/// ```ignore
/// printk!("Rust triggered from PID {} on CPU {}.", pid(), cpu());
/// ```
#[proc_macro]
pub fn printk(input: TokenStream) -> TokenStream {
    printk::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares a BTF-defined map: places the static in `.maps` under its name
/// (or `name = "..."`), where the loader finds it.
///
/// ```ignore
/// #[map]
/// static COUNTS: HashMap<u32, AtomicU64, 1024> = HashMap::new();
/// ```
#[proc_macro_attribute]
pub fn map(attr: TokenStream, item: TokenStream) -> TokenStream {
    map::map(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `iu_ebpf::Pod` for a `#[repr(C)]` struct after checking, at
/// compile time, that every field is `Pod` and that there is no padding.
///
/// ```ignore
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// pub struct Key {
///     pub pid: u32,
///     pub syscall: u32,
/// }
/// ```
#[proc_macro_derive(Pod)]
pub fn derive_pod(input: TokenStream) -> TokenStream {
    map::derive_pod(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Logs at `error` level from a program, with format arguments (integers
/// and byte arrays) and display hints: `{:x}`, `{:X}`, `{:ipv4}`,
/// `{:ipv6}`, `{:mac}`. Needs `iu_ebpf::logger!()` in the crate; user
/// space renders the records with `iu::EbpfLogger`.
///
/// ```ignore
/// error!("pid {} from {:ipv4}", pid, addr);
/// ```
#[proc_macro]
pub fn error(input: TokenStream) -> TokenStream {
    log::expand(1, input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Logs at `warn` level from a program, with format arguments (integers
/// and byte arrays) and display hints: `{:x}`, `{:X}`, `{:ipv4}`,
/// `{:ipv6}`, `{:mac}`. Needs `iu_ebpf::logger!()` in the crate; user
/// space renders the records with `iu::EbpfLogger`.
///
/// ```ignore
/// warn!("pid {} from {:ipv4}", pid, addr);
/// ```
#[proc_macro]
pub fn warn(input: TokenStream) -> TokenStream {
    log::expand(2, input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Logs at `info` level from a program, with format arguments (integers
/// and byte arrays) and display hints: `{:x}`, `{:X}`, `{:ipv4}`,
/// `{:ipv6}`, `{:mac}`. Needs `iu_ebpf::logger!()` in the crate; user
/// space renders the records with `iu::EbpfLogger`.
///
/// ```ignore
/// info!("pid {} from {:ipv4}", pid, addr);
/// ```
#[proc_macro]
pub fn info(input: TokenStream) -> TokenStream {
    log::expand(3, input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Logs at `debug` level from a program, with format arguments (integers
/// and byte arrays) and display hints: `{:x}`, `{:X}`, `{:ipv4}`,
/// `{:ipv6}`, `{:mac}`. Needs `iu_ebpf::logger!()` in the crate; user
/// space renders the records with `iu::EbpfLogger`.
///
/// ```ignore
/// debug!("pid {} from {:ipv4}", pid, addr);
/// ```
#[proc_macro]
pub fn debug(input: TokenStream) -> TokenStream {
    log::expand(4, input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Logs at `trace` level from a program, with format arguments (integers
/// and byte arrays) and display hints: `{:x}`, `{:X}`, `{:ipv4}`,
/// `{:ipv6}`, `{:mac}`. Needs `iu_ebpf::logger!()` in the crate; user
/// space renders the records with `iu::EbpfLogger`.
///
/// ```ignore
/// trace!("pid {} from {:ipv4}", pid, addr);
/// ```
#[proc_macro]
pub fn trace(input: TokenStream) -> TokenStream {
    log::expand(5, input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares the program's license, stored in the `license` section.
///
/// The kernel only allows GPL-only helpers (such as `bpf_trace_vprintk`) in
/// programs whose license is GPL-compatible, for example `"GPL"` or
/// `"Dual MIT/GPL"`.
///
/// ```ignore
/// iu_ebpf::license!("GPL");
/// ```
#[proc_macro]
pub fn license(input: TokenStream) -> TokenStream {
    abi::license(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares the kernel version the program was built for, stored in the
/// `version` section. Only very old kernels (before 5.0) check it for
/// kprobes; `0xFFFF_FFFE` means "any", and the loader then passes the
/// running kernel's version.
///
/// ```ignore
/// iu_ebpf::version!(0xFFFF_FFFE);
/// ```
#[proc_macro]
pub fn version(input: TokenStream) -> TokenStream {
    abi::version(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares an `iu_ebpf::Global` under its own symbol name, so that user
/// space can set it by name before loading.
///
/// ```ignore
/// iu_ebpf::global!(static MULTIPLIER: u64 = 2);
/// let m = MULTIPLIER.get();
/// ```
#[proc_macro]
pub fn global(input: TokenStream) -> TokenStream {
    abi::global(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares the log ring buffer (`IU_LOGS`, 256 KiB) and the level global
/// (`IU_LOG_LEVEL`, default `info`) that the log macros use. Put it once at
/// the top of a program crate that logs.
///
/// ```ignore
/// iu_ebpf::logger!();
/// ```
#[proc_macro]
pub fn logger(input: TokenStream) -> TokenStream {
    abi::logger(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The relocated value of one CO-RE access site, from its record text
/// `"kind|type|path|local size|shape"`. Emitted by `cargo xtask codegen
/// vmlinux`; programs use the typed macros below.
///
/// ```ignore
/// let offset: u64 = iu_ebpf::core_value!("o|task_struct|pid|4|i");
/// ```
#[proc_macro]
pub fn core_value(input: TokenStream) -> TokenStream {
    kernel::core_value(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Whether the running kernel's struct has the field: a `bool` the
/// verifier branches on at load time (the other branch is dead code), so
/// one object handles fields that were renamed between kernels.
///
/// ```ignore
/// let state = if iu_ebpf::field_exists!(task_struct.__state) { prev.__state()? as u64 } else { prev.state()? as u64 };
/// ```
#[proc_macro]
pub fn field_exists(input: TokenStream) -> TokenStream {
    kernel::field_exists(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The size in bytes of a field in the running kernel (`u64`).
///
/// ```ignore
/// let size = iu_ebpf::field_size!(task_struct.comm);
/// ```
#[proc_macro]
pub fn field_size(input: TokenStream) -> TokenStream {
    kernel::field_size(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Whether a field of the running kernel is a signed integer (`bool`).
///
/// ```ignore
/// let signed = iu_ebpf::field_signed!(task_struct.pid);
/// ```
#[proc_macro]
pub fn field_signed(input: TokenStream) -> TokenStream {
    kernel::field_signed(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Whether the running kernel has the type (`bool`).
///
/// ```ignore
/// if iu_ebpf::type_exists!(struct bpf_iter_num) { /* ... */ }
/// ```
#[proc_macro]
pub fn type_exists(input: TokenStream) -> TokenStream {
    kernel::type_exists(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The size in bytes of a type in the running kernel (`u64`).
///
/// ```ignore
/// let size = iu_ebpf::type_size!(struct task_struct);
/// ```
#[proc_macro]
pub fn type_size(input: TokenStream) -> TokenStream {
    kernel::type_size(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The BTF id of a type in the running kernel (`u64`).
///
/// ```ignore
/// let id = iu_ebpf::type_id!(struct task_struct);
/// ```
#[proc_macro]
pub fn type_id(input: TokenStream) -> TokenStream {
    kernel::type_id(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The value of an enumerator in the running kernel, `None` if the
/// kernel's enum lacks it (`Option<u64>`).
///
/// ```ignore
/// let tgid = iu_ebpf::enum_value!(pid_type::PIDTYPE_TGID);
/// ```
#[proc_macro]
pub fn enum_value(input: TokenStream) -> TokenStream {
    kernel::enum_value(input.into(), &call_site())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Where a CO-RE macro is invoked (`file:line:column`): part of its
/// record, so that each site has its own record and section, and a
/// refusal can name it.
fn call_site() -> String {
    let span = proc_macro::Span::call_site();
    format!("{}:{}:{}", span.file(), span.line(), span.column())
}

/// Turns a function into a sock_ops program (`BPF_PROG_TYPE_SOCK_OPS`):
/// run at TCP events (connection established, RTT sample, state change,
/// ...) of the sockets of the cgroup it is attached to. It takes a
/// `SockOpsContext` and returns a `CgroupAction` (`Allow` is success).
///
/// ```ignore
/// #[sock_ops]
/// fn established(ctx: SockOpsContext) -> CgroupAction {
///     if ctx.op() == sock_ops::ACTIVE_ESTABLISHED { COUNTS.add(0, 1); }
///     CgroupAction::Allow
/// }
/// ```
#[proc_macro_attribute]
pub fn sock_ops(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::sock_ops(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a cgroup socket-address program
/// (`BPF_PROG_TYPE_CGROUP_SOCK_ADDR`), run when a process of the cgroup
/// connects (`attach = "connect4"`, `"connect6"`), sends a datagram
/// (`"sendmsg4"`, `"sendmsg6"`), receives one (`"recvmsg4"`,
/// `"recvmsg6"`), binds (`"bind4"`, `"bind6"`) or asks for an address
/// (`"getpeername4"`, ...). It takes a `SockAddrContext`, may rewrite the
/// address, and returns a `CgroupAction` (`Deny` fails the call with
/// `EPERM`; recvmsg hooks must allow).
///
/// ```ignore
/// #[cgroup_sock_addr(attach = "connect4")]
/// fn redirect(mut ctx: SockAddrContext) -> CgroupAction {
///     if ctx.user_port() == 80 { ctx.set_user_port(8080); }
///     CgroupAction::Allow
/// }
/// ```
#[proc_macro_attribute]
pub fn cgroup_sock_addr(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::cgroup_sock_addr(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a cgroup sysctl program
/// (`BPF_PROG_TYPE_CGROUP_SYSCTL`), run when a process of the cgroup reads
/// or writes a file of `/proc/sys`. It takes a `SysctlContext` and returns
/// a `CgroupAction` (`Deny` fails the access with `EPERM`).
///
/// ```ignore
/// #[cgroup_sysctl]
/// fn read_only(ctx: SysctlContext) -> CgroupAction {
///     if ctx.is_write() { CgroupAction::Deny } else { CgroupAction::Allow }
/// }
/// ```
#[proc_macro_attribute]
pub fn cgroup_sysctl(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::cgroup_sysctl(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a cgroup device program
/// (`BPF_PROG_TYPE_CGROUP_DEVICE`), run when a process of the cgroup opens
/// or creates a device node. It takes a `DeviceContext` and returns a
/// `CgroupAction` (`Deny` fails the call with `EPERM`).
///
/// ```ignore
/// #[cgroup_device]
/// fn no_block_devices(ctx: DeviceContext) -> CgroupAction {
///     if ctx.device_type() == device::BLOCK { CgroupAction::Deny } else { CgroupAction::Allow }
/// }
/// ```
#[proc_macro_attribute]
pub fn cgroup_device(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::cgroup_device(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a cgroup socket-option program
/// (`BPF_PROG_TYPE_CGROUP_SOCKOPT`), run when a process of the cgroup calls
/// `getsockopt` (`attach = "getsockopt"`) or `setsockopt`
/// (`"setsockopt"`). It takes a `SockoptContext` and returns a
/// `CgroupAction` (`Deny` fails the call with `EPERM`).
///
/// ```ignore
/// #[cgroup_sockopt(attach = "setsockopt")]
/// fn no_tos(ctx: SockoptContext) -> CgroupAction {
///     if (ctx.level(), ctx.optname()) == (0, 1) { CgroupAction::Deny } else { CgroupAction::Allow }
/// }
/// ```
#[proc_macro_attribute]
pub fn cgroup_sockopt(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::cgroup_sockopt(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an iterator program (`iter/<target>`,
/// `BPF_TRACE_ITER`): run once per kernel object when user space reads the
/// iterator (`iu::programs::IterLink::records`), writing records to it.
/// `#[iter(task)]` takes an `IterTaskContext` (one call per task, then one
/// with no task), `#[iter(bpf_map_elem)]` an `IterMapElemContext<K, V>`
/// (one call per entry of the map chosen at attach time) and
/// `#[iter(tcp)]` an `IterTcpContext` (one call per TCP socket).
///
/// ```ignore
/// #[iter(task)]
/// fn tasks(mut ctx: IterTaskContext) {
///     if let Some(task) = ctx.task::<TaskStruct>() {
///         let _ = ctx.write(&task.pid().unwrap_or(0));
///     }
/// }
///
/// #[iter(bpf_map_elem)]
/// fn entries(mut ctx: IterMapElemContext<u32, u64>) {
///     if let (Some(&k), Some(&v)) = (ctx.key(), ctx.value()) {
///         let _ = ctx.write(&[u64::from(k), v]);
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn iter(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::iter(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an sk_msg program (`BPF_PROG_TYPE_SK_MSG`): a
/// verdict on each message a socket of the `SockMap`/`SockHash` it is
/// attached to sends. It takes an `SkMsgContext` and returns an `SkAction`
/// (`Drop` fails the send with `EACCES`; the maps' `redirect_msg` sends it
/// elsewhere).
///
/// ```ignore
/// #[sk_msg]
/// fn to_peer(ctx: SkMsgContext) -> SkAction {
///     SOCKS.redirect_msg(&ctx, 1, SockDirection::Egress)
/// }
/// ```
#[proc_macro_attribute]
pub fn sk_msg(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::sk_msg(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an sk_skb program (`BPF_PROG_TYPE_SK_SKB`) on
/// the receive side of the sockets of the `SockMap`/`SockHash` it is
/// attached to: `#[sk_skb(stream_parser)]` returns the length of the next
/// message in the data (`u32`), `#[sk_skb(stream_verdict)]` returns an
/// `SkAction` for each message (`redirect_skb` sends it elsewhere). Both
/// take an `SkSkbContext`.
///
/// ```ignore
/// #[sk_skb(stream_verdict)]
/// fn forward(ctx: SkSkbContext) -> SkAction {
///     SOCKS.redirect_skb(&ctx, 1, SockDirection::Egress)
/// }
/// ```
#[proc_macro_attribute]
pub fn sk_skb(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::sk_skb(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an sk_lookup program (`BPF_PROG_TYPE_SK_LOOKUP`):
/// run in the network namespace it is attached to when a connection
/// request or datagram arrives, before the kernel looks for a socket. It
/// takes an `SkLookupContext`, may pick the socket (`ctx.assign`, with a
/// socket from a `SockMap`), and returns an `SkAction` (`Drop` refuses the
/// connection).
///
/// ```ignore
/// #[sk_lookup]
/// fn steer(mut ctx: SkLookupContext) -> SkAction {
///     if let Some(server) = SERVER.socket(0) { let _ = ctx.assign(&server); }
///     SkAction::Pass
/// }
/// ```
#[proc_macro_attribute]
pub fn sk_lookup(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::sk_lookup(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a writable raw tracepoint program
/// (`raw_tp.w/<name>`, `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`): a raw
/// tracepoint that may change the buffer its first argument points to,
/// on the tracepoints the kernel declares writable (`bpf_test_finish`,
/// `nbd_send_request`). It takes a `RawTracePointWritableContext`; attach
/// it like a raw tracepoint.
///
/// ```ignore
/// #[raw_tracepoint_writable(name = "bpf_test_finish")]
/// fn fail(mut ctx: RawTracePointWritableContext) {
///     ctx.write_buffer(0, &-124i32);
/// }
/// ```
#[proc_macro_attribute]
pub fn raw_tracepoint_writable(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::raw_tracepoint_writable(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a kprobe.multi program (`kprobe.multi/<pattern>`,
/// Linux 5.18): one link on every kernel function matching the glob
/// `pattern` (or a list given when attaching). It takes a `ProbeContext`.
///
/// ```ignore
/// #[kprobe_multi(pattern = "do_mk*at")]
/// fn made(ctx: ProbeContext) -> u32 { HITS.add(0, 1); 0 }
/// ```
#[proc_macro_attribute]
pub fn kprobe_multi(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::kprobe_multi(attr.into(), item.into(), false)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a kretprobe.multi program
/// (`kretprobe.multi/<pattern>`): as `#[kprobe_multi]`, at the functions'
/// returns (`ctx.ret()` is the return value).
///
/// ```ignore
/// #[kretprobe_multi(pattern = "do_mk*at")]
/// fn made(ctx: ProbeContext) -> u32 { HITS.add(1, 1); 0 }
/// ```
#[proc_macro_attribute]
pub fn kretprobe_multi(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::kprobe_multi(attr.into(), item.into(), true)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a USDT probe program (SystemTap SDT, `sys/sdt.h`):
/// section `usdt/<provider>:<name>`, a kprobe-type program that
/// `iu::programs::Usdt` attaches at every call site of the probe in a
/// binary, reading each site's argument spec from the `.note.stapsdt`
/// notes. `#[usdt("provider:name")]` is the same;
/// `binary = "/path"` names the binary too (libbpf's
/// `usdt/<binary>:<provider>:<name>`); without arguments, everything is
/// named when attaching.
///
/// ```ignore
/// #[usdt(provider = "libc", name = "memory_malloc_retry")]
/// fn retry(ctx: UsdtContext) -> u32 {
///     let size = ctx.arg(0).unwrap_or(0);
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn usdt(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::usdt(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a uprobe.multi program (`uprobe.multi` or
/// `uprobe.multi/<binary>:<pattern>`, `BPF_TRACE_UPROBE_MULTI`, Linux
/// 6.6): one link on several functions or offsets of a user binary, each
/// with a cookie (`ProbeContext::cookie`). Without arguments, the binary
/// and functions are chosen when attaching
/// (`iu::programs::UProbeMulti::attach_symbols`).
///
/// ```ignore
/// #[uprobe_multi(binary = "/usr/bin/bash", pattern = "readline*")]
/// fn lines(ctx: ProbeContext) -> u32 {
///     HITS.add(ctx.cookie() as u32, 1);
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn uprobe_multi(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::uprobe_multi(attr.into(), item.into(), false)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a uretprobe.multi program
/// (`uretprobe.multi[/<binary>:<pattern>]`): as `#[uprobe_multi]`, at the
/// functions' returns (`ProbeContext::ret`).
///
/// ```ignore
/// #[uretprobe_multi]
/// fn returned(ctx: ProbeContext) -> u32 {
///     0
/// }
/// ```
#[proc_macro_attribute]
pub fn uretprobe_multi(attr: TokenStream, item: TokenStream) -> TokenStream {
    program::uprobe_multi(attr.into(), item.into(), true)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a flow dissector (section `flow_dissector`,
/// `BPF_PROG_TYPE_FLOW_DISSECTOR`): it takes a `FlowDissectorContext`,
/// fills the flow keys from the packet and returns a
/// `FlowDissectorAction`. Attached to a network namespace
/// (`iu::programs::FlowDissector::attach`), it replaces the kernel's own
/// dissector there.
///
/// ```ignore
/// #[flow_dissector]
/// fn dissect(mut ctx: FlowDissectorContext) -> FlowDissectorAction {
///     FlowDissectorAction::Continue
/// }
/// ```
#[proc_macro_attribute]
pub fn flow_dissector(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::flow_dissector(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a netfilter program (section `netfilter`,
/// `BPF_PROG_TYPE_NETFILTER`, Linux 6.4): it takes a `NetfilterContext`
/// and returns a `NetfilterAction`. The family, hook and priority are
/// chosen when attaching (`iu::programs::Netfilter::attach`).
///
/// ```ignore
/// #[netfilter]
/// fn all(ctx: NetfilterContext) -> NetfilterAction {
///     NetfilterAction::Accept
/// }
/// ```
#[proc_macro_attribute]
pub fn netfilter(attr: TokenStream, item: TokenStream) -> TokenStream {
    sock_programs::netfilter(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a function a global BPF function: its own symbol in the object,
/// never inlined, verified by the kernel on its own (with unknown
/// arguments), and replaceable by a `#[freplace]` program while the
/// program that calls it runs. It takes and returns integers.
///
/// ```ignore
/// #[replaceable]
/// fn verdict(len: u32) -> u32 {
///     2 // XDP_PASS
/// }
///
/// #[xdp]
/// fn decide(ctx: XdpContext) -> u32 {
///     verdict(ctx.len() as u32)
/// }
/// ```
#[proc_macro_attribute]
pub fn replaceable(attr: TokenStream, item: TokenStream) -> TokenStream {
    freplace::replaceable(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into an freplace program (`BPF_PROG_TYPE_EXT`): once
/// loaded against a program and attached, it runs instead of that
/// program's `#[replaceable]` function `function`, with the same
/// signature. User space names the target when loading
/// (`iu::EbpfLoader::extension_target`) and attaches it with
/// `iu::Ebpf::extension`.
///
/// ```ignore
/// #[freplace(function = "verdict")]
/// fn drop_large(len: u32) -> u32 {
///     if len > 1000 { 1 } else { 2 }
/// }
/// ```
#[proc_macro_attribute]
pub fn freplace(attr: TokenStream, item: TokenStream) -> TokenStream {
    freplace::freplace(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns an impl of a struct_ops trait (`iu_ebpf::programs::TcpCongestionOps`)
/// into struct_ops programs (`BPF_PROG_TYPE_STRUCT_OPS`, Linux 5.6): each
/// callback written in the impl becomes a program (section
/// `struct_ops/<member>`, named `<name>_<member>`), and user space
/// registers them together under `name` with
/// `ebpf.struct_ops("<name>")?.register()`. `flags = "0x2"` sets the
/// struct's `flags` (`TCP_CONG_NON_RESTRICTED`).
///
/// ```ignore
/// #[struct_ops(name = "iu_reno")]
/// impl TcpCongestionOps for Reno {
///     fn ssthresh(sk: TcpSock) -> u32 { (sk.snd_cwnd() >> 1).max(2) }
///     fn cong_avoid(sk: TcpSock, _ack: u32, acked: u32) { /* ... */ }
///     fn undo_cwnd(sk: TcpSock) -> u32 { sk.snd_cwnd().max(sk.prior_cwnd()) }
/// }
/// ```
#[proc_macro_attribute]
pub fn struct_ops(attr: TokenStream, item: TokenStream) -> TokenStream {
    struct_ops::struct_ops(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
