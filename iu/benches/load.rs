//! iu's side of the load benchmark: open + load + attach of one object,
//! repeated, with the same output as the C libbpf peer
//! (`xtask/peers/libbpf_load.c`). Run by `cargo xtask bench`.

use std::time::Instant;

use nix::time::{ClockId, clock_gettime};

/// User + system CPU time of the process (the verifier runs in the
/// process's system time).
fn cpu_us() -> f64 {
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 * 1e6 + t.tv_nsec() as f64 / 1e3)
        .unwrap_or(0.0)
}

/// Times reading the file + load + attach (wall, CPU); detach and close are
/// not timed, since the kernel waits for an RCU grace period there.
/// PROGRAM `-` loads every program of the object and attaches none.
fn once(path: &str, name: &str) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let (w0, c0) = (Instant::now(), cpu_us());
    let ebpf = iu::Ebpf::load(&std::fs::read(path)?)?;
    // `-`: every program and map loaded, none attached.
    let link = if name == "-" {
        None
    } else {
        Some(ebpf.tracepoint(name)?.attach()?)
    };
    let timing = (w0.elapsed().as_secs_f64() * 1e6, cpu_us() - c0);
    drop(link);
    drop(ebpf);
    Ok(timing)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [path, name, iterations] = args.as_slice() else {
        return Err("usage: load OBJECT PROGRAM ITERATIONS|xlated".into());
    };
    if iterations == "xlated" {
        // The size of the program as the kernel keeps it (after the
        // loader's CO-RE patching and the verifier's rewrites).
        let ebpf = iu::Ebpf::load(&std::fs::read(path)?)?;
        let info = ebpf.program(name)?.info()?;
        println!("xlated={}", info.xlated_insns);
        return Ok(());
    }
    let n: usize = iterations.parse()?;
    if n == 0 {
        return Err("ITERATIONS must be at least 1".into());
    }
    let (cold, _) = once(path, name)?;
    let (mut wall, mut cpu) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (w, c) = once(path, name)?;
        wall.push(w);
        cpu.push(c);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (wall_mean, cpu_mean) = (mean(&wall), mean(&cpu));
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "cold_us={cold:.1} median_us={:.1} mean_us={wall_mean:.1} p90_us={:.1} cpu_median_us={:.1} cpu_mean_us={cpu_mean:.1}",
        wall[n / 2],
        wall[n * 9 / 10],
        cpu[n / 2]
    );
    Ok(())
}
