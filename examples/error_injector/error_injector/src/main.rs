//! The user side of `error_injector`: makes `getppid()` return `--value` in
//! process `--pid` (by default, a child `getppid` caller it starts) for
//! `--duration` seconds.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The process whose `getppid()` is overridden (default: this one,
    /// which then calls it and prints what it got).
    #[arg(long)]
    pid: Option<u32>,
    /// The value `getppid()` returns.
    #[arg(long, default_value_t = 4242)]
    value: u64,
    /// Seconds to keep injecting when `--pid` is given.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// The BPF object (default: `$IU_OBJECT_DIR/error_injector`).
    #[arg(long)]
    object: Option<PathBuf>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error_injector: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("error_injector"));
    let ebpf = iu::Ebpf::load_file(&object)?;
    let target = args.pid.unwrap_or_else(std::process::id);
    let config = ebpf.array::<u64>("CONFIG")?;
    config.set(0, &u64::from(target))?;
    config.set(1, &args.value)?;
    let _link = ebpf.kprobe("error_injector")?.attach()?;
    if args.pid.is_some() {
        log::info!("getppid() returns {} in process {target}", args.value);
        std::thread::sleep(Duration::from_secs_f64(args.duration));
    } else {
        println!("getppid() = {}", std::os::unix::process::parent_id());
    }
    let injected = ebpf.array::<u64>("INJECTED")?.get(0)?;
    log::info!("{injected} calls overridden");
    Ok(())
}
