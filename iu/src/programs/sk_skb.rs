//! sk_skb programs: attached to a socket map, run on the data its sockets
//! receive (`BPF_SK_SKB_STREAM_PARSER`, `BPF_SK_SKB_STREAM_VERDICT`).

use aya_obj::{ProgramSection, generated::bpf_attach_type, programs::SkSkbKind};

use super::{Program, SockMapLink};
use crate::{
    error::{Error, Result},
    maps::SocketMap,
};

/// A loaded sk_skb program (a stream parser or a stream verdict), ready to
/// attach to a `SockMap` or `SockHash`.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let socks = ebpf.sock_map("SOCKS")?;
/// let parser = ebpf.sk_skb("whole")?.attach(&socks)?;
/// let verdict = ebpf.sk_skb("forward")?.attach(&socks)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SkSkb<'a> {
    program: &'a Program,
    kind: SkSkbKind,
}

impl<'a> SkSkb<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SkSkbStream { kind } => Ok(Self { program, kind }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "an sk_skb program (`#[sk_skb(stream_parser)]` or `#[sk_skb(stream_verdict)]`)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Whether it is a stream parser (else a stream verdict).
    pub fn is_parser(&self) -> bool {
        matches!(self.kind, SkSkbKind::StreamParser)
    }

    /// Attaches to `map` at the program's hook (parser or verdict), until
    /// the link drops. A map's sockets run their data through the parser
    /// (when there is one) and then the verdict.
    pub fn attach(&self, map: &impl SocketMap) -> Result<SockMapLink> {
        let (attach_type, hook) = match self.kind {
            SkSkbKind::StreamParser => (
                bpf_attach_type::BPF_SK_SKB_STREAM_PARSER,
                "sk_skb stream parser",
            ),
            SkSkbKind::StreamVerdict => (
                bpf_attach_type::BPF_SK_SKB_STREAM_VERDICT,
                "sk_skb stream verdict",
            ),
        };
        super::sock_map_attach::attach(self.program, map, attach_type as u32, hook)
    }
}
