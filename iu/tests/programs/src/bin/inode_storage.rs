//! Inode storage: an LSM program on `inode_create` counts, per directory,
//! the files created in it (the directory's `struct inode *` argument).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/storage.rs"]
#[allow(dead_code)]
mod storage;

use iu_ebpf::{lsm, map, maps::InodeStorage, programs::BtfContext};
use storage::Inode;

iu_ebpf::license!("GPL");

#[map]
static CREATED_IN: InodeStorage<u64> = InodeStorage::new();

// inode_create(struct inode *dir, struct dentry *dentry, umode_t mode)
#[lsm(hook = "inode_create")]
fn created(ctx: BtfContext) -> i32 {
    if let Some(dir) = ctx.arg_ptr::<Inode>(0) {
        CREATED_IN.add(dir, 1);
    }
    0
}
