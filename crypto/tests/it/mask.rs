//! Masking and 身份证 number validation.

use crypto::mask::{mask, mask_id_number, mask_name, mask_phone, valid_id_number};

#[test]
fn masks_of_the_issue() {
    assert_eq!(mask_id_number("310101199001011234"), "310***********1234");
    assert_eq!(mask_phone("13812345678"), "138****5678");
    assert_eq!(mask_name("张三丰"), "张**");
    assert_eq!(mask_name("张三"), "张*");
}

#[test]
fn masks_are_character_aware() {
    assert_eq!(mask("欧阳娜娜", 1, 1), "欧**娜");
    assert_eq!(mask("a😀b😀c", 1, 1), "a***c");
    assert_eq!(mask("ÅÄÖ", 1, 0), "Å**");
}

#[test]
fn short_values_are_masked_entirely() {
    assert_eq!(mask("", 3, 4), "");
    assert_eq!(mask_name(""), "");
    assert_eq!(mask_name("张"), "*");
    assert_eq!(mask_phone("1381234"), "*******", "3 + 4 kept would show everything");
    assert_eq!(mask_phone("13812345"), "138*2345");
    assert_eq!(mask("abc", 0, 0), "***");
    assert_eq!(mask("abc", usize::MAX, usize::MAX), "***");
    assert_eq!(mask_id_number(" 310101199001011234 "), "310***********1234", "trimmed first");
}

// GB 11643-1999's own examples: 11010519491231002X and 440524188001010014.
#[test]
fn id_number_check_digit() {
    assert!(valid_id_number("11010519491231002X"));
    assert!(valid_id_number("11010519491231002x"));
    assert!(valid_id_number("440524188001010014"));
    assert!(valid_id_number("310101199001011234"));
    assert!(!valid_id_number("310101199001011235"), "wrong check digit");
    assert!(!valid_id_number("110105194912310021"));
    assert!(!valid_id_number("11010519491231002"), "too short");
    assert!(!valid_id_number("11010519491231002XX"), "too long");
    assert!(!valid_id_number("1101051949123100A2"));
    assert!(!valid_id_number("１１０１０５１９４９１２３１００２Ｘ"), "full-width digits are not normalised here");
    assert!(!valid_id_number(""));
}

#[test]
fn id_number_birth_date() {
    // Check digits recomputed for each body, so only the date decides.
    let with_check = |body: &str| {
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = body.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        format!("{body}{}", char::from(b"10X98765432"[(sum % 11) as usize]))
    };
    assert!(valid_id_number(&with_check("11010520000229001")), "leap day of 2000");
    assert!(!valid_id_number(&with_check("11010519000229001")), "1900 was no leap year");
    assert!(!valid_id_number(&with_check("11010519491301001")), "month 13");
    assert!(!valid_id_number(&with_check("11010519490431001")), "April 31");
    assert!(!valid_id_number(&with_check("11010519490100001")), "day 0");
    assert!(!valid_id_number(&with_check("11010517990101001")), "before 1800");
}
