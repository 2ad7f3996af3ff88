//! The kinds of file the system takes (operation attachments, file and image fields): a file
//! is what its first bytes say, and that must agree with its extension.

/// The largest file accepted (the `/api` body limit is a little above it).
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// The kinds of file accepted: extension, content type, and the bytes such a file starts with.
pub const KINDS: &[(&str, &str, &[u8])] = &[
    ("png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ("jpg", "image/jpeg", b"\xff\xd8\xff"),
    ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
    ("pdf", "application/pdf", b"%PDF-"),
    ("ofd", "application/ofd", b"PK\x03\x04"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
    ("doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    ("xls", "application/vnd.ms-excel", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
];

/// Why a file is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The extension is none of [`KINDS`].
    UnknownType,
    /// The bytes are not what the extension says.
    Mismatch,
}

/// The lower-case extension of a file name ("" without one).
pub fn extension(name: &str) -> String {
    name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default()
}

/// The content type of a file: its extension must be one of [`KINDS`] and its bytes must start
/// the way that kind does.
pub fn sniff(name: &str, content: &[u8]) -> Result<&'static str, Refusal> {
    let extension = extension(name);
    let Some((_, content_type, magic)) = KINDS.iter().find(|(known, _, _)| *known == extension) else {
        return Err(Refusal::UnknownType);
    };
    if !content.starts_with(magic) {
        return Err(Refusal::Mismatch);
    }
    Ok(content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_accepted_only_when_its_bytes_match_its_extension() {
        assert_eq!(sniff("签名.PNG", b"\x89PNG\r\n\x1a\nrest"), Ok("image/png"));
        assert_eq!(sniff("scan.jpeg", b"\xff\xd8\xff\xe0"), Ok("image/jpeg"));
        assert_eq!(sniff("证明.pdf", b"%PDF-1.7"), Ok("application/pdf"));
        assert_eq!(sniff("page.html", b"<html>"), Err(Refusal::UnknownType), "not a kind we take");
        assert_eq!(sniff("fake.png", b"%PDF-1.7"), Err(Refusal::Mismatch), "a PDF named .png");
        assert_eq!(sniff("noextension", b"%PDF-1.7"), Err(Refusal::UnknownType));
    }
}
