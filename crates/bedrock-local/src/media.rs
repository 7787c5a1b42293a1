//! What image and document bytes really are: the format their header says (not the one the
//! request declares) and an image's pixel size, read from the header only.

/// An image's real format and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// `png`, `jpeg`, `gif`, `webp`, or another format's name (`bmp`, `tiff`, …) in lower case.
    pub format: &'static str,
    pub width: usize,
    pub height: usize,
}

/// Reads an image's header. `None` when the bytes are no image format known to `imagesize`.
pub fn sniff_image(bytes: &[u8]) -> Option<ImageInfo> {
    use imagesize::ImageType;
    let format = match imagesize::image_type(bytes).ok()? {
        ImageType::Png => "png",
        ImageType::Jpeg => "jpeg",
        ImageType::Gif => "gif",
        ImageType::Webp => "webp",
        ImageType::Bmp => "bmp",
        ImageType::Tiff => "tiff",
        ImageType::Ico => "x-icon",
        ImageType::Heif(_) => "heif",
        _ => "unknown",
    };
    let size = imagesize::blob_size(bytes).ok()?;
    Some(ImageInfo {
        format,
        width: size.width,
        height: size.height,
    })
}

/// Whether a document's bytes can be of the declared format: PDF and the Office formats by
/// their magic numbers, the text formats (txt, md, csv, html) as UTF-8 without NUL bytes.
pub fn document_matches(format: &str, bytes: &[u8]) -> bool {
    const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    match format {
        "pdf" => bytes.starts_with(b"%PDF-"),
        "docx" | "xlsx" => bytes.starts_with(b"PK\x03\x04"),
        "doc" | "xls" => bytes.starts_with(OLE),
        _ => std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0),
    }
}

/// The document-name rule Bedrock states in DocumentBlock.name (botocore service-2.json) and
/// enforces with the message in tests/fixtures/errors/document-name-charset.json: ASCII letters
/// and digits, single spaces, hyphens, parentheses and square brackets. The rejected names
/// recorded there (`John's report`, `a&b`, `résumé`, `a\tb`, `Report -  Final`, …) fail it.
pub fn document_name_ok(name: &str) -> bool {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']'));
    chars_ok && !name.contains("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x1 PNG, as any encoder writes it.
    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn images_are_read_from_their_headers() {
        assert_eq!(
            sniff_image(PNG_1X1),
            Some(ImageInfo {
                format: "png",
                width: 1,
                height: 1
            })
        );
        assert_eq!(
            sniff_image(b"GIF89a\x40\x00\x30\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff;")
                .map(|i| (i.format, i.width, i.height)),
            Some(("gif", 64, 48))
        );
        assert_eq!(sniff_image(b"not an image at all"), None);
        assert_eq!(sniff_image(&[]), None);
    }

    #[test]
    fn document_names_follow_the_recorded_rule() {
        for ok in ["notes", "Q3 report (final) [v2]", "a-b"] {
            assert!(document_name_ok(ok), "{ok}");
        }
        // tests/fixtures/errors/document-name-charset.json `rejected_names`.
        for bad in [
            "John's report",
            "invoice #123",
            "a&b",
            "report,2026",
            "résumé",
            "분기보고서",
            "Report -  Final",
            "a\tb",
            "notes.txt",
        ] {
            assert!(!document_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn documents_match_their_formats() {
        assert!(document_matches("pdf", b"%PDF-1.7\n..."));
        assert!(!document_matches("pdf", b"hello"));
        assert!(document_matches("txt", "héllo".as_bytes()));
        assert!(!document_matches("txt", &[0xff, 0xfe, 0]));
        assert!(document_matches("docx", b"PK\x03\x04rest"));
    }
}
