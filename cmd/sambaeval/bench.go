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
		Long: `Bench times prefill (tokens/s and GFLOP/s) and greedy decoding (tokens/s, and GB/s of weights
and state read per step) of any model directory or built-in config with random weights. On the CPU
they are judged against its measured FMA peak and memory bandwidth; on a GPU against the device's
measured bf16 product rate (MFU) and copy rate (the bound of reading every weight once per step), e.g.

    sambaeval bench --model Samba_421M --random-weights 1
    sambaeval bench --model Samba_3.8B --random-weights 1 --device cuda --prefill-tokens 4096 --batch 16`,
		Args: cobra.NoArgs,
	}
	mf := addModelFlags(cmd)
	fl := cmd.Flags()
	fl.IntVar(&o.PrefillTokens, "prefill-tokens", 512, "tokens in the timed prefill")
	fl.IntVar(&o.DecodeTokens, "decode-tokens", 32, "tokens decoded after it")
	fl.IntVar(&o.Batch, "batch", 1, "sequences decoded together, each prefilled first")
	fl.IntVar(&o.Repeats, "repeats", 3, "repetitions; medians are reported")
	fl.BoolVar(&o.SkipMachine, "skip-machine", false, "skip the peak FLOP/s, bandwidth and GEMM probes")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.PrefillTokens < 1 || o.DecodeTokens < 1 || o.Repeats < 1 || o.Batch < 1 {
			return fmt.Errorf("--prefill-tokens, --decode-tokens, --repeats and --batch must be positive")
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
