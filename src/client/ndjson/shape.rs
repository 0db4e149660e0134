//! [`StreamDecoder`]: the lines of one stream, decoded as
//! [`decode_chunk_into`](super::decode_chunk_into)
//! decodes each, faster for a line that repeats the shape of one before it.
//!
//! A streamed answer is hundreds of objects that differ only in the contents of a
//! few strings (`created_at`, `response`): after a line has been read whole, its
//! [`Skeleton`] (the bytes outside those contents) and where each of its strings
//! went in the [`WireChunk`] are kept, and a later line that fits the skeleton is
//! decoded by filling the same fields with its own strings (unescaped, as the
//! reader unescapes them, when they have escapes: a streamed token is often `\n`).
//! `plain_json::Skeleton` states why such a line is valid JSON that the reader
//! would decode to exactly that.

use std::borrow::Cow;

use super::{decode_chunk_serde, ChunkSink, DecodeError, WireChunk, WireMessage};
use crate::plain_json::{self, Kept, Skeleton, SpanSink, Unfit, SKELETON_MAX_STRINGS};

/// Decodes the lines of one stream, in order.
///
/// Guarantee: every line gets exactly
/// [`decode_chunk_into`](super::decode_chunk_into)'s value or error, text fields
/// borrowed or owned alike, whatever lines came before it (the
/// differential tests check it against serde_json on mutated and generated lines).
/// It holds no allocation but, once given one back by [`StreamDecoder::recycle`],
/// one `String` of at most [`StreamDecoder::SPARE_MAX`] bytes to unescape a later
/// line's text into.
#[derive(Default)]
pub struct StreamDecoder {
    shape: Option<Shape>,
    spare: Option<String>,
}

impl StreamDecoder {
    /// Most capacity of a text kept by [`StreamDecoder::recycle`].
    pub const SPARE_MAX: usize = 4096;

    /// A decoder that has seen no line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes back the text `chunk` unescaped into a `String` of its own (its
    /// `response`, else its message's `content`), if any and at most
    /// [`StreamDecoder::SPARE_MAX`] bytes of capacity, so that a later line's
    /// escaped text is unescaped into it instead of a new allocation.
    pub fn recycle(&mut self, chunk: WireChunk<'_>) {
        let content = chunk.message.and_then(|m| m.content);
        keep_spare(&mut self.spare, chunk.response.or(content));
    }

    /// Decodes `line` into `out` (whatever it held before), as
    /// [`decode_chunk_into`](super::decode_chunk_into) does; on `Err`, `out` holds no meaning.
    #[inline(always)]
    pub fn decode_into<'a>(
        &mut self,
        line: &'a [u8],
        out: &mut WireChunk<'a>,
    ) -> Result<(), DecodeError> {
        if let Some(shape) = &self.shape {
            if shape.read(line, out, &mut self.spare).is_some() {
                return Ok(());
            }
        }
        self.decode_whole(line, out)
    }

    /// Whether `line` fits the shape kept from an earlier line (for the tests that
    /// check which lines take which path).
    #[cfg(test)]
    pub(crate) fn fits(&self, line: &[u8]) -> bool {
        let mut chunk = WireChunk::default();
        self.shape
            .as_ref()
            .is_some_and(|shape| shape.read(line, &mut chunk, &mut None).is_some())
    }

    /// Reads `line` with the plain reader (serde_json where it stops), and keeps its
    /// shape when it is one a later line can repeat.
    #[cold]
    fn decode_whole<'a>(
        &mut self,
        line: &'a [u8],
        out: &mut WireChunk<'a>,
    ) -> Result<(), DecodeError> {
        *out = WireChunk::default();
        let mut sink = SpanSink::new(ChunkSink::new(out), line);
        if plain_json::read_bytes(line, &mut sink).is_none() {
            *out = decode_chunk_serde(line)?;
            return Ok(());
        }
        // A final object ends the stream: no line repeats it.
        if let Some(spans) = sink.finish().filter(|_| !out.done) {
            if let Some(shape) = Shape::new(line, spans.as_slice(), out) {
                self.shape = Some(shape);
            }
        }
        Ok(())
    }
}

/// Keeps `text` in `spare` when the decoder unescaped it into a `String` of its own
/// of at most [`StreamDecoder::SPARE_MAX`] bytes of capacity (what both decoders'
/// `recycle` keep).
pub(crate) fn keep_spare(spare: &mut Option<String>, text: Option<Cow<'_, str>>) {
    if let Some(Cow::Owned(text)) = text {
        if text.capacity() <= StreamDecoder::SPARE_MAX {
            *spare = Some(text);
        }
    }
}

/// Where the text of one open string goes.
#[derive(Clone, Copy, Default)]
enum Target {
    /// No field (the filler of [`Kept`]'s unused slots).
    #[default]
    Nowhere,
    Response,
    DoneReason,
    Error,
    Content,
    Thinking,
}

/// A line's skeleton and what its fixed text decoded to.
struct Shape {
    skeleton: Skeleton,
    /// The open strings the chunk keeps and the field each fills; the others
    /// (`model`, `created_at`, `role`...) are read and checked, their text dropped.
    kept: Kept<Target>,
    /// The fields the fixed text set (its text fields are `None`: every text the
    /// line had is an open string).
    done: bool,
    counts: [Option<u64>; 6],
    message: bool,
}

impl Shape {
    /// The shape of `line`, just decoded by the plain reader into `chunk` with
    /// every string value borrowed, at `spans`. `None` when a text field of
    /// `chunk` is not one of those strings, or over the skeleton's limits.
    fn new(line: &[u8], spans: &[(usize, usize)], chunk: &WireChunk<'_>) -> Option<Self> {
        let skeleton = Skeleton::new(line, spans)?;
        let mut kept = Kept::new();
        let message = chunk.message.as_ref();
        let fields = [
            (&chunk.response, Target::Response),
            (&chunk.done_reason, Target::DoneReason),
            (&chunk.error, Target::Error),
            (message.map_or(&None, |m| &m.content), Target::Content),
            (message.map_or(&None, |m| &m.thinking), Target::Thinking),
        ];
        for (field, target) in fields {
            if let Some(text) = field {
                kept.push(plain_json::span_of(line, spans, text)?, target)?;
            }
        }
        Some(Shape {
            skeleton,
            kept,
            done: chunk.done,
            counts: [
                chunk.total_duration,
                chunk.load_duration,
                chunk.prompt_eval_count,
                chunk.prompt_eval_duration,
                chunk.eval_count,
                chunk.eval_duration,
            ],
            message: chunk.message.is_some(),
        })
    }

    /// Decodes `line` if it fits the skeleton. Out of line, its caller inlined:
    /// when fat LTO inlined it into an out-of-line `decode_into` instead, the
    /// `decode` workload took 1.9 % more instructions.
    #[inline(never)]
    fn read<'a>(
        &self,
        line: &'a [u8],
        out: &mut WireChunk<'a>,
        spare: &mut Option<String>,
    ) -> Option<()> {
        let mut texts = [""; SKELETON_MAX_STRINGS];
        match self.skeleton.fit(line, &mut texts) {
            Ok(()) => self.fill(&mut texts, out),
            Err(Unfit::NotPlain { place, at }) => {
                self.read_unescaping(line, texts, (place, at), out, spare)
            }
            Err(Unfit::Differs) => None,
        }
    }

    /// [`Shape::read`] for a line whose open string at `from` (as the plain fit
    /// left it, with `plain` the strings before it) is not plain: a streamed token
    /// is often `\n`. The first escaped text goes into `spare`'s `String` if it
    /// holds one.
    #[cold]
    #[inline(never)]
    fn read_unescaping<'a>(
        &self,
        line: &'a [u8],
        plain: [&'a str; SKELETON_MAX_STRINGS],
        from: (usize, usize),
        out: &mut WireChunk<'a>,
        spare: &mut Option<String>,
    ) -> Option<()> {
        let mut texts = plain.map(Cow::Borrowed);
        self.skeleton
            .fit_unescaping(line, &mut texts, from, spare)?;
        self.fill(&mut texts, out)
    }

    /// Sets `out` to the kept fields, the kept texts taken out of `texts` (by
    /// reference: passing the array by value copied its 128 bytes a line).
    #[inline(always)]
    fn fill<'a, T: Into<Cow<'a, str>> + Default>(
        &self,
        texts: &mut [T; SKELETON_MAX_STRINGS],
        out: &mut WireChunk<'a>,
    ) -> Option<()> {
        let [total, load, prompt_count, prompt_duration, eval_count, eval_duration] = self.counts;
        *out = WireChunk {
            done: self.done,
            total_duration: total,
            load_duration: load,
            prompt_eval_count: prompt_count,
            prompt_eval_duration: prompt_duration,
            eval_count,
            eval_duration,
            message: self.message.then(WireMessage::default),
            ..WireChunk::default()
        };
        for (place, target) in self.kept.iter() {
            let text = Some(std::mem::take(&mut texts[place]).into());
            match target {
                Target::Nowhere => {}
                Target::Response => out.response = text,
                Target::DoneReason => out.done_reason = text,
                Target::Error => out.error = text,
                Target::Content => out.message.as_mut()?.content = text,
                Target::Thinking => out.message.as_mut()?.thinking = text,
            }
        }
        Some(())
    }
}
