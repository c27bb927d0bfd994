package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/reproduce"
	"github.com/sambaeval/sambaeval/tasks"
)

func init() { commands = append(commands, newReproduceCmd) }

func newReproduceCmd() *cobra.Command {
	var (
		o        reproduce.Options
		list     bool
		only     string
		options  []string
		chat     bool
		template string
	)
	cmd := &cobra.Command{
		Use:   "reproduce TABLE",
		Short: "Run one of the Samba paper's tables and set our numbers beside the paper's",
		Long: `Reproduce runs every evaluation a table of the Samba paper needs, with the paper's protocol (shots,
decoding, metrics), and prints the paper's numbers beside ours with the difference. It writes
DIR/reproduce.md and DIR/reproduce.json, and each run's results into DIR/<run>/ (run again to resume).
A task that this build lacks leaves its cells empty ("task not available"); the others still run.
` + "`sambaeval reproduce --list`" + ` shows the tables and what each runs.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			if len(args) != 1 {
				return fmt.Errorf("reproduce takes one table name (see `sambaeval reproduce --list`)")
			}
			return nil
		},
	}
	mf := addModelFlags(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&list, "list", false, "list the tables and what each runs")
	fl.IntVar(&o.Limit, "limit", 0, "evaluate only the first N documents of each task (not the paper's protocol)")
	fl.Int64Var(&o.Seed, "seed", 1234, "seed for few-shot sampling and sampled decoding")
	fl.IntVar(&o.BatchSize, "batch-size", 1, "sequences run together (results do not depend on it)")
	fl.IntVar(&o.ChunkSize, "chunk-size", 2048, "tokens per sequence in one forward pass (results do not depend on it)")
	fl.StringVar(&o.OutputDir, "output-dir", "", "where results go (default: sambaeval-results/<model>/reproduce/<table>)")
	fl.StringVar(&o.DataDir, "data-dir", "", "local dataset folder, or hf://OWNER/NAME (default: the shipped copies)")
	fl.StringVar(&o.PaperModel, "paper-model", "", "the paper row to compare with (default: the table's first)")
	fl.StringVar(&only, "only", "", "comma-separated run IDs to run (default: all of the table's)")
	fl.BoolVar(&chat, "apply-chat-template", false, "wrap each prompt as a single user turn of the tokenizer's chat template (instruction-tuned models)")
	fl.StringVar(&template, "chat-template", "", "the chat template to apply by name (implies --apply-chat-template)")
	fl.StringArrayVar(&options, "task-option", nil, "NAME=VALUE: set a task flag after the table's (e.g. mmlu-subjects=anatomy); changes the protocol")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if list {
			reproduce.WriteList(cmd.OutOrStdout())
			return nil
		}
		t, err := reproduce.Lookup(args[0])
		if err != nil {
			return err
		}
		if o.BatchSize < 1 || o.ChunkSize < 1 || o.Limit < 0 {
			return fmt.Errorf("--batch-size and --chunk-size must be at least 1, --limit not negative")
		}
		for _, s := range strings.Split(only, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Only = append(o.Only, s)
			}
		}
		for _, s := range options {
			name, value, ok := strings.Cut(s, "=")
			name = strings.TrimPrefix(strings.TrimSpace(name), "--")
			if !ok || name == "" {
				return fmt.Errorf("--task-option %q: want NAME=VALUE", s)
			}
			o.TaskOptions = append(o.TaskOptions, reproduce.Option{Name: name, Value: value})
		}
		m, err := mf.open()
		if err != nil {
			return err
		}
		defer m.Close()
		if chat || template != "" {
			if o.ChatTemplate, err = tasks.ChatTemplate(m, template); err != nil {
				return err
			}
		}
		if o.OutputDir == "" {
			o.OutputDir = filepath.Join("sambaeval-results", safeName(m.Info.Name), "reproduce", t.Name)
		}
		o.Model, o.Log, o.Progress = m, cmd.ErrOrStderr(), os.Stderr
		o.Version, o.Command = version, strings.Join(os.Args, " ")
		fmt.Fprintf(cmd.ErrOrStderr(), "model %s\ntable %s in %s\n", m, t.Name, o.OutputDir)
		rep, err := reproduce.Reproduce(t, o)
		if err != nil {
			return err
		}
		if err := rep.Write(o.OutputDir); err != nil {
			return err
		}
		rep.WriteMarkdown(cmd.OutOrStdout())
		if rep.Failed() {
			return fmt.Errorf("some runs of %s failed (see the status column); run again to resume", t.Name)
		}
		return nil
	}
	return cmd
}
