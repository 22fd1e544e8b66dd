//! `StackTrace`: stack ids for sampled call chains
//! (`BPF_MAP_TYPE_STACK_TRACE`).

use super::{map_def, map_type};

/// `PERF_MAX_STACK_DEPTH`: frames per stack.
pub const MAX_DEPTH: usize = 127;

/// `BPF_F_USER_STACK`: the user-space stack instead of the kernel's.
pub const USER_STACK: u64 = 1 << 8;

map_def! {
    /// `BPF_MAP_TYPE_STACK_TRACE`: `get_stack_id` stores the current call
    /// chain and returns its id; user space reads the frames by id.
    ///
    /// ```ignore
    /// #[map]
    /// static STACKS: StackTrace<1024> = StackTrace::new();
    /// let id = STACKS.get_stack_id(&ctx, 0);
    /// ```
    pub struct StackTrace<; MAX_ENTRIES> {
        r#type: [i32; map_type::STACK_TRACE],
        key_size: [i32; 4],
        value_size: [i32; MAX_DEPTH * 8],
        max_entries: [i32; MAX_ENTRIES],
    }
}

impl<const MAX_ENTRIES: usize> StackTrace<MAX_ENTRIES> {
    /// Stores the current kernel stack (or the user stack with
    /// [`USER_STACK`] in `flags`) and returns its id.
    ///
    /// On the host there is no kernel stack: it fails with `-EFAULT`, as the
    /// kernel does when it cannot walk one.
    #[inline(always)]
    pub fn get_stack_id<C: crate::programs::Context>(
        &self,
        ctx: &C,
        flags: u64,
    ) -> Result<u32, super::MapError> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: the context is the running program's own and the map a
            // `#[map]` stack-trace map.
            let id = unsafe {
                crate::helpers::raw::get_stackid(
                    crate::programs::raw_context(ctx),
                    self.as_ptr(),
                    flags,
                )
            };
            if id < 0 {
                Err(super::MapError(id))
            } else {
                Ok(id as u32)
            }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = (ctx, flags);
            Err(super::host::EFAULT)
        }
    }
}
