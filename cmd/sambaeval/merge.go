package main

import (
	"fmt"
	"io"
	"os"
	"sort"
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
		res, err := mergeShards(args, out, strings.Join(os.Args, " "), cmd.ErrOrStderr())
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
// task's metrics with the task's own Aggregate; tasks that draw figures or
// tables of their results (tasks.Reporter) do so as after an unsharded
// run, the figures into out and the tables to log.
func mergeShards(dirs []string, out, command string, log io.Writer) (*results.Results, error) {
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
	names := make([]string, 0, len(m.Results.Tasks))
	for name := range m.Results.Tasks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t, _ := tasks.Get(name) // known: it aggregated
		if rp, ok := t.(tasks.Reporter); ok {
			if err := rp.Report(m.Results.Tasks[name], out, log); err != nil {
				return nil, fmt.Errorf("merge: %s: %w", name, err)
			}
		}
	}
	return m.Results, nil
}
