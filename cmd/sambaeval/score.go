package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newScoreCmd) }

func newScoreCmd() *cobra.Command {
	var (
		file             string
		maxTokens, chunk int
		asJSON, perToken bool
	)
	cmd := &cobra.Command{
		Use:   "score --file TEXT",
		Short: "Score a text file: negative log-likelihood and perplexity of its first N tokens",
		Long: `Score tokenizes the file (no BOS), feeds its first N tokens to the model in chunks while
carrying the state, and reports the negative log-likelihood of tokens 1..N-1, each predicted from
the tokens before it, and the perplexity exp(nll / (N-1)).`,
		Args: cobra.NoArgs,
	}
	mf := addModelFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "text file to score (required)")
	fl.IntVar(&maxTokens, "max-tokens", 0, "score only the first N tokens (0: all)")
	fl.IntVar(&chunk, "chunk-size", 2048, "tokens per forward pass")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.BoolVar(&perToken, "per-token", false, "with --json, add the log-probability of each predicted token")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if chunk <= 0 {
			return fmt.Errorf("--chunk-size %d must be positive", chunk)
		}
		if maxTokens < 0 {
			return fmt.Errorf("--max-tokens %d must not be negative", maxTokens)
		}
		text, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		m, err := mf.open()
		if err != nil {
			return err
		}
		defer m.Close()
		ids := toInt32(m.Tokenizer.Encode(string(text)))
		if maxTokens > 0 && maxTokens < len(ids) {
			ids = ids[:maxTokens]
		}
		if len(ids) < 2 {
			return fmt.Errorf("%s: %d tokens, need at least 2 to score", file, len(ids))
		}
		s := m.NewSession()
		s.ChunkSize = chunk
		targets := make([]int32, len(ids))
		copy(targets, ids[1:])
		targets[len(ids)-1] = -1
		scores, err := s.Score(ids, targets)
		if err != nil {
			return err
		}
		n := len(ids) - 1
		var nll float64
		lp := make([]float32, n)
		for i, sc := range scores[:n] {
			nll -= float64(sc.LogProb)
			lp[i] = sc.LogProb
		}
		ppl := math.Exp(nll / float64(n))
		out := cmd.OutOrStdout()
		if !asJSON {
			fmt.Fprintf(out, "tokens %d  predicted %d  nll %.6f  mean nll %.6f  perplexity %.4f\n", len(ids), n, nll, nll/float64(n), ppl)
			return nil
		}
		res := map[string]any{"tokens": len(ids), "predicted": n, "nll": nll, "mean_nll": nll / float64(n), "ppl": ppl}
		if perToken {
			res["logprobs"] = lp
		}
		enc := json.NewEncoder(out)
		return enc.Encode(res)
	}
	return cmd
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}
