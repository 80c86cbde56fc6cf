module im-workbook/steps/01-basic-server

go 1.25.0
