package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/model"
)

func init() { commands = append(commands, newConvertCmd) }

func newConvertCmd() *cobra.Command {
	var config, tok, out, dt string
	cmd := &cobra.Command{
		Use:   "convert CKPT.pth --config NAME --out DIR",
		Short: "Convert a lit-gpt training checkpoint (.pth) into a model directory (safetensors)",
		Long: `Convert reads the weights under "model" in a PyTorch checkpoint written by microsoft/Samba's
pretrain.py (the optimizer state is never read), checks every tensor against the config, and
writes DIR/config.json, DIR/model.safetensors (sharded beyond 4 GiB) and DIR/tokenizer.model.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := model.ResolveConfig(config)
			if err != nil {
				return err
			}
			d, err := dtype.Parse(strings.ToUpper(dt))
			if err != nil {
				return fmt.Errorf("--dtype %q: want f32, bf16 or f16", dt)
			}
			src, err := model.OpenPth(args[0])
			if err != nil {
				return err
			}
			defer src.Close()
			if err := model.Convert(src, cfg, d, tok, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %s)\n", out, cfg.Name, d)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&config, "config", "", "built-in config name or config.json (required)")
	fl.StringVar(&tok, "tokenizer", "", "tokenizer.model to copy into the directory")
	fl.StringVar(&out, "out", "", "output directory (required)")
	fl.StringVar(&dt, "dtype", "bf16", "weight type to write: f32, bf16 or f16")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("out")
	return cmd
}
