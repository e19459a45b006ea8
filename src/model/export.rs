//! Export formats: NDJSON (records as a list shows them, one a line) and CSV (the
//! columns an import reads, so an export imports back unchanged).

use serde::Serialize;

use super::party::CompanyRoleInput;
use super::{Company, Event};

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON record a line (`application/x-ndjson`).
    Ndjson,
    /// A header row, then one row a record (`text/csv`).
    Csv,
}

impl ExportFormat {
    /// Every accepted `format` value.
    pub const NAMES: &'static [&'static str] = &["ndjson", "csv"];

    /// Reads a `format` value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ndjson" => Some(Self::Ndjson),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The media type of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }
}

/// A record that can be exported.
pub trait Exportable: Serialize {
    /// The CSV header: the fields an import reads, in order.
    const CSV_COLUMNS: &'static [&'static str];
    /// The columns whose cells hold JSON (lists and objects); an import parses them.
    const CSV_JSON_COLUMNS: &'static [&'static str];
    /// The record's CSV cells, in [`Self::CSV_COLUMNS`] order: tags joined by `;`, list
    /// and object fields as JSON, absent values empty.
    fn csv_cells(&self) -> Vec<String>;
}

/// JSON for a CSV cell (the values are plain data: serialising them cannot fail).
fn json_cell<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl Exportable for Event {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "id",
        "slug",
        "title",
        "occurred_on",
        "category",
        "significance",
        "summary",
        "what_happened",
        "why_it_matters",
        "tags",
        "sources",
        "companies",
        "partnerships",
    ];
    const CSV_JSON_COLUMNS: &'static [&'static str] = &["sources", "companies", "partnerships"];

    fn csv_cells(&self) -> Vec<String> {
        let companies: Vec<CompanyRoleInput> = self.companies.iter().map(Into::into).collect();
        let partnerships: Vec<&str> = self.partnerships.iter().map(|p| p.slug.as_str()).collect();
        vec![
            self.id.to_string(),
            self.slug.clone(),
            self.title.clone(),
            self.occurred_on.to_string(),
            self.category.as_str().to_owned(),
            self.significance.as_str().to_owned(),
            self.summary.clone(),
            self.what_happened.clone(),
            self.why_it_matters.clone(),
            self.tags.join(";"),
            json_cell(&self.sources),
            json_cell(&companies),
            json_cell(&partnerships),
        ]
    }
}

impl Exportable for Company {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "id",
        "slug",
        "name",
        "kind",
        "country",
        "website",
        "description",
        "tags",
    ];
    const CSV_JSON_COLUMNS: &'static [&'static str] = &[];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.slug.clone(),
            self.name.clone(),
            self.kind.as_str().to_owned(),
            self.country.clone().unwrap_or_default(),
            self.website.clone().unwrap_or_default(),
            self.description.clone(),
            self.tags.join(";"),
        ]
    }
}

/// Writes records in one format into a buffer that is taken a chunk at a time.
pub struct ExportWriter {
    format: ExportFormat,
    csv: csv::Writer<Vec<u8>>,
    ndjson: Vec<u8>,
}

impl ExportWriter {
    /// A writer for records of `T`; a CSV export starts with its header.
    pub fn new<T: Exportable>(format: ExportFormat) -> Self {
        let mut csv = csv::Writer::from_writer(Vec::new());
        if format == ExportFormat::Csv {
            // Into a Vec: cannot fail.
            let _ = csv.write_record(T::CSV_COLUMNS);
        }
        Self {
            format,
            csv,
            ndjson: Vec::new(),
        }
    }

    /// Appends one record.
    pub fn write<T: Exportable>(&mut self, record: &T) -> Result<(), std::io::Error> {
        match self.format {
            ExportFormat::Ndjson => {
                serde_json::to_writer(&mut self.ndjson, record)?;
                self.ndjson.push(b'\n');
            }
            ExportFormat::Csv => self.csv.write_record(record.csv_cells())?,
        }
        Ok(())
    }

    /// How many bytes are waiting to be taken (the CSV writer's own small buffer aside).
    pub fn pending(&self) -> usize {
        match self.format {
            ExportFormat::Ndjson => self.ndjson.len(),
            ExportFormat::Csv => self.csv.get_ref().len(),
        }
    }

    /// Everything written so far and not yet taken.
    pub fn take(&mut self) -> Result<Vec<u8>, std::io::Error> {
        match self.format {
            ExportFormat::Ndjson => Ok(std::mem::take(&mut self.ndjson)),
            ExportFormat::Csv => {
                // The writer owns its buffer: hand it over and go on with a fresh one.
                let full = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
                full.into_inner().map_err(|e| e.into_error())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company() -> Company {
        let at = chrono::DateTime::UNIX_EPOCH;
        Company {
            id: uuid::Uuid::parse_str("0193f1a0-0000-7000-8000-00000000000a").unwrap(),
            slug: "amazon".into(),
            name: "Amazon, Inc.".into(),
            kind: crate::model::CompanyKind::ALL[0],
            country: Some("US".into()),
            website: None,
            description: "Sells things.\nAnd clouds.".into(),
            tags: vec!["cloud".into(), "retail".into()],
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_ndjson_is_one_record_a_line() {
        let kind = crate::model::CompanyKind::ALL[0].as_str();
        let mut csv = ExportWriter::new::<Company>(ExportFormat::Csv);
        csv.write(&company()).unwrap();
        let text = String::from_utf8(csv.take().unwrap()).unwrap();
        assert_eq!(
            text,
            format!(
                "id,slug,name,kind,country,website,description,tags\n\
             0193f1a0-0000-7000-8000-00000000000a,amazon,\"Amazon, Inc.\",{kind},US,,\
             \"Sells things.\nAnd clouds.\",cloud;retail\n"
            )
        );
        let mut ndjson = ExportWriter::new::<Company>(ExportFormat::Ndjson);
        ndjson.write(&company()).unwrap();
        ndjson.write(&company()).unwrap();
        let text = String::from_utf8(ndjson.take().unwrap()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(ndjson.take().unwrap().is_empty(), "taken once");
    }
}
