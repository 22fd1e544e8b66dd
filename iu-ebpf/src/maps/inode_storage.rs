//! `InodeStorage`: a value per inode (`BPF_MAP_TYPE_INODE_STORAGE`, Linux
//! 5.10), from `#[lsm]` programs, which get inodes as BTF pointers.

use super::{
    local_storage::{btf_owner, local_storage_api},
    map_def, map_type,
};

map_def! {
    /// `BPF_MAP_TYPE_INODE_STORAGE`: one `V` per inode, created on first
    /// use and freed with the inode. Programs name the inode by a BTF
    /// handle of `struct inode` (`ctx.arg_ptr::<Inode>(n)` in an `#[lsm]`
    /// program; generate `Inode` with `cargo xtask codegen vmlinux inode`);
    /// user space reads and writes a value by a descriptor of the file
    /// (`iu::maps::InodeStorage`).
    ///
    /// ```ignore
    /// #[map]
    /// static CREATED_IN: InodeStorage<u64> = InodeStorage::new();
    ///
    /// // inode_create(struct inode *dir, struct dentry *dentry, umode_t mode)
    /// #[lsm(hook = "inode_create")]
    /// fn created(ctx: BtfContext) -> i32 {
    ///     if let Some(dir) = ctx.arg_ptr::<Inode>(0) {
    ///         CREATED_IN.add(dir, 1);
    ///     }
    ///     0
    /// }
    /// ```
    pub struct InodeStorage<V;> {
        r#type: [i32; map_type::INODE_STORAGE],
        map_flags: [i32; 1], // BPF_F_NO_PREALLOC, which the kernel requires
        key: i32,
        value: V,
    }
    host: super::host::Hash<u64, V, 64, 1>;
}

btf_owner!(
    /// What names an inode for [`InodeStorage`]: a BTF handle of
    /// `struct inode` (checked at compile time).
    InodeStorageOwner,
    "inode"
);

local_storage_api!(
    InodeStorage,
    InodeStorageOwner,
    inode_storage_get,
    inode_storage_delete
);
