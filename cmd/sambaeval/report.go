package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/results"
)

func init() { commands = append(commands, newReportCmd) }

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report DIR",
		Short: "Render a results directory as DIR/report.md",
		Long: `Report writes DIR/report.md from DIR/results.json: the model and run, the summary table, and per task
its settings, data files, groups (subjects, lengths, ...), a link to its samples file and the figures
(PNG files) found in DIR, such as the passkey heatmap and the perplexity curve.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := results.WriteReport(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
}
