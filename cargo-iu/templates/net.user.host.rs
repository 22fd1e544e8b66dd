//! {{name}} on the host: the real program function on packets built in the
//! test, with iu-ebpf's simulated maps (no root needed: `cargo test
//! --test host`).

use iu_ebpf::{
    programs::{{{action}}, {{context}}},
    sim,
};
use {{crate}}_common::{BYTES, EVENTS};

use {{crate}}_ebpf::{COUNTS, {{crate}}};

#[test]
fn passes_frames_and_counts_them() {
    let _sim = sim::session(); // serializes map users and empties the maps
    assert_eq!({{crate}}({{context}}::from_packet(&[0u8; 64])), {{action}}::{{pass}});
    assert_eq!({{crate}}({{context}}::from_packet(&[0u8; 1514])), {{action}}::{{pass}});
    assert_eq!(COUNTS.get(EVENTS), Some(2));
    assert_eq!(COUNTS.get(BYTES), Some(64 + 1514));
}

#[test]
fn drops_runts() {
    let _sim = sim::session();
    assert_eq!({{crate}}({{context}}::from_packet(&[0u8; 10])), {{action}}::{{drop}});
    assert_eq!(COUNTS.get(EVENTS), Some(1));
}
