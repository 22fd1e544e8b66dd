//! The verifier's log, shortened to what matters, with the Rust source line
//! of the failure.

use std::fmt;

/// How many lines of the log's end [`VerifierLog`]'s `Display` shows.
const TAIL_LINES: usize = 25;

/// A source location the verifier's log points at, from the program's BTF
/// line info (`; <code> @ <file>:<line>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// The source file as the compiler recorded it.
    pub file: String,
    /// The line number.
    pub line: u32,
    /// The text of the line, where the object carries it.
    pub code: String,
}

impl fmt::Display for SourceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if !self.code.is_empty() {
            write!(f, ": {}", self.code)?;
        }
        Ok(())
    }
}

/// The verifier's log for a rejected program.
///
/// `Display` shows the source line of the failure and the end of the log;
/// [`VerifierLog::full`] has everything.
#[derive(Debug, Clone, Default)]
pub struct VerifierLog {
    text: String,
    truncated: bool,
    /// What the object says about the program's source, boxed to keep
    /// errors small.
    debug: Box<SourceInfo>,
}

/// The program's source as its line info describes it.
#[derive(Debug, Clone, Default)]
struct SourceInfo {
    /// The source files as the object names them (full paths).
    files: Vec<String>,
    /// The line-info records (first instruction, line), for logs whose
    /// annotations carry no `@ <file>:<line>` (before 6.4).
    lines: Vec<(u32, SourceLine)>,
    /// What iu knows about the refusal that the log does not say.
    hint: Option<String>,
    /// The program's own line that the failing instruction was inlined
    /// into, from the object's DWARF (BTF line info has only the
    /// innermost, library line).
    call_site: Option<SourceLine>,
}

impl VerifierLog {
    /// Wraps the raw log. `truncated` says that the kernel had more to say
    /// than the buffer held.
    pub fn new(raw: &[u8], truncated: bool) -> Self {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Self {
            text: String::from_utf8_lossy(&raw[..end]).into_owned(),
            truncated,
            debug: Box::default(),
        }
    }

    /// Adds the program's source files (full paths, from its line info),
    /// which tell the program's own lines from inlined library code.
    pub(crate) fn with_files(mut self, files: Vec<String>) -> Self {
        self.debug.files = files;
        self
    }

    /// Adds the program's line-info records, which name the lines of logs
    /// from kernels that print only the code (`; <code>`).
    pub(crate) fn with_lines(mut self, lines: Vec<(u32, SourceLine)>) -> Self {
        self.debug.lines = lines;
        self
    }

    /// Sets the program's own line that the failing instruction was
    /// inlined into (see [`VerifierLog::program_line`]).
    pub(crate) fn with_call_site(mut self, line: SourceLine) -> Self {
        let line = self.with_code(line);
        self.debug.call_site = Some(line);
        self
    }

    /// `line` with its code: from the line info where it has that line,
    /// else from the source file if it is there.
    pub(crate) fn with_code(&self, mut line: SourceLine) -> SourceLine {
        let known = self
            .debug
            .lines
            .iter()
            .find(|(_, l)| l.file == line.file && l.line == line.line)
            .map(|(_, l)| l.code.clone());
        line.code = known
            .or_else(|| {
                let source = std::fs::read_to_string(&line.file).ok()?;
                let code = source
                    .lines()
                    .nth(usize::try_from(line.line).ok()?.checked_sub(1)?)?;
                Some(code.trim().to_owned())
            })
            .unwrap_or_default();
        line
    }

    /// The last instruction the log shows: the one the refusal is about.
    pub(crate) fn failing_insn(&self) -> Option<u32> {
        self.text.lines().rev().find_map(insn_index)
    }

    /// The instruction that took a reference the program leaked, from
    /// "Unreleased reference id=2 alloc_insn=5".
    pub(crate) fn leaked_insn(&self) -> Option<u32> {
        let rest = self.text.split("alloc_insn=").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    /// The opcode of instruction `insn` as the log prints it (`4: (85)
    /// call ...`).
    pub(crate) fn opcode(&self, insn: u32) -> Option<u8> {
        let prefix = format!("{insn}: (");
        self.text.lines().find_map(|l| {
            let hex = l.trim_start().strip_prefix(&prefix)?.get(..2)?;
            u8::from_str_radix(hex, 16).ok()
        })
    }

    /// Adds what iu knows about the refusal (for example, that the kernel
    /// has no loop budget for a loop the verifier gave up on).
    pub(crate) fn with_hint(mut self, hint: String) -> Self {
        self.debug.hint = Some(hint);
        self
    }

    /// What iu adds to the verifier's words: why a refusal happened and
    /// what to do, where iu knows more than the log says (loops the
    /// verifier gave up on, see docs/safety.md "Loops").
    ///
    /// ```no_run
    /// if let Err(iu::Error::Verifier { log, .. }) = iu::Ebpf::load_file("prog.o") {
    ///     eprintln!("{:?}", log.hint());
    /// }
    /// ```
    pub fn hint(&self) -> Option<&str> {
        self.debug.hint.as_deref()
    }

    /// The full path of `file` as the log names it (the kernel prints only
    /// the last component), if the program's line info has exactly one
    /// file of that name: two crates' `lib.rs` must not be mixed up.
    fn full_path(&self, file: &str) -> Option<&str> {
        let mut candidates = self
            .debug
            .files
            .iter()
            .map(String::as_str)
            .filter(|f| *f == file || f.rsplit_once('/').is_some_and(|(_, name)| name == file));
        let first = candidates.next()?;
        candidates.next().is_none().then_some(first)
    }

    /// The line-info record an annotation (`; code @ lib.rs:42`, the file's
    /// last component only) stands for: of the records with that file name
    /// and line, the one nearest before `next_insn`, the instruction the
    /// log shows after it. It has the full path. Without line info, the
    /// annotation as it is.
    fn record_of(&self, annotation: SourceLine, next_insn: Option<u32>) -> SourceLine {
        let same_name = |file: &str| {
            file == annotation.file
                || file
                    .rsplit_once('/')
                    .is_some_and(|(_, name)| name == annotation.file)
        };
        self.debug
            .lines
            .iter()
            .filter(|(_, l)| l.line == annotation.line && same_name(&l.file))
            .min_by_key(|(off, _)| match next_insn {
                Some(at) if *off <= at => (0, at - off),
                Some(at) => (1, off - at),
                None => (0, 0),
            })
            .map(|(_, l)| l.clone())
            .unwrap_or(annotation)
    }

    /// The whole log.
    pub fn full(&self) -> &str {
        &self.text
    }

    /// Whether the log was cut because it was larger than the buffer.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Whether the kernel wrote anything.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// The last line of the log that says what went wrong, for example
    /// `invalid access to packet, off=14 size=1, R1(id=0,off=14,r=0)`.
    pub fn error(&self) -> Option<&str> {
        self.text.lines().rev().map(str::trim).find(|l| {
            !l.is_empty()
                && !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
                && !l.starts_with(';')
                // The states an infinite-loop report dumps after its reason.
                && !l.starts_with("cur state:")
                && !l.starts_with("old state:")
        })
    }

    /// The source line the verifier was at when it failed: the failing
    /// instruction's line, or the last `; <code> @ <file>:<line>`
    /// annotation in the log.
    pub fn source_line(&self) -> Option<SourceLine> {
        if self.debug.call_site.is_some()
            && let Some(insn) = self.failing_insn()
        {
            // The failing instruction's own line, under the program's call.
            let innermost = self
                .debug
                .lines
                .iter()
                .filter(|(off, _)| *off <= insn)
                .max_by_key(|(off, _)| *off);
            if let Some((_, line)) = innermost {
                return Some(line.clone());
            }
        }
        self.annotations().next()
    }

    /// The log's source annotations, last first. Kernels from 6.4 write
    /// `; <code> @ <file>:<line>`; older ones only `; <code>`, which is
    /// matched against the program's line info: the record with that code
    /// nearest before the instruction the log shows next.
    fn annotations(&self) -> impl Iterator<Item = SourceLine> + '_ {
        let lines: Vec<&str> = self.text.lines().collect();
        (0..lines.len()).rev().filter_map(move |i| {
            let next_insn = lines[i + 1..].iter().find_map(|l| insn_index(l));
            if let Some(line) = parse_annotation(lines[i]) {
                return Some(self.record_of(line, next_insn));
            }
            let code = lines[i].trim_start().strip_prefix(';')?.trim();
            if code.is_empty() || self.debug.lines.is_empty() {
                return None;
            }
            self.debug
                .lines
                .iter()
                .filter(|(_, line)| line.code == code)
                .min_by_key(|(off, _)| match next_insn {
                    Some(at) if *off <= at => (0, at - off),
                    Some(at) => (1, off - at),
                    None => (0, 0),
                })
                .map(|(_, line)| line.clone())
        })
    }

    /// The line of the program's own code where it failed: where the
    /// failing instruction was inlined from iu-ebpf or Rust's standard
    /// library (a packet read, an `unwrap`, a ring-buffer reservation), the
    /// program's call that inlined it, from the object's DWARF; without
    /// DWARF, the last line of the program's own code the verifier went
    /// through before it failed (BTF line info keeps only the innermost
    /// line).
    pub fn program_line(&self) -> Option<SourceLine> {
        if let Some(site) = &self.debug.call_site
            && self.source_line().is_some_and(|l| in_library(&l.file))
        {
            return Some(site.clone());
        }
        self.annotations()
            .chain(self.cfg_line())
            .map(|line| match self.full_path(&line.file) {
                Some(full) => SourceLine {
                    file: full.to_owned(),
                    ..line
                },
                None => line,
            })
            .find(|line| !in_library(&line.file))
    }
}

impl VerifierLog {
    /// The line of the instruction a control-flow refusal names ("back-edge
    /// from insn 26 to 27": the kernel checks the graph before it prints
    /// any annotated line, and before 6.4 it prints only the code).
    fn cfg_line(&self) -> Option<SourceLine> {
        let error = self.error()?;
        let rest = error.strip_prefix("back-edge from insn ")?;
        let at: u32 = rest.split_whitespace().next()?.parse().ok()?;
        let before = || self.debug.lines.iter().filter(|(off, _)| *off <= at);
        before()
            .filter(|(_, l)| !in_library(&l.file))
            .max_by_key(|(off, _)| *off)
            .or_else(|| before().max_by_key(|(off, _)| *off))
            .map(|(_, line)| line.clone())
    }
}

/// Whether `file` is in Rust's standard library or in iu-ebpf, rather
/// than in the program's own crates.
pub(crate) fn in_library(file: &str) -> bool {
    [
        "/rustc/",
        "/rustc-",
        "/library/core/",
        "/library/alloc/",
        "/iu-ebpf",
    ]
    .iter()
    .any(|p| file.contains(p))
}

/// The instruction index of a log line such as `21: (85) call ...`.
fn insn_index(line: &str) -> Option<u32> {
    let (index, rest) = line.split_once(':')?;
    rest.starts_with(" (").then_some(())?;
    index.trim().parse().ok()
}

/// Parses a BTF line-info annotation: `; <code> @ <file>:<line>`.
fn parse_annotation(line: &str) -> Option<SourceLine> {
    let rest = line.trim_start().strip_prefix(';')?;
    let (code, location) = rest.rsplit_once(" @ ")?;
    let (file, number) = location.trim().rsplit_once(':')?;
    Some(SourceLine {
        file: file.to_owned(),
        line: number.parse().ok()?,
        code: code.trim().to_owned(),
    })
}

impl fmt::Display for VerifierLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(error) = self.error() {
            writeln!(f, "  error: {error}")?;
        }
        match (self.program_line(), self.source_line()) {
            (Some(program), Some(source))
                if (program.line, &program.code) != (source.line, &source.code) =>
            {
                writeln!(f, "  at {program}")?;
                writeln!(f, "  inside {source}")?;
            }
            (_, Some(source)) => writeln!(f, "  at {source}")?,
            _ => {}
        }
        if let Some(hint) = self.hint() {
            writeln!(f, "  hint: {hint}")?;
        }
        let lines: Vec<&str> = self.text.lines().collect();
        let skipped = lines.len().saturating_sub(TAIL_LINES);
        if skipped > 0 || self.truncated {
            writeln!(
                f,
                "  verifier log (last {} of {} lines{}; the error's `log` has all of it):",
                lines.len() - skipped,
                lines.len(),
                if self.truncated {
                    ", truncated by the kernel"
                } else {
                    ""
                }
            )?;
        } else {
            writeln!(f, "  verifier log:")?;
        }
        for line in &lines[skipped..] {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "func#0 @0\n0: R1=ctx() R10=fp0\n; let x = a[i]; @ main.rs:17\n3: (85) call pc+4\nlast insn is not an exit or jmp\nprocessed 4 insns (limit 1000000)\n";

    #[test]
    fn finds_error_and_source_line() {
        let log = VerifierLog::new(LOG.as_bytes(), false);
        assert_eq!(log.error(), Some("last insn is not an exit or jmp"));
        let source = log.source_line().unwrap();
        assert_eq!(source.file, "main.rs");
        assert_eq!(source.line, 17);
        assert_eq!(source.code, "let x = a[i];");
        let shown = log.to_string();
        assert!(shown.contains("at main.rs:17: let x = a[i];"));
        assert!(shown.contains("call pc+4"));
    }

    #[test]
    fn two_crates_lib_rs_are_told_apart_by_the_line_info() {
        // The kernel prints only `lib.rs`; the user's crate and iu-ebpf
        // both have one.
        let raw = "; let v = read(); @ lib.rs:12\n\
                   5: (85) call pc+6\n\
                   ; panic::abort() @ lib.rs:106\n\
                   12: (85) call bpf_throw#123\n\
                   calling kernel function bpf_throw is not allowed\n";
        let line = |file: &str, line, code: &str| SourceLine {
            file: file.to_owned(),
            line,
            code: code.to_owned(),
        };
        let user = "/w/latency-common/src/lib.rs";
        let library = "/w/iu-ebpf/src/lib.rs";
        let log = VerifierLog::new(raw.as_bytes(), false)
            .with_files(vec![user.to_owned(), library.to_owned()])
            .with_lines(vec![
                (4, line(user, 12, "let v = read();")),
                (11, line(library, 106, "panic::abort()")),
            ]);
        let source = log.source_line().unwrap();
        assert_eq!((source.file.as_str(), source.line), (library, 106));
        let program = log.program_line().unwrap();
        assert_eq!((program.file.as_str(), program.line), (user, 12));
        // Without line info, an ambiguous name stays as the kernel gave it.
        let bare = VerifierLog::new(raw.as_bytes(), false)
            .with_files(vec![user.to_owned(), library.to_owned()]);
        assert_eq!(bare.source_line().unwrap().file, "lib.rs");
    }

    #[test]
    fn names_lines_from_the_line_info_where_the_log_has_only_code() {
        // Linux 6.1 prints the code without `@ file:line`.
        let raw = "; let x = a[i];\n\
                   3: (bf) r1 = r2\n\
                   ; loop {\n\
                   9: (05) goto pc-7\n\
                   infinite loop detected at insn 9\n";
        let line = |file: &str, line, code: &str| SourceLine {
            file: file.to_owned(),
            line,
            code: code.to_owned(),
        };
        let log = VerifierLog::new(raw.as_bytes(), false).with_lines(vec![
            (0, line("/p/src/main.rs", 10, "loop {")),
            (2, line("/p/src/main.rs", 17, "let x = a[i];")),
            (8, line("/p/src/main.rs", 21, "loop {")),
        ]);
        let source = log.source_line().unwrap();
        assert_eq!((source.file.as_str(), source.line), ("/p/src/main.rs", 21));
        assert!(log.to_string().contains("at /p/src/main.rs:21: loop {"));
    }

    #[test]
    fn stops_at_nul_and_keeps_tail() {
        let mut raw = String::new();
        for i in 0..100 {
            raw.push_str(&format!("{i}: insn\n"));
        }
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(b"\0garbage");
        let log = VerifierLog::new(&bytes, true);
        assert!(!log.full().contains("garbage"));
        let shown = log.to_string();
        assert!(shown.contains("99: insn"));
        assert!(!shown.contains("\n    10: insn"));
        assert!(shown.contains("truncated"));
    }

    #[test]
    fn names_the_program_line_around_inlined_library_code() {
        let raw = "; let total = ctx.read::<[u8; 2]>(at); @ /src/prog/src/lib.rs:30\n\
                   9: (bf) r1 = r2\n\
                   ; _ => unsafe { read_unaligned(p) }, @ /work/iu-ebpf/src/programs/packet.rs:72\n\
                   10: (71) r1 = *(u8 *)(r1 -1)\n\
                   R1 offset is outside of the packet\n";
        let log = VerifierLog::new(raw.as_bytes(), false);
        assert_eq!(log.source_line().unwrap().line, 72);
        let program = log.program_line().unwrap();
        assert_eq!(
            (program.file.as_str(), program.line),
            ("/src/prog/src/lib.rs", 30)
        );
        let shown = log.to_string();
        assert!(
            shown.contains("at /src/prog/src/lib.rs:30: let total")
                && shown.contains("inside /work/iu-ebpf/src/programs/packet.rs:72"),
            "{shown}"
        );
    }

    #[test]
    fn resolves_the_logs_short_file_names_through_the_line_info() {
        let raw = "; let v = table[i]; @ main.rs:12\n\
                   7: (bf) r1 = r2\n\
                   ; f() @ panic.rs:34\n\
                   8: (85) call bpf_throw\n\
                   bpf_throw would lead to reference leak\n";
        let log = VerifierLog::new(raw.as_bytes(), false).with_files(vec![
            "/work/iu-ebpf/src/panic.rs".to_owned(),
            "/work/prog/src/main.rs".to_owned(),
        ]);
        let program = log.program_line().unwrap();
        assert_eq!(
            (program.file.as_str(), program.line),
            ("/work/prog/src/main.rs", 12)
        );
        let shown = log.to_string();
        assert!(
            shown.contains("at /work/prog/src/main.rs:12: let v = table[i];")
                && shown.contains("inside panic.rs:34"),
            "{shown}"
        );
    }
}
