module im-workbook/final

go 1.25.0

require (
	github.com/mtibben/confusables v0.0.0-20210201002637-9d1b0723b659
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	golang.org/x/text v0.40.0
	golang.org/x/time v0.14.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
