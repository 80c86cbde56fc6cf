module im-workbook/steps/06-rename

go 1.25.0
