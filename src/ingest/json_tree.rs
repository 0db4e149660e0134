//! A borrowed JSON tree for ingest: strings point into the file's text unless they
//! hold escapes, objects are vectors in file order (no hashing, no key copies).
//! Parsing is still serde_json's (same grammar, same 128-level recursion limit);
//! only the in-memory shape is lighter than `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any number, as `f64` (like `serde_json::Value::as_f64`).
    Num(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Node<'a>>),
    /// An object, members in file order.
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// The number, if this is one.
    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            Node::Num(x) => Some(*x),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub(super) fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// True for objects and arrays.
    pub(super) fn is_container(&self) -> bool {
        matches!(self, Node::Arr(_) | Node::Obj(_))
    }
}

/// The value of `key` in an object's members; the last one wins when a key repeats
/// (as with `serde_json::Value`).
pub(super) fn get<'n, 'a>(
    members: &'n [(Cow<'a, str>, Node<'a>)],
    key: &str,
) -> Option<&'n Node<'a>> {
    members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Parses `text` as one JSON document.
pub(super) fn parse(text: &str) -> Result<Node<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            members.push((key, map.next_value()?));
        }
        Ok(Node::Obj(members))
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Deserializes an object key, borrowing it when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_serde_json_values() {
        let text = r#"{"a":1,"b":[true,null,"x\ny",2.5,-3],"c":{"d":"e"},"a":7}"#;
        let node = parse(text).unwrap();
        let Node::Obj(members) = &node else {
            panic!("object expected")
        };
        assert_eq!(members.len(), 4, "file order, repeats kept");
        assert_eq!(
            get(members, "a").and_then(Node::as_f64),
            Some(7.0),
            "last wins"
        );
        let Some(Node::Arr(items)) = get(members, "b") else {
            panic!("array expected")
        };
        assert_eq!(items[0].as_bool(), Some(true));
        assert_eq!(items[1], Node::Null);
        assert_eq!(items[2].as_str(), Some("x\ny"));
        assert_eq!(items[3].as_f64(), Some(2.5));
        assert_eq!(items[4].as_f64(), Some(-3.0));
        let Some(Node::Obj(c)) = get(members, "c") else {
            panic!("object expected")
        };
        assert!(matches!(&c[0].0, Cow::Borrowed("c") | Cow::Borrowed("d")));
        assert!(parse("{").is_err());
        assert!(parse(&"[".repeat(1000)).is_err(), "recursion limit holds");
    }
}
