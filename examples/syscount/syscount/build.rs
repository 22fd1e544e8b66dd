//! Generates the syscall-number-to-name table from the kernel's UAPI header
//! (Debian's `linux-libc-dev`). Without the header, syscalls show as
//! numbers.

use std::{env, fs, path::PathBuf};

const HEADER: &str = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";

fn main() {
    println!("cargo:rerun-if-changed={HEADER}");
    let mut table = String::from(
        "/// Syscall names by number (x86_64).\npub const NAMES: &[(u32, &str)] = &[\n",
    );
    if let Ok(text) = fs::read_to_string(HEADER) {
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some("#define"), Some(name), Some(nr)) =
                (parts.next(), parts.next(), parts.next())
                && let (Some(name), Ok(nr)) = (name.strip_prefix("__NR_"), nr.parse::<u32>())
            {
                table.push_str(&format!("    ({nr}, {name:?}),\n"));
            }
        }
    }
    table.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("syscalls.rs");
    if let Err(e) = fs::write(&out, table) {
        panic!("writing {}: {e}", out.display());
    }
}
