// Command sambaeval evaluates SAMBA hybrid language models (Mamba + sliding-window
// attention + SwiGLU) with its own forward engine.
//
// Each subcommand lives in its own file and only wires flags to package functions.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sambaeval",
		Short:         "Evaluate SAMBA language models: MMLU, GSM8K, HumanEval, passkey, long-context perplexity",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, add := range commands {
		root.AddCommand(add())
	}
	return root
}

// commands holds the constructors of every subcommand; each command file
// appends its own in init.
var commands []func() *cobra.Command

// exitStatus is an error that makes sambaeval exit with its own status
// instead of 1 (`sambaeval compare` exits 2 on a regression).
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string { return e.msg }

func main() {
	// A sandboxed HumanEval program runs as this binary re-executed; Main
	// takes over in that case and never returns.
	sandbox.Main()
	if err := execute(newRootCmd()); err != nil {
		fmt.Fprintln(os.Stderr, "sambaeval:", err)
		var st *exitStatus
		if errors.As(err, &st) {
			os.Exit(st.code)
		}
		os.Exit(1)
	}
}

// execute runs the command line; what the device rejects where no error
// result carries it (a session's state out of GPU memory) ends it with that
// error, as any other failure, rather than a panic.
func execute(root *cobra.Command) (err error) {
	defer kernels.Catch(&err)
	return root.Execute()
}
