//! A borrowed JSON tape for ingest: one flat vector of tokens per document (no
//! allocation per object or array), strings pointing into the file's text unless they
//! hold escapes (then unescaped into their own `String`, as serde_json does), members
//! in file order.
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

use crate::plain_json::{self, Sink};

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
/// (same values, same errors), into a tape: [`plain_json::read`] when the document
/// stays within what it reads, else serde_json.
pub(super) fn parse(text: &str) -> Result<Tape<'_>, serde_json::Error> {
    // Pretty-printed benchmark JSON runs about 12 bytes per token.
    let mut toks = Vec::with_capacity(text.len() / 12 + 4);
    if plain_json::read(text, &mut TapeSink(&mut toks)).is_some() {
        return Ok(Tape { toks });
    }
    toks.clear();
    let mut de = serde_json::Deserializer::from_str(text);
    TapeSeed(&mut toks).deserialize(&mut de)?;
    de.end()?;
    Ok(Tape { toks })
}

/// Builds the tape from [`plain_json::read`]'s values.
struct TapeSink<'t, 'a>(&'t mut Vec<Tok<'a>>);

impl<'a> Sink<'a> for TapeSink<'_, 'a> {
    fn null(&mut self) -> Option<()> {
        self.0.push(Tok::Null);
        Some(())
    }
    fn bool(&mut self, value: bool) -> Option<()> {
        self.0.push(Tok::Bool(value));
        Some(())
    }
    fn num(&mut self, value: f64, _integer: bool) -> Option<()> {
        self.0.push(Tok::Num(value));
        Some(())
    }
    fn str(&mut self, value: &'a str) -> Option<()> {
        self.0.push(Tok::Str(Cow::Borrowed(value)));
        Some(())
    }
    fn str_owned(&mut self, value: String) -> Option<()> {
        self.0.push(Tok::Str(Cow::Owned(value)));
        Some(())
    }
    fn key(&mut self, key: &'a str) -> Option<()> {
        self.str(key)
    }
    fn key_owned(&mut self, key: String) -> Option<()> {
        self.str_owned(key)
    }
    fn open(&mut self, object: bool) -> Option<usize> {
        let mark = self.0.len();
        self.0.push(if object {
            Tok::Obj { end: 0 }
        } else {
            Tok::Arr { end: 0 }
        });
        Some(mark)
    }
    fn close(&mut self, object: bool, mark: usize) -> Option<()> {
        let end = self.0.len();
        self.0[mark] = if object {
            Tok::Obj { end }
        } else {
            Tok::Arr { end }
        };
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

    /// The tape serde_json alone builds (the fallback path), or its error.
    fn serde_tape(text: &str) -> Result<Tape<'_>, serde_json::Error> {
        let mut toks = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        TapeSeed(&mut toks).deserialize(&mut de)?;
        de.end()?;
        Ok(Tape { toks })
    }

    /// Everything a parse says: each token, whether its string borrows, or the error.
    fn view(r: &Result<Tape<'_>, serde_json::Error>) -> String {
        match r {
            Err(e) => format!("error {e}"),
            Ok(t) => t
                .toks
                .iter()
                .map(|tok| match tok {
                    Tok::Str(Cow::Borrowed(s)) => format!("b{s:?}"),
                    Tok::Str(Cow::Owned(s)) => format!("o{s:?}"),
                    Tok::Num(x) => format!("{:?}", x.to_bits()),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    #[test]
    fn escaped_strings_tape_as_serde_json_does() {
        let parts = [
            "a",
            "é",
            "😀",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u00e9",
            "\\u00E9",
            "\\u0000",
            "\\ud83d\\ude00",
            "\\ud83d",
            "\\ude00",
            "\\u12",
            "\\x",
            "\\",
            "\u{1}",
            "\n",
        ];
        let mut docs = 0;
        for a in parts {
            for b in parts {
                for doc in [
                    format!(r#"{{"k{a}":["{b}",1,{{"{b}{a}":null}}],"z":"{a}{b}"}}"#),
                    format!("\"{a}{b}\""),
                    format!(r#"["{a}", "{b}"]"#),
                ] {
                    assert_eq!(view(&parse(&doc)), view(&serde_tape(&doc)), "{doc}");
                    docs += 1;
                }
            }
        }
        assert_eq!(docs, parts.len() * parts.len() * 3);
        let tape = parse(r#"{"a\nb":"\ud83d\ude00x","c":"d"}"#).unwrap();
        assert!(matches!(&tape.toks[1], Tok::Str(Cow::Owned(s)) if s == "a\nb"));
        assert!(matches!(&tape.toks[2], Tok::Str(Cow::Owned(s)) if s == "\u{1F600}x"));
        assert!(matches!(&tape.toks[3], Tok::Str(Cow::Borrowed("c"))));
    }

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
