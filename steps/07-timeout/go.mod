module im-workbook/steps/07-timeout

go 1.25.0
