//! error_injector on the host: only the target process gets the chosen
//! return value, and each override is counted.

use iu_ebpf::{programs::ProbeContext, sim};

use super::{CONFIG, INJECTED, error_injector};

fn getppid() -> u32 {
    error_injector(ProbeContext::from_registers([0; 6], 0))
}

#[test]
fn only_the_target_process_is_overridden() {
    let _session = sim::session();
    CONFIG.set(0, &1234).expect("index 0 exists");
    CONFIG.set(1, &99).expect("index 1 exists");

    sim::set_pid(1234, 1234);
    assert_eq!(getppid(), 0);
    assert_eq!(sim::take_override_return(), Some(99));
    assert_eq!(getppid(), 0);
    assert_eq!(sim::take_override_return(), Some(99));

    sim::set_pid(555, 555);
    assert_eq!(getppid(), 0);
    assert_eq!(sim::take_override_return(), None);
    assert_eq!(INJECTED.get(0), Some(2));
}

#[test]
fn nothing_is_overridden_before_a_target_is_set() {
    let _session = sim::session();
    // CONFIG is all zeros: pid 0 is the idle task, never a caller.
    sim::set_pid(1, 1);
    assert_eq!(getppid(), 0);
    assert_eq!(sim::take_override_return(), None);
    assert_eq!(INJECTED.get(0), Some(0));
}
