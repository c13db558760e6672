//! JavaScript string literals for the generated CloudFront Functions (the redirect table's and the previews').

/// A JavaScript string literal in printable ASCII: `"` and `\` escaped, and every other character outside
/// U+0020..=U+007E as `\uXXXX` (a UTF-16 pair above U+FFFF). A JSON string is not enough: JSON leaves U+2028
/// and U+2029 raw, which end a line inside a string literal of the ES5.1 that CloudFront's runtime parses
/// (a syntax error, and no function), and it leaves every other character raw for the console to mangle.
pub(super) fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}
