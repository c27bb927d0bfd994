package evaluator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Cache persists finished responses as JSON lines, one write per response,
// so that a run killed at any moment (even kill -9) loses at most the
// request in flight. A torn last line is ignored when the cache is reopened.
type Cache struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	scope   string
	entries map[string]Response
}

type cacheLine struct {
	Key  string   `json:"key"`
	Resp Response `json:"resp"`
}

// OpenCache opens (creating if needed) the cache file at path. scope
// identifies the model (e.g. its checkpoint hash): entries written under
// another scope are not reused.
func OpenCache(path, scope string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	c := &Cache{path: path, scope: scope, entries: map[string]Response{}}
	if b, err := os.ReadFile(path); err == nil {
		lines := bytes.Split(b, []byte("\n"))
		for _, ln := range lines {
			if len(ln) == 0 {
				continue
			}
			var l cacheLine
			if json.Unmarshal(ln, &l) != nil {
				continue // a line torn by a crash
			}
			c.entries[l.Key] = l.Resp
		}
		// Drop a torn tail so new lines start cleanly.
		if n := len(b); n > 0 && b[n-1] != '\n' {
			if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
				if err := os.Truncate(path, int64(i+1)); err != nil {
					return nil, err
				}
			} else if err := os.Truncate(path, 0); err != nil {
				return nil, err
			}
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c.f = f
	return c, nil
}

func (c *Cache) key(r *Request) string { return c.scope + ":" + r.Key() }

// Get returns the cached response to r.
func (c *Cache) Get(r *Request) (Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, ok := c.entries[c.key(r)]
	return resp, ok
}

// Put records the response to r.
func (c *Cache) Put(r *Request, resp Response) error {
	k := c.key(r)
	b, err := json.Marshal(cacheLine{Key: k, Resp: resp})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[k] = resp
	if _, err := c.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("resume cache %s: %w", c.path, err)
	}
	return nil
}

// Len is the number of cached responses.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Close closes the cache file.
func (c *Cache) Close() error { return c.f.Close() }
