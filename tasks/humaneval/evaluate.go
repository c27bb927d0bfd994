package humaneval

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sambaeval/sambaeval/sandbox"
)

// Sample is one completion of one problem, in openai/human-eval's sample
// format (a JSON Lines file of {"task_id", "completion"}).
type Sample struct {
	TaskID     string `json:"task_id"`
	Completion string `json:"completion"`
}

// SampleResult is the verdict on one sample. Result is "passed",
// "timed out" or "failed: <reason>", where the reason is the exception's
// type and message ("AssertionError", "NameError: name 'x' is not
// defined").
type SampleResult struct {
	TaskID       string `json:"task_id"`
	CompletionID int    `json:"completion_id"`
	Completion   string `json:"completion"`
	Passed       bool   `json:"passed"`
	Result       string `json:"result"`
}

// EvalOptions configures EvaluateCompletions. Zero values take
// openai/human-eval's defaults.
type EvalOptions struct {
	// Workers is the number of programs run at once (default 4).
	Workers int
	// Timeout bounds the execution of each program, as human-eval's
	// timeout does (default 3 s); interpreter start-up is not counted.
	Timeout time.Duration
	// Limits bounds each sandboxed run; its Timeout is set from Timeout.
	Limits sandbox.Limits
	// AllowWeak runs even if some isolation layer is unavailable.
	AllowWeak bool
	// Python is the interpreter (default: see sandbox.Options).
	Python string
	// K lists the k of pass@k (default 1, 10, 100); a k larger than the
	// number of samples of some problem is left out.
	K []int
	// IgnoreIncomplete evaluates only the problems that have samples,
	// instead of failing when some have none.
	IgnoreIncomplete bool
	// Progress, if set, is called after each sample with the number done.
	Progress func(done, total int)
}

// Evaluation is the outcome of EvaluateCompletions.
type Evaluation struct {
	// Results are in the order of the samples.
	Results []SampleResult `json:"results"`
	// PassAtK holds the mean pass@k over the evaluated problems.
	PassAtK []PassAt `json:"pass_at_k"`
	// Problems is the number of problems evaluated.
	Problems int `json:"problems"`
	// Sandbox describes the isolation the programs ran under.
	Sandbox *sandbox.Report `json:"sandbox"`
}

// EvaluateCompletions checks each sample's completion against its
// problem's tests in the sandbox and computes pass@k, like
// openai/human-eval's evaluate_functional_correctness. Completions are
// used as given (apply Truncate first if they were not cut at a stop
// sequence). It checks the sandbox before running anything. The error
// reports bad input or a harness failure, never a failing program.
func EvaluateCompletions(ctx context.Context, problems []Problem, samples []Sample, opts EvalOptions) (*Evaluation, error) {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	if len(opts.K) == 0 {
		opts.K = []int{1, 10, 100}
	}
	byID := make(map[string]Problem, len(problems))
	for _, p := range problems {
		byID[p.TaskID] = p
	}
	counts := map[string]*Count{}
	ids := make([]int, len(samples))
	for i, s := range samples {
		if _, ok := byID[s.TaskID]; !ok {
			return nil, fmt.Errorf("evaluate humaneval: sample %d: unknown task_id %q", i, s.TaskID)
		}
		c := counts[s.TaskID]
		if c == nil {
			c = &Count{}
			counts[s.TaskID] = c
		}
		ids[i] = c.N
		c.N++
	}
	var attempted []string
	for _, p := range problems {
		if counts[p.TaskID] != nil {
			attempted = append(attempted, p.TaskID)
		} else if !opts.IgnoreIncomplete {
			return nil, fmt.Errorf("evaluate humaneval: problem %s has no samples (%d of %d problems attempted)",
				p.TaskID, len(counts), len(problems))
		}
	}
	if len(attempted) == 0 {
		return nil, fmt.Errorf("evaluate humaneval: no samples")
	}

	sbOpts := sandbox.Options{Python: opts.Python, AllowWeak: opts.AllowWeak}
	report, err := sandbox.Check(ctx, sbOpts)
	if err != nil {
		return nil, fmt.Errorf("evaluate humaneval: %w", err)
	}
	limits := opts.Limits
	// The program's own timer stops it after opts.Timeout of execution, as
	// in human-eval; the sandbox's wall clock is only the backstop, with
	// room for start-up on a busy machine.
	limits.Timeout = opts.Timeout + backstop

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]SampleResult, len(samples))
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
	)
	jobs := make(chan int)
	for range min(opts.Workers, len(samples)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s := samples[i]
				verdict, err := check(ctx, byID[s.TaskID], s.Completion, opts.Timeout, limits, sbOpts)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("evaluate humaneval: %s completion %d: %w", s.TaskID, ids[i], err)
					cancel()
				}
				results[i] = SampleResult{TaskID: s.TaskID, CompletionID: ids[i], Completion: s.Completion,
					Passed: verdict == "passed", Result: verdict}
				done++
				if opts.Progress != nil && err == nil {
					opts.Progress(done, len(samples))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range samples {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	for _, r := range results {
		if r.Passed {
			counts[r.TaskID].Correct++
		}
	}
	perProblem := make([]Count, len(attempted))
	for i, id := range attempted {
		perProblem[i] = *counts[id]
	}
	passAt, err := MeanPassAtK(perProblem, opts.K)
	if err != nil {
		return nil, fmt.Errorf("evaluate humaneval: %w", err)
	}
	return &Evaluation{Results: results, PassAtK: passAt, Problems: len(attempted), Sandbox: report}, nil
}

// backstop is how much longer than the program's own timeout the sandbox
// lets a run last (interpreter start-up, or a program that blocks SIGALRM).
const backstop = 5 * time.Second

// CheckCompletion runs one completion of p in the sandbox and returns its verdict:
// "passed", "timed out" or "failed: <reason>". timeout bounds the
// execution of the program; limits bound the sandbox (a Timeout not above
// timeout becomes timeout plus 5 s). The error reports a harness failure
// only.
func CheckCompletion(ctx context.Context, p Problem, completion string, timeout time.Duration, limits sandbox.Limits, opts sandbox.Options) (string, error) {
	if limits.Timeout <= timeout {
		limits.Timeout = timeout + backstop
	}
	return check(ctx, p, completion, timeout, limits, opts)
}

func check(ctx context.Context, p Problem, completion string, timeout time.Duration, limits sandbox.Limits, opts sandbox.Options) (string, error) {
	res, err := sandbox.Run(ctx, driver(Program(p, completion), timeout), limits, opts)
	if err != nil {
		return "", err
	}
	last := lastLine(res.StderrTail)
	switch {
	case res.Status == sandbox.Passed && last == "passed":
		return "passed", nil
	case res.Status == sandbox.Passed:
		// Exit status 0 without the driver's verdict: the program ended
		// the interpreter before check() finished (os._exit(0)).
		return "failed: exited before the tests finished", nil
	case res.Status == sandbox.TimedOut:
		return "timed out", nil
	}
	switch reason := res.Reason; {
	case reason == "timed out":
		return "timed out", nil
	case strings.HasPrefix(reason, "failed: "):
		return reason, nil
	case reason == "":
		return "failed", nil
	default:
		// Killed, or the driver never reported (the program ended the
		// interpreter itself with a non-zero status).
		return "failed: " + reason, nil
	}
}

// driverTemplate runs the check program the way openai/human-eval's
// unsafe_execute does: exec in a fresh globals dictionary under an
// ITIMER_REAL alarm, with any exception (SystemExit included) a failure.
// The verdict is the last line written to stderr; the exit status agrees
// with it, so a program that ends the interpreter itself is not "passed"
// unless it exits 0.
const driverTemplate = `import base64, os, signal, sys


class TimedOut(BaseException):
    pass


def alarm(signum, frame):
    raise TimedOut()


def finish(code, verdict):
    signal.setitimer(signal.ITIMER_REAL, 0)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os.write(2, ("\n" + verdict + "\n").encode("utf-8", "backslashreplace"))
    os._exit(code)


def describe(e):
    text = " ".join(str(e).split())
    return type(e).__name__ + (": " + text if text else "")


program = base64.b64decode("%s").decode("utf-8")
try:
    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, %s)
    try:
        exec(program, {})
    except TimedOut:
        finish(2, "timed out")
    except BaseException as e:
        finish(1, "failed: " + describe(e))
    finish(0, "passed")
except TimedOut:
    finish(2, "timed out")
`

// driver wraps a check program in driverTemplate.
func driver(program string, timeout time.Duration) string {
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)
	return fmt.Sprintf(driverTemplate, base64.StdEncoding.EncodeToString([]byte(program)), secs)
}

// ReadSamples reads samples in openai/human-eval's format: JSON Lines with
// task_id and completion (other fields are ignored); blank lines are
// skipped. name is used in errors.
func ReadSamples(r io.Reader, name string) ([]Sample, error) {
	var samples []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var raw struct {
			TaskID     *string `json:"task_id"`
			Completion *string `json:"completion"`
		}
		if err := json.Unmarshal(text, &raw); err != nil {
			return nil, fmt.Errorf("read %s: line %d: %w", name, line, err)
		}
		if raw.TaskID == nil || raw.Completion == nil {
			return nil, fmt.Errorf("read %s: line %d: need task_id and completion", name, line)
		}
		samples = append(samples, Sample{TaskID: *raw.TaskID, Completion: *raw.Completion})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return samples, nil
}

// LoadSamples reads a samples file (.jsonl, or gzipped .gz).
func LoadSamples(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load samples: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("load samples: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return ReadSamples(r, path)
}

// WriteResults writes results as JSON Lines, one per sample, like
// human-eval's <samples>_results.jsonl.
func WriteResults(w io.Writer, results []SampleResult) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return nil
}

// lastLine returns the last non-blank line of b.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), " \t\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
