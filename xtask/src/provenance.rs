//! Keeping kernel addresses inside the kernel (placeholder, filled in below).

use std::path::Path;

use anyhow::Result;

pub const RUSTC_FLAGS: &[&str] = &[];

pub fn check_sources(_dir: &Path) -> Result<()> {
    Ok(())
}
