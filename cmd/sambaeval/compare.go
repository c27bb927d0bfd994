package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/results"
)

func init() { commands = append(commands, newCompareCmd) }

func newCompareCmd() *cobra.Command {
	var (
		maxDrop, maxPPLRise float64
		groups, asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "compare BASE NEW",
		Short: "Compare two results.json files metric by metric; exit 2 on a regression",
		Long: `Compare reads two results.json files (or the results directories holding them) and prints, for every
metric of BASE, its value in both, the difference, the combined standard error sqrt(se_base² + se_new²),
the worsening allowed and a verdict. higher_is_better says which way is worse.

A metric regresses when NEW is worse than BASE by more than the combined standard error (by anything
when neither has one), or, when given, by more than --max-drop points (metrics in [0, 1], such as
accuracies: 1 point = 0.01; other metrics: percent of the base value) or, for perplexities, by a
relative rise of more than --max-ppl-rise percent (for nll and bits_per_byte, the rise that makes the
perplexity rise by that much). A task or metric of BASE missing from NEW fails too.

Exit status: 0 no regression, 1 error (unreadable or invalid input), 2 regression or missing metric.`,
		Args: cobra.ExactArgs(2),
	}
	fl := cmd.Flags()
	fl.Float64Var(&maxDrop, "max-drop", 0, "allowed worsening in points of metrics other than perplexities (default: the stderr)")
	fl.Float64Var(&maxPPLRise, "max-ppl-rise", 0, "allowed relative rise of perplexities, in percent (default: the stderr)")
	fl.BoolVar(&groups, "groups", false, "compare group metrics too (subjects, categories, lengths, ...)")
	fl.BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		tol := results.DefaultTolerance()
		tol.Groups = groups
		if fl.Changed("max-drop") {
			if maxDrop < 0 || math.IsNaN(maxDrop) {
				return fmt.Errorf("--max-drop %v must not be negative", maxDrop)
			}
			tol.MaxDrop = maxDrop
		}
		if fl.Changed("max-ppl-rise") {
			if maxPPLRise < 0 || math.IsNaN(maxPPLRise) {
				return fmt.Errorf("--max-ppl-rise %v must not be negative", maxPPLRise)
			}
			tol.MaxPPLRise = maxPPLRise
		}
		base, err := results.Read(args[0])
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		cur, err := results.Read(args[1])
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		c := results.Compare(base, cur, tol)
		w := cmd.OutOrStdout()
		if asJSON {
			b, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
		} else {
			results.WriteComparison(w, c)
		}
		if n := c.Regressions(); n > 0 {
			return &exitStatus{code: 2, msg: fmt.Sprintf("%d regression(s) of %s against %s", n, args[1], args[0])}
		}
		return nil
	}
	return cmd
}
