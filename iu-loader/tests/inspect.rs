//! `iu-loader`'s bpftool-class subcommands, run as a user runs the binary,
//! against objects this test process loads with `iu`: `prog`, `map`,
//! `link`, `net`, `cgroup`, `features` and `run`'s log streaming. `prog
//! list --json` is compared field by field with `bpftool prog list --json`
//! for the same ids.
//!
//! Host kernel tests: run them under `flock /tmp/iu-kernel.lock`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    os::fd::AsFd,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use iu::Ebpf;
use serde_json::{Value, json};

fn loader() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iu-loader"));
    cmd.env("RUST_LOG_STYLE", "never");
    cmd
}

/// Runs iu-loader with `args`; panics with its output unless it succeeds.
fn ok(args: &[&str]) -> String {
    let out = loader().args(args).output().unwrap();
    assert!(out.status.success(), "iu-loader {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs iu-loader with `args`; panics unless it fails; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = loader().args(args).output().unwrap();
    assert!(
        !out.status.success(),
        "iu-loader {args:?} succeeded: {}",
        text(&out)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let stdout = ok(args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn load(name: &str) -> Ebpf {
    let path = iu::object_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    Ebpf::load_file(path).unwrap()
}

fn prog_id(ebpf: &Ebpf, name: &str) -> u32 {
    ebpf.program(name).unwrap().info().unwrap().id
}

/// A bpffs path of this test, removed (if still there) on drop.
struct Pin(PathBuf);

impl Pin {
    fn new(what: &str) -> Self {
        iu::maps::bpffs_root().unwrap();
        let path = PathBuf::from(format!(
            "/sys/fs/bpf/iu-loader-test-{}-{what}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Pin(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `ip` prints JSON (`-j`): iproute2 does, the VM guests'
/// busybox `ip` does not, and there the checks that read it are skipped.
fn ip_json() -> bool {
    let out = Command::new("ip")
        .args(["-j", "link", "show", "lo"])
        .output()
        .unwrap();
    let json = serde_json::from_slice::<Value>(&out.stdout).is_ok();
    if !json {
        assert!(
            std::env::var_os("IU_VM_TIER").is_some(),
            "`ip -j` prints no JSON on the host: install iproute2"
        );
        eprintln!("skipping the checks that read `ip -j`: busybox `ip` in the VM guest");
    }
    json
}

/// Whether the host tool `name` (bpftool, ip) is installed. The host has
/// them (`cargo xtask bench` installs bpftool); the VM guests' busybox does
/// not, and there the checks that need them are skipped, saying so.
fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("IU_VM_TIER").is_some(),
            "{name} is not installed on the host: `apt-get install {name}` (`cargo xtask bench` installs bpftool)"
        );
        eprintln!("skipping the checks that need `{name}`: not in the VM guest");
    }
    found
}

fn bpftool() -> Option<&'static str> {
    tool("bpftool").then_some("bpftool")
}

#[test]
fn prog_list_json_matches_bpftool_for_the_same_ids() {
    let firewall = load("xdp_firewall");
    let maps = load("map_test");
    // `sched_wakeup_new` is 16 bytes: the kernel keeps 15, bpftool and
    // iu-loader print the whole name from the program's BTF.
    let runqlat = load("runqlat");
    let long = prog_id(&runqlat, "sched_wakeup_new");
    assert_eq!(
        iu::programs::LoadedProgram::from_id(long)
            .unwrap()
            .info()
            .unwrap()
            .name,
        "sched_wakeup_ne"
    );
    let ids = [
        prog_id(&firewall, "xdp_firewall"),
        prog_id(&maps, "map_test"),
        prog_id(&maps, "tail_target"),
        long,
    ];
    let ours = json_of(&["prog", "list", "--json"]);
    let shown = json_of(&["prog", "show", "name", "sched_wakeup_new", "--json"]);
    assert_eq!(shown[0]["id"], json!(long), "{shown}");
    assert_eq!(shown[0]["name"], json!("sched_wakeup_new"), "{shown}");
    let by_kernel_name = json_of(&["prog", "show", "name", "sched_wakeup_ne", "--json"]);
    assert_eq!(by_kernel_name[0]["id"], json!(long), "{by_kernel_name}");
    let Some(bpftool) = bpftool() else {
        return;
    };
    let out = Command::new(bpftool)
        .args(["prog", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |list: &Value, id: u32| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == json!(id))
            .cloned()
            .unwrap_or_else(|| panic!("program {id} missing from {list}"))
    };
    for id in ids {
        let (a, b) = (find(&ours, id), find(&theirs, id));
        for field in [
            "id",
            "type",
            "name",
            "tag",
            "gpl_compatible",
            "uid",
            "bytes_xlated",
            "jited",
            "bytes_jited",
            "map_ids",
            "btf_id",
        ] {
            assert_eq!(
                a[field], b[field],
                "program {id}, field {field}: {a} vs {b}"
            );
        }
        let (ta, tb) = (
            a["loaded_at"].as_i64().unwrap(),
            b["loaded_at"].as_i64().unwrap(),
        );
        assert!((ta - tb).abs() <= 1, "loaded_at {ta} vs {tb}");
    }
    // The map ids are the object's maps.
    let firewall_prog = find(&ours, ids[0]);
    let counts = firewall.map("COUNTS").unwrap().id().unwrap();
    assert!(
        firewall_prog["map_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(counts)),
        "{firewall_prog}"
    );
}

#[test]
fn prog_show_pin_and_dump_xlated_with_the_rust_source_lines() {
    let firewall = load("xdp_firewall");
    let id = prog_id(&firewall, "xdp_firewall");
    let ids = id.to_string();

    let shown = ok(&["prog", "show", "id", &ids]);
    assert!(
        shown.starts_with(&format!("{id}: xdp  name xdp_firewall  tag ")),
        "{shown}"
    );
    assert!(
        shown.contains("map_ids") && shown.contains("btf_id"),
        "{shown}"
    );
    // By name: an array (names are not unique), which holds this one.
    let by_name = json_of(&["prog", "show", "name", "xdp_firewall", "--json"]);
    assert!(
        by_name
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == json!(id)),
        "{by_name}"
    );

    let pin = Pin::new("prog");
    ok(&["prog", "pin", "id", &ids, pin.arg()]);
    let pinned = json_of(&["prog", "show", "pinned", pin.arg(), "--json"]);
    assert_eq!(pinned["id"], json!(id), "{pinned}");
    // A program pin is not a map.
    let err = fails(&["map", "show", "pinned", pin.arg()]);
    assert!(err.contains("holds a program, not a map"), "{err}");
    ok(&["prog", "unpin", pin.arg()]);
    assert!(!pin.0.exists());

    let dump = ok(&["prog", "dump", "xlated", "id", &ids]);
    let counts = firewall.map("COUNTS").unwrap().id().unwrap();
    assert!(
        dump.lines()
            .any(|l| l.starts_with("; ") && l.contains("xdp_firewall-ebpf/src/lib.rs:")),
        "no source line of the program in:\n{dump}"
    );
    assert!(dump.contains(&format!("map[id:{counts}]")), "{dump}");
    assert!(dump.trim_end().ends_with("exit"), "{dump}");
    let insns = json_of(&["prog", "dump", "xlated", "id", &ids, "--json"]);
    let insns = insns.as_array().unwrap();
    let info = firewall.program("xdp_firewall").unwrap().info().unwrap();
    assert!(insns.len() <= info.xlated_insns as usize && insns.len() > 10);
    assert!(
        insns.iter().any(|i| i["line_info"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("lib.rs"))),
        "{insns:?}"
    );

    let err = fails(&["prog", "show", "id", "4000000000"]);
    assert!(
        err.contains("no prog with id 4000000000 is loaded") && err.contains("prog list"),
        "{err}"
    );
}

#[test]
fn show_by_name_skips_objects_freed_while_it_looks() {
    let kept = load("xdp_firewall");
    let kept_id = prog_id(&kept, "xdp_firewall");
    let kept_map = kept.map("COUNTS").unwrap().id().unwrap();
    // Another process loads and frees objects of the same names meanwhile:
    // a listed id that is gone when opened is not an error.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut loads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(load("xdp_firewall"));
                loads += 1;
            }
            loads
        }
    });
    for _ in 0..100 {
        let progs = json_of(&["prog", "show", "name", "xdp_firewall", "--json"]);
        assert!(
            progs
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == json!(kept_id)),
            "{progs}"
        );
        let maps = json_of(&["map", "show", "name", "COUNTS", "--json"]);
        assert!(
            maps.as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == json!(kept_map)),
            "{maps}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
}

#[test]
fn map_show_dump_update_lookup_delete_through_the_maps_btf() {
    let firewall = load("xdp_firewall");
    let counts = firewall.map("COUNTS").unwrap();
    let id = counts.id().unwrap().to_string();

    let shown = json_of(&["map", "show", "id", &id, "--json"]);
    assert_eq!(shown["type"], "hash", "{shown}");
    assert_eq!(shown["name"], "COUNTS", "{shown}");
    assert_eq!(shown["bytes_key"], 8, "{shown}");
    assert_eq!(shown["bytes_value"], 8, "{shown}");
    assert!(shown["btf_id"].as_u64().unwrap() > 0, "{shown}");

    assert_eq!(json_of(&["map", "dump", "id", &id, "--json"]), json!([]));
    let key = r#"{"addr": [10, 0, 0, 1], "action": 1}"#;
    ok(&["map", "update", "id", &id, "key", key, "value", "7"]);
    // The bytes the program reads: the struct's layout.
    let raw = iu::maps::HashMap::<[u8; 8], u64>::new(counts).unwrap();
    assert_eq!(raw.get(&[10, 0, 0, 1, 1, 0, 0, 0]).unwrap(), Some(7));
    assert_eq!(
        json_of(&["map", "dump", "id", &id, "--json"]),
        json!([{"key": {"addr": [10, 0, 0, 1], "action": 1}, "value": 7}])
    );
    let dump = ok(&["map", "dump", "id", &id]);
    assert!(
        dump.contains(r#"key: {"action":1,"addr":[10,0,0,1]}  value: 7"#)
            || dump.contains(r#"key: {"addr":[10,0,0,1],"action":1}  value: 7"#),
        "{dump}"
    );
    assert!(dump.contains("Found 1 element"), "{dump}");
    let found = json_of(&["map", "lookup", "id", &id, "key", key, "--json"]);
    assert_eq!(found["value"], 7, "{found}");

    // What a user gets wrong, and what to do.
    let err = fails(&[
        "map",
        "update",
        "id",
        &id,
        "key",
        r#"{"adr": [1,2,3,4]}"#,
        "value",
        "1",
    ]);
    assert!(
        err.contains("struct CountKey")
            && err.contains("has no field `adr`")
            && err.contains("for example"),
        "{err}"
    );
    let err = fails(&["map", "update", "id", &id, "key", "{addr: 1}", "value", "1"]);
    assert!(
        err.contains("is not JSON") && err.contains("quote it"),
        "{err}"
    );
    let err = fails(&["map", "update", "id", &id, "key", key, "value", "-1"]);
    assert!(
        err.contains("does not fit in an unsigned 64-bit integer"),
        "{err}"
    );

    ok(&["map", "delete", "id", &id, "key", key]);
    assert_eq!(json_of(&["map", "dump", "id", &id, "--json"]), json!([]));
    let err = fails(&["map", "delete", "id", &id, "key", key]);
    assert!(err.contains("key not found"), "{err}");

    // Pinned, and by pin.
    let pin = Pin::new("map");
    ok(&["map", "pin", "id", &id, pin.arg()]);
    let by_pin = json_of(&["map", "show", "pinned", pin.arg(), "--json"]);
    assert_eq!(by_pin["id"].to_string(), id);
    ok(&["map", "unpin", pin.arg()]);
    assert!(!pin.0.exists());

    // Without BTF: bytes, with the size checked.
    let plain =
        iu::maps::Map::create("iu_loader_t", iu::maps::map_type::ARRAY, 4, 4, 2, 0).unwrap();
    let plain_id = plain.id().unwrap().to_string();
    ok(&[
        "map",
        "update",
        "id",
        &plain_id,
        "key",
        "1",
        "value",
        "[1, 2, 3, 4]",
    ]);
    assert_eq!(
        json_of(&["map", "dump", "id", &plain_id, "--json"])[1],
        json!({"key": ["0x01", "0x00", "0x00", "0x00"], "value": ["0x01", "0x02", "0x03", "0x04"]})
    );
    let err = fails(&[
        "map", "update", "id", &plain_id, "key", "[1, 2]", "value", "0",
    ]);
    assert!(
        err.contains("type bytes (4 bytes)") && err.contains("2 bytes given, 4 expected"),
        "{err}"
    );
}

/// A veth pair (the host has no dummy interfaces), deleted on drop.
struct Dummy(String);

impl Dummy {
    fn new(tag: char) -> Self {
        let name = format!("iul{}{tag}", std::process::id() % 100_000);
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        let out = Command::new("ip")
            .args([
                "link",
                "add",
                &name,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{name}p"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        Dummy(name)
    }

    /// The id of its XDP program, from `ip -j link show`.
    fn xdp_prog(&self) -> Option<u64> {
        let out = Command::new("ip")
            .args(["-j", "link", "show", "dev", &self.0])
            .output()
            .unwrap();
        let link: Value = serde_json::from_slice(&out.stdout).unwrap();
        link[0]["xdp"]["prog"]["id"].as_u64()
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

#[test]
fn link_list_reports_xdp_links_with_their_interface() {
    if !tool("ip") {
        return;
    }
    let firewall = load("xdp_firewall");
    let id = prog_id(&firewall, "xdp_firewall");
    let dummy = Dummy::new('l');
    let link = firewall
        .xdp("xdp_firewall")
        .unwrap()
        .attach(&dummy.0, iu::programs::XdpMode::Generic)
        .unwrap();
    assert!(link.is_bpf_link());
    let ifindex = nix::net::if_::if_nametoindex(dummy.0.as_str()).unwrap();
    let links = json_of(&["link", "list", "--json"]);
    let ours = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["prog_id"] == json!(id))
        .unwrap_or_else(|| panic!("no link of program {id} in {links}"))
        .clone();
    assert_eq!(ours["type"], "xdp");
    assert_eq!(ours["ifindex"], json!(ifindex));
    assert_eq!(ours["devname"], json!(dummy.0));
    let shown = json_of(&["link", "show", "id", &ours["id"].to_string(), "--json"]);
    assert_eq!(shown, ours);
    if let Some(bpftool) = bpftool() {
        let out = Command::new(bpftool)
            .args(["link", "show", "id", &ours["id"].to_string(), "--json"])
            .output()
            .unwrap();
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        for field in ["id", "type", "prog_id"] {
            assert_eq!(ours[field], theirs[field], "{field}: {ours} vs {theirs}");
        }
        // Older bpftools print no attach details for XDP links.
        if !theirs["ifindex"].is_null() {
            assert_eq!(ours["ifindex"], theirs["ifindex"], "{ours} vs {theirs}");
        }
    }
    drop(link);
    let links = json_of(&["link", "list", "--json"]);
    assert!(
        !links
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["prog_id"] == json!(id)),
        "{links}"
    );
}

#[test]
fn net_attach_and_detach_a_pinned_xdp_program() {
    if !tool("ip") || !ip_json() {
        return;
    }
    let firewall = load("xdp_firewall");
    let id = prog_id(&firewall, "xdp_firewall");
    let pin = Pin::new("xdp");
    firewall
        .program("xdp_firewall")
        .unwrap()
        .pin(&pin.0)
        .unwrap();
    let dummy = Dummy::new('n');
    ok(&[
        "net",
        "attach",
        "xdpgeneric",
        "pinned",
        pin.arg(),
        "dev",
        &dummy.0,
    ]);
    assert_eq!(dummy.xdp_prog(), Some(u64::from(id)));
    ok(&["net", "detach", "xdpgeneric", "dev", &dummy.0]);
    assert_eq!(dummy.xdp_prog(), None);
    let err = fails(&[
        "net",
        "attach",
        "xdpgeneric",
        "pinned",
        pin.arg(),
        "dev",
        "nosuchif0",
    ]);
    assert!(err.contains("no interface with that name"), "{err}");
}

#[test]
fn net_attach_and_detach_a_pinned_tc_program_with_tcx() {
    if !tool("ip") {
        return;
    }
    let counter = load("tc_counter");
    let id = prog_id(&counter, "ingress");
    let pin = Pin::new("tcx");
    counter.program("ingress").unwrap().pin(&pin.0).unwrap();
    let dummy = Dummy::new('t');
    let attach = [
        "net",
        "attach",
        "tcx_ingress",
        "pinned",
        pin.arg(),
        "dev",
        &dummy.0,
    ];
    if !iu::features::tcx_link() {
        // Before 6.6 the loaded program has nowhere to go: a typed refusal.
        let err = fails(&attach);
        assert!(err.contains("TCX (Linux 6.6)"), "{err}");
        iu::testing::skip_missing("net attach tcx_ingress", "TCX (Linux 6.6)");
        return;
    }
    let attached = || {
        iu::programs::LoadedProgram::tc_programs(&dummy.0, iu::programs::TcDirection::Ingress)
            .unwrap()
    };
    ok(&attach);
    assert_eq!(attached(), vec![id]);
    // The attachment outlives the object's process; bpftool sees it too
    // (a bpftool that knows TCX: older ones print no `tcx` list).
    drop(counter);
    assert_eq!(attached(), vec![id]);
    if let Some(bpftool) = bpftool() {
        let out = Command::new(bpftool)
            .args(["net", "show", "dev", &dummy.0, "--json"])
            .output()
            .unwrap();
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(tcx) = theirs[0]["tcx"].as_array() {
            assert!(tcx.iter().any(|p| p["id"] == json!(id)), "{theirs}");
        }
    }
    // With one program there, `dev IFACE` is enough.
    ok(&["net", "detach", "tcx_ingress", "dev", &dummy.0]);
    assert_eq!(attached(), Vec::<u32>::new());
    // And by PROG; a second detach says it is not attached.
    let by_id = [
        "net",
        "attach",
        "tcx_ingress",
        "id",
        &id.to_string(),
        "dev",
        &dummy.0,
    ]
    .map(String::from);
    let by_id: Vec<&str> = by_id.iter().map(String::as_str).collect();
    ok(&by_id);
    assert_eq!(attached(), vec![id]);
    let detach = [
        "net",
        "detach",
        "tcx_ingress",
        "pinned",
        pin.arg(),
        "dev",
        &dummy.0,
    ];
    ok(&detach);
    assert_eq!(attached(), Vec::<u32>::new());
    let err = fails(&detach);
    assert!(err.contains("not attached there"), "{err}");
}

fn cgroup2_mount() -> Option<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&"cgroup2"))
        .map(|fields| PathBuf::from(fields[1]))
}

/// A new cgroup v2 directory, removed on drop.
struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The ids and attach types of the programs attached to `cgroup`, from bpftool.
fn cgroup_progs(bpftool: &str, cgroup: &Path) -> Vec<(u64, String)> {
    let out = Command::new(bpftool)
        .args(["cgroup", "show", cgroup.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!([]));
    list.as_array()
        .map(|l| {
            l.iter()
                .map(|p| {
                    (
                        p["id"].as_u64().unwrap_or(0),
                        p["attach_type"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn cgroup_attach_show_and_detach_a_pinned_program() {
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipping: cgroup attach: no cgroup v2 hierarchy is mounted (cgroup2)");
        return;
    };
    let ebpf = load("cgroup");
    let id = u64::from(prog_id(&ebpf, "deny_udp_port"));
    let pin = Pin::new("cgroup");
    ebpf.program("deny_udp_port").unwrap().pin(&pin.0).unwrap();
    let cgroup = Cgroup(mount.join(format!("iu-loader-test-{}", std::process::id())));
    std::fs::create_dir_all(&cgroup.0).unwrap();
    let dir = cgroup.0.to_str().unwrap();

    ok(&["cgroup", "attach", dir, "egress", "pinned", pin.arg()]);
    let shown = json_of(&["cgroup", "show", dir, "--json"]);
    assert_eq!(
        shown,
        json!([{"id": id, "attach_type": "cgroup_inet_egress", "name": "deny_udp_port"}])
    );
    if let Some(bpftool) = bpftool() {
        assert_eq!(
            cgroup_progs(bpftool, &cgroup.0),
            [(id, "cgroup_inet_egress".to_owned())]
        );
    }
    ok(&["cgroup", "detach", dir, "egress", "pinned", pin.arg()]);
    assert_eq!(json_of(&["cgroup", "show", dir, "--json"]), json!([]));
    if let Some(bpftool) = bpftool() {
        assert_eq!(cgroup_progs(bpftool, &cgroup.0), []);
    }
    let err = fails(&["cgroup", "detach", dir, "egress", "pinned", pin.arg()]);
    assert!(err.contains("it is not attached there"), "{err}");
    let err = fails(&["cgroup", "attach", dir, "egres", "pinned", pin.arg()]);
    assert!(err.contains("`egres` is not a cgroup attach type"), "{err}");
}

#[test]
fn prog_show_reports_run_counts_while_stats_are_on() {
    let maps = load("map_test");
    let id = prog_id(&maps, "map_test");
    let _link = maps.tracepoint("map_test").unwrap().attach().unwrap();
    let stats = iu::programs::RunStats::enable().unwrap();
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    for _ in 0..5 {
        drop(nix::unistd::dup(file.as_fd()).unwrap());
    }
    let shown = json_of(&["prog", "show", "id", &id.to_string(), "--json"]);
    let runs = shown["run_cnt"].as_u64().unwrap_or(0);
    assert!(runs >= 5, "{shown}");
    assert!(shown["run_time_ns"].as_u64().unwrap_or(0) > 0, "{shown}");
    if let Some(bpftool) = bpftool() {
        let out = Command::new(bpftool)
            .args(["prog", "show", "id", &id.to_string(), "--json"])
            .output()
            .unwrap();
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Read after ours: the count only grows.
        assert!(theirs["run_cnt"].as_u64().unwrap_or(0) >= runs, "{theirs}");
    }
    drop(stats);
}

#[test]
fn features_reports_what_iu_features_sees() {
    use iu::features;
    let report = json_of(&["features", "--json"]);
    assert_eq!(
        report["program_types"]["have_xdp_prog_type"],
        json!(features::program_type(6, 0))
    );
    assert_eq!(
        report["map_types"]["have_ringbuf_map_type"],
        json!(features::map_type(27))
    );
    assert_eq!(report["misc"]["exceptions"], json!(features::exceptions()));
    assert_eq!(
        report["misc"]["loop_budget"],
        json!(features::loop_budget())
    );
    assert_eq!(report["misc"]["xdp_link"], json!(features::xdp_link()));
    let (a, b, c) = iu::kernel_version().unwrap();
    assert_eq!(report["kernel_version"], json!(format!("{a}.{b}.{c}")));
    let text = ok(&["features"]);
    assert!(
        text.contains(&format!(
            "eBPF program_type xdp {} available",
            if features::program_type(6, 0) {
                "is"
            } else {
                "is NOT"
            }
        )),
        "{text}"
    );
}

#[test]
fn run_streams_the_objects_iu_logs_through_log() {
    let object = iu::object_dir().join("logging");
    let mut child = loader()
        .args(["run", "--duration", "4", object.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the program, then point its CONFIG at this process.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let program = loop {
        let found = iu::programs::loaded()
            .unwrap()
            .into_iter()
            .find(|p| p.name == "logging");
        if let Some(p) = found {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`logging` never loaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let config = program
        .map_ids
        .iter()
        .copied()
        .find(|&m| iu::maps::LoadedMap::from_id(m).unwrap().info().name == "CONFIG")
        .expect("the program uses CONFIG");
    let pid = std::process::id().to_string();
    ok(&[
        "map",
        "update",
        "id",
        &config.to_string(),
        "key",
        "0",
        "value",
        &pid,
    ]);
    // The program attaches after it loads (late in a slow guest): trigger
    // it until `run` ends.
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    while child.try_wait().unwrap().is_none() {
        drop(nix::unistd::dup(file.as_fd()).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("INFO  logging] ints 200 -5 60000 -300 4000000000 -70000"),
        "no log record of the object in:\n{all}"
    );
}

#[test]
fn listings_without_privilege_name_the_capability() {
    use std::os::unix::process::CommandExt;
    for args in [["map", "list"], ["link", "list"]] {
        let out = loader().args(args).uid(65534).gid(65534).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            stderr.contains("permission denied") && stderr.contains("CAP_SYS_ADMIN"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn load_reports_the_programs_and_maps_of_an_object_and_its_refusals() {
    // `map_test`'s object: one tracepoint and its maps (plus iu's own).
    let object = iu::object_dir().join("map_test");
    let object = object.to_str().unwrap();
    let expected = Ebpf::load_file(object).unwrap();
    let (programs, maps) = (expected.programs().count(), expected.maps().count());
    drop(expected);
    assert_eq!(
        ok(&["load", object]).trim(),
        format!("loaded {programs} programs, {maps} maps")
    );
    assert_eq!(
        json_of(&["--json", "load", object]),
        json!({ "programs": programs, "maps": maps })
    );
    // Not an object: iu's error, and a failing exit status.
    let stderr = fails(&["load", "/proc/self/status"]);
    assert!(stderr.contains("not an ELF file"), "{stderr}");
}

#[test]
fn run_registers_the_objects_struct_ops_until_it_exits() {
    if !iu::features::struct_ops("tcp_congestion_ops") {
        iu::testing::skip_missing(
            "iu-loader run with struct_ops",
            "struct_ops of tcp_congestion_ops (Linux 5.6 with CONFIG_BPF_JIT)",
        );
        return;
    }
    let available =
        || std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap();
    let object = iu::object_dir().join("struct_ops_reno");
    let mut child = loader()
        .args([
            "run",
            "--duration",
            "2",
            "--skip-unsupported",
            object.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Registered for the run's 2 s after the load, which takes longer in
    // the emulated guests: look until iu-loader exits.
    let mut seen = false;
    while !seen && child.try_wait().unwrap().is_none() {
        seen = available().split_whitespace().any(|n| n == "iu_reno");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(seen, "iu_reno never registered: {stderr}");
    assert!(
        stderr.contains("registered struct_ops `iu_reno` (struct tcp_congestion_ops)"),
        "{stderr}"
    );
    assert!(!available().split_whitespace().any(|n| n == "iu_reno"));
}
