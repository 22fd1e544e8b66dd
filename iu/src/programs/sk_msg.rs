//! sk_msg programs: attached to a socket map, run on each message its
//! sockets send (`BPF_SK_MSG_VERDICT`).

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::{Program, SockMapLink};
use crate::{
    error::{Error, Result},
    maps::SocketMap,
};

/// A loaded sk_msg program, ready to attach to a `SockMap` or `SockHash`.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let socks = ebpf.sock_hash::<u32>("PEERS")?;
/// let link = ebpf.sk_msg("splice")?.attach(&socks)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SkMsg<'a> {
    program: &'a Program,
}

impl<'a> SkMsg<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SkMsg => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "an sk_msg program (`#[sk_msg]`)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to `map`: the program then sees every message its sockets
    /// send, until the link drops.
    pub fn attach(&self, map: &impl SocketMap) -> Result<SockMapLink> {
        super::sock_map_attach::attach(
            self.program,
            map,
            bpf_attach_type::BPF_SK_MSG_VERDICT as u32,
            "sk_msg verdict",
        )
    }
}
