//! A syscall program: sums and doubles the numbers user space passes.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{Pod, programs::SyscallContext, syscall};

iu_ebpf::license!("GPL");

/// The buffer user space passes.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Numbers {
    values: [u64; 4],
    sum: u64,
}

#[syscall]
fn sum_and_double(mut ctx: SyscallContext<Numbers>) -> i32 {
    let mut numbers = ctx.args();
    numbers.sum = 0;
    for value in &mut numbers.values {
        numbers.sum = numbers.sum.wrapping_add(*value);
        *value = value.wrapping_mul(2);
    }
    ctx.set_args(numbers);
    numbers.values.len() as i32
}
