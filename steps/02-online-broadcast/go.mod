module im-workbook/steps/02-online-broadcast

go 1.25.0
