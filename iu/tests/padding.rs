//! `LpmKey` and `SpinLocked` have no padding, whatever they hold: their
//! bytes on the user side, and as a program sends them through a ring
//! buffer on the running kernel, are exactly their fields.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf, Pod,
    maps::{BPF_ANY, LpmKey, RingBuf, SpinLocked},
    programs::TestRun,
};

#[test]
fn user_side_values_are_their_fields_and_nothing_else() {
    assert_eq!(size_of::<LpmKey<u8>>(), 5);
    assert_eq!(size_of::<LpmKey<u64>>(), 12);
    assert_eq!(size_of::<SpinLocked<u8>>(), 9);
    assert_eq!(LpmKey::new(8, 0xabu8).as_bytes(), [8, 0, 0, 0, 0xab]);
    let wide = LpmKey::new(64, 0x1122_3344_5566_7788u64);
    assert_eq!(
        wide.as_bytes(),
        [64, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
    );
    assert_eq!(SpinLocked::new(7u8).as_bytes(), [0, 0, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(LpmKey::<u64>::from_bytes(wide.as_bytes()), Some(wide));
    // The host simulation's per-CPU scratch slot is `Pod` and public (hidden).
    assert_eq!(size_of::<iu_ebpf::maps::HostSlot<u8>>(), 9);
    assert_eq!(iu_ebpf::maps::HostSlot::<u8>::zeroed().as_bytes(), [0; 9]);
}

#[tokio::test]
async fn a_program_sends_them_without_padding_and_a_one_byte_trie_works() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("padding")).unwrap();
    let mut ring = RingBuf::new(ebpf.map("RECORDS").unwrap()).unwrap();
    let mut seed = 0x1122_3344_5566_77abu64;
    assert_eq!(ebpf.syscall("emit").unwrap().run(&mut seed).unwrap(), 0);
    let mut records = vec![];
    ring.consume(|r| records.push(r.to_vec()));
    assert_eq!(
        records,
        [
            vec![8, 0, 0, 0, 0xab],
            vec![64, 0, 0, 0, 0xab, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11],
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0xab],
        ]
    );

    // A trie of 5-byte keys, filled and read from both sides.
    let small = ebpf.lpm_trie::<u8, u32>("SMALL").unwrap();
    small.insert(&LpmKey::new(8, 0xab), &7, BPF_ANY).unwrap();
    let run = |first: u8| {
        let mut packet = [0u8; 64];
        packet[0] = first;
        ebpf.program("small_lookup")
            .unwrap()
            .test_run(&TestRun::packet(&packet))
            .unwrap()
            .retval
    };
    assert_eq!(run(0xab), 1, "XDP_DROP: the program found the user's key");
    assert_eq!(run(0xac), 2, "XDP_PASS");
    assert_eq!(small.get(&LpmKey::new(8, 0xab)).unwrap(), Some(7));
    assert_eq!(
        small.get(&LpmKey::new(8, 0xa1)).unwrap(),
        Some(4),
        "the program's /4"
    );
    assert_eq!(small.get(&LpmKey::new(8, 0x1b)).unwrap(), None);
}
