//! A borrowed JSON tape for ingest: one flat vector of tokens per document (no
//! allocation per object or array), strings pointing into the file's text unless they
//! hold escapes, members in file order.
//!
//! Parsing is still serde_json's (same grammar, same 128-level recursion limit, same
//! error messages and positions): only the in-memory shape differs from
//! `serde_json::Value`. An object is an `Obj` token followed by its members, each a
//! key (`Str`) then the value's tokens; an array is an `Arr` token followed by its
//! items. A container token holds the index one past its last token, so a value is
//! skipped in one step.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One token of the tape.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any number, as `f64` (like `serde_json::Value::as_f64`).
    Num(f64),
    /// A string (a value, or an object key).
    Str(Cow<'a, str>),
    /// An array; its items follow, up to index `end` (exclusive).
    Arr {
        /// One past the array's last token.
        end: usize,
    },
    /// An object; its members (key, value) follow, up to index `end` (exclusive).
    Obj {
        /// One past the object's last token.
        end: usize,
    },
}

impl<'a> Tok<'a> {
    /// The number, if this is one.
    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            Tok::Num(x) => Some(*x),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Tok::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub(super) fn as_bool(&self) -> Option<bool> {
        match self {
            Tok::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// A parsed document: its tokens, the root at index 0.
pub(super) struct Tape<'a> {
    pub(super) toks: Vec<Tok<'a>>,
}

impl<'a> Tape<'a> {
    /// Index one past the value starting at `i`.
    pub(super) fn skip(&self, i: usize) -> usize {
        match self.toks[i] {
            Tok::Arr { end } | Tok::Obj { end } => end,
            _ => i + 1,
        }
    }

    /// The members of the object at `i` as (key index, value index), in file order.
    pub(super) fn members(&self, i: usize) -> Members<'_, 'a> {
        let end = match self.toks[i] {
            Tok::Obj { end } => end,
            _ => i + 1,
        };
        Members {
            tape: self,
            at: i + 1,
            end,
        }
    }

    /// The items of the array at `i` as value indices, in file order.
    pub(super) fn items(&self, i: usize) -> Items<'_, 'a> {
        let end = match self.toks[i] {
            Tok::Arr { end } => end,
            _ => i + 1,
        };
        Items {
            tape: self,
            at: i + 1,
            end,
        }
    }

    /// The key at index `k` (a member's key token).
    pub(super) fn key(&self, k: usize) -> &str {
        match &self.toks[k] {
            Tok::Str(s) => s,
            _ => "",
        }
    }
}

/// Iterator over an object's members.
pub(super) struct Members<'t, 'a> {
    tape: &'t Tape<'a>,
    at: usize,
    end: usize,
}

impl Iterator for Members<'_, '_> {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.at >= self.end {
            return None;
        }
        let k = self.at;
        let v = k + 1;
        self.at = self.tape.skip(v);
        Some((k, v))
    }
}

/// Iterator over an array's items.
pub(super) struct Items<'t, 'a> {
    tape: &'t Tape<'a>,
    at: usize,
    end: usize,
}

impl Iterator for Items<'_, '_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.at >= self.end {
            return None;
        }
        let v = self.at;
        self.at = self.tape.skip(v);
        Some(v)
    }
}

/// Parses `text` as one JSON document, exactly as `serde_json::from_str` would
/// (same values, same errors), into a tape: [`Plain`] when the document stays
/// within what it reads, else serde_json.
pub(super) fn parse(text: &str) -> Result<Tape<'_>, serde_json::Error> {
    // Pretty-printed benchmark JSON runs about 12 bytes per token.
    let mut toks = Vec::with_capacity(text.len() / 12 + 4);
    let mut plain = Plain {
        b: text.as_bytes(),
        text,
        at: 0,
        toks: &mut toks,
    };
    if plain.document().is_some() {
        return Ok(Tape { toks });
    }
    toks.clear();
    let mut de = serde_json::Deserializer::from_str(text);
    TapeSeed(&mut toks).deserialize(&mut de)?;
    de.end()?;
    Ok(Tape { toks })
}

/// Deepest nesting [`Plain`] reads (serde_json's limit is 128).
const PLAIN_MAX_DEPTH: usize = 100;

/// Exact powers of ten (every one up to 1e22 is an `f64` exactly).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A reader for the JSON that benchmark files hold: strings without escapes or
/// control characters, numbers whose digits make an integer up to 2^53 with a
/// decimal exponent within ±22, nesting up to [`PLAIN_MAX_DEPTH`]. Such a document
/// is valid JSON exactly when this reader accepts it, and its tokens are those
/// serde_json gives: an integer is its value as `f64` (negative ones, `-0`
/// included, as `-(n as f64)`, as serde_json's `i64` or `-0.0` path gives), any
/// other number is digits / or × an exact power of ten, one correctly rounded
/// operation, the value serde_json (with or without `float_roundtrip`) gives too.
/// Anything else (an escape, a long number, an error of any kind) returns `None`,
/// and [`parse`] hands the whole document to serde_json, for its value or its
/// error message.
struct Plain<'t, 'a> {
    b: &'a [u8],
    text: &'a str,
    at: usize,
    toks: &'t mut Vec<Tok<'a>>,
}

impl<'a> Plain<'_, 'a> {
    fn document(&mut self) -> Option<()> {
        self.ws();
        self.value(0)?;
        self.ws();
        (self.at == self.b.len()).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let s = self.string()?;
                self.toks.push(Tok::Str(Cow::Borrowed(s)));
                Some(())
            }
            b't' => self.literal(b"true", Tok::Bool(true)),
            b'f' => self.literal(b"false", Tok::Bool(false)),
            b'n' => self.literal(b"null", Tok::Null),
            _ => {
                let x = self.number()?;
                self.toks.push(Tok::Num(x));
                Some(())
            }
        }
    }

    fn literal(&mut self, word: &[u8], tok: Tok<'a>) -> Option<()> {
        if !self.b[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.toks.push(tok);
        Some(())
    }

    /// A string without escapes or control characters, the quotes excluded.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.at + 1;
        let mut i = start;
        loop {
            match *self.b.get(i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some(&self.text[start..i])
    }

    fn digits(&mut self, mantissa: &mut u64, count: &mut usize) {
        while let Some(c @ b'0'..=b'9') = self.peek() {
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            *count += 1;
            self.at += 1;
        }
    }

    fn number(&mut self) -> Option<f64> {
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let mut mantissa = 0u64;
        let mut count = 0;
        match self.peek()? {
            b'0' => {
                self.at += 1;
                count = 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(&mut mantissa, &mut count),
            _ => return None,
        }
        let mut exponent = 0i64;
        let mut plain_integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            let before = count;
            self.digits(&mut mantissa, &mut count);
            if count == before {
                return None;
            }
            exponent -= (count - before) as i64;
            plain_integer = false;
        }
        if count > 15 {
            // Past 15 digits the mantissa may exceed 2^53 (or overflow).
            return None;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let sign = match self.peek() {
                Some(b'-') => {
                    self.at += 1;
                    -1
                }
                Some(b'+') => {
                    self.at += 1;
                    1
                }
                _ => 1,
            };
            let (mut e, mut n) = (0u64, 0usize);
            self.digits(&mut e, &mut n);
            if n == 0 || n > 4 {
                return None;
            }
            exponent += sign * e as i64;
            plain_integer = false;
        }
        let m = mantissa as f64;
        let x = if plain_integer {
            m
        } else if (0..=22).contains(&exponent) {
            m * POW10[exponent as usize]
        } else if (-22..0).contains(&exponent) {
            m / POW10[(-exponent) as usize]
        } else {
            return None;
        };
        Some(if negative { -x } else { x })
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > PLAIN_MAX_DEPTH {
            return None;
        }
        let at = self.toks.len();
        self.toks.push(Tok::Arr { end: 0 });
        self.at += 1;
        self.ws();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                self.value(depth)?;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.ws();
                    }
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let end = self.toks.len();
        self.toks[at] = Tok::Arr { end };
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > PLAIN_MAX_DEPTH {
            return None;
        }
        let at = self.toks.len();
        self.toks.push(Tok::Obj { end: 0 });
        self.at += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.toks.push(Tok::Str(Cow::Borrowed(key)));
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                self.ws();
                self.value(depth)?;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let end = self.toks.len();
        self.toks[at] = Tok::Obj { end };
        Some(())
    }
}

/// Appends one value's tokens to the tape.
struct TapeSeed<'t, 'de>(&'t mut Vec<Tok<'de>>);

impl<'de> DeserializeSeed<'de> for TapeSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TapeSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Tok::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Tok::Num(v as f64));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(Tok::Num(v as f64));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(Tok::Num(v));
        Ok(())
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Owned(v)));
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Tok::Null);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push(Tok::Null);
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let toks = self.0;
        let at = toks.len();
        toks.push(Tok::Arr { end: 0 });
        while seq.next_element_seed(TapeSeed(&mut *toks))?.is_some() {}
        let end = toks.len();
        toks[at] = Tok::Arr { end };
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let toks = self.0;
        let at = toks.len();
        toks.push(Tok::Obj { end: 0 });
        while map.next_key_seed(KeySeed(&mut *toks))?.is_some() {
            map.next_value_seed(TapeSeed(&mut *toks))?;
        }
        let end = toks.len();
        toks[at] = Tok::Obj { end };
        Ok(())
    }
}

/// Appends an object key, borrowed when it has no escapes.
struct KeySeed<'t, 'de>(&'t mut Vec<Tok<'de>>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Owned(v)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tape_matches_serde_json_values() {
        let text = r#"{"a":1,"b":[true,null,"x\ny",2.5,-3,[],{}],"c":{"d":"e"},"a":7}"#;
        let tape = parse(text).unwrap();
        let members: Vec<(&str, usize)> = tape.members(0).map(|(k, v)| (tape.key(k), v)).collect();
        let keys: Vec<&str> = members.iter().map(|m| m.0).collect();
        assert_eq!(keys, ["a", "b", "c", "a"], "file order, repeats kept");
        assert_eq!(tape.toks[members[3].1].as_f64(), Some(7.0));
        let items: Vec<&Tok> = tape.items(members[1].1).map(|i| &tape.toks[i]).collect();
        assert_eq!(items.len(), 7);
        assert_eq!(items[0].as_bool(), Some(true));
        assert_eq!(*items[1], Tok::Null);
        assert_eq!(items[2].as_str(), Some("x\ny"));
        assert_eq!(items[3].as_f64(), Some(2.5));
        assert_eq!(items[4].as_f64(), Some(-3.0));
        assert!(matches!(items[5], Tok::Arr { .. }));
        assert!(matches!(items[6], Tok::Obj { .. }));
        let c = members[2].1;
        let (dk, dv) = tape.members(c).next().unwrap();
        assert!(matches!(&tape.toks[dk], Tok::Str(Cow::Borrowed("d"))));
        assert_eq!(tape.toks[dv].as_str(), Some("e"));
        assert_eq!(tape.skip(0), tape.toks.len());
        // Errors are serde_json's own, message and position included.
        for bad in [
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "[1] x",
            "\"\\ud800\"",
            "1e999",
        ] {
            let want = serde_json::from_str::<serde_json::Value>(bad).unwrap_err();
            let got = parse(bad).err().expect(bad);
            assert_eq!(got.to_string(), want.to_string(), "{bad}");
        }
        assert!(parse(&"[".repeat(1000)).is_err(), "recursion limit holds");
        for depth in [127, 128, 129] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                parse(&nested).is_err(),
                serde_json::from_str::<serde_json::Value>(&nested).is_err(),
                "depth {depth}"
            );
        }
    }
}
