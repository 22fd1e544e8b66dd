//! Flow dissectors (`BPF_PROG_TYPE_FLOW_DISSECTOR`, Linux 4.20): attached
//! to a network namespace, they replace the kernel's own packet parsing
//! wherever it dissects a flow (receive hashing, RPS, `tc flower`, packet
//! fanout, ...), filling `struct bpf_flow_keys` from the packet.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use crate::Pod;

/// What a flow dissector returns.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDissectorAction {
    /// The keys are set: the kernel uses them (`BPF_OK`).
    Ok = 0,
    /// The packet cannot be dissected (`BPF_DROP`): the kernel's caller
    /// treats the flow as unknown.
    Drop = 2,
    /// Let the kernel's own dissector do it (`BPF_FLOW_DISSECTOR_CONTINUE`,
    /// Linux 6.1).
    Continue = 129,
}

impl crate::ProgramReturn for FlowDissectorAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

/// Offsets in `struct bpf_flow_keys`.
mod offset {
    pub const NHOFF: usize = 0;
    pub const THOFF: usize = 2;
    pub const ADDR_PROTO: usize = 4;
    pub const IS_FRAG: usize = 6;
    pub const IS_FIRST_FRAG: usize = 7;
    pub const IS_ENCAP: usize = 8;
    pub const IP_PROTO: usize = 9;
    pub const N_PROTO: usize = 10;
    pub const SPORT: usize = 12;
    pub const DPORT: usize = 14;
    pub const ADDRS: usize = 16;
    pub const FLAGS: usize = 48;
    pub const FLOW_LABEL: usize = 52;
    /// `sizeof(struct bpf_flow_keys)`.
    #[cfg(not(target_arch = "bpf"))]
    pub const SIZE: usize = 56;
}

/// The context of a `#[flow_dissector]` program: the packet (read with
/// `read`, `bpf_skb_load_bytes`; the network header starts at
/// [`nhoff`](Self::nhoff)) and the flow keys it fills. Byte-order: `n_proto`,
/// ports and addresses are in network order, as in the packet.
///
/// ```
/// use iu_ebpf::{flow_dissector, programs::{FlowDissectorAction, FlowDissectorContext}};
///
/// /// IPv4 without options or fragments, TCP or UDP ports.
/// #[flow_dissector]
/// fn dissect(mut ctx: FlowDissectorContext) -> FlowDissectorAction {
///     let nh = usize::from(ctx.nhoff());
///     let Some(ip) = ctx.read::<[u8; 20]>(nh) else { return FlowDissectorAction::Drop };
///     if ip[0] != 0x45 {
///         return FlowDissectorAction::Continue;
///     }
///     ctx.set_addr_proto(0x0800);
///     ctx.set_ip_proto(ip[9]);
///     ctx.set_ipv4([ip[12], ip[13], ip[14], ip[15]], [ip[16], ip[17], ip[18], ip[19]]);
///     ctx.set_thoff(ctx.nhoff() + 20);
///     if let Some(ports) = ctx.read::<[[u8; 2]; 2]>(nh + 20) {
///         ctx.set_ports(ports[0], ports[1]);
///     }
///     FlowDissectorAction::Ok
/// }
/// # static PACKET: [u8; 24] = [0x45, 0, 0, 24, 0, 0, 0, 0, 64, 17, 0, 0,
/// #     10, 0, 0, 1, 10, 0, 0, 2, 0x10, 0x92, 0x00, 0x35];
/// # assert_eq!(dissect(FlowDissectorContext::from_packet(&PACKET, 0)), FlowDissectorAction::Ok);
/// ```
pub struct FlowDissectorContext {
    #[cfg(target_arch = "bpf")]
    skb: *mut c_void,
    #[cfg(target_arch = "bpf")]
    keys: *mut u8,
    /// On the host: the packet and the keys, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    host: (&'static [u8], [u8; offset::SIZE]),
}

/// `data`, `data_end` and `flow_keys` in `struct __sk_buff`.
#[cfg(target_arch = "bpf")]
const DATA: usize = 76;
#[cfg(target_arch = "bpf")]
const DATA_END: usize = 80;
#[cfg(target_arch = "bpf")]
const FLOW_KEYS: usize = 144;

impl FlowDissectorContext {
    #[inline(always)]
    fn get<T: Pod>(&self, at: usize) -> T {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `keys` is this run's `struct bpf_flow_keys`, readable at
        // constant offsets within its size (each caller's field).
        return unsafe { self.keys.add(at).cast::<T>().read_volatile() };
        #[cfg(not(target_arch = "bpf"))]
        T::from_bytes(&self.host.1[at..]).unwrap_or_else(T::zeroed)
    }

    #[inline(always)]
    fn put<T: Pod>(&mut self, at: usize, value: T) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `keys` is this run's `struct bpf_flow_keys`, writable by
        // flow dissectors at constant offsets within its size.
        unsafe {
            self.keys.add(at).cast::<T>().write_volatile(value)
        };
        #[cfg(not(target_arch = "bpf"))]
        self.host.1[at..at + core::mem::size_of::<T>()].copy_from_slice(value.as_bytes());
    }

    /// A copy of the `T` at byte `offset` of the packet, or `None` if the
    /// packet is shorter: a direct read of the linear data, else
    /// `bpf_skb_load_bytes` (which has no packet under
    /// `BPF_PROG_TEST_RUN`, where the data is all linear).
    #[inline(always)]
    pub fn read<T: Pod>(&self, offset: usize) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `skb` is this run's `__sk_buff`; the verifier rewrites
            // these 32-bit loads into the packet pointers.
            let (start, end) = unsafe {
                let data = self.skb.cast::<u8>().add(DATA).cast::<u32>().read();
                let end = self.skb.cast::<u8>().add(DATA_END).cast::<u32>().read();
                (data as usize as *const u8, end as usize as *const u8)
            };
            if let Some(value) = super::packet::read(start, end, offset) {
                return Some(value);
            }
            let mut value = T::zeroed();
            // SAFETY: `skb` is this run's context; the helper copies
            // `size_of::<T>()` bytes into `value` (valid for any bytes) or
            // fails when the packet is too short.
            let ret = unsafe {
                crate::helpers::raw::skb_load_bytes(
                    self.skb,
                    offset as u32,
                    (&mut value as *mut T).cast(),
                    core::mem::size_of::<T>() as u32,
                )
            };
            (ret == 0).then_some(value)
        }
        #[cfg(not(target_arch = "bpf"))]
        T::from_bytes(self.host.0.get(offset..)?)
    }

    /// Where the network header starts in the packet (set by the kernel).
    #[inline(always)]
    pub fn nhoff(&self) -> u16 {
        self.get(offset::NHOFF)
    }
    /// Where the transport header starts (the kernel sets it to `nhoff`).
    #[inline(always)]
    pub fn thoff(&self) -> u16 {
        self.get(offset::THOFF)
    }
    /// Sets where the transport header starts.
    #[inline(always)]
    pub fn set_thoff(&mut self, thoff: u16) {
        self.put(offset::THOFF, thoff)
    }
    /// The packet's network protocol (`ETH_P_*`, network order), set by
    /// the kernel from the link layer.
    #[inline(always)]
    pub fn n_proto(&self) -> [u8; 2] {
        self.get(offset::N_PROTO)
    }
    /// Sets the network protocol (network order bytes).
    #[inline(always)]
    pub fn set_n_proto(&mut self, n_proto: [u8; 2]) {
        self.put(offset::N_PROTO, n_proto)
    }
    /// Sets which addresses are valid: `ETH_P_IP` (0x0800) or `ETH_P_IPV6`
    /// (0x86dd), host order.
    #[inline(always)]
    pub fn set_addr_proto(&mut self, proto: u16) {
        self.put(offset::ADDR_PROTO, proto)
    }
    /// Sets the transport protocol (`IPPROTO_*`).
    #[inline(always)]
    pub fn set_ip_proto(&mut self, proto: u8) {
        self.put(offset::IP_PROTO, proto)
    }
    /// Marks the packet a fragment, and whether it is the first.
    #[inline(always)]
    pub fn set_frag(&mut self, is_frag: bool, is_first: bool) {
        self.put(offset::IS_FRAG, u8::from(is_frag));
        self.put(offset::IS_FIRST_FRAG, u8::from(is_first));
    }
    /// Marks the packet encapsulated.
    #[inline(always)]
    pub fn set_encap(&mut self, is_encap: bool) {
        self.put(offset::IS_ENCAP, u8::from(is_encap))
    }
    /// Sets the source and destination ports (network order bytes, as in
    /// the transport header).
    #[inline(always)]
    pub fn set_ports(&mut self, source: [u8; 2], dest: [u8; 2]) {
        self.put(offset::SPORT, source);
        self.put(offset::DPORT, dest);
    }
    /// Sets the IPv4 addresses (network order bytes).
    #[inline(always)]
    pub fn set_ipv4(&mut self, source: [u8; 4], dest: [u8; 4]) {
        self.put(offset::ADDRS, source);
        self.put(offset::ADDRS + 4, dest);
    }
    /// Sets the IPv6 addresses (network order bytes).
    #[inline(always)]
    pub fn set_ipv6(&mut self, source: [u8; 16], dest: [u8; 16]) {
        // In 4-byte stores: the keys are 4-byte aligned.
        let mut i = 0;
        while i < 4 {
            let at = i * 4;
            self.put(
                offset::ADDRS + at,
                [source[at], source[at + 1], source[at + 2], source[at + 3]],
            );
            self.put(
                offset::ADDRS + 16 + at,
                [dest[at], dest[at + 1], dest[at + 2], dest[at + 3]],
            );
            i += 1;
        }
    }
    /// Sets the IPv6 flow label (network order bytes).
    #[inline(always)]
    pub fn set_flow_label(&mut self, label: [u8; 4]) {
        self.put(offset::FLOW_LABEL, label)
    }
    /// The caller's `BPF_FLOW_DISSECTOR_F_*` flags (stop at the first
    /// fragment, at the flow label, at encapsulation).
    #[inline(always)]
    pub fn flags(&self) -> u32 {
        self.get(offset::FLAGS)
    }

    /// A context for `packet` whose network header starts at `nhoff`, for
    /// unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_packet(packet: &'static [u8], nhoff: u16) -> Self {
        let mut keys = [0u8; offset::SIZE];
        keys[offset::NHOFF..offset::NHOFF + 2].copy_from_slice(&nhoff.to_ne_bytes());
        keys[offset::THOFF..offset::THOFF + 2].copy_from_slice(&nhoff.to_ne_bytes());
        Self {
            host: (packet, keys),
        }
    }

    /// The keys as set so far (`struct bpf_flow_keys`'s bytes), for unit
    /// tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn keys_bytes(&self) -> [u8; 56] {
        self.host.1
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::FlowDissector> for FlowDissectorContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        // SAFETY: `ctx` is the run's `__sk_buff`, whose `flow_keys`
        // pointer (a u64 at 144) flow dissectors may read; the caller
        // guarantees `ctx` is a flow dissector's context.
        let keys = unsafe {
            ctx.cast::<u8>()
                .add(FLOW_KEYS)
                .cast::<*mut u8>()
                .read_volatile()
        };
        Self { skb: ctx, keys }
    }
}

impl super::private::Sealed for FlowDissectorContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.skb
    }
}
