//! Loads {{name}}'s program, attaches it and prints what it counts.
#![forbid(unsafe_code)]

use std::{process::ExitCode, time::Duration};

const USAGE: &str = "usage: {{name}} [--seconds N]{{usage_extra}}";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{{name}}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut seconds = 10u64;
    let mut target = String::from("{{default_target}}");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().ok_or(USAGE)?.parse()?,
            {{target_arg}}_ => return Err(USAGE.into()),
        }
    }
    let ebpf = {{crate}}::load()?;
    let _link = {{crate}}::attach(&ebpf, &target)?;
    eprintln!("{{name}}: attached{{attached_to}}; counting for {seconds}s");
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        println!("{}", {{crate}}::summary(&ebpf)?);
    }
    Ok(())
}
