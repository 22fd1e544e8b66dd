//! Generated code: do not edit. Regenerate with
//!
//! ```text
//! cargo xtask codegen vmlinux task_struct:pid,tgid,__state \
//!     --out examples/runqlat/runqlat-ebpf/src/generated/vmlinux.rs
//! ```
#![allow(dead_code, missing_docs, clippy::all)]

pub mod vmlinux;
