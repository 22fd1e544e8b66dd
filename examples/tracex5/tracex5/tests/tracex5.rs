//! Runs `tracex5` on its workload. kprobes exist in the VM tier's kernel,
//! not on the development host, where this test says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::process::Command;

#[test]
fn traces_the_workloads_write_read_and_mmap() {
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert!(
            std::env::var_os("IU_VM_TIER").is_none(),
            "the VM tier's kernel has kprobes"
        );
        eprintln!("skipping: kprobes: kernel built without CONFIG_KPROBES");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_tracex5"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // Exactly the workload's 512-byte write and 200-byte read; its own
    // 8 KiB stdin read is not in the 129..=1024 range.
    let writes: Vec<_> = lines.iter().filter(|l| l.contains(": write(")).collect();
    assert_eq!(writes.len(), 1, "{stdout}");
    assert!(writes[0].ends_with("size=512)"), "{stdout}");
    let reads: Vec<_> = lines.iter().filter(|l| l.contains(": read(")).collect();
    assert_eq!(reads.len(), 1, "{stdout}");
    assert!(reads[0].ends_with("size=200)"), "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(": mmap(") && l.contains("length=4")),
        "the 4 MiB allocation: {stdout}"
    );
    let others = lines
        .iter()
        .find(|l| l.starts_with("other syscalls: "))
        .expect("a summary line");
    let calls: u64 = others["other syscalls: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(calls > 0, "{others}");
}
