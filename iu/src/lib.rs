//! `iu` loads BPF programs written with `iu-ebpf` (or any libbpf-style
//! object) into the running kernel, attaches them, and streams their output
//! to async Rust. It makes the `bpf()` and `perf_event_open()` system calls
//! itself: no libbpf.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ebpf = iu::Ebpf::load_file("target/bpf/bpfel-unknown-none/release/hello")?;
//! let mut trace = iu::TracePipe::open()?.only(ebpf.printk_formats());
//! let link = ebpf.tracepoint("hello")?.attach()?;
//! if let Some(line) = trace.next_line().await {
//!     println!("{}", line?.message);
//! }
//! drop(link); // detaches
//! # Ok(()) }
//! ```

mod abort;
pub mod btf;
mod btf_ext;
mod btf_linkage;
pub mod cleanup;
mod core_relo;
mod ebpf;
mod error;
pub mod features;
#[doc(hidden)]
pub mod fuzz;
mod inline_chain;
mod kconfig;
mod ksyms_btf;
pub mod links;
mod loaded;
mod loader;
mod logger;
mod loop_budget;
pub mod maps;
mod placeholders;
pub mod programs;
mod section_alias;
mod source_map;
pub(crate) mod sys;
#[cfg(feature = "testing")]
pub mod testing;
mod trace_pipe;
pub mod tracefs;
mod validate;
mod verifier;
pub mod xsk;

pub use ebpf::{Ebpf, object_dir};
pub use error::{Error, Result};
/// Plain old data: types that can cross to and from the kernel as bytes.
/// Shared with programs through `iu-ebpf`; derive it with
/// `#[derive(iu::Pod)]`.
pub use iu_ebpf::Pod;
pub use loader::{EbpfLoader, LoopBudget, check_object, nested_panic_paths, panic_paths};

/// What `#[derive(iu::Pod)]` names in a crate that depends on `iu` but not
/// on `iu-ebpf`.
#[doc(hidden)]
pub use iu_ebpf as __iu_ebpf;
pub use logger::{EbpfLogger, LogRecord, LogSite};
pub use sys::{SyscallError, kernel_version};
pub use trace_pipe::{PrintkFormat, TraceLine, TracePipe};
pub use verifier::{SourceLine, VerifierLog};
