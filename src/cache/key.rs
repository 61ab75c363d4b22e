//! Cache keys.
//!
//! A key is any JS string, and a JS string is a sequence of UTF-16 code units that need not be
//! well-formed: `'\ud800'`, `'\udc00'` and `'\ufffd'` are three different keys, though a lossy
//! conversion to UTF-8 makes all three U+FFFD. Keys are therefore kept as WTF-8
//! (<https://simonsapin.github.io/wtf-8/>): UTF-8 extended to encode a lone surrogate the way it
//! would encode any other code point, in three bytes. It converts to and from UTF-16 without
//! loss, and the WTF-8 of a well-formed string is its UTF-8, so a key given from Rust as a
//! `&str`, and the file names and disk form of existing caches, are what they always were.

use std::borrow::Cow;
use std::fmt;

/// A cache key: well-formed WTF-8, checked wherever bytes come from outside (the disk).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(Box<[u8]>);

/// What can name a cache key: a Rust string (its UTF-8 is WTF-8) or a [`Key`]. Sealed, so every
/// implementation hands out well-formed WTF-8.
pub trait AsKey: sealed::Sealed {
    /// The key's WTF-8 bytes.
    fn wtf8(&self) -> &[u8];
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for super::Key {}
    impl Sealed for super::KeyBuf {}
    impl Sealed for super::super::store::Entry {}
}

impl AsKey for str {
    fn wtf8(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsKey for String {
    fn wtf8(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsKey for Key {
    fn wtf8(&self) -> &[u8] {
        &self.0
    }
}

impl AsKey for KeyBuf {
    fn wtf8(&self) -> &[u8] {
        &self.0
    }
}

/// Writes the WTF-8 of `units` (the UTF-16 code units of a JS string) into `out`, replacing what
/// it held: the one conversion of a JS key, owned ([`Key::from_utf16`]) or in a reused buffer
/// ([`KeyBuf`]).
fn wtf8_from_utf16(units: &[u16], out: &mut Vec<u8>) {
    out.clear();
    // Most keys are ASCII ('buildfix:result'): one byte per unit, no decoding.
    if units.iter().all(|&u| u < 0x80) {
        out.extend(units.iter().map(|&u| u as u8));
        return;
    }
    for unit in char::decode_utf16(units.iter().copied()) {
        match unit {
            Ok(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            // The three-byte form of the code point, as UTF-8 would write it if it allowed it.
            Err(e) => {
                let u = e.unpaired_surrogate();
                out.extend_from_slice(&[
                    0xE0 | (u >> 12) as u8,
                    0x80 | ((u >> 6) & 0x3F) as u8,
                    0x80 | (u & 0x3F) as u8,
                ]);
            }
        }
    }
}

/// A key in a buffer that is reused from one lookup to the next: what a read needs, without
/// allocating a [`Key`] per call.
#[derive(Default)]
pub struct KeyBuf(Vec<u8>);

impl KeyBuf {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Makes this the key of the JS string with these UTF-16 code units.
    pub fn set_utf16(&mut self, units: &[u16]) {
        wtf8_from_utf16(units, &mut self.0);
    }
}

/// A run of well-formed text, or one lone surrogate.
enum Piece<'a> {
    Text(&'a str),
    Surrogate(u16),
}

/// Walks WTF-8 as runs of text and lone surrogates; fails on anything that is not WTF-8,
/// including a surrogate pair written as two surrogates (it has one encoding, as a code point).
fn pieces(mut bytes: &[u8], mut each: impl FnMut(Piece<'_>)) -> Result<(), &'static str> {
    let mut after_lead = false;
    while !bytes.is_empty() {
        let text_len = match std::str::from_utf8(bytes) {
            Ok(text) => {
                each(Piece::Text(text));
                return Ok(());
            }
            Err(e) => e.valid_up_to(),
        };
        if text_len > 0 {
            let text = std::str::from_utf8(&bytes[..text_len]).map_err(|_| "invalid UTF-8")?;
            each(Piece::Text(text));
            after_lead = false;
        }
        let unit = match bytes[text_len..] {
            [0xED, b1 @ 0xA0..=0xBF, b2 @ 0x80..=0xBF, ..] => {
                0xD000 | (u16::from(b1 & 0x3F) << 6) | u16::from(b2 & 0x3F)
            }
            _ => return Err("invalid byte sequence"),
        };
        let lead = unit < 0xDC00;
        if after_lead && !lead {
            return Err("a surrogate pair written as two surrogates");
        }
        each(Piece::Surrogate(unit));
        after_lead = lead;
        bytes = &bytes[text_len + 3..];
    }
    Ok(())
}

impl Key {
    /// The key of a JS string, given as its UTF-16 code units; never lossy.
    pub fn from_utf16(units: &[u16]) -> Self {
        let mut out = Vec::with_capacity(units.len());
        wtf8_from_utf16(units, &mut out);
        Key(out.into())
    }

    /// The key as the UTF-16 code units of the JS string it came from.
    pub fn to_utf16(&self) -> Vec<u16> {
        let mut out = Vec::with_capacity(self.0.len());
        // A `Key` is well-formed, so the walk cannot fail.
        let _ = pieces(&self.0, |p| match p {
            Piece::Text(s) => out.extend(s.encode_utf16()),
            Piece::Surrogate(u) => out.push(u),
        });
        out
    }

    /// A key read from outside (a file): checked to be well-formed WTF-8.
    pub fn from_wtf8(bytes: &[u8]) -> Result<Self, &'static str> {
        pieces(bytes, |_| {})?;
        Ok(Key(bytes.into()))
    }

    /// A copy of a stored entry's key, well-formed since it was checked on the way in.
    pub(super) fn from_entry(bytes: &[u8]) -> Self {
        Key(bytes.into())
    }

    /// The key's own copy of a key or string.
    pub fn new(key: &(impl AsKey + ?Sized)) -> Self {
        Key(key.wtf8().into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes of the WTF-8 form.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key as text, with each lone surrogate shown as U+FFFD (for messages only: two keys
    /// may look alike here).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        match std::str::from_utf8(&self.0) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(String::from_utf16_lossy(&self.to_utf16())),
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key(s.as_bytes().into())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

/// Like a string's `Debug`, with lone surrogates written `\u{d800}`, so distinct keys look
/// distinct.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::from("\"");
        let _ = pieces(&self.0, |p| match p {
            Piece::Text(s) => text.extend(s.escape_debug()),
            Piece::Surrogate(u) => text.push_str(&format!("\\u{{{u:x}}}")),
        });
        text.push('"');
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_buffer_holds_the_same_bytes_as_an_owned_key() {
        let mut buf = KeyBuf::new();
        for s in ["a long key of ASCII text", "k", "caf\u{e9} \u{1f600}", ""] {
            buf.set_utf16(&utf16(s));
            assert_eq!(buf.wtf8(), Key::from_utf16(&utf16(s)).wtf8());
            assert_eq!(buf.wtf8(), s.as_bytes());
        }
        // A lone surrogate after a longer key: nothing of the previous key is left.
        buf.set_utf16(&[0xD800]);
        assert_eq!(buf.wtf8(), Key::from_utf16(&[0xD800]).wtf8());
        assert_eq!(buf.wtf8().len(), 3);
    }

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    /// JS strings that are not well-formed, with the code units that make them.
    fn ill_formed() -> Vec<Vec<u16>> {
        vec![
            vec![0xD800],
            vec![0xDC00],
            vec![0x61, 0xD800, 0x62],
            vec![0xDC00, 0xD800],
            vec![0xD800, 0xD800, 0xDC00],
            vec![0xDBFF],
            vec![0xDFFF, 0x41],
        ]
    }

    #[test]
    fn every_utf16_string_round_trips() {
        let mut all = ill_formed();
        for s in [
            "",
            "buildfix:result",
            "\u{FFFD}",
            "😀",
            "a\u{0}b",
            "ünï©ødé",
        ] {
            all.push(utf16(s));
        }
        for units in all {
            let key = Key::from_utf16(&units);
            assert_eq!(key.to_utf16(), units, "{key:?}");
            assert_eq!(Key::from_wtf8(key.as_bytes()).unwrap(), key);
        }
    }

    #[test]
    fn lone_surrogates_and_the_replacement_character_are_distinct_keys() {
        let keys: Vec<Key> = [vec![0xD800], vec![0xDC00], utf16("\u{FFFD}")]
            .iter()
            .map(|u| Key::from_utf16(u))
            .collect();
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
        assert_ne!(keys[1], keys[2]);
        assert_eq!(format!("{:?}", keys[0]), r#""\u{d800}""#);
    }

    #[test]
    fn a_well_formed_key_is_its_utf8() {
        for s in ["", "buildfix:result", "😀".repeat(100).as_str(), "\u{FFFD}"] {
            assert_eq!(Key::from_utf16(&utf16(s)).as_bytes(), s.as_bytes());
            assert_eq!(Key::from_utf16(&utf16(s)), Key::from(s));
        }
        // A pair of surrogates is one code point, in four bytes.
        assert_eq!(
            Key::from_utf16(&[0xD83D, 0xDE00]).as_bytes(),
            "😀".as_bytes()
        );
    }

    #[test]
    fn bytes_that_are_not_wtf8_are_refused() {
        for bad in [
            &[0xFF][..],
            &[0xED, 0xA0],
            &[0xC0, 0x80],
            &[0x61, 0x80],
            // U+D83D then U+DE00 as two surrogates: "😀" has one encoding only.
            &[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80],
        ] {
            assert!(Key::from_wtf8(bad).is_err(), "{bad:x?}");
        }
        // A trail then a lead is no pair, and stays two surrogates.
        assert!(Key::from_wtf8(&[0xED, 0xB0, 0x80, 0xED, 0xA0, 0x80]).is_ok());
    }
}
