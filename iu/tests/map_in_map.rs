//! Maps of maps: inner maps created, filled, inserted and swapped from user
//! space while a program reads and writes them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf, Error,
    maps::{Array, BPF_ANY, BPF_NOEXIST, HashMap, Map, map_type},
    programs::TestRun,
};

const DROP: u32 = 1;
const PASS: u32 = 2;
const ABORTED: u32 = 0;

fn load() -> Ebpf {
    Ebpf::load_file(iu::object_dir().join("map_in_map")).unwrap()
}

fn run(ebpf: &Ebpf) -> u32 {
    ebpf.program("config_swap")
        .unwrap()
        .test_run(&TestRun::packet(&[0u8; 64]))
        .unwrap()
        .retval
}

#[test]
fn a_config_swapped_from_user_space_is_the_one_the_program_uses() {
    let ebpf = load();
    let configs = ebpf.array_of_maps("CONFIGS").unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs.get_id(0).unwrap(), None);
    assert_eq!(run(&ebpf), ABORTED, "no config inserted yet");

    // Config v1: pass.
    let v1 = configs.create_inner("config_v1").unwrap();
    Array::<u64>::new(&v1).unwrap().set(0, &0).unwrap();
    configs.set(0, &v1).unwrap();
    assert_eq!(configs.get_id(0).unwrap(), Some(v1.id().unwrap()));
    assert_eq!(run(&ebpf), PASS);
    assert_eq!(run(&ebpf), PASS);

    // Config v2: drop, swapped in with one update.
    let v2 = configs.create_inner("config_v2").unwrap();
    Array::<u64>::new(&v2).unwrap().set(0, &1).unwrap();
    configs.set(0, &v2).unwrap();
    assert_eq!(configs.get_id(0).unwrap(), Some(v2.id().unwrap()));
    assert_eq!(run(&ebpf), DROP);

    // Each config counted the packets seen under it, in place.
    assert_eq!(Array::<u64>::new(&v1).unwrap().get(1).unwrap(), 2);
    assert_eq!(Array::<u64>::new(&v2).unwrap().get(1).unwrap(), 1);

    // Dropping our handle leaves the slot's reference: the map lives on.
    drop(v2);
    assert_eq!(run(&ebpf), DROP);
    assert!(configs.clear(0).unwrap());
    assert!(!configs.clear(0).unwrap());
    assert_eq!(run(&ebpf), ABORTED);
}

#[test]
fn inner_hash_maps_are_read_and_written_by_the_program() {
    let ebpf = load();
    let configs = ebpf.array_of_maps("CONFIGS").unwrap();
    let config = configs.create_inner("config").unwrap();
    configs.set(0, &config).unwrap();

    let tenants = ebpf.hash_of_maps::<u32>("TENANTS").unwrap();
    let limits = tenants.create_inner("tenant_7").unwrap();
    let typed = HashMap::<u32, u64>::new(&limits).unwrap();
    typed.insert(&80, &41, BPF_ANY).unwrap();
    tenants.insert(&7, &limits, BPF_NOEXIST).unwrap();
    assert_eq!(tenants.keys().unwrap(), vec![7]);
    assert_eq!(tenants.get_id(&7).unwrap(), Some(limits.id().unwrap()));
    assert_eq!(tenants.get_id(&8).unwrap(), None);

    assert_eq!(run(&ebpf), PASS);
    assert_eq!(ebpf.array::<u64>("SEEN").unwrap().get(0).unwrap(), 41);
    assert_eq!(typed.get(&81).unwrap(), Some(42), "written by the program");

    // BPF_NOEXIST refuses a second map at the same key.
    let other = tenants.create_inner("tenant_7b").unwrap();
    assert!(tenants.insert(&7, &other, BPF_NOEXIST).is_err());
    assert!(tenants.remove(&7).unwrap());
    assert!(tenants.keys().unwrap().is_empty());
}

#[test]
fn maps_of_another_shape_are_refused_with_what_differs() {
    let ebpf = load();
    let configs = ebpf.array_of_maps("CONFIGS").unwrap();
    let wrong = Map::create("too_big", map_type::ARRAY, 4, 8, 16, 0).unwrap();
    let error = configs.set(0, &wrong).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::InnerMapMismatch { .. }), "{message}");
    assert!(
        message.contains("max 2") && message.contains("max 16"),
        "{message}"
    );

    let hash = Map::create("a_hash", map_type::HASH, 4, 8, 2, 0).unwrap();
    assert!(matches!(
        configs.set(0, &hash).unwrap_err(),
        Error::InnerMapMismatch { .. }
    ));
    assert!(configs.get_id(1).is_err(), "index past the end");
    assert!(configs.set(1, &wrong).is_err());

    // Typed handles check the kind and the key size.
    assert!(matches!(
        ebpf.hash_of_maps::<u32>("CONFIGS").unwrap_err(),
        Error::WrongMapType { .. }
    ));
    assert!(matches!(
        ebpf.hash_of_maps::<u64>("TENANTS").unwrap_err(),
        Error::MapSize { .. }
    ));
    // A map of maps made outside an object has no template.
    let bare = ebpf.map("SEEN").unwrap();
    assert!(matches!(
        iu::maps::ArrayOfMaps::new(bare).unwrap_err(),
        Error::WrongMapType { .. }
    ));
}
