//! `cargo xtask test`.
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct TestArgs {}

pub fn run(_args: &TestArgs) -> Result<()> {
    Ok(())
}
