module im-workbook/steps/08-private-chat

go 1.25.0
