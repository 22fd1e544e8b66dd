//! The guest kernel: Debian's cloud kernel by default, fetched with
//! `apt-get download` and cached, or any image the user names.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::UNIX_EPOCH,
};

use anyhow::{Context, Result, bail};

/// A family of Debian cloud kernels the tier can boot: the newest package
/// of the family that the package index offers is used. Cloud kernels boot
/// fast (few drivers) and have kprobes, BTF, the BPF LSM and the function
/// tracer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelFamily {
    /// The name users pass to `--kernel`.
    pub name: &'static str,
    /// What it is for, for listings.
    pub about: &'static str,
    /// Package names are `<prefix><number><suffix>`; the highest number wins.
    prefix: &'static str,
    suffix: &'static str,
}

/// The kernel matrix, oldest first: every family `cargo xtask test` boots.
pub const KERNEL_FAMILIES: &[KernelFamily] = &[
    KernelFamily {
        name: "6.1",
        about: "Debian 12's 6.1 LTS: no bpf_throw (6.7), TCX (6.6) or may_goto (6.9)",
        prefix: "linux-image-6.1.0-",
        suffix: "-cloud-amd64-unsigned",
    },
    KernelFamily {
        name: "6.12",
        about: "Debian 12's backported 6.12",
        prefix: "linux-image-6.12.",
        suffix: "+deb12-cloud-amd64-unsigned",
    },
];

/// The family `run --vm` and `vm shell` boot by default.
pub const DEFAULT_FAMILY: &str = "6.12";

impl KernelFamily {
    /// The family called `name` (`6.1`, `6.12`).
    pub fn named(name: &str) -> Option<Self> {
        KERNEL_FAMILIES.iter().find(|f| f.name == name).copied()
    }

    fn pattern(&self) -> String {
        format!("{}*{}", self.prefix, self.suffix)
    }
}

/// A kernel to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The `bzImage` (`vmlinuz`).
    pub image: PathBuf,
    /// `lib/modules/<release>` for this kernel, if modules are wanted.
    pub modules: Option<PathBuf>,
    /// A short name for messages, such as the release.
    pub name: String,
    /// The [`KernelFamily`] it comes from, or `custom`.
    pub family: String,
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
            family: "custom".to_owned(),
        })
    }

    /// The newest kernel of `family` the package index offers, downloaded
    /// and unpacked under `cache` once.
    ///
    /// The choice is remembered together with the package index's
    /// modification time, so a warm run does not even ask `apt-cache`.
    pub fn debian(family: &KernelFamily, cache: &Path) -> Result<Self> {
        std::fs::create_dir_all(cache)
            .with_context(|| format!("cannot create {}", cache.display()))?;
        let stamp_path = cache.join(format!("chosen-{}", family.name));
        let stamp = index_stamp();
        let remembered = std::fs::read_to_string(&stamp_path).ok().and_then(|s| {
            let (saved, package) = s.trim().split_once(' ')?;
            (saved == stamp).then(|| package.to_owned())
        });
        let package = match remembered {
            Some(package) => package,
            None => {
                let package = newest_package(family)?;
                // Stamped after the lookup, which may have updated the index.
                std::fs::write(&stamp_path, format!("{} {package}\n", index_stamp()))?;
                package
            }
        };
        let dir = cache.join(&package);
        if !dir.join("boot").is_dir() {
            fetch(&package, cache, &dir)?;
        }
        let mut kernel = Self::from_unpacked(&dir)?;
        kernel.family = family.name.to_owned();
        Ok(kernel)
    }

    /// The newest kernel of the [`DEFAULT_FAMILY`].
    pub fn debian_default(cache: &Path) -> Result<Self> {
        let family = KernelFamily::named(DEFAULT_FAMILY)
            .context("the default kernel family is not in KERNEL_FAMILIES")?;
        Self::debian(&family, cache)
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
            family: String::new(),
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

/// The newest package of `family`, running `apt-get update` once if the
/// index has none (old point releases leave the archive).
fn newest_package(family: &KernelFamily) -> Result<String> {
    if let Some(package) = newest_in_index(family)? {
        return Ok(package);
    }
    let pattern = family.pattern();
    if !crate::is_root() {
        bail!(
            "the package index offers no {pattern}: run `sudo apt-get update`, or pass --kernel PATH"
        );
    }
    eprintln!("iu-vm: no {pattern} in the package index; running apt-get update");
    crate::run_logged(
        Command::new("apt-get").args(["update", "-q"]),
        "apt-get update",
    )?;
    newest_in_index(family)?.with_context(|| {
        format!(
            "even after apt-get update, no {pattern} is offered: add Debian 12 (bookworm) with bookworm-updates to the apt sources, or pass --kernel PATH"
        )
    })
}

fn newest_in_index(family: &KernelFamily) -> Result<Option<String>> {
    let output = Command::new("apt-cache")
        .args(["pkgnames", family.prefix])
        .output()
        .context("cannot run apt-cache: the default kernel comes from Debian's archive; on other systems pass --kernel PATH")?;
    let names = String::from_utf8_lossy(&output.stdout);
    Ok(newest_of(family, &names))
}

/// The highest-numbered package of `family` among `names`, one per line.
fn newest_of(family: &KernelFamily, names: &str) -> Option<String> {
    names
        .lines()
        .filter_map(|name| {
            let number = name
                .strip_prefix(family.prefix)?
                .strip_suffix(family.suffix)?;
            Some((number.parse::<u32>().ok()?, name.to_owned()))
        })
        .max()
        .map(|(_, name)| name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_package_of_each_family_is_chosen_by_number() {
        let names = "linux-image-6.1.0-9-cloud-amd64-unsigned\n\
                     linux-image-6.1.0-57-cloud-amd64-unsigned\n\
                     linux-image-6.1.0-57-cloud-amd64-dbg\n\
                     linux-image-6.12.9+deb12-cloud-amd64-unsigned\n\
                     linux-image-6.12.118+deb12-cloud-amd64-unsigned\n\
                     linux-image-6.12.120+deb12-amd64-unsigned\n";
        let pick = |name| newest_of(&KernelFamily::named(name).unwrap(), names);
        assert_eq!(
            pick("6.1").as_deref(),
            Some("linux-image-6.1.0-57-cloud-amd64-unsigned")
        );
        assert_eq!(
            pick("6.12").as_deref(),
            Some("linux-image-6.12.118+deb12-cloud-amd64-unsigned")
        );
    }
}
