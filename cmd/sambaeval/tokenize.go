package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/sambaeval/sambaeval/tokenizer"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newTokenizeCmd) }

func newTokenizeCmd() *cobra.Command {
	var (
		model string
		file  string
		bos   bool
	)
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Print the token ids of a text",
		Long: `Tokenize encodes the whole input (a file, or standard input) as one string
with a SentencePiece tokenizer.model and prints the ids on one line,
separated by spaces. No BOS is added unless --bos is given; a trailing
newline in the input is part of the text.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := tokenizer.Load(model)
			if err != nil {
				return err
			}
			var text []byte
			if file != "" {
				text, err = os.ReadFile(file)
			} else {
				text, err = io.ReadAll(cmd.InOrStdin())
			}
			if err != nil {
				return fmt.Errorf("tokenize: read input: %w", err)
			}
			ids := tok.Encode(string(text))
			if bos && tok.BOS() >= 0 {
				ids = append([]int{tok.BOS()}, ids...)
			}
			return writeIDs(cmd.OutOrStdout(), ids)
		},
	}
	cmd.Flags().StringVar(&model, "tokenizer", "", "SentencePiece model file (tokenizer.model)")
	cmd.Flags().StringVar(&file, "file", "", "text file to tokenize (default: standard input)")
	cmd.Flags().BoolVar(&bos, "bos", false, "prepend the BOS id")
	cmd.MarkFlagRequired("tokenizer")
	return cmd
}

// writeIDs writes ids separated by spaces, then a newline.
func writeIDs(w io.Writer, ids []int) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, int64(id), 10)
		if len(buf) > 1<<16 {
			bw.Write(buf)
			buf = buf[:0]
		}
	}
	buf = append(buf, '\n')
	bw.Write(buf)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("tokenize: write ids: %w", err)
	}
	return nil
}
