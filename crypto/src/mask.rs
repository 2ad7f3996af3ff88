//! Display masking and 身份证 number validation. Pure functions: no keys, no I/O.
//!
//! Masks work on characters, not bytes, so Chinese names mask cleanly. A value too short to keep
//! both ends and still hide something is masked entirely: a mask never reveals the whole value.

/// The masking character.
pub const MASK: char = '*';

/// Keeps the first `keep_start` and last `keep_end` characters and replaces the rest with `*`,
/// one per character. If that would hide nothing (the value has at most `keep_start + keep_end`
/// characters), every character is replaced.
pub fn mask(value: &str, keep_start: usize, keep_end: usize) -> String {
    let count = value.chars().count();
    if count <= keep_start.saturating_add(keep_end) {
        return MASK.to_string().repeat(count);
    }
    value
        .chars()
        .enumerate()
        .map(|(index, c)| if index < keep_start || index >= count - keep_end { c } else { MASK })
        .collect()
}

/// A 身份证 number with the first 3 and last 4 characters kept: `310***********1234`.
pub fn mask_id_number(value: &str) -> String {
    mask(value.trim(), 3, 4)
}

/// A mobile number with the first 3 and last 4 digits kept: `138****5678`.
pub fn mask_phone(value: &str) -> String {
    mask(value.trim(), 3, 4)
}

/// A personal name with only the first character (the family name, for most Chinese names)
/// kept: `张三丰` → `张**`.
pub fn mask_name(value: &str) -> String {
    mask(value.trim(), 1, 0)
}

/// Whether `value` is a well-formed 18-character resident identity number (GB 11643-1999):
/// 17 digits, of which digits 7–14 are a real calendar date (year 1800 or later), then the
/// ISO 7064 MOD 11-2 check character (`0`–`9` or `X`; a lower-case `x` is accepted).
/// It does not check the region code against the GB/T 2260 list, which changes over time.
pub fn valid_id_number(value: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = value.as_bytes();
    let Some((check, body)) = bytes.split_last() else { return false };
    if bytes.len() != 18 || !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let digits: Vec<u32> = body.iter().map(|b| u32::from(b - b'0')).collect();
    let number = |range: std::ops::Range<usize>| digits[range].iter().fold(0, |n, d| n * 10 + d);
    if !valid_date(number(6..10), number(10..12), number(12..14)) {
        return false;
    }
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    // `sum % 11` is below 11, the length of CHECK.
    CHECK[(sum % 11) as usize] == check.to_ascii_uppercase()
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1800 && (1..=days_in_month).contains(&day)
}
