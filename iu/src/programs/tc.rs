//! tc classifiers: attached to an interface's ingress or egress with TCX
//! links (Linux 6.6+), or before that as direct-action `cls_bpf` filters
//! on a `clsact` qdisc, over rtnetlink.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// Where on an interface a classifier runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcDirection {
    /// Packets the interface receives.
    Ingress,
    /// Packets the interface sends.
    Egress,
}

/// A loaded tc classifier, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::programs::TcDirection;
/// let link = ebpf.classifier("count")?.attach("eth0", TcDirection::Ingress)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Classifier<'a> {
    program: &'a Program,
}

impl<'a> Classifier<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SchedClassifier => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a tc classifier",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to `interface` in `direction`: with a TCX link after the
    /// classifiers already there (Linux 6.6+), or before that through
    /// rtnetlink ([`Classifier::attach_netlink`]).
    pub fn attach(&self, interface: &str, direction: TcDirection) -> Result<TcLink> {
        if !crate::features::tcx_link() {
            return self.attach_netlink(interface, direction);
        }
        let (ifindex, target) = self.interface(interface, direction, "")?;
        crate::cleanup::before_tc_attach(ifindex, direction == TcDirection::Ingress);
        let attach_type = match direction {
            TcDirection::Ingress => bpf_attach_type::BPF_TCX_INGRESS,
            TcDirection::Egress => bpf_attach_type::BPF_TCX_EGRESS,
        };
        let link = sys::link_create(self.program.as_fd(), ifindex, attach_type as u32, 0, 0)
            .map_err(|e| self.error(&target, "bpf(BPF_LINK_CREATE)", e))?;
        Ok(TcLink {
            link: Some(link),
            _filter: None,
            target,
        })
    }

    /// Attaches to `interface` in `direction` as a direct-action `cls_bpf`
    /// filter on the interface's `clsact` qdisc (added if missing, and left
    /// in place, as `tc` and libbpf do), over rtnetlink: the way for
    /// kernels without TCX, which [`Classifier::attach`] takes by itself
    /// there. The filter runs before the filters already on that hook; the
    /// link deletes exactly this filter when dropped. Such an attachment
    /// cannot be pinned.
    pub fn attach_netlink(&self, interface: &str, direction: TcDirection) -> Result<TcLink> {
        let (ifindex, target) = self.interface(interface, direction, " (netlink)")?;
        crate::cleanup::before_tc_attach(ifindex, direction == TcDirection::Ingress);
        sys::netlink::clsact_add(ifindex)
            .map_err(|e| self.error(&target, "rtnetlink(RTM_NEWQDISC clsact)", e))?;
        let filter = sys::netlink::cls_bpf_add(
            ifindex,
            direction == TcDirection::Ingress,
            self.program.as_fd().as_raw_fd(),
            &self.program.name,
        )
        .map_err(|e| self.error(&target, "rtnetlink(RTM_NEWTFILTER cls_bpf)", e))?;
        // The mark that lets `iu::cleanup` remove it if this process dies
        // without detaching.
        let record = self.program.info().ok().and_then(|info| {
            crate::cleanup::record(&crate::cleanup::Entry::Tc {
                netns: crate::cleanup::netns(),
                filter,
                prog_id: info.id,
            })
        });
        Ok(TcLink {
            link: None,
            _filter: Some(NetlinkFilter(filter, record)),
            target,
        })
    }

    /// The interface's index and the description of the hook.
    fn interface(
        &self,
        interface: &str,
        direction: TcDirection,
        how: &str,
    ) -> Result<(u32, String)> {
        let target = format!("tc {direction:?} on {interface}{how}").to_lowercase();
        let ifindex = nix::net::if_::if_nametoindex(interface).map_err(|e| Error::Attach {
            program: self.program.name.clone(),
            target: target.clone(),
            source: SyscallError::new("if_nametoindex", e.into()),
            hint: Some("no interface with that name: list them with `ip link`"),
        })?;
        Ok((ifindex, target))
    }

    fn error(&self, target: &str, call: &'static str, e: std::io::Error) -> Error {
        let hint = match e.raw_os_error() {
            Some(libc::EINVAL) if call.starts_with("bpf") => {
                Some("TCX links need Linux 6.6 or later: use Classifier::attach_netlink")
            }
            Some(libc::EOPNOTSUPP | libc::ENOENT) if call.starts_with("rtnetlink") => Some(
                "the kernel lacks the clsact qdisc or cls_bpf (CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF)",
            ),
            _ => None,
        };
        self.program.attach_error(
            target,
            call,
            e,
            "Attaching tc programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
            hint,
        )
    }
}

/// An attached classifier: a TCX link, or a `cls_bpf` filter on kernels
/// without TCX. Dropping it detaches the program.
#[derive(Debug)]
pub struct TcLink {
    pub(super) link: Option<OwnedFd>,
    _filter: Option<NetlinkFilter>,
    target: String,
}

impl TcLink {
    /// The hook, for example `tc ingress on veth0`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether the attachment is a TCX bpf_link (as opposed to a
    /// `cls_bpf` filter).
    pub fn is_bpf_link(&self) -> bool {
        self.link.is_some()
    }
}

/// A `cls_bpf` filter added through rtnetlink (it holds its own
/// reference to the program), deleted when dropped.
#[derive(Debug)]
struct NetlinkFilter(sys::netlink::TcFilter, Option<crate::cleanup::Record>);

impl Drop for NetlinkFilter {
    fn drop(&mut self) {
        // The record goes after the filter (when this returns).
        let _record = &self.1;
        // ENOENT: someone deleted it (or the interface) already.
        match sys::netlink::cls_bpf_del(&self.0) {
            Err(e)
                if e.raw_os_error() != Some(libc::ENOENT)
                    && e.raw_os_error() != Some(libc::ENODEV) =>
            {
                log::warn!("deleting tc filter {:?}: {e}", self.0);
            }
            _ => {}
        }
    }
}
