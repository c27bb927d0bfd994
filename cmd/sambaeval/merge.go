package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

func init() { commands = append(commands, newMergeCmd) }

func newMergeCmd() *cobra.Command {
	var (
		out        string
		showGroups bool
	)
	cmd := &cobra.Command{
		Use:   "merge SHARD_DIR...",
		Short: "Combine the output directories of a sharded run into the results of one run",
		Long: `Merge reads the output directories of the shards of one run (` + "`sambaeval run ... --shard i/n`" + `: each
holds results.json and samples_<task>.jsonl), checks that they are all the shards of the same run
(same model, seed, limit, tasks, task versions and settings; every document exactly once) and writes
into --output-dir the results.json and samples of the whole run, with every metric recomputed from
the union of the samples: the same numbers as the run without --shard.`,
		Args: cobra.MinimumNArgs(1),
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "output-dir", "o", "", "where the merged results.json and samples go (required)")
	fl.BoolVar(&showGroups, "groups", false, "print per-group rows (subjects, lengths, ...) in the summary")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if out == "" {
			return fmt.Errorf("merge: --output-dir is required")
		}
		res, err := mergeShards(args, out, strings.Join(os.Args, " "))
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "merged %d shards into %s\n", len(args), out)
		results.WriteTable(cmd.OutOrStdout(), res, showGroups)
		return nil
	}
	return cmd
}

// mergeShards merges the shard directories into out, recomputing each
// task's metrics with the task's own Aggregate.
func mergeShards(dirs []string, out, command string) (*results.Results, error) {
	var shards []*results.ShardDir
	for _, d := range dirs {
		s, err := results.ReadShard(d)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		shards = append(shards, s)
	}
	agg := func(name string, samples []results.Sample) (*results.TaskResult, error) {
		t, err := tasks.Get(name)
		if err != nil {
			return nil, err
		}
		return t.Aggregate(samples)
	}
	m, err := results.MergeShards(shards, agg)
	if err != nil {
		return nil, err
	}
	m.Results.Config.Command = command
	if err := m.Write(out); err != nil {
		return nil, err
	}
	return m.Results, nil
}
