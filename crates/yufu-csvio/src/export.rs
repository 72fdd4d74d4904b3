//! Writing a file that Excel opens and that re-imports.

use crate::Kind;

/// Writes a file of `kind`: UTF-8 with a BOM (so Excel reads it as UTF-8), the
/// header of [`Kind::columns`], CRLF line ends. `rows` must already be in
/// column order ([`Row::to_cells`](crate::Row::to_cells) gives that); a row of
/// the wrong length is an error. The output parses back with [`parse`](crate::parse).
pub fn export(kind: Kind, rows: &[Vec<String>]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    writer.write_record(kind.columns())?;
    for row in rows {
        writer.write_record(row)?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}
