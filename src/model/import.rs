//! Imports: the formats a file of records comes in, the options of an import, and the
//! reading of a file into records (JSON documents, as `POST` takes them) that each know
//! the line they start on.

use std::io::{BufRead, BufReader, Read};

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::ParamError;
use super::list::params::QueryParams;

/// Most bad records an answer lists (the count of all of them is given too).
pub const MAX_LISTED_ERRORS: usize = 1_000;

/// The query parameters of an import.
pub const IMPORT_PARAMS: &[&str] = &["mode", "on_conflict"];

/// What a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object a line (`application/x-ndjson`).
    Ndjson,
    /// A header row naming the fields, then one record a row (`text/csv`).
    Csv,
}

impl ImportFormat {
    /// The accepted media types, for a 415's message.
    pub const ACCEPTED: &'static str =
        "an import's body must be `application/x-ndjson` (one JSON record a line) or `text/csv`";

    /// The format of a `Content-Type` (parameters such as `charset=utf-8` allowed).
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-ndjson")
            || essence.eq_ignore_ascii_case("application/ndjson")
            || essence.eq_ignore_ascii_case("application/jsonl")
        {
            Some(Self::Ndjson)
        } else if essence.eq_ignore_ascii_case("text/csv") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// Whether one bad record stops the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// All or nothing (the default).
    Atomic,
    /// The good records are stored, the bad ones listed.
    Partial,
}

/// What happens to a record whose `id` (or, without one, `slug`) already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// The record is bad (the default).
    Error,
    /// The record is left out and counted as skipped.
    Skip,
    /// The stored record is replaced by this one, as a new version; a record equal to
    /// the stored one is left alone and counted as skipped.
    Update,
}

/// An import's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// All or nothing, or the good records.
    pub mode: ImportMode,
    /// What an existing record means.
    pub on_conflict: OnConflict,
}

impl ImportMode {
    /// Every accepted `mode`, the default first.
    pub const NAMES: &'static [&'static str] = &["atomic", "partial"];
}

impl OnConflict {
    /// Every accepted `on_conflict`, the default first.
    pub const NAMES: &'static [&'static str] = &["error", "skip", "update"];
}

impl ImportOptions {
    /// Reads `mode` and `on_conflict`.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        let mode = match params.single("mode")? {
            None | Some("atomic") => ImportMode::Atomic,
            Some("partial") => ImportMode::Partial,
            Some(_) => return Err(one_of("mode", ImportMode::NAMES)),
        };
        let on_conflict = match params.single("on_conflict")? {
            None | Some("error") => OnConflict::Error,
            Some("skip") => OnConflict::Skip,
            Some("update") => OnConflict::Update,
            Some(_) => return Err(one_of("on_conflict", OnConflict::NAMES)),
        };
        Ok(Self { mode, on_conflict })
    }
}

fn one_of(name: &str, names: &[&str]) -> ParamError {
    ParamError::new(name, format!("must be one of: {}", names.join(", ")))
}

/// One broken rule of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// The line of the file on which the record starts, from 1 (a CSV's header is 1).
    pub line: u64,
    /// The field, or empty when the record as a whole is wrong.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Records stored as new.
    pub created: u64,
    /// Existing records replaced (`on_conflict=update`).
    pub updated: u64,
    /// Existing records left alone (`on_conflict=skip`, or under `update` those equal to
    /// what is stored).
    pub skipped: u64,
    /// Bad records.
    pub failed: u64,
    /// The bad records, at most 1,000 (partial mode; atomic mode's 422 lists them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<LineError>>,
}

/// One record read from a file: its first line and its document, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// The line it starts on, from 1.
    pub line: u64,
    /// The document, or what makes the text unreadable.
    pub document: Result<Value, String>,
}

/// What reading a file may stop on (records themselves never stop it).
#[derive(Debug)]
pub enum ReadStop {
    /// The body could not be read (the client went away, or it was too large: the
    /// reader's source says which).
    Io(std::io::Error),
    /// The CSV header row is missing or names a field twice.
    Header(String),
}

/// Reads records out of a file, one at a time, with memory bounded by the longest
/// record: NDJSON line by line, CSV record by record (quoted cells may span lines).
/// A UTF-8 byte order mark is skipped.
pub struct RecordReader<R: Read> {
    inner: Inner<R>,
}

/// The columns a CSV of one resource may have.
#[derive(Debug, Clone, Copy)]
pub struct CsvColumns {
    /// Every field a record may set.
    pub all: &'static [&'static str],
    /// Those whose cells hold JSON.
    pub json: &'static [&'static str],
}

enum Inner<R: Read> {
    /// A file with nothing in it.
    Empty,
    Ndjson {
        lines: BufReader<R>,
        line: u64,
        buffer: Vec<u8>,
        max_record: usize,
    },
    Csv {
        reader: csv::Reader<BufReader<R>>,
        header: Vec<String>,
        record: csv::StringRecord,
        json_columns: &'static [&'static str],
    },
}

impl<R: Read> RecordReader<R> {
    /// A reader of `format` over `source`; a CSV's header row is read at once, and may
    /// name only `columns` (`json_columns` among them hold JSON; `tags` cells are
    /// `;`-separated). An empty file has no records. A record longer than `max_record`
    /// bytes is a bad record.
    pub fn new(
        format: ImportFormat,
        source: R,
        columns: CsvColumns,
        max_record: usize,
    ) -> Result<Self, ReadStop> {
        let CsvColumns {
            all: known_columns,
            json: json_columns,
        } = columns;
        let mut buffered = BufReader::with_capacity(64 * 1024, source);
        skip_bom(&mut buffered).map_err(ReadStop::Io)?;
        let inner = match format {
            ImportFormat::Ndjson => Inner::Ndjson {
                lines: buffered,
                line: 0,
                buffer: Vec::new(),
                max_record,
            },
            ImportFormat::Csv => {
                // `\n` alone ends a record, so a record's position is its first line
                // (with the default, a CRLF file's records are placed on the line
                // before); the `\r` of a CRLF is then cut from each row's last cell.
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_reader(buffered);
                let mut first = csv::StringRecord::new();
                if !reader.read_record(&mut first).map_err(csv_stop)? {
                    return Ok(Self {
                        inner: Inner::Empty,
                    });
                }
                let header: Vec<String> =
                    cells(&first).iter().map(|h| h.trim().to_owned()).collect();
                for (i, name) in header.iter().enumerate() {
                    if !name.is_empty() && !known_columns.contains(&name.as_str()) {
                        return Err(ReadStop::Header(format!(
                            "the header row names `{}`, which is not a field; the fields are {}",
                            super::fields::truncate(name, 40),
                            known_columns.join(", ")
                        )));
                    }
                    if name.is_empty() {
                        return Err(ReadStop::Header(format!(
                            "column {} of the header row has no name",
                            i + 1
                        )));
                    }
                    if header[..i].contains(name) {
                        return Err(ReadStop::Header(format!(
                            "the header row names `{name}` twice"
                        )));
                    }
                }
                Inner::Csv {
                    reader,
                    header,
                    record: csv::StringRecord::new(),
                    json_columns,
                }
            }
        };
        Ok(Self { inner })
    }

    /// The next record, `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<ReadRecord>, ReadStop> {
        match &mut self.inner {
            Inner::Empty => Ok(None),
            Inner::Ndjson {
                lines,
                line,
                buffer,
                max_record,
            } => loop {
                buffer.clear();
                let read = lines
                    .by_ref()
                    .take(*max_record as u64 + 1)
                    .read_until(b'\n', buffer)
                    .map_err(ReadStop::Io)?;
                if read == 0 {
                    return Ok(None);
                }
                *line += 1;
                if buffer.len() > *max_record && buffer.last() != Some(&b'\n') {
                    // Skip the rest of the overlong line, then report it.
                    let mut rest = Vec::new();
                    lines.read_until(b'\n', &mut rest).map_err(ReadStop::Io)?;
                    return Ok(Some(ReadRecord {
                        line: *line,
                        document: Err(format!("longer than {max_record} bytes")),
                    }));
                }
                let text = buffer.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                let document = serde_json::from_slice::<Value>(text)
                    .map_err(|e| format!("not JSON: {e}"))
                    .and_then(|value| match value {
                        Value::Object(_) => Ok(value),
                        _ => Err("must be a JSON object".to_owned()),
                    });
                return Ok(Some(ReadRecord {
                    line: *line,
                    document,
                }));
            },
            Inner::Csv {
                reader,
                header,
                record,
                json_columns,
            } => {
                loop {
                    if !reader.read_record(record).map_err(csv_stop)? {
                        return Ok(None);
                    }
                    let cells = cells(record);
                    if cells.len() == 1 && cells[0].is_empty() {
                        // A blank line of a CRLF file.
                        continue;
                    }
                    let line = record.position().map_or(0, |p| p.line());
                    return Ok(Some(ReadRecord {
                        line,
                        document: csv_document(header, &cells, json_columns),
                    }));
                }
            }
        }
    }
}

/// Skips a UTF-8 byte order mark at the start.
fn skip_bom<R: Read>(reader: &mut BufReader<R>) -> std::io::Result<()> {
    let start = reader.fill_buf()?;
    if start.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

/// What stops a CSV read: the source failing, or bytes that are not UTF-8 (which no
/// record can be read past).
fn csv_stop(error: csv::Error) -> ReadStop {
    let line = error.position().map(|p| p.line());
    match error.into_kind() {
        csv::ErrorKind::Io(io) => ReadStop::Io(io),
        other => ReadStop::Header(match line {
            Some(line) => format!("line {line}: the CSV cannot be read: {other:?}"),
            None => format!("the CSV cannot be read: {other:?}"),
        }),
    }
}

/// A row's cells, without the `\r` a CRLF leaves at the end of the last.
fn cells(record: &csv::StringRecord) -> Vec<&str> {
    let mut cells: Vec<&str> = record.iter().collect();
    if let Some(last) = cells.last_mut() {
        *last = last.strip_suffix('\r').unwrap_or(last);
    }
    cells
}

/// A CSV row as the JSON document `POST` takes: empty cells are absent fields, `tags`
/// is split on `;`, `json_columns` are parsed as JSON.
fn csv_document(
    header: &[String],
    record: &[&str],
    json_columns: &[&str],
) -> Result<Value, String> {
    if record.len() != header.len() {
        return Err(format!(
            "has {} cells where the header row names {} fields",
            record.len(),
            header.len()
        ));
    }
    let mut object = Map::with_capacity(header.len());
    for (name, cell) in header.iter().zip(record.iter().copied()) {
        if cell.is_empty() {
            continue;
        }
        let value = if name == "tags" {
            Value::Array(
                cell.split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_owned()))
                    .collect(),
            )
        } else if json_columns.contains(&name.as_str()) {
            serde_json::from_str(cell).map_err(|e| format!("`{name}` is not JSON: {e}"))?
        } else {
            Value::String(cell.to_owned())
        };
        object.insert(name.clone(), value);
    }
    Ok(Value::Object(object))
}

/// Takes `id` out of a record (a create cannot name it; an import may): the id, and
/// what is left to validate as `POST` would.
pub fn take_id(document: &mut Value) -> Result<Option<Uuid>, String> {
    let Some(object) = document.as_object_mut() else {
        return Ok(None);
    };
    match object.remove("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Uuid::parse_str(&text)
            .map(Some)
            .map_err(|_| "must be a UUID".to_owned()),
        Some(_) => Err("must be a UUID string".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_all(format: ImportFormat, text: &str) -> Vec<ReadRecord> {
        let columns = CsvColumns {
            all: &["title", "tags", "summary", "sources", "companies"],
            json: &["sources", "companies"],
        };
        let mut reader = RecordReader::new(format, text.as_bytes(), columns, 1_000)
            .unwrap_or_else(|_| panic!("a reader"));
        let mut out = Vec::new();
        while let Ok(Some(record)) = reader.next_record() {
            out.push(record);
        }
        out
    }

    #[test]
    fn ndjson_records_know_their_lines_and_blank_lines_are_skipped() {
        let text = "\u{feff}{\"title\":\"a\"}\r\n\n  \nnot json\n[1]\n{\"title\":\"b\"}";
        let records = read_all(ImportFormat::Ndjson, text);
        let lines: Vec<u64> = records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 4, 5, 6]);
        assert_eq!(records[0].document, Ok(json!({"title": "a"})));
        assert!(
            records[1]
                .document
                .as_ref()
                .is_err_and(|e| e.starts_with("not JSON"))
        );
        assert_eq!(records[2].document, Err("must be a JSON object".into()));
        assert_eq!(records[3].document, Ok(json!({"title": "b"})));
    }

    #[test]
    fn an_overlong_ndjson_line_is_a_bad_record_and_the_next_is_read() {
        let long = format!(
            "{{\"title\":\"{}\"}}\n{{\"title\":\"ok\"}}\n",
            "x".repeat(2_000)
        );
        let records = read_all(ImportFormat::Ndjson, &long);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].document, Err("longer than 1000 bytes".into()));
        assert_eq!(
            (records[1].line, records[1].document.clone()),
            (2, Ok(json!({"title": "ok"})))
        );
    }

    #[test]
    fn csv_cells_become_fields_and_quoted_newlines_move_later_lines() {
        let text = "\u{feff}title,tags,summary,sources\r\n\
                    \"Deal, big\",ai; cloud ;,\"two\nlines\",\"[{\"\"url\"\":\"\"https://x.example\"\",\"\"title\"\":\"\"X\"\"}]\"\r\n\
                    Second,,,\r\n\
                    \r\n\
                    Bad,,,[not json\r\n\
                    Short\r\n";
        let records = read_all(ImportFormat::Csv, text);
        let lines: Vec<u64> = records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4, 6, 7]);
        assert_eq!(
            records[0].document,
            Ok(
                json!({"title": "Deal, big", "tags": ["ai", "cloud"], "summary": "two\nlines",
                      "sources": [{"url": "https://x.example", "title": "X"}]})
            )
        );
        assert_eq!(records[1].document, Ok(json!({"title": "Second"})));
        assert!(
            records[2]
                .document
                .as_ref()
                .is_err_and(|e| e.contains("`sources` is not JSON"))
        );
        assert!(
            records[3]
                .document
                .as_ref()
                .is_err_and(|e| e.contains("has 1 cells"))
        );
    }

    #[test]
    fn a_csv_header_must_name_known_fields_each_once() {
        let columns = CsvColumns {
            all: &["title", "x"],
            json: &[],
        };
        for text in [
            "title,title\nA,B\n",
            "title,,x\n",
            "title,colour\nA,red\n",
            "{}",
        ] {
            assert!(
                matches!(
                    RecordReader::new(ImportFormat::Csv, text.as_bytes(), columns, 100),
                    Err(ReadStop::Header(_))
                ),
                "{text:?}"
            );
        }
        let empty = RecordReader::new(ImportFormat::Csv, "".as_bytes(), columns, 100);
        assert!(empty.is_ok_and(|mut r| matches!(r.next_record(), Ok(None))));
    }

    #[test]
    fn ids_are_taken_out_and_checked() {
        let mut doc = json!({"id": "0193f1a0-0000-7000-8000-00000000000a", "title": "x"});
        assert!(take_id(&mut doc).is_ok_and(|id| id.is_some()));
        assert_eq!(doc, json!({"title": "x"}));
        assert!(take_id(&mut json!({"id": "nope"})).is_err());
        assert!(take_id(&mut json!({"id": 7})).is_err());
        assert_eq!(take_id(&mut json!({"title": "x"})), Ok(None));
    }

    #[test]
    fn content_types_and_options() {
        assert_eq!(
            ImportFormat::from_content_type("text/csv; charset=utf-8"),
            Some(ImportFormat::Csv)
        );
        assert_eq!(
            ImportFormat::from_content_type("application/x-ndjson"),
            Some(ImportFormat::Ndjson)
        );
        assert_eq!(ImportFormat::from_content_type("application/json"), None);
        let params = QueryParams::parse(Some("mode=partial&on_conflict=update"), IMPORT_PARAMS)
            .unwrap_or_else(|_| panic!("params"));
        assert_eq!(
            ImportOptions::from_params(&params).ok(),
            Some(ImportOptions {
                mode: ImportMode::Partial,
                on_conflict: OnConflict::Update
            })
        );
        let bad = QueryParams::parse(Some("mode=some"), IMPORT_PARAMS)
            .unwrap_or_else(|_| panic!("params"));
        assert!(ImportOptions::from_params(&bad).is_err());
    }
}
