//! `CgrpStorage`: a value per cgroup (`BPF_MAP_TYPE_CGRP_STORAGE`, Linux
//! 6.2), from tracing and LSM programs that hold a trusted cgroup pointer
//! (a `#[tp_btf]` argument such as `cgroup_mkdir`'s).

use super::{
    local_storage::{btf_owner, local_storage_api},
    map_def, map_type,
};

map_def! {
    /// `BPF_MAP_TYPE_CGRP_STORAGE`: one `V` per cgroup, created on first
    /// use and freed with the cgroup. Programs name the cgroup by a BTF
    /// handle of `struct cgroup` (`ctx.arg_ptr::<Cgroup>(n)`; generate
    /// `Cgroup` with `cargo xtask codegen vmlinux cgroup`); user space
    /// reads and writes a value by a descriptor of the cgroup's directory
    /// (`iu::maps::CgrpStorage`). Not the older per-attachment
    /// `BPF_MAP_TYPE_CGROUP_STORAGE`.
    ///
    /// ```ignore
    /// #[map]
    /// static MKDIRS: CgrpStorage<u64> = CgrpStorage::new();
    ///
    /// // cgroup_mkdir(struct cgroup *cgrp, const char *path)
    /// #[tp_btf(cgroup_mkdir)]
    /// fn created(ctx: BtfContext) {
    ///     if let Some(cgroup) = ctx.arg_ptr::<Cgroup>(0) {
    ///         MKDIRS.add(cgroup, 1);
    ///     }
    /// }
    /// ```
    pub struct CgrpStorage<V;> {
        r#type: [i32; map_type::CGRP_STORAGE],
        map_flags: [i32; 1], // BPF_F_NO_PREALLOC, which the kernel requires
        key: i32,
        value: V,
    }
    host: super::host::Hash<u64, V, 64, 1>;
}

btf_owner!(
    /// What names a cgroup for [`CgrpStorage`]: a BTF handle of
    /// `struct cgroup` (checked at compile time).
    CgrpStorageOwner,
    "cgroup"
);

local_storage_api!(
    CgrpStorage,
    CgrpStorageOwner,
    cgrp_storage_get,
    cgrp_storage_delete
);
