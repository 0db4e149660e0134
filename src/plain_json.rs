//! A validating reader for plain JSON, shared by ingest's tape
//! (`ingest::json_tree`) and the client's NDJSON chunk decoder
//! (`client::ndjson`).
//!
//! It reads the JSON that benchmark files and streamed chunks hold: strings without
//! control characters (escapes included: the two-character ones and `\uXXXX`, a
//! surrogate pair as one character), numbers whose digits make an integer up to 2^53
//! with a decimal exponent within ±22, nesting up to [`PLAIN_MAX_DEPTH`]. Such a
//! document is valid JSON exactly when this reader accepts it, and the values it
//! reports are those serde_json gives: a string without escapes is borrowed from the
//! document ([`Sink::str`], [`Sink::key`]), one with escapes is unescaped into a new
//! `String` ([`Sink::str_owned`], [`Sink::key_owned`]), as serde_json borrows or
//! copies it; an integer is its value as `f64` (negative
//! ones, `-0` included, as `-(n as f64)`, as serde_json's `i64` or `-0.0` path
//! gives), any other number is digits / or × an exact power of ten, one correctly
//! rounded operation, the value serde_json (with or without `float_roundtrip`)
//! gives too. Anything else (an invalid escape, a lone surrogate, a long number, an
//! error of any kind) makes [`read`] return `None`, and the caller hands the whole
//! document to serde_json, for its value or its error message.

use std::borrow::Cow;

/// Deepest nesting the reader accepts (serde_json's limit is 128).
pub(crate) const PLAIN_MAX_DEPTH: usize = 100;

/// Exact powers of ten (every one up to 1e22 is an `f64` exactly).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Receives a document's values in file order. Every method may return `None` to
/// stop the read (the document is then left to serde_json).
pub(crate) trait Sink<'a> {
    /// `null`.
    fn null(&mut self) -> Option<()>;
    /// `true` / `false`.
    fn bool(&mut self, value: bool) -> Option<()>;
    /// A number as serde_json's `f64`; `integer` when it was written without a
    /// fraction or exponent (so a non-negative one is exactly a `u64` too).
    fn num(&mut self, value: f64, integer: bool) -> Option<()>;
    /// A string value without escapes, borrowed from the document.
    fn str(&mut self, value: &'a str) -> Option<()>;
    /// A string value that had escapes, unescaped.
    fn str_owned(&mut self, value: String) -> Option<()>;
    /// An object key without escapes, borrowed from the document.
    fn key(&mut self, key: &'a str) -> Option<()>;
    /// An object key that had escapes, unescaped.
    fn key_owned(&mut self, key: String) -> Option<()>;
    /// An array (`object` false) or object opens; the mark is handed back to
    /// [`Sink::close`].
    fn open(&mut self, object: bool) -> Option<usize>;
    /// The container opened with `mark` closes.
    fn close(&mut self, object: bool, mark: usize) -> Option<()>;
}

/// Reads `text` as one JSON document into `sink`. `Some` only when the document is
/// valid plain JSON (see the module doc) and the sink accepted every value.
pub(crate) fn read<'a>(text: &'a str, sink: &mut impl Sink<'a>) -> Option<()> {
    read_bytes(text.as_bytes(), sink)
}

/// Reads `b` as one JSON document into `sink`, exactly as [`read`] reads the same
/// bytes as text, without requiring them to be UTF-8 first: `Some` only when `b` is
/// UTF-8 (each string's non-ASCII bytes are validated where the string is read;
/// outside strings the grammar accepts ASCII alone), valid plain JSON and every value
/// was accepted. So a document that is not UTF-8 always gives `None`.
pub(crate) fn read_bytes<'a>(b: &'a [u8], sink: &mut impl Sink<'a>) -> Option<()> {
    Plain { b, at: 0, sink }.document()
}

/// `b` as text, for a range the reader has checked to be UTF-8: ASCII bytes only, or
/// non-ASCII runs that [`std::str::from_utf8`] accepted, cut only at ASCII bytes
/// (which are never inside a multi-byte character).
fn checked_text(b: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(b).is_ok());
    // SAFETY: every caller passes a range made only of ASCII bytes and of runs that
    // `from_utf8` validated (see `Plain::string`, `Plain::string_rest`,
    // `plain_string_end`); such runs
    // start and end next to ASCII bytes, so their concatenation is UTF-8 too.
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// Index of the first byte at or after `i` that a plain string stops at: a quote,
/// a backslash, a control character or, when `NON_ASCII`, a byte ≥ 0x80 (`None`
/// when there is none). Reads eight bytes at a time: in each word, a byte's high
/// bit is set by `x - c` (per byte, `c` = 1 after XOR with the wanted byte, or
/// 0x20) and clear in `x` exactly when the byte matches, unless a lower byte
/// matched and borrowed; so the lowest flagged byte is always the first match (a
/// byte ≥ 0x80 flags itself through `w`).
///
/// On x86_64, sixteen bytes at a time first (SSE2, which every x86_64 CPU has):
/// streamed text pieces and the timestamps around them run 20–60 bytes, so most
/// strings end within two or three blocks instead of four to eight words.
#[inline(always)]
fn string_stop<const NON_ASCII: bool>(b: &[u8], mut i: usize) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(block) = b.get(i..i + 16) {
        let hits = sse2::string_stops::<NON_ASCII>(block);
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize);
        }
        i += 16;
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = ONES * b'"' as u64;
    const BACKSLASH: u64 = ONES * b'\\' as u64;
    const SPACE: u64 = ONES * 0x20;
    while let Some(Ok(word)) = b.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let w = u64::from_le_bytes(word);
        let (q, s) = (w ^ QUOTE, w ^ BACKSLASH);
        let control = w.wrapping_sub(SPACE) & !w | if NON_ASCII { w } else { 0 };
        let hits = (q.wrapping_sub(ONES) & !q | s.wrapping_sub(ONES) & !s | control) & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = b.get(i..)?;
    let at = rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20 || (NON_ASCII && c >= 0x80))?;
    Some(i + at)
}

/// The rest of the string whose contents start at `b[start]` and whose first
/// byte that is not plain ASCII text is at `stop` (a quote, a backslash, a control
/// character or a byte ≥ 0x80), and the index of its closing quote: the contents
/// borrowed when they have no escapes, else unescaped as serde_json unescapes them;
/// `None` wherever serde_json would fail (a control character, an unknown escape,
/// a bad or short `\u` escape, a surrogate that is not half of a
/// leading-then-trailing pair, bytes that are not UTF-8) or where the string does
/// not end. The one reading of a string's escapes and non-ASCII text, for the
/// reader ([`Plain::string`]) and for [`Skeleton::fit`]. The unescaped text goes
/// into `spare` when it holds a `String` (taken, cleared: an earlier line's text
/// given back, so that a stream's escaped texts need no allocation each).
fn string_rest<'b>(
    b: &'b [u8],
    start: usize,
    mut stop: usize,
    spare: &mut Option<String>,
) -> Option<(Result<&'b str, String>, usize)> {
    // The unescaped text so far, once there was an escape; `b[from..stop]` is
    // checked text not yet in it.
    let mut out: Option<String> = None;
    let mut from = start;
    loop {
        let len = match b[stop] {
            b'"' => {
                let tail = checked_text(&b[from..stop]);
                let text = match out {
                    None => Ok(tail),
                    Some(mut out) => {
                        out.push_str(tail);
                        Err(out)
                    }
                };
                return Some((text, stop));
            }
            0x80.. => {
                // Non-ASCII text up to the next quote, backslash or control
                // character (all ASCII, so a character boundary): checked here,
                // once, as `from_utf8` would check the whole line.
                let next = string_stop::<false>(b, stop)?;
                std::str::from_utf8(&b[stop..next]).ok()?;
                stop = next;
                continue;
            }
            b'\\' => {
                let out = out.get_or_insert_with(|| unescape_buffer(b, start, stop, spare.take()));
                out.push_str(checked_text(&b[from..stop]));
                let (c, len) = escape(b, stop)?;
                out.push(c);
                len
            }
            _ => return None,
        };
        from = stop + len;
        stop = string_stop::<true>(b, from)?;
    }
}

/// Index of the first byte at or after `i` that is not a space (`b.len()` if none).
/// Reads eight bytes at a time: XOR with spaces leaves a byte zero exactly when it
/// was a space, and `((x & 0x7f) + 0x7f) | x` sets a byte's high bit exactly when the
/// byte is nonzero (no carry crosses bytes), so the lowest flagged byte is the
/// first non-space.
fn spaces_end(b: &[u8], mut i: usize) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const SPACES: u64 = 0x2020_2020_2020_2020;
    while let Some(Ok(word)) = b.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let x = u64::from_le_bytes(word) ^ SPACES;
        let nonzero = (((x & LOW7) + LOW7) | x) & !LOW7;
        if nonzero != 0 {
            return i + (nonzero.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// An empty `String` for the unescaped text of the string that starts at `start`
/// and has its first escape at `first_escape`, with room for all of it when its
/// first quote after the escape ends it: escapes only shrink text (`\n` is one
/// byte, `\uXXXX` at most three), so the raw length up to that quote bounds it. One
/// allocation instead of a growth by doubling from the first escape on (a text
/// piece that opens with `\n`, as streamed chunks often do, grew 3–4 times).
/// `spare`, when given, is cleared and used instead of a new allocation.
fn unescape_buffer(b: &[u8], start: usize, first_escape: usize, spare: Option<String>) -> String {
    // The quote right after the backslash may be the escaped one; search past it.
    let end = memchr::memchr(b'"', b.get(first_escape + 2..).unwrap_or_default())
        .map_or(first_escape + 16, |q| first_escape + 2 + q);
    match spare {
        Some(mut text) => {
            text.clear();
            text.reserve(end - start);
            text
        }
        None => String::with_capacity(end - start),
    }
}

/// The value of the four hex digits at `b[i..i + 4]` (either case), as serde_json
/// reads a `\uXXXX` escape; `None` if there are not four hex digits.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = b.get(i..i + 4)?;
    let mut n = 0;
    for &d in digits {
        n = n << 4 | (d as char).to_digit(16)?;
    }
    Some(n)
}

/// The character of the escape whose backslash is at `b[at]`, and the escape's
/// length in bytes, as serde_json reads it; `None` for an escape serde_json
/// rejects (an unknown one, a bad or short `\u` escape, a surrogate that is not
/// half of a leading-then-trailing pair).
fn escape(b: &[u8], at: usize) -> Option<(char, usize)> {
    Some(match *b.get(at + 1)? {
        b'"' => ('"', 2),
        b'\\' => ('\\', 2),
        b'/' => ('/', 2),
        b'b' => ('\u{8}', 2),
        b'f' => ('\u{c}', 2),
        b'n' => ('\n', 2),
        b'r' => ('\r', 2),
        b't' => ('\t', 2),
        b'u' => {
            let n = hex4(b, at + 2)?;
            match n {
                0xD800..=0xDBFF => {
                    if b.get(at + 6..at + 8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(b, at + 8)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let c = 0x10000 + ((n - 0xD800) << 10) + (low - 0xDC00);
                    (char::from_u32(c)?, 12)
                }
                0xDC00..=0xDFFF => return None,
                _ => (char::from_u32(n)?, 6),
            }
        }
        _ => return None,
    })
}

/// Most string values a [`Skeleton`] leaves open.
pub(crate) const SKELETON_MAX_STRINGS: usize = 8;

/// Most bytes of a [`Skeleton`]'s fixed text.
const SKELETON_MAX_FIXED: usize = 224;

/// A document [`read`] accepted, with the contents of some of its string values
/// (strings without escapes) left open: the fixed text around them.
///
/// Guarantee: a document that has the same fixed text, byte for byte, and in each
/// open place the contents of one string token the reader accepts (UTF-8, no
/// control character, valid escapes; the token's closing quote starts the next
/// fixed piece) is valid plain JSON, and [`read`] gives it exactly the events it
/// gave the original, those strings (borrowed, or unescaped as the reader unescapes
/// them) as the string values in the open places. (The grammar reads the fixed text
/// as before: each open place sits between the two quotes of one string token.)
/// [`Skeleton::fit`] checks a document against it in one pass over its bytes,
/// without reading its grammar again.
pub(crate) struct Skeleton {
    /// The fixed pieces, concatenated.
    fixed: [u8; SKELETON_MAX_FIXED],
    /// End of each fixed piece in `fixed`: piece 0 comes before open place 0,
    /// piece `i + 1` after open place `i`.
    ends: [u16; SKELETON_MAX_STRINGS + 1],
    /// Open places (pieces − 1).
    open: usize,
}

impl Skeleton {
    /// The skeleton of `b`, a document [`read_bytes`] accepted, with the string
    /// values whose contents span `spans` (start and end of each, in document order,
    /// as [`Sink::str`] borrowed them) left open. `None` when a span is not the
    /// whole contents of a string between two quotes, spans overlap or go back, or
    /// the limits ([`SKELETON_MAX_STRINGS`], 224 fixed bytes) are passed. The caller
    /// must pass value strings only: an object key left open would keep the
    /// document valid but change what it means.
    pub(crate) fn new(b: &[u8], spans: &[(usize, usize)]) -> Option<Self> {
        if spans.len() > SKELETON_MAX_STRINGS {
            return None;
        }
        let mut s = Skeleton {
            fixed: [0; SKELETON_MAX_FIXED],
            ends: [0; SKELETON_MAX_STRINGS + 1],
            open: spans.len(),
        };
        let mut len = 0;
        let mut from = 0;
        let pieces = spans
            .iter()
            .map(|&(start, end)| (start, end))
            .chain([(b.len(), b.len())]);
        for (i, (start, end)) in pieces.enumerate() {
            let piece = b.get(from..start)?;
            if i < spans.len() && (piece.last() != Some(&b'"') || b.get(end) != Some(&b'"')) {
                return None;
            }
            s.fixed
                .get_mut(len..len + piece.len())?
                .copy_from_slice(piece);
            len += piece.len();
            s.ends[i] = len as u16;
            from = end;
        }
        Some(s)
    }

    /// Piece `i` of the fixed text.
    fn piece(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.fixed[start..self.ends[i] as usize]
    }

    /// Whether `b` fits this skeleton (see the type's guarantee); if it does, the
    /// contents of its open places, in order, are in `texts[..open]`. Plain strings
    /// only: where an open place holds a string with an escape (or anything else a
    /// plain string stops at), [`Unfit::NotPlain`] says where, and
    /// [`Skeleton::fit_unescaping`] goes on from there. Inlined into each decoder's
    /// per-line path (an out-of-line call cost 3 % of the `decode` workload's
    /// instructions once there were two callers).
    #[inline(always)]
    pub(crate) fn fit<'a>(
        &self,
        b: &'a [u8],
        texts: &mut [&'a str; SKELETON_MAX_STRINGS],
    ) -> Result<(), Unfit> {
        let first = self.piece(0);
        if !b.get(..first.len()).is_some_and(|head| same(head, first)) {
            return Err(Unfit::Differs);
        }
        self.fit_places(b, texts, PlainStrings, 0, first.len())
    }

    /// [`Skeleton::fit`] gone on from where it stopped, `from` (its
    /// [`Unfit::NotPlain`]), with `texts` as it left them: whether `b` fits this
    /// skeleton (see the type's guarantee); if it does, the strings in its open
    /// places, in order, are in `texts[..open]`, borrowed, or unescaped by
    /// [`string_rest`] as the reader unescapes them (the first such text into
    /// `spare`'s `String` when it holds one). The places before `from` were read as
    /// this reader reads them (a plain string is read alike by both), so the result
    /// is the one pass with this reader would give. Out of line: a streamed token
    /// with an escape (often `\n`) is a minority of lines.
    #[cold]
    #[inline(never)]
    pub(crate) fn fit_unescaping<'a>(
        &self,
        b: &'a [u8],
        texts: &mut [Cow<'a, str>; SKELETON_MAX_STRINGS],
        from: (usize, usize),
        spare: &mut Option<String>,
    ) -> Option<()> {
        let (place, at) = from;
        self.fit_places(b, texts, AnyStrings { spare }, place, at)
            .ok()
    }

    /// The pass of both fits from open place `place`, whose string starts at `at`
    /// (the fixed pieces before it already compared): each open place's string read
    /// by `R`, each fixed piece after it compared.
    #[inline(always)]
    fn fit_places<'a, R: OpenString<'a>>(
        &self,
        b: &'a [u8],
        texts: &mut [R::Text; SKELETON_MAX_STRINGS],
        mut reader: R,
        place: usize,
        mut at: usize,
    ) -> Result<(), Unfit> {
        // Indexed: the iterator forms (`enumerate().take().skip()`, a sub-slice
        // zipped with `place..`) measured 3–9 % more `decode` instructions.
        #[allow(clippy::needless_range_loop)]
        for i in place..self.open {
            let Some((read, quote)) = reader.read(b, at) else {
                return Err(Unfit::NotPlain { place: i, at });
            };
            texts[i] = read;
            let piece = self.piece(i + 1);
            if !b
                .get(quote..quote + piece.len())
                .is_some_and(|fixed| same(fixed, piece))
            {
                return Err(Unfit::Differs);
            }
            at = quote + piece.len();
        }
        if at == b.len() {
            Ok(())
        } else {
            Err(Unfit::Differs)
        }
    }
}

/// The open places of a [`Skeleton`] whose texts a decoder keeps, each with the
/// field (`T`) its text fills, in the order they were added; at most
/// [`Kept::MAX`]. The other open places are read and checked by the fit, and their
/// texts dropped: going over the kept ones only, instead of every open place, saved
/// about 40 instructions a streamed line (`agentbench icount`, `decode`).
#[derive(Clone, Copy)]
pub(crate) struct Kept<T> {
    slots: [(usize, T); Kept::<()>::MAX],
    len: usize,
}

impl Kept<()> {
    /// The most kept texts: a chunk keeps at most five text fields (Ollama's
    /// `response`, `done_reason`, `error`, `message.content` and
    /// `message.thinking`; four in an OpenAI-compatible choice).
    pub(crate) const MAX: usize = 5;
}

impl<T: Copy + Default> Kept<T> {
    /// None kept.
    pub(crate) fn new() -> Self {
        Kept {
            slots: [(0, T::default()); Kept::<()>::MAX],
            len: 0,
        }
    }

    /// Keeps open place `place`'s text for `field`; `None` (nothing kept) when
    /// [`Kept::MAX`] are kept already.
    pub(crate) fn push(&mut self, place: usize, field: T) -> Option<()> {
        *self.slots.get_mut(self.len)? = (place, field);
        self.len += 1;
        Some(())
    }

    /// The kept (open place, field) pairs, in the order they were added.
    #[inline(always)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, T)> + '_ {
        self.slots[..self.len].iter().copied()
    }
}

/// Why a document does not fit a [`Skeleton`] by [`Skeleton::fit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unfit {
    /// Its bytes outside the open places differ: it does not fit.
    Differs,
    /// The string of open place `place`, whose contents start at `b[at]`, is not a
    /// plain string (an escape, a control character, no end): it fits only if
    /// [`Skeleton::fit_unescaping`] from there says so.
    NotPlain {
        /// The open place.
        place: usize,
        /// Where its contents start.
        at: usize,
    },
}

/// How a fit reads the string in an open place: from the index of its first
/// content byte, its text and the index of its closing quote (`None`: not a string
/// this fit takes). A trait rather than a closure so that the plain read is always
/// inlined into the per-line pass (as a closure it was not: `decode` +15 %
/// instructions).
trait OpenString<'a> {
    type Text;
    fn read(&mut self, b: &'a [u8], at: usize) -> Option<(Self::Text, usize)>;
}

/// Strings without escapes, borrowed ([`Skeleton::fit`]).
struct PlainStrings;

impl<'a> OpenString<'a> for PlainStrings {
    type Text = &'a str;
    #[inline(always)]
    fn read(&mut self, b: &'a [u8], at: usize) -> Option<(&'a str, usize)> {
        let end = plain_string_end(b, at)?;
        Some((checked_text(&b[at..end]), end))
    }
}

/// Any string the reader accepts, unescaped when it has escapes
/// ([`Skeleton::fit_unescaping`]), the first into `spare`'s `String` if it holds one.
struct AnyStrings<'s> {
    spare: &'s mut Option<String>,
}

impl<'a> OpenString<'a> for AnyStrings<'_> {
    type Text = Cow<'a, str>;
    #[inline(always)]
    fn read(&mut self, b: &'a [u8], at: usize) -> Option<(Cow<'a, str>, usize)> {
        let stop = string_stop::<true>(b, at)?;
        if b[stop] == b'"' {
            // `at..stop` is ASCII: the scan stops at any byte ≥ 0x80.
            return Some((Cow::Borrowed(checked_text(&b[at..stop])), stop));
        }
        let (text, quote) = string_rest(b, at, stop, self.spare)?;
        Some((text.map_or_else(Cow::Owned, Cow::Borrowed), quote))
    }
}

/// The spans (start, end) of a document's string values' contents, in document
/// order, as [`Sink::str`] borrowed them: what [`Skeleton::new`] takes.
#[derive(Clone, Copy)]
pub(crate) struct StringSpans {
    at: [(usize, usize); SKELETON_MAX_STRINGS],
    n: usize,
}

impl StringSpans {
    /// The spans in document order.
    pub(crate) fn as_slice(&self) -> &[(usize, usize)] {
        &self.at[..self.n]
    }
}

/// A [`Sink`] that hands every value to `inner` and notes where each string value
/// lies in the document. [`SpanSink::finish`] gives the spans when every string
/// (value and key) was borrowed and there were at most [`SKELETON_MAX_STRINGS`]
/// values; the read itself is `inner`'s to accept or stop.
pub(crate) struct SpanSink<S> {
    inner: S,
    /// Address of the document's first byte.
    base: usize,
    spans: StringSpans,
    /// Every string borrowed and within the limit so far.
    plain: bool,
}

impl<S> SpanSink<S> {
    /// A sink for the document `doc`, read with [`read_bytes`].
    pub(crate) fn new(inner: S, doc: &[u8]) -> Self {
        SpanSink {
            inner,
            base: doc.as_ptr() as usize,
            spans: StringSpans {
                at: [(0, 0); SKELETON_MAX_STRINGS],
                n: 0,
            },
            plain: true,
        }
    }

    /// The string values' spans, if every string was borrowed and they fit.
    pub(crate) fn finish(self) -> Option<StringSpans> {
        self.plain.then_some(self.spans)
    }
}

impl<'a, S: Sink<'a>> Sink<'a> for SpanSink<S> {
    fn null(&mut self) -> Option<()> {
        self.inner.null()
    }

    fn bool(&mut self, value: bool) -> Option<()> {
        self.inner.bool(value)
    }

    fn num(&mut self, value: f64, integer: bool) -> Option<()> {
        self.inner.num(value, integer)
    }

    fn str(&mut self, value: &'a str) -> Option<()> {
        // The reader borrows every such value from the document.
        let start = (value.as_ptr() as usize).checked_sub(self.base);
        match (self.spans.at.get_mut(self.spans.n), start) {
            (Some(span), Some(start)) => {
                *span = (start, start + value.len());
                self.spans.n += 1;
            }
            _ => self.plain = false,
        }
        self.inner.str(value)
    }

    fn str_owned(&mut self, value: String) -> Option<()> {
        self.plain = false;
        self.inner.str_owned(value)
    }

    fn key(&mut self, key: &'a str) -> Option<()> {
        self.inner.key(key)
    }

    fn key_owned(&mut self, key: String) -> Option<()> {
        self.plain = false;
        self.inner.key_owned(key)
    }

    fn open(&mut self, object: bool) -> Option<usize> {
        self.inner.open(object)
    }

    fn close(&mut self, object: bool, mark: usize) -> Option<()> {
        self.inner.close(object, mark)
    }
}

/// A [`Sink`] that accepts every value and keeps none.
struct Accept;

impl<'a> Sink<'a> for Accept {
    fn null(&mut self) -> Option<()> {
        Some(())
    }
    fn bool(&mut self, _: bool) -> Option<()> {
        Some(())
    }
    fn num(&mut self, _: f64, _: bool) -> Option<()> {
        Some(())
    }
    fn str(&mut self, _: &'a str) -> Option<()> {
        Some(())
    }
    fn str_owned(&mut self, _: String) -> Option<()> {
        Some(())
    }
    fn key(&mut self, _: &'a str) -> Option<()> {
        Some(())
    }
    fn key_owned(&mut self, _: String) -> Option<()> {
        Some(())
    }
    fn open(&mut self, _: bool) -> Option<usize> {
        Some(0)
    }
    fn close(&mut self, _: bool, _: usize) -> Option<()> {
        Some(())
    }
}

/// The spans of `b`'s string values: `Some` when [`read_bytes`] accepts `b`, no
/// string (value or key) has an escape and there are at most
/// [`SKELETON_MAX_STRINGS`] values. For a caller that decodes `b` some other way.
pub(crate) fn string_spans(b: &[u8]) -> Option<StringSpans> {
    let mut sink = SpanSink::new(Accept, b);
    read_bytes(b, &mut sink)?;
    sink.finish()
}

/// The index in `spans` of the string value that `text` is, when `text` is borrowed
/// from `doc` (as [`Sink::str`] lends it) and its span is one of `spans`: which open
/// place of a [`Skeleton`] a decoder's text field came from.
// The `Cow` itself is the question (an owned text came from no span), not its `str`.
#[allow(clippy::ptr_arg)]
pub(crate) fn span_of(
    doc: &[u8],
    spans: &[(usize, usize)],
    text: &std::borrow::Cow<'_, str>,
) -> Option<usize> {
    let std::borrow::Cow::Borrowed(text) = text else {
        return None;
    };
    let start = (text.as_ptr() as usize).checked_sub(doc.as_ptr() as usize)?;
    spans
        .iter()
        .position(|&span| span == (start, start + text.len()))
}

/// `a == b`, for two slices of the same length, without a `memcmp` call for the
/// short ones (up to 16 bytes: two overlapping word loads a side) nor, on x86_64,
/// for those up to 64 bytes (a skeleton's pieces: `{"model":"…","created_at":"`
/// is about 40): sixteen bytes at a time, the last block overlapping.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        17..=64 => {
            let mut at = 0;
            while at + 16 < n {
                if !sse2::same16(&a[at..at + 16], &b[at..at + 16]) {
                    return false;
                }
                at += 16;
            }
            sse2::same16(&a[n - 16..], &b[n - 16..])
        }
        _ => a == b,
    }
}

/// The sixteen-byte steps of [`string_stop`] and [`same`] (SSE2, part of every
/// x86_64 CPU, so always enabled there).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    /// The sixteen bytes of `block` (which must hold at least sixteen).
    #[inline(always)]
    fn load(block: &[u8]) -> __m128i {
        assert!(block.len() >= 16);
        // SAFETY: the assertion above: sixteen bytes are readable from the start of
        // `block`, and the load needs no alignment; SSE2 is enabled (the module's
        // `cfg`).
        unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
    }

    /// A bit for each of the first sixteen bytes of `block` that is a quote, a
    /// backslash, a control character (< 0x20) or, when `NON_ASCII`, ≥ 0x80: bit
    /// `k` for byte `k`.
    #[inline(always)]
    pub(super) fn string_stops<const NON_ASCII: bool>(block: &[u8]) -> u32 {
        let v = load(block);
        // SAFETY: register operations only; SSE2 is enabled (the module's `cfg`).
        unsafe {
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Compared as signed bytes, `< 0x20` holds for the control characters
            // and for every byte ≥ 0x80 (negative); without `NON_ASCII` the latter
            // are taken out again (`> -1`: not negative).
            let below_space = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
            let stops = if NON_ASCII {
                below_space
            } else {
                _mm_and_si128(below_space, _mm_cmpgt_epi8(v, _mm_set1_epi8(-1)))
            };
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), stops)) as u32
        }
    }

    /// Whether the first sixteen bytes of `a` and `b` are equal.
    #[inline(always)]
    pub(super) fn same16(a: &[u8], b: &[u8]) -> bool {
        let (a, b) = (load(a), load(b));
        // SAFETY: register operations only; SSE2 is enabled (the module's `cfg`).
        unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(a, b)) == 0xffff }
    }
}

/// The index of the quote that ends the string whose contents start at `b[at]`,
/// when they have no backslash and no control character and are UTF-8 (checked
/// here, as [`Plain::string_rest`] checks them); `None` otherwise.
#[inline(always)]
fn plain_string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut stop = string_stop::<true>(b, at)?;
    loop {
        match b[stop] {
            b'"' => return Some(stop),
            0x80.. => {
                let next = string_stop::<false>(b, stop)?;
                std::str::from_utf8(&b[stop..next]).ok()?;
                stop = next;
            }
            _ => return None,
        }
    }
}

struct Plain<'s, 'a, S> {
    b: &'a [u8],
    at: usize,
    sink: &'s mut S,
}

impl<'a, S: Sink<'a>> Plain<'_, 'a, S> {
    fn document(&mut self) -> Option<()> {
        self.ws();
        self.value(0)?;
        self.ws();
        (self.at == self.b.len()).then_some(())
    }

    /// Skips whitespace. Inlined for its common case, none at all (compact JSON such
    /// as streamed chunks): one compare, since every whitespace byte is ≤ b' ' (a
    /// control byte passes it too and is left where it is by [`Plain::ws_run`],
    /// which skips runs of whitespace out of line).
    #[inline(always)]
    fn ws(&mut self) {
        if self.b.get(self.at).is_some_and(|&c| c <= b' ') {
            self.ws_run();
        }
    }

    fn ws_run(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.at) {
            self.at += 1;
            // Indentation: a run of spaces, skipped eight bytes at a time.
            self.at = spaces_end(self.b, self.at);
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => match self.string()? {
                Ok(s) => self.sink.str(s),
                Err(s) => self.sink.str_owned(s),
            },
            b't' => self.literal(b"true").and_then(|()| self.sink.bool(true)),
            b'f' => self.literal(b"false").and_then(|()| self.sink.bool(false)),
            b'n' => self.literal(b"null").and_then(|()| self.sink.null()),
            _ => {
                let (x, integer) = self.number()?;
                self.sink.num(x, integer)
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// The string starting at the quote under `at`, the quotes excluded: `Ok`
    /// borrowed from the text when it has no escapes, `Err` unescaped when it has.
    /// The common string, ASCII without escapes, is one scan; escapes and non-ASCII
    /// text are read out of line by [`Plain::string_rest`]. `None` for a control
    /// character, an invalid escape, text that is not UTF-8 or a missing end quote.
    #[inline(always)]
    fn string(&mut self) -> Option<Result<&'a str, String>> {
        let start = self.at + 1;
        let end = string_stop::<true>(self.b, start)?;
        if self.b[end] != b'"' {
            return self.string_rest(start, end);
        }
        self.at = end + 1;
        // `start..end` is ASCII: the scan stops at any byte ≥ 0x80.
        Some(Ok(checked_text(&self.b[start..end])))
    }

    /// The rest of a string that stopped at `stop`: [`string_rest`], and the reader
    /// moved past its closing quote.
    #[cold]
    #[inline(never)]
    fn string_rest(&mut self, start: usize, stop: usize) -> Option<Result<&'a str, String>> {
        let (text, quote) = string_rest(self.b, start, stop, &mut None)?;
        self.at = quote + 1;
        Some(text)
    }

    fn digits(&mut self, mantissa: &mut u64, count: &mut usize) {
        while let Some(c @ b'0'..=b'9') = self.peek() {
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            *count += 1;
            self.at += 1;
        }
    }

    /// The number's value and whether it was written as a plain integer.
    fn number(&mut self) -> Option<(f64, bool)> {
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
        Some((if negative { -x } else { x }, plain_integer))
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > PLAIN_MAX_DEPTH {
            return None;
        }
        let mark = self.sink.open(false)?;
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
        self.sink.close(false, mark)
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > PLAIN_MAX_DEPTH {
            return None;
        }
        let mark = self.sink.open(true)?;
        self.at += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                match self.string()? {
                    Ok(key) => self.sink.key(key)?,
                    Err(key) => self.sink.key_owned(key)?,
                }
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
        self.sink.close(true, mark)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::{string_spans, string_stop, Skeleton, Unfit, SKELETON_MAX_STRINGS};

    #[test]
    fn a_fit_stops_where_a_string_is_not_plain_and_the_unescaping_fit_goes_on_there() {
        let base = br#"{"a":"x","b":"y","n":1}"#;
        let spans = string_spans(base).unwrap();
        let skeleton = Skeleton::new(base, spans.as_slice()).unwrap();
        let none = || [""; SKELETON_MAX_STRINGS];

        let mut texts = none();
        assert_eq!(
            skeleton.fit(br#"{"a":"p","b":"q","n":1}"#, &mut texts),
            Ok(())
        );
        assert_eq!(texts[..2], ["p", "q"]);
        assert_eq!(
            skeleton.fit(br#"{"a":"p","b":"q","n":2}"#, &mut none()),
            Err(Unfit::Differs),
            "a number outside the open places"
        );

        // An escape in the second place: the plain fit read the first and says
        // where the second starts; the unescaping fit goes on from there.
        let line = br#"{"a":"p","b":"q\nr","n":1}"#;
        let mut texts = none();
        let Err(Unfit::NotPlain { place, at }) = skeleton.fit(line, &mut texts) else {
            panic!("not stopped at the escaped string");
        };
        assert_eq!((place, &line[at..at + 2]), (1, &b"q\\"[..]));
        assert_eq!(texts[0], "p");
        let mut texts = texts.map(Cow::Borrowed);
        let fitted = skeleton.fit_unescaping(line, &mut texts, (place, at), &mut None);
        assert_eq!(fitted, Some(()));
        assert_eq!(texts[..2], ["p", "q\nr"]);

        // Escaped, and differing after it: no fit either way.
        let line = br#"{"a":"p\t","b":"q","n":2}"#;
        let mut texts = none();
        let Err(Unfit::NotPlain { place, at }) = skeleton.fit(line, &mut texts) else {
            panic!("not stopped at the escaped string");
        };
        assert_eq!(place, 0);
        let mut texts = texts.map(Cow::Borrowed);
        assert_eq!(
            skeleton.fit_unescaping(line, &mut texts, (place, at), &mut None),
            None
        );
    }

    /// The byte-at-a-time definition [`string_stop`] must match (`non_ascii`: it
    /// stops at bytes ≥ 0x80 too).
    fn naive(b: &[u8], i: usize, non_ascii: bool) -> Option<usize> {
        (i..b.len()).find(|&j| matches!(b[j], b'"' | b'\\' | 0..=0x1f) || non_ascii && b[j] >= 0x80)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn spaces_end_finds_the_first_non_space(
            b in prop::collection::vec(prop_oneof![
                Just(b' '), Just(b' '), Just(b' '), Just(b'\n'), Just(0u8), Just(0x1f),
                Just(0x21), Just(0x60), Just(0xa0), Just(0xff), any::<u8>(),
            ], 0..40),
            i in 0usize..41,
        ) {
            let i = i.min(b.len());
            let want = (i..b.len()).find(|&j| b[j] != b' ').unwrap_or(b.len());
            prop_assert_eq!(super::spaces_end(&b, i), want);
        }

        #[test]
        fn string_stop_finds_the_first_stop_byte(
            b in prop::collection::vec(prop_oneof![
                Just(b'"'), Just(b'\\'), Just(0u8), Just(0x1f), Just(0x20), Just(0x21),
                Just(0x5b), Just(0x5d), Just(0x7f), Just(0x80), Just(0xa2), Just(0xdc), Just(0xff),
                any::<u8>(), b'a'..=b'z', b'a'..=b'z', b'a'..=b'z',
                b'a'..=b'z', b'a'..=b'z', b'a'..=b'z', b'a'..=b'z', b'a'..=b'z',
            ], 0..100),
            i in 0usize..101,
        ) {
            let i = i.min(b.len());
            prop_assert_eq!(string_stop::<false>(&b, i), naive(&b, i, false));
            prop_assert_eq!(string_stop::<true>(&b, i), naive(&b, i, true));
        }
    }
}
