//! A user ring buffer: user space produces records, a program drains them
//! with `bpf_user_ringbuf_drain` (Linux 6.1+).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::time::Duration;

use iu::{Ebpf, Error, Pod, features, maps::UserRingBuf};

/// `Command` of the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod)]
struct Command {
    slot: u32,
    stop: u32,
    delta: u64,
}

fn command(slot: u32, delta: u64) -> Command {
    Command {
        slot,
        stop: 0,
        delta,
    }
}

/// Loads the object, or says why this kernel cannot.
fn load() -> Option<Ebpf> {
    if !features::map_type(iu::maps::map_type::USER_RINGBUF) {
        iu::testing::skip_missing("user ring buffers", "BPF_MAP_TYPE_USER_RINGBUF (Linux 6.1)");
        return None;
    }
    Some(Ebpf::load_file(iu::object_dir().join("user_ring_buf")).unwrap())
}

/// Runs the draining program; what it returned.
fn apply(ebpf: &Ebpf) -> i32 {
    ebpf.syscall("apply").unwrap().run(&mut 0u64).unwrap()
}

fn totals(ebpf: &Ebpf) -> Vec<u64> {
    ebpf.array::<u64>("TOTALS").unwrap().values().unwrap()
}

#[test]
fn records_pushed_by_user_space_are_drained_by_the_program_in_order() {
    let Some(ebpf) = load() else { return };
    let mut commands = UserRingBuf::new(ebpf.map("COMMANDS").unwrap()).unwrap();
    assert_eq!(apply(&ebpf), 0, "nothing to drain");

    assert!(commands.push(&command(0, 5)).unwrap());
    assert!(commands.push(&command(1, 7)).unwrap());
    assert!(commands.push(&command(0, 100)).unwrap());
    assert_eq!(
        commands.pending(),
        3 * UserRingBuf::record_room::<Command>()
    );
    assert_eq!(apply(&ebpf), 3);
    assert_eq!(totals(&ebpf), [105, 7, 0, 0]);
    assert_eq!(commands.pending(), 0, "the kernel consumed them");

    // A record that breaks the drain leaves the rest for the next run.
    let mut stop = command(2, 1);
    stop.stop = 1;
    commands.push(&stop).unwrap();
    commands.push(&command(3, 9)).unwrap();
    assert_eq!(apply(&ebpf), 1);
    assert_eq!(totals(&ebpf), [105, 7, 1, 0]);
    assert_eq!(apply(&ebpf), 1);
    assert_eq!(totals(&ebpf), [105, 7, 1, 9]);
}

#[test]
fn a_full_buffer_says_so_and_bad_records_are_typed_errors() {
    let Some(ebpf) = load() else { return };
    let map = ebpf.map("COMMANDS").unwrap();
    let mut commands = UserRingBuf::new(map).unwrap();
    assert!(matches!(
        UserRingBuf::new(map).unwrap_err(),
        Error::ProducerBusy { .. }
    ));

    let room = UserRingBuf::record_room::<Command>();
    let fits = commands.free() / room;
    for i in 0..fits {
        assert!(commands.push(&command(0, 1)).unwrap(), "record {i}");
    }
    assert!(!commands.push(&command(0, 1)).unwrap(), "full");
    assert_eq!(apply(&ebpf), fits as i32);
    assert_eq!(totals(&ebpf)[0], fits as u64);

    let too_large = vec![0u8; commands.max_record() + 1];
    let error = commands.push_bytes(&too_large).unwrap_err();
    assert!(matches!(error, Error::RecordTooLarge { .. }), "{error}");

    // A record shorter than the program's type is skipped, not misread.
    commands.push_bytes(&[1, 2, 3]).unwrap();
    commands.push(&command(1, 2)).unwrap();
    assert_eq!(apply(&ebpf), 2);
    assert_eq!(totals(&ebpf)[1], 2);

    drop(commands);
    UserRingBuf::new(map).expect("the producer slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_for_the_program_to_make_room() {
    let Some(ebpf) = load() else { return };
    let ebpf = std::sync::Arc::new(ebpf);
    let mut commands = UserRingBuf::new(ebpf.map("COMMANDS").unwrap()).unwrap();
    while commands.push(&command(0, 1)).unwrap() {}
    let queued =
        totals(&ebpf)[0] + commands.pending() as u64 / UserRingBuf::record_room::<Command>() as u64;

    let sender = tokio::spawn(async move {
        commands.send(&command(1, 42)).await.unwrap();
        commands
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!sender.is_finished(), "no room until the program drains");

    let drained = apply(&ebpf);
    assert!(drained > 0);
    let commands = tokio::time::timeout(Duration::from_secs(10), sender)
        .await
        .expect("the drain woke the producer")
        .unwrap();
    assert_eq!(totals(&ebpf)[0], queued);
    assert_eq!(commands.pending(), UserRingBuf::record_room::<Command>());
    assert_eq!(apply(&ebpf), 1);
    assert_eq!(totals(&ebpf)[1], 42);
}
