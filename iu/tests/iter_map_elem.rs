//! A map iterator read from user space through its link: one record per
//! entry of the map it was attached to, typed on the program side.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod iter_support;

use iu::{Ebpf, Error, maps::BPF_ANY};

fn load() -> Option<Ebpf> {
    iter_support::load("iter_map_elem", "map iterators")
}

#[test]
fn map_iterator_gives_every_entry_of_the_attached_map() {
    let Some(ebpf) = load() else { return };
    let counts = ebpf.hash_map::<u32, u64>("COUNTS").unwrap();
    let link = ebpf
        .iter("entries")
        .unwrap()
        .attach_map(ebpf.map("COUNTS").unwrap())
        .unwrap();
    assert_eq!(link.target(), "iter/bpf_map_elem");
    // An empty map: a walk with no record.
    assert_eq!(link.stream::<[u64; 3]>().unwrap().count(), 0);

    let mut expected: Vec<(u64, u64)> = (0..40u32)
        .map(|k| (u64::from(k) * 7 + 1, u64::from(k) << 33 | 5))
        .collect();
    for &(k, v) in &expected {
        counts.insert(&(k as u32), &v, BPF_ANY).unwrap();
    }
    let records: Vec<[u64; 3]> = link
        .stream::<[u64; 3]>()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // The program numbers its calls from 0, in the map's order.
    assert_eq!(
        records.iter().map(|r| r[2]).collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
    let mut seen: Vec<(u64, u64)> = records.iter().map(|r| (r[0], r[1])).collect();
    seen.sort_unstable();
    expected.sort_unstable();
    assert_eq!(seen, expected);

    // Each walk reads the map as it is now.
    counts.remove(&1).unwrap();
    assert_eq!(link.records::<[u64; 3]>().unwrap().len(), 39);
    // A record size the program does not write: the walk says so.
    let odd = link.stream::<[u8; 5]>().unwrap().last().unwrap();
    assert!(odd.is_err(), "39 * 24 bytes are not whole 5-byte records");
}

#[test]
fn map_iterator_refuses_smaller_values_or_no_map() {
    let Some(ebpf) = load() else { return };
    let iter = ebpf.iter("entries").unwrap();
    // NARROW's u32 values are smaller than the program's u64.
    match iter.attach_map(ebpf.map("NARROW").unwrap()) {
        Err(Error::Attach { source, .. }) => {
            assert_eq!(source.errno(), Some(libc::EACCES), "{source}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(iter.attach(), Err(Error::WrongProgramType { .. })));
}
