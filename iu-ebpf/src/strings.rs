//! String helpers written in Rust, for the byte strings programs see (task
//! names, paths, packet payloads), instead of the kernel's `strncmp` and
//! `strtol` helpers. Every loop is bounded by the array length `N`, a
//! constant, so the verifier proves termination without help.

/// The bytes before the first NUL (or all `N`).
///
/// ```
/// assert_eq!(iu_ebpf::strings::until_nul(b"bash\0\0\0\0"), b"bash");
/// ```
#[inline(always)]
pub fn until_nul<const N: usize>(s: &[u8; N]) -> &[u8] {
    let mut len = 0;
    while len < N && s[len] != 0 {
        len += 1;
    }
    s.split_at(len).0
}

/// Whether the NUL-terminated string in `s` equals `other` (like
/// `strncmp(s, other, N) == 0` with `other` not longer than `N`).
///
/// ```
/// assert!(iu_ebpf::strings::equals(b"bash\0\0\0\0", b"bash"));
/// assert!(!iu_ebpf::strings::equals(b"bashx\0\0\0", b"bash"));
/// ```
#[inline(always)]
pub fn equals<const N: usize>(s: &[u8; N], other: &[u8]) -> bool {
    until_nul(s) == other
}

/// Whether the NUL-terminated string in `s` starts with `prefix`.
///
/// ```
/// assert!(iu_ebpf::strings::starts_with(b"/usr/bin/ls\0", b"/usr/"));
/// ```
#[inline(always)]
pub fn starts_with<const N: usize>(s: &[u8; N], prefix: &[u8]) -> bool {
    until_nul(s).starts_with(prefix)
}

/// The index of the first `byte` in the NUL-terminated string in `s`.
///
/// ```
/// assert_eq!(iu_ebpf::strings::find(b"a=b\0", b'='), Some(1));
/// ```
#[inline(always)]
pub fn find<const N: usize>(s: &[u8; N], byte: u8) -> Option<usize> {
    let mut i = 0;
    while i < N && s[i] != 0 {
        if s[i] == byte {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Parses the decimal number at the start of `s` (after optional spaces;
/// `-` for negatives), like `strtol(s, NULL, 10)` but without overflow:
/// `None` when there is no digit or the value does not fit an `i64`.
///
/// ```
/// assert_eq!(iu_ebpf::strings::parse_i64(b"  -42 rest\0"), Some(-42));
/// assert_eq!(iu_ebpf::strings::parse_i64(b"x\0"), None);
/// ```
#[inline(always)]
pub fn parse_i64<const N: usize>(s: &[u8; N]) -> Option<i64> {
    let mut i = 0;
    while i < N && s[i] == b' ' {
        i += 1;
    }
    let negative = i < N && s[i] == b'-';
    if negative {
        i += 1;
    }
    let start = i;
    let mut value: i64 = 0;
    while i < N && s[i].is_ascii_digit() {
        let digit = i64::from(s[i] - b'0');
        // Not `checked_mul`: its overflow check needs a 128-bit multiply,
        // which the BPF backend cannot emit.
        if value > (i64::MAX - digit) / 10 {
            return None;
        }
        value = value * 10 + digit;
        i += 1;
    }
    if i == start {
        return None;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_string_helpers() {
        assert_eq!(until_nul(b"abc"), b"abc");
        assert!(equals(b"\0\0\0\0", b""));
        assert!(!starts_with(b"ab\0\0", b"abc"));
        assert_eq!(find(b"abc\0=", b'='), None);
        assert_eq!(parse_i64(b"9223372036854775807\0"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808\0"), None);
        assert_eq!(parse_i64(b"12"), Some(12));
        assert_eq!(parse_i64(b"-\0"), None);
    }
}
