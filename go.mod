module github.com/sambaeval/sambaeval

go 1.26.8
