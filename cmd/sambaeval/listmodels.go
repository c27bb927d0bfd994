package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/model"
)

func init() { commands = append(commands, newListModelsCmd) }

func newListModelsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list-models",
		Short: "List the supported architectures and the built-in model configs (for --random-weights and --config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "Architectures:")
			for _, a := range model.Architectures() {
				fmt.Fprintf(w, "  %-15s %s\n", a.Name, a.Description)
			}
			fmt.Fprintln(w)
			fmt.Fprintln(w, "Configs (limit: the trained context of models with full attention; go past it with --allow-long-context):")
			fmt.Fprintf(w, "%-26s %-14s %-9s %7s %6s %5s %8s %7s %6s %7s  %s\n",
				"name", "arch", "format", "params", "blocks", "d", "heads/kv", "window", "limit", "vocab", "layout")
			for _, n := range model.NamedConfigs() {
				c, err := model.Named(n)
				if err != nil {
					return err
				}
				blocks, err := c.Blocks()
				if err != nil {
					return err
				}
				format := c.Format
				if format == "" {
					format = model.FormatLitGPT
				}
				heads, window, limit := "-", "-", "-"
				for _, b := range blocks {
					for _, m := range b.Mixers {
						if m.Kind == model.Attention {
							heads = fmt.Sprintf("%d/%d", c.NHead, c.NQueryGroups)
						}
						if m.Window > 0 {
							window = strconv.Itoa(m.Window)
						}
					}
				}
				if l := c.ContextLimit(); l > 0 {
					limit = strconv.Itoa(l)
				}
				fmt.Fprintf(w, "%-26s %-14s %-9s %6.0fM %6d %5d %8s %7s %6s %7d  %s\n", c.Name, c.Arch(), format,
					float64(c.ParamCount())/1e6, c.NLayer, c.NEmbd, heads, window, limit, c.VocabSize, model.LayoutString(blocks))
			}
			return nil
		},
	}
}
