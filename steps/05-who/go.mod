module im-workbook/steps/05-who

go 1.25.0
