//! Socket maps: `SockMap` (`BPF_MAP_TYPE_SOCKMAP`, Linux 4.14) and
//! `SockHash` (`BPF_MAP_TYPE_SOCKHASH`, 4.18). User space puts sockets in
//! them (`iu::maps::SockMap::insert`); `#[sk_msg]` and `#[sk_skb]`
//! programs attached to the map see those sockets' data and may redirect
//! it to another socket of the map, and `#[sk_lookup]` programs take a
//! socket out of one to steer a connection to it.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use super::{map_def, map_type};
use crate::programs::{SkAction, SkMsgContext, SkSkbContext};

/// Where a redirected message or stream data goes (`BPF_F_INGRESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockDirection {
    /// Out of the target socket, as if it had sent the data: the target's
    /// peer receives it.
    Egress = 0,
    /// Into the target socket's receive queue, as if its peer had sent it.
    Ingress = 1,
}

/// A socket taken from a socket map (`bpf_map_lookup_elem` on a
/// `SockMap`/`SockHash`), held by reference until it drops
/// (`bpf_sk_release`). Give it to `SkLookupContext::assign`.
pub struct SocketRef {
    #[cfg(target_arch = "bpf")]
    sk: *mut c_void,
    #[cfg(not(target_arch = "bpf"))]
    cookie: u64,
}

impl SocketRef {
    /// The raw `struct bpf_sock *`, for helpers.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    pub(crate) fn raw(&self) -> *mut c_void {
        self.sk
    }

    /// The simulated socket's cookie (what user space inserted), on the
    /// host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn cookie(&self) -> u64 {
        self.cookie
    }

    /// Wraps what a socket map lookup returned.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn from_lookup(sk: *mut c_void) -> Option<Self> {
        // Not `then_some`: it would build (and so drop, releasing null) a
        // `SocketRef` when the lookup found nothing.
        if sk.is_null() {
            None
        } else {
            Some(Self { sk })
        }
    }
}

impl Drop for SocketRef {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `sk` is the referenced socket a socket map lookup
        // returned, released exactly once, here (the verifier checks that
        // every path releases it, and `SocketRef` is neither `Clone` nor
        // `Copy`).
        unsafe {
            crate::helpers::raw::sk_release(self.sk);
        }
    }
}

map_def! {
    /// `BPF_MAP_TYPE_SOCKMAP`: `MAX_ENTRIES` slots indexed by `u32`, each
    /// empty or holding a socket user space put there. Attach `#[sk_msg]`
    /// and `#[sk_skb]` programs to the map (from user space) to see its
    /// sockets' traffic; redirect it with [`SockMap::redirect_msg`] and
    /// [`SockMap::redirect_skb`].
    ///
    /// ```
    /// use iu_ebpf::{map, maps::{SockMap, SockDirection}, programs::{SkAction, SkMsgContext}, sk_msg};
    ///
    /// #[map]
    /// static PAIR: SockMap<2> = SockMap::new();
    ///
    /// /// What socket 0 sends goes out of socket 1.
    /// #[sk_msg]
    /// fn swap(ctx: SkMsgContext) -> SkAction {
    ///     PAIR.redirect_msg(&ctx, 1, SockDirection::Egress)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # assert_eq!(swap(SkMsgContext::from_values(2, 1, 2, 3)), SkAction::Drop);
    /// # PAIR.host_set(1, 9);
    /// # assert_eq!(swap(SkMsgContext::from_values(2, 1, 2, 3)), SkAction::Pass);
    /// ```
    pub struct SockMap<; MAX_ENTRIES> {
        r#type: [i32; map_type::SOCKMAP],
        key: u32,
        value: u64,
        max_entries: [i32; MAX_ENTRIES],
    }
    host: super::host::Array<u64, MAX_ENTRIES, 1>;
}

map_def! {
    /// `BPF_MAP_TYPE_SOCKHASH`: up to `MAX_ENTRIES` sockets under keys of
    /// type `K` (a port, a 4-tuple, ...). See [`SockMap`].
    ///
    /// ```
    /// use iu_ebpf::{map, maps::{SockHash, SockDirection}, programs::{SkAction, SkSkbContext}, sk_skb};
    ///
    /// #[map]
    /// static BY_PORT: SockHash<u32, 64> = SockHash::new();
    ///
    /// /// Data arriving on a socket goes into the receive queue of the
    /// /// socket whose local port is one higher.
    /// #[sk_skb(stream_verdict)]
    /// fn next(ctx: SkSkbContext) -> SkAction {
    ///     let to = u32::from(ctx.local_port()) + 1;
    ///     BY_PORT.redirect_skb(&ctx, &to, SockDirection::Ingress)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # BY_PORT.host_insert(&81, 4);
    /// # assert_eq!(next(SkSkbContext::from_packet(b"x", 80, 1)), SkAction::Pass);
    /// # assert_eq!(next(SkSkbContext::from_packet(b"x", 81, 1)), SkAction::Drop);
    /// ```
    pub struct SockHash<K; MAX_ENTRIES> {
        r#type: [i32; map_type::SOCKHASH],
        key: K,
        value: u64,
        max_entries: [i32; MAX_ENTRIES],
    }
    host: super::host::Hash<K, u64, MAX_ENTRIES, 1>;
}

impl<const MAX_ENTRIES: usize> SockMap<MAX_ENTRIES> {
    /// Sends the message to the socket in slot `index` instead
    /// (`bpf_msg_redirect_map`): returns [`SkAction::Pass`], which the
    /// program must return for the redirect to happen, or
    /// [`SkAction::Drop`] when the slot is empty.
    #[inline(always)]
    pub fn redirect_msg(&self, ctx: &SkMsgContext, index: u32, to: SockDirection) -> SkAction {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: the context is this run's sk_msg context, `self` a
            // `#[map]` sockmap, and the flags `0` or `BPF_F_INGRESS`.
            let ret = unsafe {
                crate::helpers::raw::msg_redirect_map(
                    crate::programs::raw_context(ctx),
                    self.as_ptr(),
                    index,
                    to as u64,
                )
            };
            SkAction::from_return(ret)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = (ctx, to);
            self.host_verdict(index)
        }
    }

    /// Sends the received data to the socket in slot `index` instead
    /// (`bpf_sk_redirect_map`): returns [`SkAction::Pass`], which the
    /// program must return for the redirect to happen, or
    /// [`SkAction::Drop`] when the slot is empty.
    #[inline(always)]
    pub fn redirect_skb(&self, ctx: &SkSkbContext, index: u32, to: SockDirection) -> SkAction {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: the context is this run's `__sk_buff` of an sk_skb
            // program, `self` a `#[map]` sockmap, the flags 0 or ingress.
            let ret = unsafe {
                crate::helpers::raw::sk_redirect_map(
                    crate::programs::raw_context(ctx),
                    self.as_ptr(),
                    index,
                    to as u64,
                )
            };
            SkAction::from_return(ret)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = (ctx, to);
            self.host_verdict(index)
        }
    }

    /// The socket in slot `index`, held until the [`SocketRef`] drops, or
    /// `None` when the slot is empty.
    #[inline(always)]
    pub fn socket(&self, index: u32) -> Option<SocketRef> {
        #[cfg(target_arch = "bpf")]
        {
            let key = index;
            // SAFETY: `self` is a `#[map]` sockmap with `u32` keys; a lookup
            // in it returns null or a referenced socket, which `SocketRef`
            // releases.
            let sk = unsafe {
                crate::helpers::raw::map_lookup_elem(self.as_ptr(), (&key as *const u32).cast())
            };
            SocketRef::from_lookup(sk)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim
                .get(index)
                .filter(|&cookie| cookie != 0)
                .map(|cookie| SocketRef { cookie })
        }
    }

    #[cfg(not(target_arch = "bpf"))]
    fn host_verdict(&self, index: u32) -> SkAction {
        match self.sim.get(index) {
            Some(cookie) if cookie != 0 => SkAction::Pass,
            _ => SkAction::Drop,
        }
    }

    /// Puts a simulated socket (any non-zero cookie) in slot `index`; 0
    /// empties it. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_set(&self, index: u32, cookie: u64) {
        let _ = self.sim.set(index, &cookie, super::BPF_ANY);
    }
}

impl<K: crate::Pod, const MAX_ENTRIES: usize> SockHash<K, MAX_ENTRIES> {
    /// Sends the message to the socket at `key` instead
    /// (`bpf_msg_redirect_hash`): returns [`SkAction::Pass`], which the
    /// program must return for the redirect to happen, or
    /// [`SkAction::Drop`] when there is none.
    #[inline(always)]
    pub fn redirect_msg(&self, ctx: &SkMsgContext, key: &K, to: SockDirection) -> SkAction {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: the context is this run's sk_msg context, `self` a
            // `#[map]` sockhash with `K` keys, `key` a `K`, the flags 0 or
            // ingress.
            let ret = unsafe {
                crate::helpers::raw::msg_redirect_hash(
                    crate::programs::raw_context(ctx),
                    self.as_ptr(),
                    (key as *const K).cast(),
                    to as u64,
                )
            };
            SkAction::from_return(ret)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = (ctx, to);
            self.host_verdict(key)
        }
    }

    /// Sends the received data to the socket at `key` instead
    /// (`bpf_sk_redirect_hash`): returns [`SkAction::Pass`], which the
    /// program must return for the redirect to happen, or
    /// [`SkAction::Drop`] when there is none.
    #[inline(always)]
    pub fn redirect_skb(&self, ctx: &SkSkbContext, key: &K, to: SockDirection) -> SkAction {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `redirect_msg`, with an sk_skb context.
            let ret = unsafe {
                crate::helpers::raw::sk_redirect_hash(
                    crate::programs::raw_context(ctx),
                    self.as_ptr(),
                    (key as *const K).cast(),
                    to as u64,
                )
            };
            SkAction::from_return(ret)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = (ctx, to);
            self.host_verdict(key)
        }
    }

    /// The socket at `key`, held until the [`SocketRef`] drops, or `None`.
    #[inline(always)]
    pub fn socket(&self, key: &K) -> Option<SocketRef> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `self` is a `#[map]` sockhash with `K` keys; a lookup
            // returns null or a referenced socket, which `SocketRef`
            // releases.
            let sk = unsafe {
                crate::helpers::raw::map_lookup_elem(self.as_ptr(), (key as *const K).cast())
            };
            SocketRef::from_lookup(sk)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.get(key).map(|cookie| SocketRef { cookie })
        }
    }

    #[cfg(not(target_arch = "bpf"))]
    fn host_verdict(&self, key: &K) -> SkAction {
        match self.sim.get(key) {
            Some(_) => SkAction::Pass,
            None => SkAction::Drop,
        }
    }

    /// Puts a simulated socket (its cookie) at `key`. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_insert(&self, key: &K, cookie: u64) {
        let _ = self.sim.insert(key, &cookie, super::BPF_ANY, false);
    }
}
