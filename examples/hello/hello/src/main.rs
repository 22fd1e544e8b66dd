//! The user side of `hello`: loads the tracepoint program, calls `dup()`,
//! and prints the lines the program writes to the trace pipe.
#![forbid(unsafe_code)]

use std::{os::fd::AsFd, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;

/// Loads `hello` on `syscalls/sys_enter_dup`, triggers it and prints its
/// trace lines.
#[derive(Parser)]
struct Args {
    /// The BPF object (default: `$IU_OBJECT_DIR/hello`, as built by
    /// `cargo xtask build`).
    #[arg(long)]
    object: Option<PathBuf>,
    /// How many times to call `dup()`.
    #[arg(long, default_value_t = 3)]
    count: usize,
    /// Seconds to wait for the lines before failing.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .unwrap_or_else(|| iu::object_dir().join("hello"));
    let ebpf = iu::Ebpf::load_file(&object)?;
    // Open the pipe before attaching, so that no line is missed.
    let mut trace = iu::TracePipe::open()?.only(ebpf.printk_formats());
    let link = ebpf.tracepoint("hello")?.attach()?;
    log::info!(
        "attached to {}; calling dup() {} times",
        link.target(),
        args.count
    );

    let pid = std::process::id();
    let null = std::fs::File::open("/dev/null")?;
    for _ in 0..args.count {
        // The duplicate is closed right away; only the syscall matters.
        drop(nix::unistd::dup(null.as_fd())?);
    }

    let expected = format!("Rust triggered from PID {pid} on CPU ");
    let mut seen = 0;
    let deadline = tokio::time::sleep(Duration::from_secs(args.timeout));
    tokio::pin!(deadline);
    while seen < args.count {
        tokio::select! {
            line = trace.next_line() => {
                let Some(line) = line else { break };
                let line = line?;
                // Other processes calling dup() trigger the program too.
                if line.message.starts_with(&expected) {
                    println!("{}", line.message);
                    seen += 1;
                }
            }
            () = &mut deadline => {
                return Err(format!(
                    "saw {seen} of {} expected trace lines from PID {pid} within {}s; is the program attached and does the trace pipe work?",
                    args.count, args.timeout
                ).into());
            }
        }
    }
    drop(link);
    Ok(())
}
