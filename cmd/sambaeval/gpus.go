package main

// `sambaeval run ... --gpus N`: one process per GPU, each evaluating one
// shard of every task, then a merge. Each child is this same binary run as
// `sambaeval run ... --shard i/N --device cuda:i --output-dir OUT/shard-i-of-N`.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/results"
)

// gpuProgressEvery is how often the latest progress line of each shard is
// shown.
const gpuProgressEvery = 10 * time.Second

// countGPUs reads the --gpus value: a number, or "all" for the GPUs that
// CUDA_VISIBLE_DEVICES names or, without it, those the NVIDIA driver lists
// in /proc/driver/nvidia/gpus.
func countGPUs(s string) (int, error) {
	if s != "all" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("--gpus %q: want a number of GPUs (at least 1) or all", s)
		}
		return n, nil
	}
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok {
		n := 0
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" || strings.HasPrefix(f, "-") {
				break // CUDA ignores the devices after an invalid one
			}
			n++
		}
		if n == 0 {
			return 0, fmt.Errorf("--gpus all: CUDA_VISIBLE_DEVICES=%q names no GPU", v)
		}
		return n, nil
	}
	entries, err := os.ReadDir("/proc/driver/nvidia/gpus")
	if err != nil || len(entries) == 0 {
		return 0, fmt.Errorf("--gpus all: no NVIDIA GPU found (no /proc/driver/nvidia/gpus); give the number of GPUs or set CUDA_VISIBLE_DEVICES")
	}
	return len(entries), nil
}

// name returns the model's name as model.Open gives it, without loading
// the weights, for the default output directory.
func (f *modelFlags) name() string {
	n := f.model
	if f.fs.Changed("random-weights") || (f.config != "" && n == "") {
		if f.config != "" {
			n = f.config
		}
		if c, err := model.ResolveConfig(n); err == nil && c.Name != "" {
			return c.Name
		}
		return n
	}
	if n == "" || n == model.DefaultName {
		return model.DefaultName
	}
	if c, err := model.ReadConfig(filepath.Join(n, "config.json")); err == nil && c.Name != "" {
		return c.Name
	}
	if f.config != "" {
		if c, err := model.ResolveConfig(f.config); err == nil && c.Name != "" {
			return c.Name
		}
	}
	return filepath.Base(n)
}

// shardArgs rebuilds the command line of shard i of n from the flags the
// user set, leaving out those that the parent decides.
func shardArgs(fs *pflag.FlagSet, taskList string, i, n int, device, dir string) []string {
	args := []string{"run", taskList}
	skip := map[string]bool{"gpus": true, "shard": true, "device": true, "output-dir": true}
	fs.Visit(func(f *pflag.Flag) {
		if skip[f.Name] {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return append(args, "--shard", fmt.Sprintf("%d/%d", i, n), "--device", device, "--output-dir", dir)
}

// shardDirName is the directory of shard i of n inside the output directory.
func shardDirName(i, n int) string { return fmt.Sprintf("shard-%d-of-%d", i, n) }

// runOnGPUs runs the tasks as n shard processes and merges their results
// into outDir. With --device cpu the shards all run on the CPU (a
// simulation, for tests); otherwise shard i runs on cuda:i.
func runOnGPUs(cmd *cobra.Command, taskList string, n int, mf *modelFlags, outDir string, showGroups bool) error {
	switch {
	case mf.device == "cpu":
	case mf.device == "auto" || mf.device == "cuda":
	default:
		return fmt.Errorf("--gpus %d chooses the devices (cuda:0 … cuda:%d): leave --device out, or give --device cpu to simulate", n, n-1)
	}
	if outDir == "" {
		outDir = filepath.Join("sambaeval-results", safeName(mf.name()))
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--gpus: cannot find this program to run its shards: %w", err)
	}
	stderr := &lockedWriter{w: cmd.ErrOrStderr()}
	fmt.Fprintf(stderr, "running %d shards, results in %s\n", n, outDir)

	shards := make([]*shardProc, n)
	for i := range shards {
		device := "cpu"
		if mf.device != "cpu" {
			device = fmt.Sprintf("cuda:%d", i)
		}
		dir := filepath.Join(outDir, shardDirName(i, n))
		p := &shardProc{index: i, count: n, dir: dir, out: stderr}
		p.cmd = exec.Command(exe, shardArgs(cmd.Flags(), taskList, i, n, device, dir)...)
		shards[i] = p
		if err := p.start(); err != nil {
			for _, q := range shards[:i] {
				q.cmd.Process.Kill()
				q.wait()
			}
			return fmt.Errorf("--gpus: start shard %d/%d: %w", i, n, err)
		}
		fmt.Fprintf(stderr, "[%d/%d] %s: pid %d, log %s\n", i, n, device, p.cmd.Process.Pid, p.logPath())
	}

	// Pass an interrupt on to the shards, which stop and keep their cache.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	finished, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(gpuProgressEvery)
		defer tick.Stop()
		for {
			select {
			case s := <-sig:
				for _, p := range shards {
					p.cmd.Process.Signal(s)
				}
			case <-tick.C:
				for _, p := range shards {
					p.showProgress()
					p.showCacheProgress()
				}
			case <-finished:
				return
			}
		}
	}()
	var failed []string
	for _, p := range shards {
		if err := p.wait(); err != nil {
			failed = append(failed, fmt.Sprintf("shard %d/%d failed (%v: %s; log %s)", p.index, p.count, err, p.lastLine(), p.logPath()))
		}
	}
	close(finished)
	<-exited
	for _, p := range shards {
		p.showCacheProgress() // the final counts
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s; the other shards' work is kept in %s: run the same command again to resume", strings.Join(failed, "; "), outDir)
	}
	dirs := make([]string, n)
	for i, p := range shards {
		dirs[i] = p.dir
	}
	res, err := mergeShards(dirs, outDir, strings.Join(os.Args, " "), stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "merged %d shards into %s\n", n, outDir)
	results.WriteTable(cmd.OutOrStdout(), res, showGroups)
	return nil
}

// lockedWriter serializes the lines of several shards.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// shardProc is one running shard.
type shardProc struct {
	index, count int
	dir          string
	cmd          *exec.Cmd
	out          io.Writer
	log          *os.File
	done         chan struct{}

	// counted holds, per cache file, the finished requests counted so far
	// and the offset read up to (the evaluator draws no progress bar when
	// its output is not a terminal, so the parent counts the responses in
	// the shard's cache instead).
	counted map[string]cacheCount

	mu       sync.Mutex
	progress string // the latest progress-bar text
	shown    string // the progress text shown last
	last     string // the last log line
}

func (p *shardProc) logPath() string { return filepath.Join(p.dir, "sambaeval.log") }

func (p *shardProc) start() error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.log = log
	fmt.Fprintf(log, "--- %s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(p.cmd.Args, " "))
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		log.Close()
		return err
	}
	p.cmd.Stdout = log
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return err
	}
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.read(io.TeeReader(errPipe, log))
	}()
	return nil
}

// wait waits for the shard and its output.
func (p *shardProc) wait() error {
	<-p.done
	err := p.cmd.Wait()
	p.showProgress()
	p.log.Close()
	return err
}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// read splits the shard's stderr into log lines (ended by "\n"), shown at
// once with the shard's prefix, and progress-bar redraws (ended by "\r"),
// kept to be shown every gpuProgressEvery.
func (p *shardProc) read(r io.Reader) {
	br := bufio.NewReader(r)
	var piece bytes.Buffer
	for {
		c, err := br.ReadByte()
		if err != nil {
			if s := clean(piece.String()); s != "" {
				p.line(s)
			}
			return
		}
		if c != '\n' && c != '\r' {
			piece.WriteByte(c)
			continue
		}
		s := clean(piece.String())
		piece.Reset()
		if s == "" {
			continue
		}
		if c == '\n' {
			p.line(s)
			continue
		}
		p.mu.Lock()
		p.progress = s
		p.mu.Unlock()
	}
}

func clean(s string) string { return strings.TrimSpace(ansiEscape.ReplaceAllString(s, "")) }

func (p *shardProc) line(s string) {
	p.mu.Lock()
	p.last = s
	if s == p.progress {
		p.shown = s // a finished bar ends with a newline: it is shown now
	}
	p.mu.Unlock()
	fmt.Fprintf(p.out, "[%d/%d] %s\n", p.index, p.count, s)
}

func (p *shardProc) showProgress() {
	p.mu.Lock()
	s := p.progress
	show := s != "" && s != p.shown
	p.shown = s
	p.mu.Unlock()
	if show {
		fmt.Fprintf(p.out, "[%d/%d] %s\n", p.index, p.count, s)
	}
}

type cacheCount struct {
	offset   int64
	requests int
}

// showCacheProgress shows, for each task whose cache grew since the last
// call, the number of requests the shard has finished.
func (p *shardProc) showCacheProgress() {
	files, _ := filepath.Glob(filepath.Join(p.dir, "cache", "*.jsonl"))
	if p.counted == nil {
		p.counted = map[string]cacheCount{}
	}
	for _, f := range files {
		c := p.counted[f]
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		if _, err := fh.Seek(c.offset, io.SeekStart); err == nil {
			b, _ := io.ReadAll(fh)
			if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
				n := bytes.Count(b[:i+1], []byte{'\n'})
				c.offset += int64(i + 1)
				c.requests += n
				p.counted[f] = c
				task, _, _ := strings.Cut(filepath.Base(f), ".")
				fmt.Fprintf(p.out, "[%d/%d] %s: %d requests done (+%d)\n", p.index, p.count, task, c.requests, n)
			}
		}
		fh.Close()
	}
}

func (p *shardProc) lastLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == "" {
		return "no output"
	}
	return p.last
}
