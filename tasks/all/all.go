// Package all links every task into the binary; import it for its side
// effect of registering them.
package all

import (
	_ "github.com/sambaeval/sambaeval/tasks/gsm8k"
	_ "github.com/sambaeval/sambaeval/tasks/humaneval"
	_ "github.com/sambaeval/sambaeval/tasks/mmlu"
)
