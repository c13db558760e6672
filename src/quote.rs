//! How a name from a tree or a record is shown to a person: the way git shows a path.
//!
//! A file name in a commit, a publisher's name, a commit subject or an error recorded in a target's state is
//! data anyone with push or bucket access wrote; printed raw, `a\e[2K…` clears the line, moves the cursor or
//! retitles the terminal, and `a\n+ evil.html` fakes a line of the plan. [`quote_path`] is the one function
//! that shows such a name, everywhere one is shown for humans (`--json` is JSON-escaped and shows it as it
//! is). [`scrub`] is the net under it: the notes, warnings and errors printed on stderr go through it whole,
//! so that a name put into a message unquoted still reaches the terminal escaped.
//!
//! | name                 | shown as              | why                                            |
//! |----------------------|-----------------------|------------------------------------------------|
//! | `posts/a/index.html` | `posts/a/index.html`  | nothing to quote                               |
//! | `ünï cödé/x y.html`  | `ünï cödé/x y.html`   | letters are printable in any script            |
//! | `a\n+ evil.html`     | `"a\n+ evil.html"`    | a control character: C escape, and quotes      |
//! | `b\e[2Kc.html`       | `"b\033[2Kc.html"`    | no C escape: octal, byte by byte (as git)      |
//! | `q"uote`, `back\sl`  | `"q\"uote"`, `"back\\sl"` | the quoting characters themselves          |
//! | `nb\u{a0}sp`, `\u{202e}txt.exe` | `"nb\302\240sp"`, `"\342\200\256txt.exe"` | invisible or reordering |
//!
//! git quotes every byte above 0x7f by default (`core.quotePath = true`); here letters outside ASCII are
//! shown as they are (`core.quotePath = false`), which is what a blog in French or Japanese wants to read,
//! and only characters that print nothing or change how the rest prints (controls, spaces other than the
//! ASCII one, zero-width and bidirectional marks, line and paragraph separators, tags, variation selectors)
//! are escaped, as git escapes them: octal UTF-8 bytes.

use std::borrow::Cow;

/// `name` as git shows a path (see the module's table): as it is when every character prints and none is `"`
/// or `\`; else in double quotes, with `\a \b \t \n \v \f \r \" \\` and octal escapes of the UTF-8 bytes of
/// every other character that doesn't print.
pub fn quote_path(name: &str) -> Cow<'_, str> {
    if !name.chars().any(|c| c == '"' || c == '\\' || hidden(c)) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if hidden(c) => escape(c, &mut out),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// `text` (a message of several lines, names in it quoted or not) with every character [`quote_path`] would
/// escape, but the line break, escaped the same way: the last line of defence before stderr.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c != '\n' && hidden(c);
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// git's escape of one character: a C escape where C has one, else the octal of each UTF-8 byte.
fn escape(c: char, out: &mut String) {
    let short = match c {
        '\u{7}' => "\\a",
        '\u{8}' => "\\b",
        '\t' => "\\t",
        '\n' => "\\n",
        '\u{b}' => "\\v",
        '\u{c}' => "\\f",
        '\r' => "\\r",
        _ => "",
    };
    if !short.is_empty() {
        out.push_str(short);
        return;
    }
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("\\{b:03o}"));
    }
}

/// A character that prints nothing visible, or changes how what follows prints: controls (C0, DEL, C1),
/// spaces other than U+0020, zero-width characters and joiners, bidirectional marks, embeddings, overrides and
/// isolates, line and paragraph separators, fillers, variation selectors, tags, interlinear annotation marks,
/// byte order marks and the noncharacters U+FFFE, U+FFFF.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{a0}'
                | '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{1680}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{2000}'..='\u{200f}'
                | '\u{2028}'..='\u{202f}'
                | '\u{205f}'..='\u{206f}'
                | '\u{3000}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{fffe}'
                | '\u{ffff}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// `1 file`, `2 files`: a count with the word that agrees with it.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_as_git_quotes_paths() {
        let table = [
            ("posts/a/index.html", "posts/a/index.html"),
            ("ünï cödé/x y.html", "ünï cödé/x y.html"),
            ("日本語/記事.html", "日本語/記事.html"),
            ("a\n+ evil.html", "\"a\\n+ evil.html\""),
            ("b\u{1b}[2Kc.html", "\"b\\033[2Kc.html\""),
            ("\u{1b}]0;pwned\u{7}", "\"\\033]0;pwned\\a\""),
            ("tab\there", "\"tab\\there\""),
            ("cr\rlf", "\"cr\\rlf\""),
            ("q\"uote", "\"q\\\"uote\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("del\u{7f}", "\"del\\177\""),
            ("c1\u{85}", "\"c1\\302\\205\""),
            ("csi\u{9b}2K", "\"csi\\302\\2332K\""),
            ("nb\u{a0}sp", "\"nb\\302\\240sp\""),
            ("\u{202e}lmth.exe", "\"\\342\\200\\256lmth.exe\""),
            ("zero\u{200b}width", "\"zero\\342\\200\\213width\""),
            ("line\u{2028}sep", "\"line\\342\\200\\250sep\""),
            ("\u{feff}bom", "\"\\357\\273\\277bom\""),
            ("tag\u{e0041}", "\"tag\\363\\240\\201\\201\""),
        ];
        for (raw, shown) in table {
            assert_eq!(quote_path(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn scrub_escapes_what_quoting_would_and_keeps_lines() {
        assert_eq!(scrub("plain\ntwo lines"), "plain\ntwo lines");
        assert_eq!(scrub("a \"quoted\" \\ word"), "a \"quoted\" \\ word");
        assert_eq!(
            scrub("by \u{1b}[31mMallory\u{1b}[0m\nnext\tline"),
            "by \\033[31mMallory\\033[0m\nnext\\tline"
        );
        for c in (0u32..0x110000).filter_map(char::from_u32) {
            let s = c.to_string();
            let out = scrub(&s);
            assert!(
                !out.contains(|ch: char| ch != '\n' && hidden(ch)),
                "{c:?} -> {out:?}"
            );
            let q = quote_path(&s);
            assert!(!q.contains(hidden), "{c:?} -> {q:?}");
        }
    }
}
