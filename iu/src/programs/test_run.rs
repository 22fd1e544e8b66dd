//! `Program::test_run`: running a program in the kernel on given input
//! (`BPF_PROG_TEST_RUN`), for XDP, tc/skb, socket filter and raw
//! tracepoint programs (syscall programs run with
//! [`Syscall::run`](super::Syscall::run)), and fentry/fexit: a test run of a tracing program
//! calls the kernel's `bpf_fentry_test1`..`8` once each, which the programs
//! attached to them see (the return value is 0 when each returned what it
//! should).

use std::os::fd::AsFd;

use super::Program;
use crate::{Error, Result, sys};

/// Input of a test run.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::programs::TestRun;
/// let packet = [0u8; 64];
/// let out = ebpf.program("firewall")?.test_run(&TestRun::packet(&packet).repeat(1000))?;
/// println!("returned {} in {} ns per run", out.retval, out.duration_ns);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestRun<'a> {
    data: &'a [u8],
    context: &'a [u8],
    repeat: u32,
    data_out: usize,
    context_out: usize,
}

impl<'a> TestRun<'a> {
    /// Runs on a packet (XDP, tc, socket filter). The output packet may grow
    /// by up to 256 bytes.
    pub fn packet(data: &'a [u8]) -> Self {
        Self {
            data,
            data_out: data.len() + 256,
            ..Self::default()
        }
    }

    /// Runs with a context (raw tracepoint arguments, at most 12 `u64`s in
    /// native byte order, or an `xdp_md`/`__sk_buff` alongside a packet).
    /// A raw tracepoint's context is not written back.
    pub fn context(mut self, context: &'a [u8]) -> Self {
        self.context = context;
        self.context_out = context.len();
        self
    }

    /// Lets the output packet grow by up to `bytes` bytes (256 by default):
    /// for programs that build a larger reply in place, such as an XDP
    /// cache answering a short request with a long value. A packet that
    /// grows past it fails with `ENOSPC`.
    ///
    /// ```
    /// # let packet = [0u8; 64];
    /// let input = iu::programs::TestRun::packet(&packet).output_room(2048);
    /// ```
    pub fn output_room(mut self, bytes: usize) -> Self {
        self.data_out = self.data.len() + bytes;
        self
    }

    /// Runs the program `n` times; the duration is the mean.
    pub fn repeat(mut self, n: u32) -> Self {
        self.repeat = n;
        self
    }
}

/// What a test run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value.
    pub retval: u32,
    /// The output packet.
    pub data: Vec<u8>,
    /// The output context.
    pub context: Vec<u8>,
    /// Mean time of one run, in nanoseconds.
    pub duration_ns: u32,
}

impl Program {
    /// Runs the program in the kernel on `input`, without attaching it.
    pub fn test_run(&self, input: &TestRun<'_>) -> Result<TestRunOutput> {
        if self.section_name == "syscall" {
            // The kernel writes a syscall program's context back into the
            // input, which is borrowed shared here.
            return Err(Error::WrongProgramType {
                name: self.name.clone(),
                expected: "a program that test_run takes (run syscall programs with `Ebpf::syscall(name)?.run(&mut args)`)",
                actual: self.section_name.clone(),
            });
        }
        // A raw tracepoint runs once on its arguments (`u64`s in the
        // context): the kernel refuses a packet, a repeat count, and an
        // output context (`bpf_prog_test_run_raw_tp`).
        let raw_tracepoint = matches!(self.section, aya_obj::ProgramSection::RawTracePoint);
        if raw_tracepoint && (!input.data.is_empty() || input.repeat > 1) {
            return Err(Error::WrongProgramType {
                name: self.name.clone(),
                expected: "a program that takes a packet or a repeat count (a raw tracepoint's test run takes only its arguments, `TestRun::default().context(&args)`, and runs once)",
                actual: self.section_name.clone(),
            });
        }
        let (data_out, context_out, repeat) = if raw_tracepoint {
            (0, 0, 0)
        } else {
            (input.data_out, input.context_out, input.repeat)
        };
        let mut data = vec![0u8; data_out];
        let mut context = vec![0u8; context_out];
        let result = sys::prog_test_run(
            self.fd.as_fd(),
            input.data,
            &mut data,
            input.context,
            &mut context,
            repeat,
        )
        .map_err(|e| Error::Attach {
            program: self.name.clone(),
            target: "BPF_PROG_TEST_RUN".into(),
            hint: match e.raw_os_error() {
                Some(libc::ENOTSUP | 524) => Some("the kernel cannot test-run this program type"),
                Some(libc::EINVAL) => Some("the input does not fit the program type (packet too short, or a context it does not take)"),
                _ => None,
            },
            source: sys::SyscallError::new("bpf(BPF_PROG_TEST_RUN)", e),
        })?;
        data.truncate(result.data_size_out as usize);
        context.truncate(result.ctx_size_out as usize);
        Ok(TestRunOutput {
            retval: result.retval,
            data,
            context,
            duration_ns: result.duration_ns,
        })
    }
}
