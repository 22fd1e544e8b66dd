//! aya peer of iu's load benchmark: open + load + attach of one tracepoint
//! program, repeated, with the same output as `iu/benches/load.rs` and
//! `xtask/peers/libbpf_load.c`. Run by `cargo xtask bench`.

use std::time::Instant;

use aya::{Ebpf, programs::TracePoint};

/// User + system CPU time of the process.
fn cpu_us() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 * 1e6 + t.tv_nsec() as f64 / 1e3)
        .unwrap_or(0.0)
}

fn once(
    path: &str,
    name: &str,
    category: &str,
    tracepoint: &str,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let (w0, c0) = (Instant::now(), cpu_us());
    let mut ebpf = Ebpf::load(&std::fs::read(path)?)?;
    // `-`: every (tracepoint) program loaded, none attached.
    if name == "-" {
        for (_, program) in ebpf.programs_mut() {
            let program: &mut TracePoint = program.try_into()?;
            program.load()?;
        }
        let timing = (w0.elapsed().as_secs_f64() * 1e6, cpu_us() - c0);
        drop(ebpf);
        return Ok(timing);
    }
    let program: &mut TracePoint = ebpf
        .program_mut(name)
        .ok_or("no such program")?
        .try_into()?;
    program.load()?;
    let link = program.attach(category, tracepoint)?;
    let timing = (w0.elapsed().as_secs_f64() * 1e6, cpu_us() - c0);
    program.detach(link)?;
    drop(ebpf);
    Ok(timing)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, name, category, tracepoint, iterations] = args.as_slice() else {
        return Err("usage: aya-load OBJECT PROGRAM CATEGORY TRACEPOINT ITERATIONS".into());
    };
    let n: usize = iterations.parse()?;
    if n == 0 {
        return Err("ITERATIONS must be at least 1".into());
    }
    let (cold, _) = once(path, name, category, tracepoint)?;
    let (mut wall, mut cpu) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (w, c) = once(path, name, category, tracepoint)?;
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
