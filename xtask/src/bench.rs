//! `cargo xtask bench`.
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct BenchArgs {}

pub fn run(_args: &BenchArgs) -> Result<()> {
    Ok(())
}
