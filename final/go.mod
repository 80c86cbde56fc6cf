module im-workbook/final

go 1.25.0
