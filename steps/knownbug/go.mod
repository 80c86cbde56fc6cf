module im-workbook/steps/knownbug

go 1.25.0
