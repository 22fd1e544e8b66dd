//! A writer for the `newc` cpio format, the one the kernel unpacks as an
//! initramfs. Several archives may be concatenated; the kernel unpacks them
//! in order, later entries replacing earlier ones.

use std::{
    collections::BTreeSet,
    io::{self, Read, Write},
};

/// Writes a `newc` archive. Parent directories are created on demand, so
/// entries can be added in any order.
pub struct Writer<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

impl<W: Write> Writer<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: 0,
            next_ino: 1,
            dirs: BTreeSet::new(),
        }
    }

    /// A directory (and its parents).
    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return Ok(());
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        self.dirs.insert(path.to_owned());
        self.header(path, 0o040_755, 2, 0)?;
        self.pad()
    }

    /// A regular file with `mode`'s permission bits, read from `data`,
    /// which must yield exactly `size` bytes.
    pub fn file(&mut self, path: &str, mode: u32, size: u64, data: impl Read) -> io::Result<()> {
        let path = path.trim_start_matches('/');
        self.parent(path)?;
        self.header(path, 0o100_000 | (mode & 0o7777), 1, size)?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: expected {size} bytes, read {copied}"),
            ));
        }
        self.written += size;
        self.pad()
    }

    /// A regular file from memory.
    pub fn bytes(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.file(path, mode, data.len() as u64, data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let path = path.trim_start_matches('/');
        self.parent(path)?;
        self.header(path, 0o120_777, 1, target.len() as u64)?;
        self.raw(target.as_bytes())?;
        self.pad()
    }

    /// Writes the trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 1, 0)?;
        self.pad()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn parent(&mut self, path: &str) -> io::Result<()> {
        match path.rsplit_once('/') {
            Some((parent, _)) => self.dir(parent),
            None => Ok(()),
        }
    }

    fn header(&mut self, name: &str, mode: u32, nlink: u32, size: u64) -> io::Result<()> {
        let size = u32::try_from(size).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: newc cpio entries are limited to 4 GiB"),
            )
        })?;
        let ino = self.next_ino;
        self.next_ino += 1;
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
        // devminor, rdevmajor, rdevminor, namesize (with NUL), check.
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            size,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.raw(header.as_bytes())?;
        self.raw(name.as_bytes())?;
        self.raw(&[0])?;
        self.pad()
    }

    fn raw(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Pads to a multiple of 4 bytes, as `newc` requires after headers and
    /// data.
    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - self.written % 4) % 4;
        self.raw(&[0; 3][..pad as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_parents_come_first() {
        let mut w = Writer::new(Vec::new());
        w.bytes("/a/b/f", 0o755, b"hello").unwrap();
        w.symlink("/a/l", "b/f").unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 4, 0);
        let text = String::from_utf8_lossy(&out);
        let names: Vec<usize> = ["a\0", "a/b\0", "a/b/f\0", "hello", "a/l\0", "TRAILER!!!\0"]
            .iter()
            .map(|n| text.find(n).unwrap())
            .collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        // The file's header: regular file 0755, size 5, name length 6.
        let header = &text[text.find("a/b/f").unwrap() - 110..];
        assert_eq!(&header[14..22], "000081ed");
        assert_eq!(&header[54..62], "00000005");
        assert_eq!(&header[94..102], "00000006");
    }

    /// The host's `cpio` reads what we write (when it is installed).
    #[test]
    fn gnu_cpio_lists_the_archive() {
        let mut w = Writer::new(Vec::new());
        w.bytes("bin/x", 0o644, b"abc").unwrap();
        w.symlink("bin/y", "x").unwrap();
        let archive = w.finish().unwrap();
        let mut child = match std::process::Command::new("cpio")
            .args(["-t", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => panic!("cpio is needed for this test (apt-get install cpio): {e}"),
        };
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "bin\nbin/x\nbin/y\n");
    }
}
