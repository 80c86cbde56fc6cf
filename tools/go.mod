module im-workbook/tools

go 1.25.0
