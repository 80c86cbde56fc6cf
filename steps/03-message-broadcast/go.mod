module im-workbook/steps/03-message-broadcast

go 1.25.0
