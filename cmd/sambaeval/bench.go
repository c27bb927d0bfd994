package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/bench"
)

func init() { commands = append(commands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var o bench.Options
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prefill and decode speed of a model on this machine, beside its arithmetic and memory limits",
		Long: `Bench times prefill (tokens/s and GFLOP/s, beside the CPU's measured FMA peak) and decoding
(tokens/s and GB/s of weights and state read, beside the measured memory bandwidth) of any model
directory or built-in config with random weights, e.g.

    sambaeval bench --model Samba_421M --random-weights 1`,
		Args: cobra.NoArgs,
	}
	mf := addModelFlags(cmd)
	fl := cmd.Flags()
	fl.IntVar(&o.PrefillTokens, "prefill-tokens", 512, "tokens in the timed prefill")
	fl.IntVar(&o.DecodeTokens, "decode-tokens", 32, "tokens decoded after it")
	fl.IntVar(&o.Repeats, "repeats", 3, "repetitions; medians are reported")
	fl.BoolVar(&o.SkipMachine, "skip-machine", false, "skip the peak FLOP/s, bandwidth and GEMM probes")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.PrefillTokens < 1 || o.DecodeTokens < 1 || o.Repeats < 1 {
			return fmt.Errorf("--prefill-tokens, --decode-tokens and --repeats must be positive")
		}
		m, err := mf.open()
		if err != nil {
			return err
		}
		defer m.Close()
		r, err := bench.Run(m, o)
		if err != nil {
			return err
		}
		fmt.Fprint(cmd.OutOrStdout(), r.String())
		return nil
	}
	return cmd
}
