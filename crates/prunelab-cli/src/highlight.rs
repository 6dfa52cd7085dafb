//! A small Rust highlighter for the HTML pages: comments, strings, characters, lifetimes, numbers, keywords,
//! macros, types and `:commands`, as `<span class="…">` runs. Notebook cells are short, so a lexer over the
//! characters is enough; anything it does not know is emitted as escaped plain text.

/// Escapes `&`, `<`, `>` and `"` for HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while",
];

fn span(out: &mut String, class: &str, text: &str) {
    out.push_str("<span class=\"");
    out.push_str(class);
    out.push_str("\">");
    out.push_str(&escape(text));
    out.push_str("</span>");
}

/// Rust source to HTML with `<span>` classes `c` (comment), `s` (string), `n` (number), `k` (keyword),
/// `m` (macro), `t` (type), `l` (lifetime), `d` (evcxr command).
pub fn rust(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let mut out = String::with_capacity(src.len() * 2);
    let mut i = 0;
    let mut line_start = true;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        if line_start && c == ':' && next.is_some_and(|n| n.is_ascii_alphabetic()) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            span(&mut out, "d", &text(start, i));
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            span(&mut out, "c", &text(start, i));
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            span(&mut out, "c", &text(start, i));
        } else if c == 'r' && (next == Some('"') || (next == Some('#') && raw_string_at(&chars, i)))
        {
            i += 1;
            let mut hashes = 0;
            while chars.get(i) == Some(&'#') {
                hashes += 1;
                i += 1;
            }
            i += 1; // the opening quote
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            span(&mut out, "s", &text(start, i.min(chars.len())));
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
            span(&mut out, "s", &text(start, i));
        } else if c == '\'' {
            // A character literal ('a', '\n') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i = (i + 1).min(chars.len());
                span(&mut out, "s", &text(start, i));
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                span(&mut out, "s", &text(start, i));
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                span(&mut out, "l", &text(start, i));
            }
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '_'
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                i += 1;
            }
            span(&mut out, "n", &text(start, i));
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word = text(start, i);
            if chars.get(i) == Some(&'!') && chars.get(i + 1) != Some(&'=') {
                i += 1;
                span(&mut out, "m", &text(start, i));
            } else if KEYWORDS.contains(&word.as_str()) {
                span(&mut out, "k", &word);
            } else if word.starts_with(|ch: char| ch.is_uppercase()) {
                span(&mut out, "t", &word);
            } else {
                out.push_str(&escape(&word));
            }
        } else {
            i += 1;
            out.push_str(&escape(&text(start, i)));
        }
        line_start = chars.get(i.saturating_sub(1)) == Some(&'\n') || i == 0;
    }
    out
}

/// Whether `r#…"` at `i` opens a raw string (rather than a raw identifier such as `r#type`).
fn raw_string_at(chars: &[char], i: usize) -> bool {
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_the_main_token_kinds_and_escapes_the_rest() {
        let html = rust("let x: Vec<u8> = vec![1, 2]; // <done>\nprintln!(\"a\\\"b\", 'c');");
        assert!(html.contains("<span class=\"k\">let</span>"));
        assert!(html.contains("<span class=\"t\">Vec</span>&lt;u8&gt;"));
        assert!(html.contains("<span class=\"m\">vec!</span>"));
        assert!(html.contains("<span class=\"n\">1</span>"));
        assert!(html.contains("<span class=\"c\">// &lt;done&gt;</span>"));
        assert!(html.contains("<span class=\"s\">&quot;a\\&quot;b&quot;</span>"));
        assert!(html.contains("<span class=\"s\">'c'</span>"));
        assert!(rust("fn f<'a>(x: &'a str) {}").contains("<span class=\"l\">'a</span>"));
        assert!(rust(":dep foo\nlet a = 1;").starts_with("<span class=\"d\">:dep foo</span>"));
        assert!(rust("r#\"raw \" text\"#")
            .starts_with("<span class=\"s\">r#&quot;raw &quot; text&quot;#</span>"));
        assert_eq!(rust("a != b"), "a != b");
    }
}
