//! The XLSX workbooks of the forms (issue 13): the import template generated from a
//! definition (a header per importable field, required ones marked `*`, text columns formatted
//! as text so Excel keeps the leading zeros of codes and the digits of 身份证 numbers, a
//! drop-down for every dictionary field fed from a hidden `选项` sheet), the error workbook of
//! an import (the rows that failed as uploaded, plus a `错误原因` column) and the writer of an
//! XLSX export, which keeps only the current rows in memory (`constant_memory`: written rows go
//! to a temporary file) so a million-row export stays flat.

use rust_xlsxwriter::{DataValidation, Format, Formula, Workbook, Worksheet, XlsxError};

use crate::definition::{FieldKind, Form};
use crate::{Catalog, import};

/// The most rows a sheet can have (Excel's limit).
const SHEET_ROWS: u32 = 1_048_576;

fn header_format() -> Format {
    Format::new().set_bold().set_background_color("#DCE6F1")
}

/// Excel's column name of a 0-based index (`A`, …, `Z`, `AA`, …).
fn column_name(mut index: u32) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !"[]:*?/\\'".contains(*c)).take(31).collect();
    if name.is_empty() { "数据".into() } else { name }
}

/// The import template of `form`.
pub fn template(form: &Form, catalog: &Catalog) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let fields: Vec<&crate::Field> = import::importable(form).collect();
    // The options of each dictionary field, one column each on a hidden sheet: a list formula
    // has no 255-character limit, unlike a list typed into the validation itself.
    let mut lists: Vec<(usize, u32, usize)> = Vec::new();
    let mut options = Worksheet::new();
    {
        options.set_name("选项")?;
        for (index, field) in fields.iter().enumerate() {
            let Some(dict) = field.dict.as_deref().and_then(|key| catalog.dict(key)) else { continue };
            let column = lists.len() as u16;
            options.write_string(0, column, &field.label)?;
            for (row, (_, label)) in dict.items.iter().enumerate() {
                options.write_string(row as u32 + 1, column, label)?;
            }
            lists.push((index, u32::from(column), dict.items.len()));
        }
        options.set_hidden(true);
    }
    let mut sheet = Worksheet::new();
    sheet.set_name(sheet_name(&form.name))?;
    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (column, field) in fields.iter().enumerate() {
        let column = column as u16;
        let header = if field.required { format!("*{}", field.label) } else { field.label.clone() };
        sheet.write_string_with_format(0, column, &header, &header_format())?;
        sheet.set_column_width(column, (field.label.chars().count() * 2 + 6).clamp(10, 40) as f64)?;
        match field.kind {
            FieldKind::Date => {
                sheet.set_column_format(column, &date)?;
            }
            FieldKind::Integer | FieldKind::Decimal | FieldKind::Money | FieldKind::Boolean => {}
            _ => {
                sheet.set_column_format(column, &text)?;
            }
        }
        if let Some(help) = &field.help {
            let prompt = DataValidation::new().set_input_message(help.chars().take(250).collect::<String>())?;
            sheet.add_data_validation(1, column, SHEET_ROWS - 1, column, &prompt)?;
        }
    }
    for (index, list_column, count) in lists {
        let field = fields[index];
        let letter = column_name(list_column);
        let source = Formula::new(format!("='选项'!${letter}$2:${letter}${}", count + 1));
        let mut validation = DataValidation::new().allow_list_formula(source).ignore_blank(true);
        // Several values are typed as "a、b": the list only suggests, it does not refuse.
        if !field.kind.is_list() {
            validation = validation
                .set_error_title("无效的选项")?
                .set_error_message(format!("请从下拉列表中选择{}", field.label))?;
        } else {
            validation = validation.show_error_message(false);
        }
        let column = index as u16;
        sheet.add_data_validation(1, column, SHEET_ROWS - 1, column, &validation)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    workbook.push_worksheet(sheet);
    workbook.push_worksheet(options);
    workbook.save_to_buffer()
}

/// The error workbook of an import: its header row plus `错误原因`, then each failed row as
/// uploaded with its reasons (“列名：说明”, one per line).
pub fn error_workbook(headers: &[String], rows: &[(Vec<String>, String)]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("错误行")?;
    let text = Format::new().set_num_format("@");
    let wrap = Format::new().set_text_wrap().set_font_color("#C00000");
    for (column, header) in headers.iter().filter(|header| header.as_str() != import::ERROR_COLUMN).enumerate() {
        sheet.write_string_with_format(0, column as u16, header, &header_format())?;
        sheet.set_column_format(column as u16, &text)?;
        sheet.set_column_width(column as u16, 16)?;
    }
    let error_column = headers.iter().filter(|header| header.as_str() != import::ERROR_COLUMN).count() as u16;
    sheet.write_string_with_format(0, error_column, import::ERROR_COLUMN, &header_format())?;
    sheet.set_column_width(error_column, 50)?;
    let keep: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, header)| header.as_str() != import::ERROR_COLUMN)
        .map(|(index, _)| index)
        .collect();
    for (row, (cells, reasons)) in rows.iter().enumerate() {
        let row = row as u32 + 1;
        for (column, index) in keep.iter().enumerate() {
            if let Some(cell) = cells.get(*index) {
                sheet.write_string(row, column as u16, cell)?;
            }
        }
        sheet.write_string_with_format(row, error_column, reasons, &wrap)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    workbook.save_to_buffer()
}

/// An XLSX export being written: rows go to a temporary file as they come.
pub struct XlsxExport {
    workbook: Workbook,
    row: u32,
}

impl XlsxExport {
    /// A workbook with one sheet named `name` and the header row.
    pub fn new(name: &str, headers: &[String]) -> Result<XlsxExport, XlsxError> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(sheet_name(name))?;
        for (column, header) in headers.iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, header, &header_format())?;
            sheet.set_column_width(column as u16, 16)?;
        }
        Ok(XlsxExport { workbook, row: 1 })
    }

    /// Appends rows of text cells; false when the sheet is full (Excel's row limit).
    pub fn push(&mut self, rows: &[Vec<String>]) -> Result<bool, XlsxError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        for cells in rows {
            if self.row >= SHEET_ROWS {
                return Ok(false);
            }
            for (column, cell) in cells.iter().enumerate() {
                if !cell.is_empty() {
                    sheet.write_string(self.row, column as u16, cell)?;
                }
            }
            self.row += 1;
        }
        Ok(true)
    }

    /// Writes the workbook to `writer`.
    pub fn finish<W: std::io::Write + std::io::Seek + Send>(mut self, writer: W) -> Result<(), XlsxError> {
        self.workbook.save_to_writer(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::column_name;

    #[test]
    fn columns_are_named_like_excel() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }
}
