module im-workbook/steps/04-user-refactor

go 1.25.0
