module im-workbook/steps/09-client

go 1.25.0
