//! Reading the training table: CSV (delimiter detected) or Parquet, into
//! rows of string cells with the line or row each came from.
//!
//! The trainer works on strings so that CSV and Parquet go through the same
//! kind inference and the same missing-value rules. [`read_table`] picks the
//! format from the bytes (the Parquet `PAR1` magic) or the file name.
//!
//! CSV rules, each with a test below:
//! - the delimiter is one of `,` `;` tab `|`, chosen from the first records
//!   with quotes respected (a `;` export with decimal commas inside quotes is
//!   `;`; a `,` file with `;` inside quoted text stays `,`);
//! - quoted fields may hold delimiters, doubled quotes and newlines; CRLF and
//!   LF both end a record; a UTF-8 byte-order mark is dropped;
//! - header names are trimmed and must be non-empty and unique;
//! - blank lines and rows whose cells are all empty are skipped (spreadsheet
//!   exports end with them);
//! - a row of the wrong length or with invalid UTF-8 is refused naming its
//!   line (and column);
//! - [`Table::lines`] holds the 1-based physical line where each record
//!   starts (header = line 1), so messages stay right after multi-line
//!   quoted fields.
//!
//! Parquet is read with the `parquet` crate's record API (no Arrow): every
//! top-level column must be primitive; values become strings (numbers in
//! their shortest round-trip decimal form, booleans `true`/`false`, dates
//! and timestamps in ISO 8601, null as the empty string, which the trainer
//! treats as missing).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::scoring::time::date_text;

/// A table as read: header, rows of cells as strings, and where each row came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names, trimmed, unique and non-empty.
    pub header: Vec<String>,
    /// Cells, one `Vec` per data row, each as long as the header. A missing
    /// Parquet value is the empty string.
    pub rows: Vec<Vec<String>>,
    /// Where each row came from, for messages: for CSV the 1-based physical
    /// line where the record starts (header = line 1); for Parquet the
    /// 1-based row number.
    pub lines: Vec<u64>,
    /// sha256 of the raw bytes, lower-case hex (provenance in the artifact).
    pub sha256: String,
    /// What was read, for notices: `csv (delimiter ';')` or `parquet`.
    pub format: String,
}

/// Why a table could not be read. Every variant names the file and says what
/// to fix.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Nothing but whitespace in the file.
    #[error("{file} is empty: no data rows (expected a header line, then one row per lead)")]
    Empty {
        /// The file.
        file: String,
    },
    /// A header but no rows.
    #[error("{file} has no data rows: only the header ({columns} columns) was found")]
    NoDataRows {
        /// The file.
        file: String,
        /// Columns in the header.
        columns: usize,
    },
    /// A header cell is empty.
    #[error(
        "{file}: column {position} has an empty name in the header; name it (a trailing \
         delimiter on every line, or a saved pandas index, leaves an unnamed column)"
    )]
    UnnamedColumn {
        /// The file.
        file: String,
        /// 1-based column position.
        position: usize,
    },
    /// Two or more columns share a name.
    #[error("{file}: column names must be unique, but these repeat: {duplicates}; rename them")]
    DuplicateColumns {
        /// The file.
        file: String,
        /// Each repeated name with its 1-based positions, e.g. `"Tags" (columns 3 and 9)`.
        duplicates: String,
    },
    /// A row has more or fewer cells than the header.
    #[error(
        "{file}: line {line} has {found} {}, but the header has {expected} (delimiter \
         {delimiter}){hint}",
        if *.found == 1 { "field" } else { "fields" }
    )]
    RaggedRow {
        /// The file.
        file: String,
        /// 1-based line where the record starts.
        line: u64,
        /// Cells in the row.
        found: usize,
        /// Cells in the header.
        expected: usize,
        /// The delimiter in use, quoted.
        delimiter: String,
        /// What probably went wrong (may be empty).
        hint: String,
    },
    /// A quoted field runs to the end of the file.
    #[error(
        "{file}: the quoted field in the record starting on line {line} is never closed; add \
         the closing quote (\"), or double quotes that are part of the text (\"\")"
    )]
    UnterminatedQuote {
        /// The file.
        file: String,
        /// 1-based line where the record starts.
        line: u64,
    },
    /// A cell is not valid UTF-8.
    #[error(
        "{file}: line {line}, column '{column}' is not valid UTF-8; re-save the file as UTF-8"
    )]
    InvalidUtf8 {
        /// The file.
        file: String,
        /// 1-based line where the record starts.
        line: u64,
        /// Column name (or position, for the header).
        column: String,
    },
    /// The Parquet file could not be decoded.
    #[error("{file}: cannot read as Parquet: {message}")]
    Parquet {
        /// The file.
        file: String,
        /// What the Parquet reader said, and what to do.
        message: String,
    },
    /// A Parquet column is nested or of a type without a string form here.
    #[error("{file}: Parquet column '{column}' is {what}; only flat columns of numbers, booleans, strings, dates and timestamps can be trained on — flatten or drop it")]
    UnsupportedParquetColumn {
        /// The file.
        file: String,
        /// Column name.
        column: String,
        /// Its type, in words.
        what: String,
    },
    /// A Parquet value could not be turned into text.
    #[error("{file}: row {row}, column '{column}': {message}")]
    ParquetValue {
        /// The file.
        file: String,
        /// 1-based row number.
        row: u64,
        /// Column name.
        column: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a table, Parquet when the bytes start with the `PAR1` magic or the
/// name ends in `.parquet`, CSV otherwise. `name` is used in messages.
///
/// # Errors
/// As [`read_csv`] or [`read_parquet`].
pub fn read_table(bytes: &[u8], name: &str) -> Result<Table, TableError> {
    if bytes.starts_with(PARQUET_MAGIC) || name.to_ascii_lowercase().ends_with(".parquet") {
        read_parquet(bytes, name)
    } else {
        read_csv(bytes, name)
    }
}

// ---------------------------------------------------------------------------
// CSV

/// Delimiters we recognise, in order of preference when the evidence ties.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Records looked at to choose the delimiter: enough to see a pattern, few
/// enough that detection costs nothing next to parsing.
const SNIFF_RECORDS: usize = 50;
/// Bytes looked at to choose the delimiter.
const SNIFF_BYTES: usize = 1 << 20;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses CSV bytes with a header row, detecting the delimiter. `name` is
/// used in messages.
///
/// # Errors
/// [`TableError::Empty`] / [`TableError::NoDataRows`] without rows,
/// [`TableError::UnnamedColumn`] / [`TableError::DuplicateColumns`] for a bad
/// header, [`TableError::RaggedRow`] and [`TableError::InvalidUtf8`] naming
/// the line of a bad row.
pub fn read_csv(bytes: &[u8], name: &str) -> Result<Table, TableError> {
    let sha256 = hex(&Sha256::digest(bytes));
    // The BOM is not content: Excel writes it in front of the first header
    // name. It holds no newline, so line numbers are unaffected.
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let delimiter = detect_delimiter(body);
    let shown = delimiter_name(delimiter);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        // We check lengths ourselves to name the line and the header's width.
        .flexible(true)
        .from_reader(body);

    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut lines_seen = LineCounter::new(body);
    loop {
        // Reading from a byte slice cannot fail with I/O errors, and with
        // `flexible` the reader accepts any shape; an error here is unexpected
        // but still reported, not unwrapped.
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| TableError::RaggedRow {
                file: name.to_string(),
                line: e.position().map_or(0, |p| p.line()),
                found: 0,
                expected: header.as_ref().map_or(0, Vec::len),
                delimiter: shown.clone(),
                hint: format!(": {e}"),
            })?;
        if !more {
            break;
        }
        let line = lines_seen.line_at(record.position().map_or(0, |p| p.byte()));
        if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
            // Blank lines, whitespace-only lines and rows of bare delimiters
            // carry no data; spreadsheet exports end with them.
            continue;
        }
        let cells = record
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                std::str::from_utf8(cell)
                    .map(str::to_string)
                    .map_err(|_| TableError::InvalidUtf8 {
                        file: name.to_string(),
                        line,
                        column: match &header {
                            Some(h) => h.get(c).cloned().unwrap_or_else(|| format!("#{}", c + 1)),
                            None => format!("#{} of the header", c + 1),
                        },
                    })
            })
            .collect::<Result<Vec<String>, _>>()?;
        match &header {
            None => {
                let names: Vec<String> = cells.iter().map(|h| h.trim().to_string()).collect();
                check_header(&names, name)?;
                header = Some(names);
            }
            Some(h) => {
                if cells.len() != h.len() {
                    let spans_lines = cells.iter().any(|c| c.contains('\n'));
                    let hint = if spans_lines {
                        "; a quoted field in it spans several lines — check for an unbalanced \
                         quote (\") on or before this line"
                            .to_string()
                    } else if cells.len() > h.len() {
                        format!("; quote cells that contain {shown}, or check the delimiter")
                    } else {
                        String::new()
                    };
                    return Err(TableError::RaggedRow {
                        file: name.to_string(),
                        line,
                        found: cells.len(),
                        expected: h.len(),
                        delimiter: shown,
                        hint,
                    });
                }
                rows.push(cells);
                lines.push(line);
            }
        }
    }
    // The csv reader accepts a quote that is never closed and hands back the
    // rest of the file as one field; a real multi-line last field ends in its
    // closing quote.
    if let (Some(last), Some(&line)) = (rows.last(), lines.last()) {
        let swallowed = last.last().is_some_and(|c| c.contains('\n'));
        if swallowed && !body.trim_ascii_end().ends_with(b"\"") {
            return Err(TableError::UnterminatedQuote {
                file: name.to_string(),
                line,
            });
        }
    }
    let Some(header) = header else {
        return Err(TableError::Empty {
            file: name.to_string(),
        });
    };
    if rows.is_empty() {
        return Err(TableError::NoDataRows {
            file: name.to_string(),
            columns: header.len(),
        });
    }
    Ok(Table {
        header,
        rows,
        lines,
        sha256,
        format: format!("csv (delimiter {shown})"),
    })
}

/// Physical line numbers from byte offsets. The csv reader's own line count
/// lags by one after CRLF line ends (it counts the `\n` of a CRLF only when
/// the next record starts), so we count ourselves: records arrive in order,
/// so one forward pass over the bytes suffices.
struct LineCounter<'a> {
    body: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(body: &'a [u8]) -> Self {
        LineCounter {
            body,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record starting at `byte`. A record offset may
    /// point at the terminator of the previous line; those bytes are skipped.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.body.len());
        while start < self.body.len() && matches!(self.body[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.offset {
            for (i, &b) in self.body[self.offset..start].iter().enumerate() {
                let at = self.offset + i;
                // LF, CRLF (counted at its LF) and a lone CR each end a line.
                let ends_line =
                    b == b'\n' || (b == b'\r' && self.body.get(at + 1).is_none_or(|&n| n != b'\n'));
                if ends_line {
                    self.line += 1;
                }
            }
            self.offset = start;
        }
        self.line
    }
}

/// Header names must be non-empty and unique: the trainer addresses columns
/// by name (`--target`, `--exclude`), so two columns with one name would be
/// ambiguous.
fn check_header(names: &[String], file: &str) -> Result<(), TableError> {
    if names.len() > 1 {
        if let Some(position) = names.iter().position(String::is_empty) {
            return Err(TableError::UnnamedColumn {
                file: file.to_string(),
                position: position + 1,
            });
        }
    }
    let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        positions.entry(n.as_str()).or_default().push(i + 1);
    }
    let mut repeated: Vec<(&str, Vec<usize>)> =
        positions.into_iter().filter(|(_, p)| p.len() > 1).collect();
    if repeated.is_empty() {
        return Ok(());
    }
    repeated.sort_by_key(|(_, p)| p[0]);
    let duplicates = repeated
        .iter()
        .map(|(n, p)| {
            let (last, first) = p.split_last().unwrap_or((&0, &[]));
            let first: Vec<String> = first.iter().map(usize::to_string).collect();
            format!("\"{n}\" (columns {} and {last})", first.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(TableError::DuplicateColumns {
        file: file.to_string(),
        duplicates,
    })
}

/// Chooses the delimiter from the first records, counting only delimiters
/// outside quotes.
///
/// A candidate must appear in the header; among those, one that splits every
/// sampled record into as many fields as the header wins (most fields first,
/// then the order of [`DELIMITERS`]). Without such a candidate, the one that
/// agrees with the header on the most records wins. Falls back to `,` (a
/// one-column file).
fn detect_delimiter(body: &[u8]) -> u8 {
    let counts = sample_delimiter_counts(body);
    let Some((header, records)) = counts.split_first() else {
        return b',';
    };
    let mut best: Option<(usize, usize, usize)> = None; // (agreeing records, header count, candidate)
    for (d, &h) in header.iter().enumerate() {
        if h == 0 {
            continue;
        }
        let agreeing = records.iter().filter(|r| r[d] == h).count();
        let key = (agreeing, h, d);
        let better = match best {
            None => true,
            // More agreeing records, then more fields; earlier candidates win ties.
            Some((a, bh, _)) => agreeing > a || (agreeing == a && h > bh),
        };
        if better {
            best = Some(key);
        }
    }
    best.map_or(b',', |(_, _, d)| DELIMITERS[d])
}

/// Per record (header first), how often each of [`DELIMITERS`] occurs outside
/// quotes. Blank lines are skipped; a record cut off by the sample limit is
/// dropped so that it cannot look inconsistent.
fn sample_delimiter_counts(body: &[u8]) -> Vec<[usize; 4]> {
    let sample = &body[..body.len().min(SNIFF_BYTES)];
    let complete_input = sample.len() == body.len();
    let mut out = Vec::new();
    let mut counts = [0usize; 4];
    let mut in_quotes = false;
    let mut blank = true;
    for &b in sample {
        match b {
            // A doubled quote inside a quoted field toggles twice: no change.
            b'"' => {
                in_quotes = !in_quotes;
                blank = false;
            }
            b'\n' | b'\r' if !in_quotes => {
                if !blank {
                    out.push(counts);
                    if out.len() >= SNIFF_RECORDS {
                        return out;
                    }
                }
                counts = [0; 4];
                blank = true;
            }
            _ if !in_quotes => {
                if let Some(d) = DELIMITERS.iter().position(|&d| d == b) {
                    counts[d] += 1;
                }
                if !b.is_ascii_whitespace() {
                    blank = false;
                }
            }
            _ => {}
        }
    }
    if complete_input && !blank && !in_quotes {
        out.push(counts);
    }
    out
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "'\\t'".to_string(),
        other => format!("'{}'", other as char),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

// ---------------------------------------------------------------------------
// Parquet

const PARQUET_MAGIC: &[u8] = b"PAR1";

/// How a column's values become text, decided once from its schema.
#[derive(Debug, Clone, Copy)]
enum Render {
    /// The value's own form.
    Plain,
    /// An INT64 count of `unit`s since the epoch (nanosecond timestamps come
    /// through the record API as plain longs).
    Timestamp { per_second: i64, utc: bool },
    /// An INT64 count of nanoseconds since midnight.
    TimeNanos,
}

/// Reads a Parquet file (flat columns only). `name` is used in messages.
///
/// # Errors
/// [`TableError::Parquet`] when the file cannot be decoded (corrupt, or
/// compressed with a codec this build lacks), [`TableError::UnsupportedParquetColumn`]
/// for nested or exotic columns, [`TableError::ParquetValue`] for a value
/// without a text form, [`TableError::NoDataRows`] for no rows.
pub fn read_parquet(bytes: &[u8], name: &str) -> Result<Table, TableError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let sha256 = hex(&Sha256::digest(bytes));
    let parquet_err = |e: parquet::errors::ParquetError| TableError::Parquet {
        file: name.to_string(),
        message: explain_parquet_error(&e),
    };
    if !bytes.starts_with(PARQUET_MAGIC) {
        return Err(TableError::Parquet {
            file: name.to_string(),
            message: "the file does not start with the Parquet magic bytes \"PAR1\"; \
                      is it really Parquet?"
                .to_string(),
        });
    }
    let reader =
        SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).map_err(parquet_err)?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let mut header = Vec::new();
    for field in schema.root_schema().get_fields() {
        header.push(field.name().trim().to_string());
    }
    check_header(&header, name)?;
    // Only flat columns: then top-level fields and leaf columns correspond
    // one to one, in order, and each row yields one primitive per column.
    if schema.num_columns() != header.len() {
        let nested = schema
            .root_schema()
            .get_fields()
            .iter()
            .find(|f| f.is_group())
            .map_or_else(|| "?".to_string(), |f| f.name().to_string());
        return Err(TableError::UnsupportedParquetColumn {
            file: name.to_string(),
            column: nested,
            what: "nested (a struct, list or map)".to_string(),
        });
    }
    let mut renders = Vec::with_capacity(header.len());
    for (field, column) in schema
        .root_schema()
        .get_fields()
        .iter()
        .zip(schema.columns())
    {
        let unsupported = |what: String| TableError::UnsupportedParquetColumn {
            file: name.to_string(),
            column: field.name().to_string(),
            what,
        };
        if field.is_group() {
            return Err(unsupported("nested (a struct, list or map)".to_string()));
        }
        let info = field.get_basic_info();
        if info.has_repetition() && info.repetition() == parquet::basic::Repetition::REPEATED {
            return Err(unsupported("repeated (a list)".to_string()));
        }
        renders.push(column_render(column).map_err(unsupported)?);
    }
    let num_rows = reader.metadata().file_metadata().num_rows();
    let mut rows = Vec::with_capacity(usize::try_from(num_rows).unwrap_or(0));
    let mut lines = Vec::with_capacity(rows.capacity());
    let iter = reader.get_row_iter(None).map_err(parquet_err)?;
    for (i, row) in iter.enumerate() {
        let row = row.map_err(parquet_err)?;
        let number = i as u64 + 1;
        let cells = row
            .get_column_iter()
            .zip(&renders)
            .map(|((column, field), &render)| {
                field_text(field, render).map_err(|message| TableError::ParquetValue {
                    file: name.to_string(),
                    row: number,
                    column: column.clone(),
                    message,
                })
            })
            .collect::<Result<Vec<String>, _>>()?;
        if cells.len() != header.len() {
            return Err(TableError::ParquetValue {
                file: name.to_string(),
                row: number,
                column: "?".to_string(),
                message: format!("{} values for {} columns", cells.len(), header.len()),
            });
        }
        rows.push(cells);
        lines.push(number);
    }
    if rows.is_empty() {
        return Err(TableError::NoDataRows {
            file: name.to_string(),
            columns: header.len(),
        });
    }
    Ok(Table {
        header,
        rows,
        lines,
        sha256,
        format: "parquet".to_string(),
    })
}

/// Adds what to do to the reader's own words where we know it.
fn explain_parquet_error(e: &parquet::errors::ParquetError) -> String {
    let text = e.to_string();
    // Our message already says "cannot read as Parquet".
    let text = text.strip_prefix("Parquet error: ").unwrap_or(&text);
    if text.contains("Disabled feature at compile time") || text.contains("not supported") {
        format!(
            "{text}; this build reads uncompressed, Snappy and Gzip Parquet — re-save the file \
             with one of those (pandas: df.to_parquet(path, compression=\"snappy\"))"
        )
    } else {
        text.to_string()
    }
}

/// Decides how a leaf column becomes text, refusing types the record API
/// cannot decode (it would panic on them, so we check the schema first).
fn column_render(column: &parquet::schema::types::ColumnDescriptor) -> Result<Render, String> {
    use parquet::basic::{ConvertedType as C, LogicalType, TimeUnit, Type as P};

    if let Some(logical) = column.logical_type_ref() {
        match logical {
            LogicalType::Timestamp(t) => {
                let per_second = match t.unit {
                    TimeUnit::MILLIS => 1_000,
                    TimeUnit::MICROS => 1_000_000,
                    TimeUnit::NANOS => 1_000_000_000,
                };
                return Ok(Render::Timestamp {
                    per_second,
                    utc: t.is_adjusted_to_u_t_c,
                });
            }
            LogicalType::Time(t) if matches!(t.unit, TimeUnit::NANOS) => {
                return Ok(Render::TimeNanos);
            }
            _ => {}
        }
    }
    let ok = match column.physical_type() {
        P::BOOLEAN | P::INT96 | P::FLOAT | P::DOUBLE => true,
        P::INT32 => matches!(
            column.converted_type(),
            C::NONE
                | C::INT_8
                | C::INT_16
                | C::INT_32
                | C::UINT_8
                | C::UINT_16
                | C::UINT_32
                | C::DATE
                | C::TIME_MILLIS
                | C::DECIMAL
        ),
        P::INT64 => matches!(
            column.converted_type(),
            C::NONE
                | C::INT_64
                | C::UINT_64
                | C::TIME_MICROS
                | C::TIMESTAMP_MILLIS
                | C::TIMESTAMP_MICROS
                | C::DECIMAL
        ),
        P::BYTE_ARRAY => matches!(
            column.converted_type(),
            C::NONE | C::UTF8 | C::ENUM | C::JSON | C::BSON | C::DECIMAL
        ),
        P::FIXED_LEN_BYTE_ARRAY => matches!(column.converted_type(), C::NONE | C::DECIMAL),
    };
    if ok {
        Ok(Render::Plain)
    } else {
        Err(format!(
            "of type {} ({})",
            column.physical_type(),
            column.converted_type()
        ))
    }
}

/// One Parquet value as the text a CSV cell would hold.
fn field_text(field: &parquet::record::Field, render: Render) -> Result<String, String> {
    use parquet::record::Field as F;

    Ok(match (field, render) {
        (F::Null, _) => String::new(),
        (F::Long(v), Render::Timestamp { per_second, utc }) => timestamp_text(*v, per_second, utc),
        (F::TimestampMillis(v), Render::Timestamp { per_second, utc }) => {
            timestamp_text(*v, per_second, utc)
        }
        (F::TimestampMicros(v), Render::Timestamp { per_second, utc }) => {
            timestamp_text(*v, per_second, utc)
        }
        (F::Long(v), Render::TimeNanos) => time_text(*v, 1_000_000_000),
        (F::Bool(b), _) => b.to_string(),
        (F::Byte(v), _) => v.to_string(),
        (F::Short(v), _) => v.to_string(),
        (F::Int(v), _) => v.to_string(),
        (F::Long(v), _) => v.to_string(),
        (F::UByte(v), _) => v.to_string(),
        (F::UShort(v), _) => v.to_string(),
        (F::UInt(v), _) => v.to_string(),
        (F::ULong(v), _) => v.to_string(),
        // `{}` on floats prints the shortest text that parses back to the
        // same value, so nothing is lost on the way through strings.
        (F::Float16(v), _) => f32::from(*v).to_string(),
        (F::Float(v), _) => v.to_string(),
        (F::Double(v), _) => v.to_string(),
        (F::Decimal(d), _) => decimal_text(d.data(), d.scale())?,
        (F::Str(s), _) => s.clone(),
        (F::Bytes(b), _) => std::str::from_utf8(b.data())
            .map_err(|_| "binary value that is not UTF-8 text".to_string())?
            .to_string(),
        (F::Date(days), _) => date_text(i64::from(*days)),
        (F::TimeMillis(v), _) => time_text(i64::from(*v), 1_000),
        (F::TimeMicros(v), _) => time_text(*v, 1_000_000),
        // Legacy TIMESTAMP_* converted types mean UTC; INT96 carries no zone.
        (F::TimestampMillis(v), _) => timestamp_text(*v, 1_000, false),
        (F::TimestampMicros(v), _) => timestamp_text(*v, 1_000_000, true),
        (F::Group(_) | F::ListInternal(_) | F::MapInternal(_), _) => {
            return Err("nested value; flatten the column".to_string())
        }
    })
}

/// A big-endian two's-complement unscaled integer with `scale` decimals.
fn decimal_text(be_bytes: &[u8], scale: i32) -> Result<String, String> {
    if be_bytes.len() > 16 {
        return Err(format!(
            "decimal of {} bytes is wider than 128 bits",
            be_bytes.len()
        ));
    }
    let negative = be_bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buf = if negative { [0xFF; 16] } else { [0; 16] };
    buf[16 - be_bytes.len()..].copy_from_slice(be_bytes);
    let unscaled = i128::from_be_bytes(buf);
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    let scale = usize::try_from(scale).unwrap_or(0);
    if scale == 0 {
        return Ok(format!("{sign}{digits}"));
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Ok(format!("{sign}{int}.{frac}"))
}

/// `HH:MM:SS` with a fraction only when there is one.
fn time_text(value: i64, per_second: i64) -> String {
    let secs = value.div_euclid(per_second);
    let sub = value.rem_euclid(per_second);
    format!(
        "{:02}:{:02}:{:02}{}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        fraction(sub, per_second)
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.fff][Z]` for a count of `1/per_second` seconds since
/// the epoch; `Z` only when the writer said the instant is UTC.
fn timestamp_text(value: i64, per_second: i64, utc: bool) -> String {
    let secs = value.div_euclid(per_second);
    let sub = value.rem_euclid(per_second);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}{}{}",
        date_text(days),
        tod / 3600,
        (tod / 60) % 60,
        tod % 60,
        fraction(sub, per_second),
        if utc { "Z" } else { "" }
    )
}

/// `.fff…` without trailing zeros, or nothing for whole seconds.
fn fraction(sub: i64, per_second: i64) -> String {
    if sub == 0 {
        return String::new();
    }
    let width = (per_second as f64).log10().round() as usize;
    let digits = format!("{sub:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Table, TableError> {
        read_csv(text.as_bytes(), "leads.csv")
    }

    #[test]
    fn delimiter_is_detected_respecting_quotes() {
        let cases: &[(&str, &str, u8, &[&str])] = &[
            ("comma", "a,b,c\n1,2,3\n", b',', &["1", "2", "3"]),
            ("semicolon", "a;b;c\n1;2;3\n", b';', &["1", "2", "3"]),
            ("tab", "a\tb\tc\n1\t2\t3\n", b'\t', &["1", "2", "3"]),
            ("pipe", "a|b|c\n1|2|3\n", b'|', &["1", "2", "3"]),
            (
                "european export: decimal commas inside quotes",
                "name;score;visits\n\"Ann\";\"0,75\";\"3\"\n\"Bob\";\"1,5\";\"4\"\n",
                b';',
                &["Ann", "0,75", "3"],
            ),
            (
                "european export: unquoted decimal commas",
                "name;score\nAnn;0,75\nBob;12,5\n",
                b';',
                &["Ann", "0,75"],
            ),
            (
                "comma file with semicolons in quoted text",
                "id,note,visits\n1,\"a; b; c\",3\n2,\"x;y\",4\n",
                b',',
                &["1", "a; b; c", "3"],
            ),
            (
                "comma file, semicolons quoted in the header too",
                "\"a;x\",b\n1,2\n",
                b',',
                &["1", "2"],
            ),
            ("one column", "visits\n1\n2\n", b',', &["1"]),
        ];
        for (what, text, delimiter, first_row) in cases {
            let t = csv(text).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                t.format,
                format!("csv (delimiter {})", delimiter_name(*delimiter)),
                "{what}"
            );
            assert_eq!(t.rows[0], *first_row, "{what}");
        }
    }

    /// (what, input, header, rows, lines)
    type ReadCase = (
        &'static str,
        &'static str,
        &'static [&'static str],
        &'static [&'static [&'static str]],
        &'static [u64],
    );

    #[test]
    fn quoting_bom_crlf_and_header_trimming() {
        let cases: &[ReadCase] = &[
            (
                "embedded delimiter, doubled quote, newline",
                "a,b\n\"x, y\",\"say \"\"hi\"\"\nthere\"\n",
                &["a", "b"],
                &[&["x, y", "say \"hi\"\nthere"]],
                &[2],
            ),
            (
                "utf-8 bom dropped",
                "\u{feff}Lead Origin,Converted\nAPI,1\n",
                &["Lead Origin", "Converted"],
                &[&["API", "1"]],
                &[2],
            ),
            (
                "crlf",
                "a,b\r\n1,2\r\n3,4\r\n",
                &["a", "b"],
                &[&["1", "2"], &["3", "4"]],
                &[2, 3],
            ),
            (
                "crlf with a multi-line quoted field",
                "a,b\r\n1,\"x\r\ny\"\r\n\r\n2,w\r\n",
                &["a", "b"],
                &[&["1", "x\r\ny"], &["2", "w"]],
                &[2, 5],
            ),
            (
                "header names trimmed, cells not",
                " a , b\n 1, 2\n",
                &["a", "b"],
                &[&[" 1", " 2"]],
                &[2],
            ),
            (
                "trailing empty lines and delimiter-only rows ignored",
                "a;b\n1;2\n\n;\n  \n\r\n",
                &["a", "b"],
                &[&["1", "2"]],
                &[2],
            ),
            (
                "lines count physical lines across quoted newlines",
                "a,b\n1,\"x\ny\nz\"\n2,w\n\n3,v\n",
                &["a", "b"],
                &[&["1", "x\ny\nz"], &["2", "w"], &["3", "v"]],
                &[2, 5, 7],
            ),
            (
                "missing cells stay empty strings",
                "a,b,c\n1,,3\n",
                &["a", "b", "c"],
                &[&["1", "", "3"]],
                &[2],
            ),
        ];
        for (what, text, header, rows, lines) in cases {
            let t = csv(text).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(t.header, *header, "{what}");
            let got: Vec<Vec<&str>> = t
                .rows
                .iter()
                .map(|r| r.iter().map(String::as_str).collect())
                .collect();
            let want: Vec<Vec<&str>> = rows.iter().map(|r| r.to_vec()).collect();
            assert_eq!(got, want, "{what}");
            assert_eq!(t.lines, *lines, "{what}");
        }
    }

    #[test]
    fn bad_csv_is_refused_with_what_to_fix() {
        let cases: &[(&str, &[u8], &[&str])] = &[
            ("empty file", b"", &["leads.csv is empty", "no data rows"]),
            (
                "only blank lines",
                b"\n\n  \n",
                &["is empty", "no data rows"],
            ),
            (
                "header only",
                b"a,b,c\n",
                &["no data rows", "only the header (3 columns)"],
            ),
            (
                "row too long",
                b"a,b\n1,2\n3,4,5\n",
                &["line 3 has 3 fields", "the header has 2", "delimiter ','"],
            ),
            (
                "row too short, after a multi-line field",
                b"a,b\n1,\"x\ny\"\n3\n",
                &["line 4 has 1 field,", "the header has 2"],
            ),
            (
                "unbalanced quote swallows lines",
                b"a,b\n1,\"open\n2,3\n",
                &["record starting on line 2 is never closed"],
            ),
            (
                "unbalanced quote closed later makes a ragged row",
                b"a,b\n1,\"open\n2,3\",4\n",
                &["line 2 has 3 fields", "unbalanced quote"],
            ),
            (
                "crlf: ragged row names the right line",
                b"a,b\r\n1,2\r\n3,4\r\n5\r\n",
                &["line 4 has 1 field,"],
            ),
            (
                "invalid utf-8 names line and column",
                b"a,Tags\n1,ok\n2,caf\xe9\n",
                &["line 3, column 'Tags'", "not valid UTF-8"],
            ),
            (
                "duplicate header names",
                b"Tags,a,Tags,b,a\n1,2,3,4,5\n",
                &["\"Tags\" (columns 1 and 3)", "\"a\" (columns 2 and 5)"],
            ),
            (
                "duplicates after trimming",
                b"a, a\n1,2\n",
                &["\"a\" (columns 1 and 2)"],
            ),
            (
                "unnamed column",
                b",a,b\n0,1,2\n",
                &["column 1 has an empty name"],
            ),
        ];
        for (what, bytes, needles) in cases {
            let err = match read_csv(bytes, "leads.csv") {
                Ok(t) => panic!("{what}: read {} rows", t.rows.len()),
                Err(e) => e.to_string(),
            };
            for n in *needles {
                assert!(err.contains(n), "{what}: {err:?} lacks {n:?}");
            }
            assert!(err.starts_with("leads.csv"), "{what}: {err}");
        }
    }

    #[test]
    fn sha256_is_of_the_raw_bytes() {
        let bytes = "\u{feff}a,b\n1,2\n".as_bytes();
        let t = read_csv(bytes, "x.csv").expect("valid");
        assert_eq!(t.sha256, hex(&Sha256::digest(bytes)));
        assert_eq!(t.sha256.len(), 64);
        // Well-known digest of "abc".
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn read_table_dispatches_on_magic_and_name() {
        let t = read_table(b"a,b\n1,2\n", "leads.csv").expect("csv");
        assert!(t.format.starts_with("csv"));
        let err = read_table(b"a,b\n1,2\n", "leads.parquet")
            .expect_err("a .parquet name is read as Parquet")
            .to_string();
        assert!(err.contains("PAR1"), "{err}");
        let bytes = sample_parquet(parquet::basic::Compression::UNCOMPRESSED);
        let t = read_table(&bytes, "upload.bin").expect("magic wins over the name");
        assert_eq!(t.format, "parquet");
    }

    #[test]
    fn value_formatting_helpers() {
        assert_eq!(
            timestamp_text(1_704_067_200_000, 1_000, true),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            timestamp_text(1_704_112_496_789_000_000, 1_000_000_000, false),
            "2024-01-01T12:34:56.789"
        );
        assert_eq!(timestamp_text(-1, 1_000, false), "1969-12-31T23:59:59.999");
        assert_eq!(time_text(45_296_500, 1_000), "12:34:56.5");
        let cases: &[(&[u8], i32, &str)] = &[
            (&12345i32.to_be_bytes(), 2, "123.45"),
            (&(-5i32).to_be_bytes(), 3, "-0.005"),
            (&[0x01, 0x00], 0, "256"),
            (&[0xFF], 1, "-0.1"),
        ];
        for (bytes, scale, want) in cases {
            assert_eq!(decimal_text(bytes, *scale).as_deref(), Ok(*want));
        }
        assert!(decimal_text(&[0; 17], 0).is_err());
    }

    /// A small file written by the parquet crate itself: every kind of
    /// column the trainer can see, with nulls.
    fn sample_parquet(compression: parquet::basic::Compression) -> Vec<u8> {
        use std::sync::Arc;

        use parquet::data_type::{
            BoolType, ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type,
        };
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;

        let schema = Arc::new(
            parse_message_type(
                "message leads {
                    required int64 lead_number;
                    optional double visits;
                    optional float ratio;
                    optional boolean do_not_email;
                    optional binary tags (UTF8);
                    optional int32 created (DATE);
                    optional int64 seen (TIMESTAMP(MILLIS,true));
                    optional int64 seen_ns (TIMESTAMP(NANOS,false));
                    optional int32 price (DECIMAL(9,2));
                }",
            )
            .expect("schema parses"),
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(compression)
                .build(),
        );
        let mut buf = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut buf, schema, props).expect("writer starts");
        let mut group = writer.next_row_group().expect("row group");
        // Three rows; the third has every optional value missing.
        let defs = [1i16, 1, 0];
        let mut index = 0;
        while let Some(mut column) = group.next_column().expect("next column") {
            match index {
                0 => column
                    .typed::<Int64Type>()
                    .write_batch(&[660_737, 660_728, 660_727], None, None)
                    .map(|_| ()),
                1 => column
                    .typed::<DoubleType>()
                    .write_batch(&[0.1, 1e21], Some(&defs), None)
                    .map(|_| ()),
                2 => column
                    .typed::<FloatType>()
                    .write_batch(&[0.1, 2.5], Some(&defs), None)
                    .map(|_| ()),
                3 => column
                    .typed::<BoolType>()
                    .write_batch(&[true, false], Some(&defs), None)
                    .map(|_| ()),
                4 => column
                    .typed::<ByteArrayType>()
                    .write_batch(
                        &[
                            ByteArray::from("Will revert after reading the email"),
                            ByteArray::from("Ringing; \"later\""),
                        ],
                        Some(&defs),
                        None,
                    )
                    .map(|_| ()),
                5 => column
                    .typed::<Int32Type>()
                    .write_batch(&[19_723, 19_724], Some(&defs), None)
                    .map(|_| ()),
                6 => column
                    .typed::<Int64Type>()
                    .write_batch(&[1_704_067_200_000, 1_704_067_200_250], Some(&defs), None)
                    .map(|_| ()),
                7 => column
                    .typed::<Int64Type>()
                    .write_batch(&[1_704_112_496_789_000_000, 0], Some(&defs), None)
                    .map(|_| ()),
                8 => column
                    .typed::<Int32Type>()
                    .write_batch(&[12_345, -5], Some(&defs), None)
                    .map(|_| ()),
                _ => unreachable!("nine columns"),
            }
            .expect("column written");
            column.close().expect("column closed");
            index += 1;
        }
        group.close().expect("row group closed");
        writer.close().expect("file closed");
        buf
    }

    #[test]
    fn parquet_values_become_csv_like_strings() {
        use parquet::basic::{Compression, GzipLevel};

        for compression in [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::GZIP(GzipLevel::default()),
        ] {
            let bytes = sample_parquet(compression);
            let t = read_parquet(&bytes, "leads.parquet")
                .unwrap_or_else(|e| panic!("{compression:?}: {e}"));
            assert_eq!(
                t.header,
                [
                    "lead_number",
                    "visits",
                    "ratio",
                    "do_not_email",
                    "tags",
                    "created",
                    "seen",
                    "seen_ns",
                    "price"
                ]
            );
            assert_eq!(
                t.rows[0],
                [
                    "660737",
                    "0.1",
                    "0.1",
                    "true",
                    "Will revert after reading the email",
                    "2024-01-01",
                    "2024-01-01T00:00:00Z",
                    "2024-01-01T12:34:56.789",
                    "123.45"
                ],
                "{compression:?}"
            );
            assert_eq!(
                t.rows[1],
                [
                    "660728",
                    "1000000000000000000000",
                    "2.5",
                    "false",
                    "Ringing; \"later\"",
                    "2024-01-02",
                    "2024-01-01T00:00:00.25Z",
                    "1970-01-01T00:00:00",
                    "-0.05"
                ],
                "{compression:?}"
            );
            assert_eq!(t.rows[2][0], "660727");
            assert!(t.rows[2][1..].iter().all(String::is_empty), "nulls → empty");
            assert_eq!(t.lines, [1, 2, 3]);
            assert_eq!(t.format, "parquet");
            assert_eq!(t.sha256, hex(&Sha256::digest(&bytes)));
            // Floats round-trip through their text.
            assert_eq!(t.rows[1][1].parse::<f64>(), Ok(1e21));
        }
    }

    /// Written by pandas + pyarrow (`scripts/parquet_fixture.py`, which lists
    /// the values): nullable dtypes, a categorical, naive nanosecond and UTC
    /// timestamps, dates, snappy.
    #[test]
    fn pandas_written_parquet_reads_as_strings() {
        let bytes = include_bytes!("../../tests/data/leads_pandas.parquet");
        let t = read_table(bytes, "leads_pandas.parquet").expect("pandas file reads");
        assert_eq!(
            t.header,
            [
                "Lead Number",
                "TotalVisits",
                "Page Views Per Visit",
                "Do Not Email",
                "Lead Source",
                "Tags",
                "Score",
                "Created",
                "Seen (UTC)",
                "Day",
                "Converted"
            ]
        );
        let want: [[&str; 11]; 3] = [
            [
                "660737",
                "0",
                "2.5",
                "false",
                "Olark Chat",
                "Interested in other courses",
                "15",
                "2024-01-09T13:45:00",
                "2024-01-09T13:45:00Z",
                "2024-01-01",
                "0",
            ],
            [
                "660728",
                "5",
                "",
                "true",
                "",
                "Ringing; \"later\"",
                "255",
                "2024-02-29T00:00:00.123456789",
                "",
                "",
                "1",
            ],
            [
                "660727",
                "",
                "0.1",
                "",
                "Direct Traffic",
                "",
                "",
                "",
                "1969-12-31T23:59:59Z",
                "1999-12-31",
                "1",
            ],
        ];
        assert_eq!(t.rows, want);
        assert_eq!(t.lines, [1, 2, 3]);
    }

    #[test]
    fn bad_parquet_is_refused_with_what_to_fix() {
        let good = sample_parquet(parquet::basic::Compression::SNAPPY);
        let mut truncated = good.clone();
        truncated.truncate(good.len() / 2);
        let cases: &[(&str, &[u8], &str)] = &[
            ("not parquet", b"a,b\n1,2\n", "PAR1"),
            ("truncated", &truncated, "cannot read as Parquet"),
            ("magic only", b"PAR1", "cannot read as Parquet"),
        ];
        for (what, bytes, needle) in cases {
            let err = read_parquet(bytes, "leads.parquet")
                .expect_err(what)
                .to_string();
            assert!(err.starts_with("leads.parquet: "), "{what}: {err}");
            assert!(err.contains(needle), "{what}: {err}");
        }
    }

    #[test]
    fn nested_parquet_columns_are_refused_naming_them() {
        use std::sync::Arc;

        use parquet::data_type::Int32Type;
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;

        let schema = Arc::new(
            parse_message_type(
                "message m { required int32 a; optional group touches (LIST) { repeated group list { optional int32 element; } } }",
            )
            .expect("schema parses"),
        );
        let mut buf = Vec::new();
        let mut writer = SerializedFileWriter::new(
            &mut buf,
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .expect("writer");
        let mut group = writer.next_row_group().expect("group");
        let mut index = 0;
        while let Some(mut column) = group.next_column().expect("column") {
            let w = column.typed::<Int32Type>();
            if index == 0 {
                w.write_batch(&[1], None, None).expect("a");
            } else {
                w.write_batch(&[7], Some(&[3]), Some(&[0])).expect("list");
            }
            column.close().expect("close");
            index += 1;
        }
        group.close().expect("group closed");
        writer.close().expect("file closed");
        let err = read_parquet(&buf, "n.parquet")
            .expect_err("nested")
            .to_string();
        assert!(err.contains("'touches' is nested"), "{err}");
    }
}
