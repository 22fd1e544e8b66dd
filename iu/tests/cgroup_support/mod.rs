//! A cgroup v2 that holds the test process while a test runs (one test at
//! a time per process: the whole process moves), for the cgroup program
//! tests of issue #15.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

/// Held while this process is in a test's cgroup.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where cgroup v2 is mounted.
pub fn cgroup2_mount() -> Option<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&"cgroup2"))
        .map(|fields| PathBuf::from(fields[1]))
}

/// This process, moved into a new cgroup until dropped.
pub struct InNewCgroup {
    pub dir: PathBuf,
    previous: PathBuf,
    _alone: MutexGuard<'static, ()>,
}

impl InNewCgroup {
    pub fn enter(mount: &Path, name: &str) -> Self {
        let alone = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .expect("a cgroup v2 line in /proc/self/cgroup");
        let previous = mount.join(own.trim_start_matches('/'));
        let dir = mount.join(format!("iupt-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).unwrap();
        Self {
            dir,
            previous,
            _alone: alone,
        }
    }
}

impl Drop for InNewCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.previous.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The cgroup2 mount, or `None` (saying why) where none is mounted.
pub fn mount() -> Option<PathBuf> {
    let mount = cgroup2_mount();
    if mount.is_none() {
        assert!(
            std::env::var_os("IU_VM_TIER").is_none(),
            "the VM guest mounts cgroup2"
        );
        eprintln!("skipping: cgroup programs: no cgroup v2 hierarchy is mounted (cgroup2)");
    }
    mount
}
