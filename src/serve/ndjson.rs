//! Splitting an NDJSON request body into lines as its bytes arrive, for
//! `POST /v1/score:stream` ([`crate::serve::http`]): each line is answered as
//! soon as it is complete, and memory stays bounded by one line (at most
//! `--max-message-bytes`, the gRPC limit of one `ScoreStream` message) plus
//! one chunk, however long the body. Fuzzed by `fuzz/fuzz_targets/http_json.rs`.

use bytes::{Bytes, BytesMut};

/// One line of the body, without its `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line within the limit.
    Text(Bytes),
    /// A line over the limit; its bytes were dropped as they came.
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
}

/// Cuts a byte stream into [`Line`]s: [`push`](Self::push) each chunk, take
/// [`next_line`](Self::next_line) until `None`, and at the end of the body
/// [`finish`](Self::finish) for a last line without `\n`. The lines are those
/// of splitting the whole body on `\n` (no empty last line after a final
/// `\n`), whatever the chunks.
#[derive(Debug)]
pub struct LineSplitter {
    /// Longest line kept, bytes.
    max_line_bytes: usize,
    /// Bytes received and not yet returned.
    buffer: BytesMut,
    /// How much of `buffer` is known to hold no `\n`.
    scanned: usize,
    /// Length so far of an over-long line being dropped.
    dropping: Option<usize>,
}

impl LineSplitter {
    /// A splitter that keeps lines of at most `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes,
            buffer: BytesMut::new(),
            scanned: 0,
            dropping: None,
        }
    }

    /// Adds the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete line, if the bytes pushed so far hold one.
    pub fn next_line(&mut self) -> Option<Line> {
        match self.buffer[self.scanned..].iter().position(|b| *b == b'\n') {
            Some(at) => {
                let end = self.scanned + at;
                let mut line = self.buffer.split_to(end + 1).freeze();
                line.truncate(end);
                self.scanned = 0;
                Some(match self.dropping.take() {
                    Some(dropped) => Line::TooLong {
                        bytes: dropped + end,
                    },
                    None => self.line(line),
                })
            }
            None => {
                self.scanned = self.buffer.len();
                if self.dropping.is_some() || self.buffer.len() > self.max_line_bytes {
                    // Over the limit whatever follows: count it, keep nothing.
                    *self.dropping.get_or_insert(0) += self.buffer.len();
                    self.buffer.clear();
                    self.scanned = 0;
                }
                None
            }
        }
    }

    /// At the end of the body: the last line, if it did not end with `\n`.
    /// Call once [`next_line`](Self::next_line) has returned `None`.
    pub fn finish(&mut self) -> Option<Line> {
        let rest = self.buffer.split().freeze();
        self.scanned = 0;
        match self.dropping.take() {
            Some(dropped) => Some(Line::TooLong {
                bytes: dropped + rest.len(),
            }),
            None if rest.is_empty() => None,
            None => Some(self.line(rest)),
        }
    }

    fn line(&self, text: Bytes) -> Line {
        if text.len() > self.max_line_bytes {
            Line::TooLong { bytes: text.len() }
        } else {
            Line::Text(text)
        }
    }
}

/// The lines of a whole body, by the definition [`LineSplitter`] follows
/// (the reference its tests and fuzz target compare against).
pub fn split_whole(body: &[u8], max_line_bytes: usize) -> Vec<Line> {
    let mut parts: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    if parts.last().is_some_and(|last| last.is_empty()) {
        parts.pop();
    }
    parts
        .into_iter()
        .map(|part| {
            if part.len() > max_line_bytes {
                Line::TooLong { bytes: part.len() }
            } else {
                Line::Text(Bytes::copy_from_slice(part))
            }
        })
        .collect()
}

/// Runs a [`LineSplitter`] over `body` cut into chunks of `chunk` bytes.
pub fn split_in_chunks(body: &[u8], chunk: usize, max_line_bytes: usize) -> Vec<Line> {
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut lines = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        splitter.push(piece);
        while let Some(line) = splitter.next_line() {
            lines.push(line);
        }
    }
    lines.extend(splitter.finish());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Line {
        Line::Text(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn lines_do_not_depend_on_the_chunks() {
        let body = b"{\"a\":1}\n\n  \nxxxxxxxxxxxx\n{\"b\":2}\nlast";
        let expected = vec![
            text("{\"a\":1}"),
            text(""),
            text("  "),
            Line::TooLong { bytes: 12 },
            text("{\"b\":2}"),
            text("last"),
        ];
        assert_eq!(split_whole(body, 8), expected);
        for chunk in [1, 2, 3, 5, 8, 9, 13, 64] {
            assert_eq!(split_in_chunks(body, chunk, 8), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn ends_and_limits() {
        assert_eq!(split_in_chunks(b"", 4, 8), vec![]);
        assert_eq!(split_in_chunks(b"\n", 4, 8), vec![text("")]);
        assert_eq!(split_in_chunks(b"ab\n", 1, 8), vec![text("ab")]);
        // Exactly at the limit is kept, one over is not, at the end too.
        assert_eq!(
            split_in_chunks(b"abcd\nabcde", 1, 4),
            split_whole(b"abcd\nabcde", 4)
        );
        assert_eq!(
            split_in_chunks(b"abcd\nabcde", 1, 4),
            vec![text("abcd"), Line::TooLong { bytes: 5 }]
        );
    }
}
