//! Chinese identity numbers checked properly (issue 13, field types `citizen-id` and `uscc`):
//! not a bare regex, as the tools people know do, but the standards' check characters, a real
//! birth date and a known region. Input is normalised first (surrounding and inner spaces,
//! full-width digits and letters, a lower-case `x`), so what a person copies from a scanned
//! form or a spreadsheet is read as they meant it.
//!
//! Every refusal has a stable code (for the API and import error workbooks) and a Chinese
//! sentence (for the page).

use chrono::{Datelike, NaiveDate};

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Not 18 characters after normalising.
    Length,
    /// A character the standard does not allow at that position.
    Character,
    /// The check character does not match the other 17.
    CheckCharacter,
    /// 身份证: positions 7–14 are no real date, or one in the future or before 1850 (the
    /// standard's own sample was born in 1880).
    BirthDate,
    /// 身份证: the first two digits are no province, region or SAR of GB/T 2260.
    Region,
}

impl IdError {
    /// The stable code: `id-length`, `id-character`, `id-check`, `id-birth-date`, `id-region`.
    pub fn code(self) -> &'static str {
        match self {
            IdError::Length => "id-length",
            IdError::Character => "id-character",
            IdError::CheckCharacter => "id-check",
            IdError::BirthDate => "id-birth-date",
            IdError::Region => "id-region",
        }
    }

    /// The sentence for the person who typed it.
    pub fn message(self) -> &'static str {
        match self {
            IdError::Length => "号码应为 18 位",
            IdError::Character => "号码中有不允许的字符",
            IdError::CheckCharacter => "校验位不正确，请核对号码",
            IdError::BirthDate => "号码中的出生日期不是有效日期",
            IdError::Region => "号码的前两位不是有效的地区代码",
        }
    }
}

/// The sex a 身份证 number records (its 17th digit: odd for men).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// A checked 居民身份证 number (GB 11643-1999) and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenId {
    /// The 18 characters, normalised (a final `X` upper-case).
    pub number: String,
    /// The six-digit administrative division code (GB/T 2260) of the place of registration.
    pub region: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
}

/// The text with spaces removed and full-width ASCII (`１２３Ｘ`) made half-width, upper-case.
fn normalised(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect::<String>()
        .to_ascii_uppercase()
}

/// GB 11643's weights (2^(17-i) mod 11) and the check character of each remainder.
const CITIZEN_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CITIZEN_CHECK: &[u8; 11] = b"10X98765432";

/// The first two digits of GB/T 2260: the provinces, autonomous regions and municipalities, 台湾
/// (71) and the SARs (81, 82). A county-level table would catch more mistypes; it is reference
/// data to add with its source.
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
];

/// Checks a 居民身份证 number, as of `today` (a birth date may not lie after it).
pub fn citizen_id(text: &str, today: NaiveDate) -> Result<CitizenId, IdError> {
    let number = normalised(text);
    let bytes = number.as_bytes();
    if bytes.len() != 18 {
        return Err(IdError::Length);
    }
    if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
        return Err(IdError::Character);
    }
    let sum: u32 =
        bytes[..17].iter().zip(CITIZEN_WEIGHTS).map(|(digit, weight)| u32::from(digit - b'0') * weight).sum();
    if CITIZEN_CHECK[(sum % 11) as usize] != bytes[17] {
        return Err(IdError::CheckCharacter);
    }
    if !PROVINCES.contains(&&number[..2]) {
        return Err(IdError::Region);
    }
    let birth_date = NaiveDate::parse_from_str(&number[6..14], "%Y%m%d").map_err(|_| IdError::BirthDate)?;
    if birth_date > today || birth_date.year() < 1850 {
        return Err(IdError::BirthDate);
    }
    let sex = if (bytes[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female };
    Ok(CitizenId { region: number[..6].to_string(), birth_date, sex, number })
}

/// GB 32100's 31 characters (the digits and the capitals without I, O, Z, S, V), by value.
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Checks a 统一社会信用代码 (GB 32100-2015): 18 characters of its alphabet, the registering
/// authority (position 1) and the division code (positions 3–8) in their ranges, and the check
/// character (weights 3^i mod 31). Returns the normalised code.
pub fn uscc(text: &str) -> Result<String, IdError> {
    let code = normalised(text);
    let bytes = code.as_bytes();
    if bytes.len() != 18 {
        return Err(IdError::Length);
    }
    let mut values = [0u32; 18];
    for (index, byte) in bytes.iter().enumerate() {
        let Some(value) = USCC_CHARS.iter().position(|c| c == byte) else { return Err(IdError::Character) };
        values[index] = value as u32;
    }
    // 登记管理部门代码: 1–9, A–G, Y; the administrative division: six digits.
    let authority = bytes[0];
    if !(authority.is_ascii_digit() && authority != b'0' || (b'A'..=b'G').contains(&authority) || authority == b'Y')
        || !bytes[2..8].iter().all(u8::is_ascii_digit)
    {
        return Err(IdError::Character);
    }
    let mut weight = 1u32;
    let mut sum = 0u32;
    for value in &values[..17] {
        sum += value * weight;
        weight = weight * 3 % 31;
    }
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err(IdError::CheckCharacter);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).expect("a date")
    }

    /// The standard's own sample (GB 11643-1999, appendix) and another published one are valid,
    /// with what they say; copied with full-width digits, spaces and a small x, still valid.
    #[test]
    fn published_citizen_numbers_are_valid_and_read() {
        let sample = citizen_id("11010519491231002X", today()).expect("GB 11643's sample");
        assert_eq!(sample.region, "110105");
        assert_eq!(sample.birth_date, NaiveDate::from_ymd_opt(1949, 12, 31).expect("date"));
        assert_eq!(sample.sex, Sex::Female);
        let other = citizen_id("440524188001010014", today()).expect("a published sample");
        assert_eq!((other.sex, other.birth_date.year()), (Sex::Male, 1880));
        let copied = citizen_id(" １１０１０５ 1949 1231 002ｘ ", today()).expect("normalised");
        assert_eq!(copied.number, "11010519491231002X");
    }

    /// Each way a number is wrong gets its own code: one changed digit fails the check, a
    /// February 30th or a future birth fails the date, 00 is no province.
    #[test]
    fn each_wrong_citizen_number_says_what_is_wrong() {
        let cases = [
            ("11010519491231002", IdError::Length),
            ("1101051949123100AX", IdError::Character),
            ("11010519491231003X", IdError::CheckCharacter),
            ("11010519491231002Y", IdError::Character),
        ];
        for (number, expected) in cases {
            assert_eq!(citizen_id(number, today()), Err(expected), "{number}");
        }
        // Valid check characters computed for wrong dates and regions, so only that is wrong.
        let with_check = |first17: &str| {
            let sum: u32 = first17.bytes().zip(CITIZEN_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
            format!("{first17}{}", CITIZEN_CHECK[(sum % 11) as usize] as char)
        };
        assert_eq!(citizen_id(&with_check("31010119900230123"), today()), Err(IdError::BirthDate));
        assert_eq!(citizen_id(&with_check("31010120271231123"), today()), Err(IdError::BirthDate));
        assert_eq!(citizen_id(&with_check("31010118491231123"), today()), Err(IdError::BirthDate));
        assert_eq!(citizen_id(&with_check("00010119900101123"), today()), Err(IdError::Region));
        assert!(citizen_id(&with_check("31010119900101123"), today()).is_ok());
    }

    #[test]
    fn published_credit_codes_are_valid() {
        for code in ["91350100M000100Y43", "91110000600037341L"] {
            assert_eq!(uscc(code).as_deref(), Ok(code));
        }
        assert_eq!(uscc(" 9135 0100 m000 100y43").as_deref(), Ok("91350100M000100Y43"), "normalised");
    }

    #[test]
    fn each_wrong_credit_code_says_what_is_wrong() {
        let cases = [
            ("91350100M000100Y4", IdError::Length),
            ("91350100M000100Y44", IdError::CheckCharacter),
            ("91350100M000I00Y43", IdError::Character),
            ("01350100M000100Y43", IdError::Character),
            ("9135A100M000100Y43", IdError::Character),
        ];
        for (code, expected) in cases {
            assert_eq!(uscc(code), Err(expected), "{code}");
        }
    }

    #[test]
    fn codes_and_messages_are_stable() {
        assert_eq!(IdError::CheckCharacter.code(), "id-check");
        assert_eq!(IdError::BirthDate.message(), "号码中的出生日期不是有效日期");
    }
}
