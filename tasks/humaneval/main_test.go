package humaneval

import (
	"os"
	"testing"

	"github.com/sambaeval/sambaeval/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(m.Run())
}
