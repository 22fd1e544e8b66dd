//! What bmc's tests and benchmark share: crafted packets for
//! `BPF_PROG_TEST_RUN` ([`packets`]) and a lab of network namespaces with
//! real memcached servers behind veth pairs ([`lab`]), and the load
//! generator, over UDP sockets ([`load`]) or an AF_XDP socket
//! ([`xsk_load`]).
#![forbid(unsafe_code)]

pub mod lab;
pub mod load;
pub mod packets;
pub mod xsk_load;
