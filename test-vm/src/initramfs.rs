//! The guest's root file system: busybox, the init script, the binaries to
//! run with their shared libraries, the BPF objects and a few modules, as a
//! `newc` cpio archive that is rebuilt only when one of its inputs changes.
//!
//! Host files keep their absolute paths in the guest, so that paths baked
//! into binaries at build time (`CARGO_BIN_EXE_*`, `CARGO_MANIFEST_DIR`) and
//! `IU_OBJECT_DIR` mean the same thing on both sides.

use std::{
    collections::{BTreeMap, hash_map::DefaultHasher},
    fs::File,
    hash::{Hash, Hasher},
    io::{BufWriter, Read},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::UNIX_EPOCH,
};

use anyhow::{Context, Result, bail};

use crate::cpio;

/// The guest's init script (PID 1).
pub const INIT: &str = include_str!("init.sh");

/// Modules the guest loads when the kernel has them as modules: veth for
/// network-namespace tests, virtio_net for a guest NIC, nf_conntrack for
/// the kfuncs a module defines (iu/tests/libbpf_objects.rs).
pub const MODULES: &[&str] = &["veth", "virtio_net", "nf_conntrack"];

/// Where modules go in the guest; init loads them from there.
const GUEST_MODULE_DIR: &str = "/lib/modules/iu";

#[derive(Debug)]
enum Entry {
    /// A host file, copied (stripped of debug info when `strip`).
    Host {
        path: PathBuf,
        strip: bool,
    },
    /// Bytes produced here.
    Data {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink(String),
}

/// What goes into an initramfs. Build it with [`Initramfs::build`].
#[derive(Debug)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
    modules: Vec<String>,
}

impl Initramfs {
    /// busybox (as `/bin/busybox` and `/bin/sh`) and the init script.
    pub fn new() -> Result<Self> {
        let mut this = Self {
            entries: BTreeMap::new(),
            modules: vec![],
        };
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .context("busybox is not installed: apt-get install busybox-static")?;
        this.add_libraries(busybox)?;
        this.entries.insert(
            "/bin/busybox".into(),
            Entry::Host {
                path: busybox.to_path_buf(),
                strip: false,
            },
        );
        this.entries
            .insert("/bin/sh".into(), Entry::Symlink("busybox".into()));
        this.data("/init", 0o755, INIT.as_bytes().to_vec());
        Ok(this)
    }

    /// An executable at its host path, without debug info, with the shared
    /// libraries `ldd` says it needs.
    pub fn binary(&mut self, path: &Path) -> Result<&mut Self> {
        let path = absolute(path)?;
        self.add_libraries(&path)?;
        self.entries
            .insert(guest_path(&path)?, Entry::Host { path, strip: true });
        Ok(self)
    }

    /// A file at its host path, as it is.
    pub fn file(&mut self, path: &Path) -> Result<&mut Self> {
        let path = absolute(path)?;
        if !path.is_file() {
            bail!("{} is not a file", path.display());
        }
        self.entries
            .insert(guest_path(&path)?, Entry::Host { path, strip: false });
        Ok(self)
    }

    /// Every ELF file directly in `dir` (the BPF objects of a build, not
    /// cargo's `.d` files and locks), at its host path.
    pub fn objects_in(&mut self, dir: &Path) -> Result<&mut Self> {
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!(
                "cannot read {}: build the BPF objects first (cargo xtask build)",
                dir.display()
            )
        })?;
        for entry in entries {
            let path = entry?.path();
            let mut magic = [0; 4];
            let is_elf = File::open(&path)
                .and_then(|mut f| f.read_exact(&mut magic))
                .is_ok_and(|()| magic == *b"\x7fELF");
            if is_elf {
                self.file(&path)?;
            }
        }
        Ok(self)
    }

    /// The source tree under `root` at its host path, without `target`,
    /// hidden directories and the fuzzers' `corpus`, `artifacts` and
    /// `coverage` (`fuzz/`: generated, large, and rewritten while a fuzzer
    /// runs): tests read sources (to find the line a verifier error must
    /// name), and error messages quote them.
    pub fn source_tree(&mut self, root: &Path) -> Result<&mut Self> {
        let mut stack = vec![absolute(root)?];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?;
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let kind = entry.file_type()?;
                let generated = ["target", "corpus", "artifacts", "coverage"];
                if kind.is_dir() && !generated.contains(&name.as_ref()) && !name.starts_with('.') {
                    stack.push(entry.path());
                } else if kind.is_file() {
                    self.file(&entry.path())?;
                }
            }
        }
        Ok(self)
    }

    /// Bytes at `path` in the guest.
    pub fn data(&mut self, path: &str, mode: u32, data: Vec<u8>) -> &mut Self {
        self.entries.insert(path.into(), Entry::Data { data, mode });
        self
    }

    /// The [`MODULES`] found in `dir` (a `lib/modules/<release>`), with
    /// the modules they depend on, decompressed, for init to load in order.
    /// A module that is not there is skipped: the kernel may have it built
    /// in.
    pub fn modules(&mut self, dir: &Path) -> Result<&mut Self> {
        let available = module_files(dir)?;
        let mut order = vec![];
        for name in MODULES {
            self.add_module(name, &available, &mut order, 0)?;
        }
        self.modules = order;
        let list: String = self.modules.iter().map(|m| format!("{m}\n")).collect();
        self.data("/iu/modules", 0o644, list.into_bytes());
        Ok(self)
    }

    /// The modules init will load, in order.
    pub fn module_names(&self) -> &[String] {
        &self.modules
    }

    fn add_module(
        &mut self,
        name: &str,
        available: &BTreeMap<String, PathBuf>,
        order: &mut Vec<String>,
        depth: usize,
    ) -> Result<()> {
        let name = name.replace('-', "_");
        if order.contains(&name) || depth > 16 {
            return Ok(());
        }
        let Some(path) = available.get(&name) else {
            return Ok(());
        };
        let data = decompress(path)?;
        for dep in depends(&data) {
            self.add_module(&dep, available, order, depth + 1)?;
        }
        self.data(&format!("{GUEST_MODULE_DIR}/{name}.ko"), 0o644, data);
        order.push(name);
        Ok(())
    }

    /// Writes the archive to `out` unless the one there was built from the
    /// same inputs (paths, sizes, modification times, contents of generated
    /// files). Returns whether it was rebuilt.
    pub fn build(&self, out: &Path) -> Result<bool> {
        let manifest_path = out.with_extension("manifest");
        let manifest = self.manifest()?;
        if out.is_file() && std::fs::read_to_string(&manifest_path).ok() == Some(manifest.clone()) {
            return Ok(false);
        }
        let stripped_dir = out.with_extension("stripped");
        std::fs::create_dir_all(&stripped_dir)
            .with_context(|| format!("cannot create {}", stripped_dir.display()))?;
        let tmp = out.with_extension("tmp");
        let mut writer = cpio::Writer::new(BufWriter::new(
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
        ));
        for (guest, entry) in &self.entries {
            match entry {
                Entry::Host { path, strip } => {
                    let source = if *strip {
                        stripped(path, &stripped_dir)?
                    } else {
                        path.clone()
                    };
                    let file = File::open(&source)
                        .with_context(|| format!("cannot read {}", source.display()))?;
                    let meta = file.metadata()?;
                    writer
                        .file(guest, meta.permissions().mode(), meta.len(), file)
                        .with_context(|| {
                            format!("cannot add {} to the initramfs", source.display())
                        })?;
                }
                Entry::Data { data, mode } => writer.bytes(guest, *mode, data)?,
                Entry::Symlink(target) => writer.symlink(guest, target)?,
            }
        }
        writer.finish()?;
        std::fs::rename(&tmp, out)?;
        std::fs::write(&manifest_path, manifest)?;
        let _ = std::fs::remove_dir_all(&stripped_dir);
        Ok(true)
    }

    /// One line per entry with what identifies its content.
    fn manifest(&self) -> Result<String> {
        let mut lines = vec![format!("test-vm {}", env!("CARGO_PKG_VERSION"))];
        for (guest, entry) in &self.entries {
            lines.push(match entry {
                Entry::Host { path, strip } => {
                    let meta = std::fs::metadata(path)
                        .with_context(|| format!("{} is missing", path.display()))?;
                    let mtime = meta
                        .modified()?
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos();
                    format!(
                        "{guest}\t{}\t{}\t{mtime}\t{strip}",
                        path.display(),
                        meta.len()
                    )
                }
                Entry::Data { data, mode } => {
                    let mut hasher = DefaultHasher::new();
                    data.hash(&mut hasher);
                    format!(
                        "{guest}\tdata\t{}\t{:x}\t{mode:o}",
                        data.len(),
                        hasher.finish()
                    )
                }
                Entry::Symlink(target) => format!("{guest}\t-> {target}"),
            });
        }
        Ok(lines.join("\n") + "\n")
    }

    /// The shared libraries (and the dynamic loader) `binary` needs, at
    /// the paths `ldd` reports.
    fn add_libraries(&mut self, binary: &Path) -> Result<()> {
        for lib in shared_libraries(binary)? {
            self.entries.insert(
                guest_path(&lib)?,
                Entry::Host {
                    path: lib,
                    strip: false,
                },
            );
        }
        Ok(())
    }
}

/// Appends a small archive with `files` (guest path, mode, bytes) to a copy
/// of `base`, written to `out`. The kernel unpacks concatenated archives in
/// order, so the per-run files do not invalidate the cached base.
pub fn with_files(base: &Path, out: &Path, files: &[(&str, u32, &[u8])]) -> Result<()> {
    std::fs::copy(base, out)
        .with_context(|| format!("cannot copy {} to {}", base.display(), out.display()))?;
    let file = std::fs::OpenOptions::new().append(true).open(out)?;
    let mut writer = cpio::Writer::new(BufWriter::new(file));
    for (path, mode, data) in files {
        writer.bytes(path, *mode, data)?;
    }
    writer.finish()?;
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
}

fn guest_path(path: &Path) -> Result<String> {
    let path = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    if !path.starts_with('/') {
        bail!("{path} is not absolute");
    }
    Ok(path.to_owned())
}

/// `ldd`'s answer: the libraries and the loader, or nothing for a static
/// binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("cannot run ldd (it comes with libc-bin)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // `ldd` fails on static binaries, which need nothing.
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable")
        {
            return Ok(vec![]);
        }
        bail!("ldd {} failed: {stderr}", binary.display());
    }
    let mut libs = vec![];
    for line in stdout.lines().map(str::trim) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!(
                        "{} needs {}, which is not installed",
                        binary.display(),
                        name.trim()
                    );
                }
                rest.split_whitespace().next()
            }
            None => line.split_whitespace().next(),
        };
        // `linux-vdso.so.1` is provided by the kernel.
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// A copy of `path` without debug info, in `dir`; debug builds are mostly
/// DWARF, and a smaller archive boots faster. Falls back to the original
/// when `strip` is unavailable.
fn stripped(path: &Path, dir: &Path) -> Result<PathBuf> {
    let mut hasher = DefaultHasher::new();
    path.hash(&mut hasher);
    let out = dir.join(format!(
        "{:016x}-{}",
        hasher.finish(),
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let status = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(path)
        .status();
    Ok(match status {
        Ok(s) if s.success() => out,
        _ => path.to_path_buf(),
    })
}

/// Module name (with `_`) to file, for every `*.ko`, `*.ko.xz`, `*.ko.zst`
/// and `*.ko.gz` under `dir`.
fn module_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read modules directory {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
                .iter()
                .find_map(|ext| name.strip_suffix(ext));
            if let Some(stem) = stem {
                found.insert(stem.replace('-', "_"), path);
            }
        }
    }
    Ok(found)
}

/// A module's contents, decompressed on the host (busybox `insmod` may not
/// handle compressed modules).
fn decompress(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return std::fs::read(path).with_context(|| format!("cannot read {name}"));
    };
    let output = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("cannot run {tool} to decompress {name} (install it)"))?;
    if !output.status.success() {
        bail!(
            "{tool} -dc {name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.stdout)
}

/// The `depends=` entry of a module's `.modinfo` section.
fn depends(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"depends=";
    module
        .split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(KEY))
        .map(|deps| {
            String::from_utf8_lossy(deps)
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_reads_the_modinfo_field() {
        let modinfo = b"\0license=GPL\0depends=net_failover,failover\0intree=Y\0";
        assert_eq!(depends(modinfo), ["net_failover", "failover"]);
        assert!(depends(b"\0depends=\0name=veth\0").is_empty());
    }

    #[test]
    fn ldd_finds_libc_and_the_loader_of_a_dynamic_binary() {
        let libs = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
    }

    #[test]
    fn an_unchanged_initramfs_is_not_rebuilt_and_a_changed_one_is() {
        let dir = std::env::temp_dir().join(format!("test-vm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("a.cpio");
        let mut initramfs = Initramfs::new().unwrap();
        initramfs.data("/x", 0o644, b"1".to_vec());
        assert!(initramfs.build(&out).unwrap());
        assert!(!initramfs.build(&out).unwrap());
        initramfs.data("/x", 0o644, b"2".to_vec());
        assert!(initramfs.build(&out).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
