package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/model"

	_ "github.com/sambaeval/sambaeval/kernels/cpu"  // the CPU backend registers itself
	_ "github.com/sambaeval/sambaeval/kernels/cuda" // so does the NVIDIA one (it fails to open where no GPU is)
)

// modelFlags are the flags every command that runs a model takes.
type modelFlags struct {
	model, config, tokenizer, device string
	seed                             uint64
	longContext                      bool
	fs                               *pflag.FlagSet
}

func addModelFlags(cmd *cobra.Command) *modelFlags {
	f := &modelFlags{fs: cmd.Flags()}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", model.DefaultName, "model directory, or a config name with --random-weights (default: the embedded samba-tiny)")
	fl.Uint64Var(&f.seed, "random-weights", 0, "build a seeded random model of the config named by --model (e.g. Samba_421M)")
	fl.StringVar(&f.config, "config", "", "built-in config name for checkpoints that carry none (see `sambaeval list-models`)")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.model file (default: the model directory's)")
	fl.StringVar(&f.device, "device", "auto", "auto, cpu, cuda or cuda:N")
	fl.BoolVar(&f.longContext, "allow-long-context", false, "let models with full attention run past their trained context (block_size / max_position_embeddings)")
	return f
}

func (f *modelFlags) spec() model.Spec {
	s := model.Spec{Model: f.model, Config: f.config, Tokenizer: f.tokenizer, Device: f.device, AllowLongContext: f.longContext}
	if f.fs.Changed("random-weights") {
		seed := f.seed
		s.RandomWeights = &seed
	}
	return s
}

func (f *modelFlags) open() (*model.Model, error) { return model.Open(f.spec()) }
