package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/model"
)

func init() { commands = append(commands, newListModelsCmd) }

func newListModelsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list-models",
		Short: "List the built-in model configs (for --random-weights and --config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-24s %-10s %7s %6s %6s %9s %8s %7s\n", "name", "arch", "params", "blocks", "d", "heads/kv", "window", "vocab")
			for _, n := range model.NamedConfigs() {
				c, err := model.Named(n)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%-24s %-10s %6.0fM %6d %6d %9s %8d %7d\n", c.Name, c.Architecture, float64(c.ParamCount())/1e6,
					c.NLayer, c.NEmbd, fmt.Sprintf("%d/%d", c.NHead, c.NQueryGroups), c.LocalWindow, c.VocabSize)
			}
			return nil
		},
	}
}
