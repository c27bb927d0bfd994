package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
	_ "github.com/sambaeval/sambaeval/tasks/all"
)

func init() { commands = append(commands, newRunCmd, newListCmd) }

func newRunCmd() *cobra.Command {
	var (
		o          tasks.Options
		shard      string
		gpus       string
		showGroups bool
		chat       bool
		template   string
	)
	cmd := &cobra.Command{
		Use:   "run TASK[,TASK...]",
		Short: "Evaluate a model on tasks (see `sambaeval list`)",
		Long: `Run evaluates the model on each task, writes DIR/results.json (after every task) and, with
--log-samples, DIR/samples_<task>.jsonl. Finished requests are kept in DIR/cache, so running the
same command again after an interruption resumes where it stopped and gives identical results.`,
		Args: cobra.ExactArgs(1),
	}
	mf := addModelFlags(cmd)
	fl := cmd.Flags()
	fl.IntVar(&o.Limit, "limit", 0, "evaluate only the first N documents of each task")
	fl.IntVar(&o.NumFewshot, "num-fewshot", -1, "number of few-shot examples (default: the task's)")
	fl.Int64Var(&o.Seed, "seed", 1234, "seed for few-shot sampling and sampled decoding")
	fl.IntVar(&o.BatchSize, "batch-size", 1, "sequences run together (results do not depend on it)")
	fl.IntVar(&o.ChunkSize, "chunk-size", 2048, "tokens per sequence in one forward pass (results do not depend on it)")
	fl.StringVar(&o.OutputDir, "output-dir", "", "where results go (default: sambaeval-results/<model>)")
	fl.BoolVar(&o.LogSamples, "log-samples", false, "write per-document samples_<task>.jsonl")
	fl.StringVar(&o.DataDir, "data-dir", "", "local dataset folder, or hf://OWNER/NAME (default: the shipped copies)")
	fl.StringVar(&shard, "shard", "", "evaluate shard i/n of every task's documents (merge with `sambaeval merge`)")
	fl.StringVar(&gpus, "gpus", "", "N or all: one shard process per GPU (cuda:i), merged at the end; with --device cpu, N shards on the CPU")
	fl.BoolVar(&showGroups, "groups", false, "print per-group rows (subjects, lengths, ...) in the summary")
	fl.BoolVar(&chat, "apply-chat-template", false, "wrap each prompt as a single user turn of the tokenizer's chat template (instruction-tuned models)")
	fl.StringVar(&template, "chat-template", "", "the chat template to apply by name, when the tokenizer's is missing or unknown (implies --apply-chat-template)")
	for _, t := range tasks.All() {
		t.Flags(fl)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ts, err := tasks.Parse(args[0])
		if err != nil {
			return err
		}
		if o.BatchSize < 1 {
			return fmt.Errorf("--batch-size %d must be at least 1", o.BatchSize)
		}
		if o.ChunkSize < 1 {
			return fmt.Errorf("--chunk-size %d must be at least 1", o.ChunkSize)
		}
		if o.Limit < 0 {
			return fmt.Errorf("--limit %d must not be negative", o.Limit)
		}
		if o.Shard, err = tasks.ParseShard(shard); err != nil {
			return err
		}
		if err := tasks.CheckFlags(ts, o.NumFewshot); err != nil {
			return err
		}
		if gpus != "" {
			n, err := countGPUs(gpus)
			switch {
			case err != nil:
				return err
			case shard != "":
				return fmt.Errorf("--gpus and --shard: give one (--gpus runs every shard)")
			case n > 1:
				return runOnGPUs(cmd, args[0], n, mf, o.OutputDir, showGroups)
			case mf.device == "auto":
				mf.device = "cuda:0"
			}
		}
		name := "no-model"
		if needsModel(ts) {
			m, err := mf.open()
			if err != nil {
				return err
			}
			defer m.Close()
			o.Model, name = m, m.Info.Name
			fmt.Fprintf(cmd.ErrOrStderr(), "model %s\n", m)
			if chat || template != "" {
				if o.ChatTemplate, err = tasks.ChatTemplate(m, template); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "chat template %s\n", o.ChatTemplate)
			}
		}
		if o.OutputDir == "" {
			o.OutputDir = filepath.Join("sambaeval-results", safeName(name))
		}
		o.Log, o.Progress = cmd.ErrOrStderr(), os.Stderr
		o.Version, o.Command = version, strings.Join(os.Args, " ")
		fmt.Fprintf(cmd.ErrOrStderr(), "results in %s\n", o.OutputDir)
		res, err := tasks.Run(ts, o)
		if err != nil {
			return err
		}
		results.WriteTable(cmd.OutOrStdout(), res, showGroups)
		return nil
	}
	return cmd
}

// needsModel reports whether any task needs a model (HumanEval with
// --completions does not).
func needsModel(ts []tasks.Task) bool {
	for _, t := range ts {
		if mf, ok := t.(tasks.ModelFree); !ok || mf.NeedsModel() {
			return true
		}
	}
	return false
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tasks with their descriptions and defaults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			for _, t := range tasks.All() {
				fmt.Fprintf(w, "%-12s %s\n%-12s defaults: %s\n", t.Name(), t.Description(), "", t.Defaults())
			}
			return nil
		},
	}
}
