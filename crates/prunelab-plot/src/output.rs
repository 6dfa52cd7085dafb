//! The blocks an image sends to the notebook: the image with its alt text in the output's metadata, the
//! same image as HTML (an `<img>` with `alt`, which converters that drop a bare image's metadata keep) and
//! its description as `text/plain`, so every Jupyter tool shows something and says what it is.

use std::fmt::Write as _;

/// Escapes text for a JSON string's content.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes text for an HTML attribute value in double quotes.
fn html_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line of text for a block: line breaks become spaces (a line of its own could end the block).
fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).collect::<Vec<_>>().join(" ")
}

/// An image given to the notebook: its MIME type and base64 bytes.
pub(crate) struct Image<'a> {
    /// `image/png` or `image/gif`.
    pub mime: &'static str,
    /// The bytes as base64, on one line.
    pub base64: &'a str,
}

/// The evcxr blocks for `images` (every one with `alt` in its metadata), the first of them as HTML, and
/// `alt` as the plain-text form. `alt` empty: `fallback` is said instead.
pub(crate) fn image_blocks(images: &[Image<'_>], alt: &str, fallback: &str) -> String {
    let alt = one_line(if alt.trim().is_empty() { fallback } else { alt });
    let mut out = String::new();
    for image in images {
        let _ = writeln!(
            out,
            "EVCXR_BEGIN_CONTENT {} {{\"alt\": {}}}\n{}\nEVCXR_END_CONTENT",
            image.mime,
            json_string(&alt),
            image.base64
        );
    }
    if let Some(first) = images.first() {
        let _ = writeln!(
            out,
            "EVCXR_BEGIN_CONTENT text/html\n<img src=\"data:{};base64,{}\" alt=\"{}\">\nEVCXR_END_CONTENT",
            first.mime,
            first.base64,
            html_attribute(&alt)
        );
    }
    let _ = write!(
        out,
        "EVCXR_BEGIN_CONTENT text/plain\n{alt}\nEVCXR_END_CONTENT"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_text_is_escaped_for_json_html_and_kept_on_one_line() {
        let blocks = image_blocks(
            &[Image {
                mime: "image/png",
                base64: "iVBO",
            }],
            "loss \"log\" <&>\nsecond line",
            "chart",
        );
        let lines: Vec<&str> = blocks.lines().collect();
        assert_eq!(
            lines[0],
            r#"EVCXR_BEGIN_CONTENT image/png {"alt": "loss \"log\" <&> second line"}"#
        );
        assert_eq!(lines[1], "iVBO");
        assert_eq!(
            lines[4],
            r#"<img src="data:image/png;base64,iVBO" alt="loss &quot;log&quot; &lt;&amp;&gt; second line">"#
        );
        assert_eq!(lines[7], "loss \"log\" <&> second line");
        assert_eq!(lines.len(), 9);
        assert_eq!(json_string("a\tb\u{1}"), "\"a\\u0009b\\u0001\"");
    }

    #[test]
    fn an_empty_title_says_what_the_image_is() {
        let blocks = image_blocks(
            &[Image {
                mime: "image/gif",
                base64: "R0lG",
            }],
            " ",
            "animation",
        );
        assert!(blocks.ends_with("text/plain\nanimation\nEVCXR_END_CONTENT"));
    }
}
