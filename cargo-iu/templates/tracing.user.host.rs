//! {{name}} on the host: the real program function, with iu-ebpf's
//! simulated maps and helpers (no root needed: `cargo test --test
//! host`).

use iu_ebpf::{{sim_imports}};
use {{crate}}_common::EVENTS;

use {{crate}}_ebpf::{COUNTS, TARGET, {{crate}}};

fn call() -> u32 {
    {{crate}}({{host_context}})
}

#[test]
fn counts_every_process_until_a_target_is_set() {
    let _sim = sim::session(); // serializes map users and empties the maps
    sim::set_pid(100, 100);
    assert_eq!(call(), 0);
    sim::set_pid(200, 200);
    assert_eq!(call(), 0);
    assert_eq!(COUNTS.get(EVENTS), Some(2));
}

#[test]
fn counts_only_the_target_process() {
    let _sim = sim::session();
    TARGET.set(0, &4242).expect("index 0 exists");
    sim::set_pid(4242, 4242);
    call();
    call();
    sim::set_pid(7, 7);
    call();
    assert_eq!(COUNTS.get(EVENTS), Some(2));
}
