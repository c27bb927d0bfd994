package bench

import (
	"os"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

func TestScratchProfile421(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	c, _ := model.Named("Samba_421M")
	m := randomModel(t, c, 1, cpu.New())
	ids := make([]int32, 512)
	for i := range ids {
		ids[i] = int32(i * 13 % 32000)
	}
	for rep := 0; rep < 2; rep++ {
		s := m.NewSession()
		s.ChunkSize = 512
		t0 := time.Now()
		s.Prefill(ids)
		t.Logf("prefill %v", time.Since(t0))
	}
}
