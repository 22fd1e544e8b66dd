//! The guest kernel: Debian's cloud kernel by default, fetched with
//! `apt-get download` and cached, or any image the user names.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::UNIX_EPOCH,
};

use anyhow::{Context, Result, bail};

/// The default kernel family: Debian 12's backported 6.12 cloud kernel. It
/// boots fast (few drivers) and has kprobes, BTF, the BPF LSM and the
/// function tracer.
const PACKAGE_PREFIX: &str = "linux-image-6.12.";
const PACKAGE_SUFFIX: &str = "+deb12-cloud-amd64-unsigned";

/// A kernel to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The `bzImage` (`vmlinuz`).
    pub image: PathBuf,
    /// `lib/modules/<release>` for this kernel, if modules are wanted.
    pub modules: Option<PathBuf>,
    /// A short name for messages, such as the release.
    pub name: String,
}

impl Kernel {
    /// A kernel the user provides, with its modules directory if any.
    pub fn custom(image: &Path, modules: Option<&Path>) -> Result<Self> {
        if !image.is_file() {
            bail!(
                "kernel image {} does not exist: pass a bzImage (such as /boot/vmlinuz-<release>) to --kernel",
                image.display()
            );
        }
        if let Some(dir) = modules
            && !dir.is_dir()
        {
            bail!(
                "modules directory {} does not exist: pass the kernel's lib/modules/<release> to --modules",
                dir.display()
            );
        }
        Ok(Self {
            image: image.to_path_buf(),
            modules: modules.map(Path::to_path_buf),
            name: image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// The newest `linux-image-6.12.*+deb12-cloud-amd64-unsigned` the
    /// package index offers, downloaded and unpacked under `cache` once.
    ///
    /// The choice is remembered together with the package index's
    /// modification time, so a warm run does not even ask `apt-cache`.
    pub fn debian_default(cache: &Path) -> Result<Self> {
        std::fs::create_dir_all(cache)
            .with_context(|| format!("cannot create {}", cache.display()))?;
        let stamp_path = cache.join("chosen");
        let stamp = index_stamp();
        let remembered = std::fs::read_to_string(&stamp_path).ok().and_then(|s| {
            let (saved, package) = s.trim().split_once(' ')?;
            (saved == stamp).then(|| package.to_owned())
        });
        let package = match remembered {
            Some(package) => package,
            None => {
                let package = newest_package()?;
                // Stamped after the lookup, which may have updated the index.
                std::fs::write(&stamp_path, format!("{} {package}\n", index_stamp()))?;
                package
            }
        };
        let dir = cache.join(&package);
        if !dir.join("boot").is_dir() {
            fetch(&package, cache, &dir)?;
        }
        Self::from_unpacked(&dir)
    }

    /// The kernel in an unpacked `linux-image-*` package.
    fn from_unpacked(dir: &Path) -> Result<Self> {
        let image = std::fs::read_dir(dir.join("boot"))?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
            .with_context(|| {
                format!(
                    "no boot/vmlinuz-* in {}: delete that directory to fetch the package again",
                    dir.display()
                )
            })?;
        let release = image
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_start_matches("vmlinuz-")
                    .to_owned()
            })
            .unwrap_or_default();
        let modules = [
            dir.join("lib/modules").join(&release),
            dir.join("usr/lib/modules").join(&release),
        ]
        .into_iter()
        .find(|p| p.is_dir());
        Ok(Self {
            image,
            modules,
            name: release,
        })
    }
}

/// The package index's modification time: it changes when `apt-get update`
/// brings a new index, and only then is the newest kernel looked up again.
fn index_stamp() -> String {
    ["/var/lib/apt/lists", "/var/cache/apt/pkgcache.bin"]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
        .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string())
        .collect::<Vec<_>>()
        .join("-")
}

/// The newest matching package name, running `apt-get update` once if the
/// index has none (old point releases leave the archive).
fn newest_package() -> Result<String> {
    if let Some(package) = newest_in_index()? {
        return Ok(package);
    }
    if !crate::is_root() {
        bail!(
            "the package index offers no {PACKAGE_PREFIX}*{PACKAGE_SUFFIX}: run `sudo apt-get update`, or pass --kernel PATH"
        );
    }
    eprintln!(
        "iu-vm: no {PACKAGE_PREFIX}*{PACKAGE_SUFFIX} in the package index; running apt-get update"
    );
    crate::run_logged(
        Command::new("apt-get").args(["update", "-q"]),
        "apt-get update",
    )?;
    newest_in_index()?.with_context(|| {
        format!(
            "even after apt-get update, no {PACKAGE_PREFIX}*{PACKAGE_SUFFIX} is offered: add Debian 12 (bookworm) with bookworm-updates to the apt sources, or pass --kernel PATH"
        )
    })
}

fn newest_in_index() -> Result<Option<String>> {
    let output = Command::new("apt-cache")
        .args(["pkgnames", PACKAGE_PREFIX])
        .output()
        .context("cannot run apt-cache: the default kernel comes from Debian's archive; on other systems pass --kernel PATH")?;
    let names = String::from_utf8_lossy(&output.stdout);
    Ok(names
        .lines()
        .filter_map(|name| {
            let patch = name
                .strip_prefix(PACKAGE_PREFIX)?
                .strip_suffix(PACKAGE_SUFFIX)?;
            Some((patch.parse::<u32>().ok()?, name.to_owned()))
        })
        .max()
        .map(|(_, name)| name))
}

/// Downloads and unpacks `package` into `dir`, atomically: an interrupted
/// run leaves no half-unpacked kernel behind.
fn fetch(package: &str, cache: &Path, dir: &Path) -> Result<()> {
    eprintln!("iu-vm: fetching {package} (about 35 MB, once)");
    let download = cache.join("download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)?;
    crate::run_logged(
        Command::new("apt-get")
            .current_dir(&download)
            // Root's downloads cannot be sandboxed to the `_apt` user in a
            // directory it cannot write; the warning would only be noise.
            .args(["-o", "APT::Sandbox::User=root", "download", package]),
        &format!("apt-get download {package}"),
    )?;
    let deb = std::fs::read_dir(&download)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download {package} produced no .deb"))?;
    let unpacked = cache.join("unpacking");
    let _ = std::fs::remove_dir_all(&unpacked);
    crate::run_logged(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
        &format!("dpkg-deb -x {}", deb.display()),
    )?;
    std::fs::rename(&unpacked, dir)
        .with_context(|| format!("cannot move the kernel into {}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&download);
    Ok(())
}
